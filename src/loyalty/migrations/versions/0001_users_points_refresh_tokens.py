"""Users, points accounts, the points ledger, refresh tokens and sign-in failures.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
SequenceKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# A balance changes only together with a newer ledger row: ledger_seq must move strictly forward.
_LEDGER_MOVES_FORWARD = """
    (NEW.balance IS DISTINCT FROM OLD.balance OR NEW.ledger_seq IS DISTINCT FROM OLD.ledger_seq)
    AND (NEW.ledger_seq IS NULL OR NEW.ledger_seq <= COALESCE(OLD.ledger_seq, 0))
"""
SQLITE_LEDGER_TRIGGER = f"""
CREATE TRIGGER tr_points_accounts_balance_needs_ledger_row
BEFORE UPDATE OF balance, ledger_seq ON points_accounts
WHEN {_LEDGER_MOVES_FORWARD.replace("IS DISTINCT FROM", "IS NOT")}
BEGIN SELECT RAISE(ABORT, 'a balance changes only with a new ledger row'); END
"""
POSTGRES_LEDGER_FUNCTION = """
CREATE FUNCTION points_balance_needs_ledger_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a balance changes only with a new ledger row' USING ERRCODE = 'integrity_constraint_violation';
END $$
"""
POSTGRES_LEDGER_TRIGGER = f"""
CREATE TRIGGER tr_points_accounts_balance_needs_ledger_row
BEFORE UPDATE OF balance, ledger_seq ON points_accounts
FOR EACH ROW WHEN ({_LEDGER_MOVES_FORWARD})
EXECUTE FUNCTION points_balance_needs_ledger_row()
"""


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("enrolled_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("deleted_at", Timestamp),
        sa.CheckConstraint(
            "role IN ('OWNER', 'MANAGER', 'ENGINEER', 'PRODUCT_MANAGER', 'USER')", name=op.f("ck_users_role")
        ),
    )
    op.create_index(
        "uq_users_active_email",
        "users",
        [sa.text("lower(email)")],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_users_enrolled", "users", [sa.text("enrolled_at DESC"), sa.text("id DESC")])

    sqlite = op.get_bind().dialect.name == "sqlite"
    # Every balance is the balance_after of the account's newest ledger row (checked at commit).
    ledger_row = sa.ForeignKeyConstraint(
        ["id", "ledger_seq", "balance"],
        ["points_transactions.account_id", "points_transactions.seq", "points_transactions.balance_after"],
        name="fk_points_accounts_ledger_row",
        deferrable=True,
        initially="DEFERRED",
    )
    op.create_table(
        "points_accounts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("ledger_seq", SequenceKey),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("user_id", "program", name="uq_points_accounts_user_program"),
        sa.CheckConstraint(
            "balance >= 0 AND balance <= 1000000000000", name=op.f("ck_points_accounts_balance_range")
        ),
        sa.CheckConstraint(
            "ledger_seq IS NOT NULL OR balance = 0", name=op.f("ck_points_accounts_balance_from_ledger")
        ),
        # SQLite cannot add a constraint later, but accepts one naming a table still to come.
        *([ledger_row] if sqlite else []),
    )

    op.create_table(
        "points_transactions",
        sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("points_accounts.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_digest", sa.String(64)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("kind IN ('ADD', 'DEDUCT', 'OVERRIDE')", name=op.f("ck_points_transactions_kind")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_points_transactions_amount_not_negative")),
        sa.CheckConstraint(
            "balance_after >= 0 AND balance_after <= 1000000000000",
            name=op.f("ck_points_transactions_balance_after_range"),
        ),
        sa.UniqueConstraint("actor_id", "idempotency_key", name="uq_points_transactions_actor_key"),
        sa.UniqueConstraint(
            "account_id", "seq", "balance_after", name="uq_points_transactions_account_seq_balance"
        ),
    )
    if sqlite:
        op.execute(SQLITE_LEDGER_TRIGGER)
    else:
        op.create_foreign_key(
            "fk_points_accounts_ledger_row",
            "points_accounts",
            "points_transactions",
            ["id", "ledger_seq", "balance"],
            ["account_id", "seq", "balance_after"],
            deferrable=True,
            initially="DEFERRED",
        )
        op.execute(POSTGRES_LEDGER_FUNCTION)
        op.execute(POSTGRES_LEDGER_TRIGGER)

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("family_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp),
        sa.Column("revoked_at", Timestamp),
    )

    op.create_table(
        "sign_in_failures",
        sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("failed_at", Timestamp, nullable=False),
    )
    op.create_index("ix_sign_in_failures_email", "sign_in_failures", ["email_key", "failed_at"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_points_accounts_ledger_row", "points_accounts", type_="foreignkey")
        op.execute("DROP TRIGGER tr_points_accounts_balance_needs_ledger_row ON points_accounts")
        op.execute("DROP FUNCTION points_balance_needs_ledger_row()")
    for table in ("sign_in_failures", "refresh_tokens", "points_transactions", "points_accounts", "users"):
        op.drop_table(table)
