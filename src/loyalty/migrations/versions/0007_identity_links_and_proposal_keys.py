"""External identities linked by subject; proposals keyed for retries and never carrying a password.

An external identity (OpenID Connect) is matched by ``(external_issuer, external_subject)`` once
linked, not by an email a free-form username could spell. A proposal stores the maker's idempotency
key, unique per maker, so a retried proposal finds the first request. Proposals no longer carry a
password hash (staff set their own passwords): the column goes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("external_issuer", sa.String(255)))
    op.add_column("users", sa.Column("external_subject", sa.String(255)))
    active = sa.text("deleted_at IS NULL")
    op.create_index(
        "uq_users_external_identity",
        "users",
        ["external_issuer", "external_subject"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.add_column("approval_requests", sa.Column("idempotency_key", sa.String(255)))
    op.add_column("approval_requests", sa.Column("request_digest", sa.String(64)))
    op.create_index(
        "uq_approval_requests_maker_key", "approval_requests", ["maker_id", "idempotency_key"], unique=True
    )
    op.drop_column("approval_requests", "password_hash")


def downgrade() -> None:
    op.add_column("approval_requests", sa.Column("password_hash", sa.String(255)))
    op.drop_index("uq_approval_requests_maker_key", table_name="approval_requests")
    op.drop_column("approval_requests", "request_digest")
    op.drop_column("approval_requests", "idempotency_key")
    op.drop_index("uq_users_external_identity", table_name="users")
    op.drop_column("users", "external_subject")
    op.drop_column("users", "external_issuer")
