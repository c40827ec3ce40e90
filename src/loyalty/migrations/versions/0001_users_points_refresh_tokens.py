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

    op.create_table(
        "points_accounts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("user_id", "program", name="uq_points_accounts_user_program"),
        sa.CheckConstraint(
            "balance >= 0 AND balance <= 1000000000000", name=op.f("ck_points_accounts_balance_range")
        ),
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
    )
    op.create_index(
        "ix_points_transactions_account", "points_transactions", ["account_id", sa.text("seq DESC")]
    )

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
    for table in ("sign_in_failures", "refresh_tokens", "points_transactions", "points_accounts", "users"):
        op.drop_table(table)
