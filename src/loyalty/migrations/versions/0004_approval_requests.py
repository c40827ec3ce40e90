"""Approval requests (maker-checker).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("maker_id", sa.String(255), nullable=False),
        sa.Column("maker_email", sa.String(320)),
        sa.Column("checker_id", sa.String(255)),
        sa.Column("comment", sa.String(1000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')",
            name=op.f("ck_approval_requests_status"),
        ),
    )
    op.create_index(
        "ix_approval_requests_created", "approval_requests", [sa.text("created_at DESC"), sa.text("id DESC")]
    )


def downgrade() -> None:
    op.drop_table("approval_requests")
