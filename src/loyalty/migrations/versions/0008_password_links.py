"""Staff set their own passwords: one-time links, reset requests counted, sessions ended everywhere.

``password_links`` holds invitations and reset links as SHA-256 digests of their tokens;
``password_reset_requests`` counts reset emails per email and per address; ``users.sessions_epoch``
is moved on to end every access token a user holds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
SequenceKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("users", sa.Column("sessions_epoch", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "password_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", name="fk_password_links_user_id_users"),
                  nullable=False),
        sa.Column("purpose", sa.String(10), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp),
        sa.Column("revoked_at", Timestamp),
        sa.UniqueConstraint("token_digest", name="uq_password_links_token_digest"),
        sa.CheckConstraint("purpose IN ('INVITATION', 'RESET')", name=op.f("ck_password_links_purpose")),
    )  # fmt: skip
    op.create_index("ix_password_links_user", "password_links", ["user_id", "purpose"])
    op.create_table(
        "password_reset_requests",
        sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("requested_at", Timestamp, nullable=False),
    )
    for column in ("email_key", "source_key"):
        op.create_index(
            f"ix_password_reset_requests_{column}", "password_reset_requests", [column, "requested_at"]
        )
    op.create_index("ix_password_reset_requests_requested_at", "password_reset_requests", ["requested_at"])


def downgrade() -> None:
    op.drop_table("password_reset_requests")
    op.drop_table("password_links")
    op.drop_column("users", "sessions_epoch")
