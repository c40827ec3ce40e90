"""The activity log: the outbox, the embedded log store and settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
SequenceKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_outbox",
        sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "log_entries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("timestamp", Timestamp, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("actor_id", sa.String(255)),
        sa.Column("actor_email", sa.String(320)),
        sa.Column("actor_role", sa.String(32)),
        sa.Column("target_type", sa.String(32)),
        sa.Column("target_id", sa.String(255)),
        sa.Column("details", sa.JSON()),
        sa.Column("source_ip", sa.String(64)),
        sa.Column("user_agent", sa.String(512)),
        sa.Column("request_id", sa.String(128)),
    )
    op.create_index("ix_log_entries_time", "log_entries", [sa.text("timestamp DESC"), sa.text("id DESC")])
    for column in ("actor_id", "target_id", "action"):
        name = f"ix_log_entries_{column.removesuffix('_id')}"
        op.create_index(name, "log_entries", [column, sa.text("timestamp DESC")])
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    for table in ("settings", "log_entries", "log_outbox"):
        op.drop_table(table)
