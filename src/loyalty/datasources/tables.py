"""The SQL schema, as SQLAlchemy Core tables (the migrations create exactly these)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

MAX_BALANCE = 1_000_000_000_000
ROLES = ("OWNER", "MANAGER", "ENGINEER", "PRODUCT_MANAGER", "USER")
LEDGER_KINDS = ("ADD", "DEDUCT", "OVERRIDE")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        """None on PostgreSQL, where asyncpg reads timestamptz as UTC datetimes already: a page of rows
        then spends no call on each timestamp."""
        return None if dialect.name == "postgresql" else super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An integer key that autoincrements on both backends (SQLite only does so for INTEGER).
SequenceKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("enrolled_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
    # The external (OpenID Connect) identity this staff member signs in with, once linked.
    sa.Column("external_issuer", sa.String(255)),
    sa.Column("external_subject", sa.String(255)),
    # Moved on by "sign out everywhere" and password changes: access tokens carry the value they
    # were issued under, and one from an earlier epoch no longer grants access.
    sa.Column("sessions_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(f"role IN {ROLES!r}", name="role"),
)
# Case-insensitive unique email among users not deleted: a deleted user's email may be reused.
sa.Index(
    "uq_users_active_email",
    sa.func.lower(users.c.email),
    unique=True,
    sqlite_where=users.c.deleted_at.is_(None),
    postgresql_where=users.c.deleted_at.is_(None),
)
sa.Index("ix_users_enrolled", users.c.enrolled_at.desc(), users.c.id.desc())
# One active user per external identity.
sa.Index(
    "uq_users_external_identity",
    users.c.external_issuer,
    users.c.external_subject,
    unique=True,
    sqlite_where=users.c.deleted_at.is_(None),
    postgresql_where=users.c.deleted_at.is_(None),
)

# The database holds every balance to its ledger: an account points at its newest ledger row
# (``ledger_seq``), a deferred foreign key makes that row's ``balance_after`` equal the balance, and a
# trigger (in the migration) refuses any change of the balance that does not move ``ledger_seq`` forward.
points_accounts = sa.Table(
    "points_accounts",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.Column("ledger_seq", SequenceKey),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", "program", name="uq_points_accounts_user_program"),
    sa.CheckConstraint(f"balance >= 0 AND balance <= {MAX_BALANCE}", name="balance_range"),
    sa.CheckConstraint("ledger_seq IS NOT NULL OR balance = 0", name="balance_from_ledger"),
    sa.ForeignKeyConstraint(
        ["id", "ledger_seq", "balance"],
        ["points_transactions.account_id", "points_transactions.seq", "points_transactions.balance_after"],
        name="fk_points_accounts_ledger_row",
        deferrable=True,
        initially="DEFERRED",
        use_alter=True,
    ),
)

points_transactions = sa.Table(
    "points_transactions",
    metadata,
    # Assigned while the account row is locked, so per account it is the order of the changes.
    sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column("account_id", sa.Uuid, sa.ForeignKey("points_accounts.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(500)),
    sa.Column("actor_id", sa.String(255), nullable=False),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("request_digest", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(f"kind IN {LEDGER_KINDS!r}", name="kind"),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    sa.CheckConstraint(f"balance_after >= 0 AND balance_after <= {MAX_BALANCE}", name="balance_after_range"),
    sa.UniqueConstraint("actor_id", "idempotency_key", name="uq_points_transactions_actor_key"),
    sa.UniqueConstraint(
        "account_id", "seq", "balance_after", name="uq_points_transactions_account_seq_balance"
    ),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("family_id", sa.Uuid, nullable=False, index=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)

# One-time links to set a password (an invitation) or reset one, stored as the SHA-256 of their
# token. A link is spent once: ``used_at`` is set by a conditional update, so of two parallel uses one
# wins; a newer link of the same purpose revokes the older ones.
LINK_PURPOSES = ("INVITATION", "RESET")
password_links = sa.Table(
    "password_links",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("purpose", sa.String(10), nullable=False),
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.CheckConstraint(f"purpose IN {LINK_PURPOSES!r}", name="purpose"),
)
sa.Index("ix_password_links_user", password_links.c.user_id, password_links.c.purpose)

# Requests for a password reset email, counted per email and per address so the form cannot flood
# anyone's inbox; kept an hour.
password_reset_requests = sa.Table(
    "password_reset_requests",
    metadata,
    sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
    sa.Column("email_key", sa.String(254), nullable=False),
    sa.Column("source_key", sa.String(64), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
)
sa.Index(
    "ix_password_reset_requests_email_key",
    password_reset_requests.c.email_key,
    password_reset_requests.c.requested_at,
)
sa.Index(
    "ix_password_reset_requests_source_key",
    password_reset_requests.c.source_key,
    password_reset_requests.c.requested_at,
)
sa.Index("ix_password_reset_requests_requested_at", password_reset_requests.c.requested_at)

# Sign-in attempts, reserved before the password is checked: a row counts as a failure unless it
# succeeded. Addresses an email signed in from are spared the lock other addresses caused.
sign_in_attempts = sa.Table(
    "sign_in_attempts",
    metadata,
    sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
    sa.Column("email_key", sa.String(254), nullable=False),
    sa.Column("source_key", sa.String(64), nullable=False),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
)
sa.Index("ix_sign_in_attempts_email_key", sign_in_attempts.c.email_key, sign_in_attempts.c.attempted_at)
sa.Index("ix_sign_in_attempts_source_key", sign_in_attempts.c.source_key, sign_in_attempts.c.attempted_at)
sa.Index("ix_sign_in_attempts_attempted_at", sign_in_attempts.c.attempted_at)
sign_in_addresses = sa.Table(
    "sign_in_addresses",
    metadata,
    sa.Column("email_key", sa.String(254), primary_key=True),
    sa.Column("source_key", sa.String(64), primary_key=True),
    sa.Column("last_success_at", UTCDateTime, nullable=False, index=True),
)

# The activity log: entries wait in the outbox (written in the transaction of the change they
# record) until the shipper moves them to the log store.
log_outbox = sa.Table(
    "log_outbox",
    metadata,
    sa.Column("seq", SequenceKey, primary_key=True, autoincrement=True),
    sa.Column("entry", sa.Text, nullable=False),  # the LogEntry as JSON
    sa.Column("created_at", UTCDateTime, nullable=False),
)

log_entries = sa.Table(
    "log_entries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("actor_id", sa.String(255)),
    sa.Column("actor_email", sa.String(320)),
    sa.Column("actor_role", sa.String(32)),
    sa.Column("target_type", sa.String(32)),
    sa.Column("target_id", sa.String(255)),
    sa.Column("details", sa.JSON),
    sa.Column("source_ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("request_id", sa.String(128)),
)
sa.Index("ix_log_entries_time", log_entries.c.timestamp.desc(), log_entries.c.id.desc())
sa.Index("ix_log_entries_actor", log_entries.c.actor_id, log_entries.c.timestamp.desc())
sa.Index("ix_log_entries_target", log_entries.c.target_id, log_entries.c.timestamp.desc())
sa.Index("ix_log_entries_action", log_entries.c.action, log_entries.c.timestamp.desc())

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

partner_clients = sa.Table(
    "partner_clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("secret_digest", sa.String(64), nullable=False),  # SHA-256: the secret is 256 random bits
    sa.Column("scopes", sa.String(255), nullable=False),  # space-separated, as OAuth 2.0 writes them
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime),
)

# Maker-checker: a change proposed by one staff member, applied when another approves it.
approval_requests = sa.Table(
    "approval_requests",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("change", sa.JSON, nullable=False),
    sa.Column("maker_id", sa.String(255), nullable=False),
    sa.Column("maker_email", sa.String(320)),
    sa.Column("checker_id", sa.String(255)),
    sa.Column("comment", sa.String(1000)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("decided_at", UTCDateTime),
    # The maker's idempotency key (a retried proposal finds the first request) and a digest of what
    # was proposed with it, to tell a retry from a reused key.
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("request_digest", sa.String(64)),
    sa.CheckConstraint("status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')", name="status"),
)
sa.Index("ix_approval_requests_created", approval_requests.c.created_at.desc(), approval_requests.c.id.desc())
sa.Index(
    "uq_approval_requests_maker_key",
    approval_requests.c.maker_id,
    approval_requests.c.idempotency_key,
    unique=True,
)

# Email notifications: one row per recipient per event, written in the transaction of the change that
# raised the event, sent by the email worker. For a SENDING row ``next_attempt_at`` is the end of the
# sender's lease (a worker that dies mid-send leaves the row to be taken again when it expires).
EMAIL_STATUSES = ("PENDING", "SENDING", "SENT", "FAILED")
email_outbox = sa.Table(
    "email_outbox",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("recipient", sa.String(254), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.UniqueConstraint("event", "recipient", name="uq_email_outbox_event_recipient"),
    sa.CheckConstraint(f"status IN {EMAIL_STATUSES!r}", name="status"),
    sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
)
sa.Index("ix_email_outbox_due", email_outbox.c.status, email_outbox.c.next_attempt_at)
