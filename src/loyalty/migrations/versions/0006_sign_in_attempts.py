"""Sign-in attempts per email and address, and the addresses each email signed in from.

``sign_in_failures`` counted failures per email only, so anyone could lock any email everywhere.
An attempt is now reserved (a row) before its password is checked, with the address it came from;
success marks it and remembers the address as one the email signs in from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
SequenceKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("attempted_at", Timestamp, nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_sign_in_attempts_email_key", "sign_in_attempts", ["email_key", "attempted_at"])
    op.create_index("ix_sign_in_attempts_source_key", "sign_in_attempts", ["source_key", "attempted_at"])
    op.create_index("ix_sign_in_attempts_attempted_at", "sign_in_attempts", ["attempted_at"])
    op.create_table(
        "sign_in_addresses",
        sa.Column("email_key", sa.String(254), primary_key=True),
        sa.Column("source_key", sa.String(64), primary_key=True),
        sa.Column("last_success_at", Timestamp, nullable=False),
    )
    op.create_index("ix_sign_in_addresses_last_success_at", "sign_in_addresses", ["last_success_at"])
    # Failures still in their window keep counting, from no known address.
    op.execute(
        "INSERT INTO sign_in_attempts (email_key, source_key, attempted_at, succeeded) "
        "SELECT email_key, '', failed_at, false FROM sign_in_failures"
    )
    op.drop_table("sign_in_failures")


def downgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("failed_at", Timestamp, nullable=False),
    )
    op.create_index("ix_sign_in_failures_email", "sign_in_failures", ["email_key", "failed_at"])
    op.execute(
        "INSERT INTO sign_in_failures (email_key, failed_at) "
        "SELECT email_key, attempted_at FROM sign_in_attempts WHERE NOT succeeded"
    )
    op.drop_table("sign_in_addresses")
    op.drop_table("sign_in_attempts")
