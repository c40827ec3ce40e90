"""The email outbox: messages written in the transaction of the change that raised them, sent by a worker.

A row moves PENDING -> SENDING (claimed, under a lease) -> SENT, or back to PENDING to be retried
later, or to FAILED for an operator to look at and re-queue. ``attempts`` counts claims, and doubles as
the claim's fencing token: a worker records the outcome of a send only while the row is still the one
it claimed (SENDING with the same ``attempts``), except "sent", which is recorded whatever happened
since, because a message the server accepted must not go out again.

Every time comparison uses the ``now`` the caller passes, so a test (or a worker) decides the clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.database import DriverTransaction, InTransaction
from loyalty.datasources.prepared import Prepared
from loyalty.datasources.tables import email_outbox

_MESSAGE_COLUMNS = ("id", "event", "recipient", "subject", "text_body", "html_body", "status", "attempts",
                    "next_attempt_at", "created_at")  # fmt: skip
# One message, on PostgreSQL, for a transaction of prepared statements (DriverTransaction).
_INSERT_ONE = Prepared(
    postgresql.insert(email_outbox)
    .values({name: sa.bindparam(name) for name in _MESSAGE_COLUMNS})
    .on_conflict_do_nothing(index_elements=["event", "recipient"])
    .returning(email_outbox.c.id)
)

PENDING = "PENDING"
SENDING = "SENDING"
SENT = "SENT"
FAILED = "FAILED"
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    id: uuid.UUID
    event: str
    recipient: str
    subject: str
    text_body: str
    html_body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _record(row: Any) -> QueuedEmail:
    return QueuedEmail(**{name: getattr(row, name) for name in QueuedEmail.__slots__})


def _error_text(error: str) -> str:
    return error[:MAX_ERROR_LENGTH]


async def add(
    conn: InTransaction,
    *,
    event: str,
    recipients: Sequence[str],
    subject: str,
    text_body: str,
    html_body: str,
    now: datetime,
) -> list[uuid.UUID]:
    """Queue one message per recipient; a recipient already queued for ``event`` is left alone.

    Returns the ids of the rows actually added.
    """
    if not recipients:
        return []
    rows = [
        {
            "id": uuid.uuid4(),
            "event": event,
            "recipient": recipient,
            "subject": subject,
            "text_body": text_body,
            "html_body": html_body,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for recipient in recipients
    ]
    if isinstance(conn, DriverTransaction):  # one prepared statement per message
        added = [await _INSERT_ONE.fetchrow(conn, **row) for row in rows]
        return [row[0] for row in added if row is not None]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(email_outbox)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["event", "recipient"])
        .returning(email_outbox.c.id)
    )
    return list((await conn.execute(statement)).scalars())


async def _claim(
    conn: AsyncConnection, candidates: sa.Select[Any], *, lease_until: datetime
) -> list[QueuedEmail]:
    """Turn the rows ``candidates`` selects into SENDING, under a lease ending at ``lease_until``.

    On PostgreSQL concurrent workers skip each other's rows (FOR UPDATE SKIP LOCKED); on SQLite the
    database serializes writers, so a claim is atomic as it is.
    """
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        email_outbox.update()
        .where(email_outbox.c.id.in_(candidates.scalar_subquery()))
        .values(status=SENDING, attempts=email_outbox.c.attempts + 1, next_attempt_at=lease_until)
        .returning(*email_outbox.c)
    )
    rows = [_record(row) for row in await conn.execute(statement)]
    return sorted(rows, key=lambda message: (message.created_at, str(message.id)))


async def claim_due(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[QueuedEmail]:
    """Claim up to ``limit`` PENDING messages that are due, oldest first."""
    candidates = (
        sa.select(email_outbox.c.id)
        .where(email_outbox.c.status == PENDING, email_outbox.c.next_attempt_at <= now)
        .order_by(email_outbox.c.next_attempt_at, email_outbox.c.id)
        .limit(limit)
    )
    return await _claim(conn, candidates, lease_until=lease_until)


async def claim_ids(
    conn: AsyncConnection, ids: Collection[uuid.UUID], *, now: datetime, lease_until: datetime
) -> list[QueuedEmail]:
    """Claim the named messages that are PENDING (due or not) or SENDING under an expired lease."""
    if not ids:
        return []
    candidates = sa.select(email_outbox.c.id).where(
        email_outbox.c.id.in_(list(ids)),
        sa.or_(
            email_outbox.c.status == PENDING,
            sa.and_(email_outbox.c.status == SENDING, email_outbox.c.next_attempt_at <= now),
        ),
    )
    return await _claim(conn, candidates, lease_until=lease_until)


async def anything_due(conn: AsyncConnection, *, now: datetime) -> bool:
    """Whether a PENDING message is due or a SENDING lease has expired (a read: no write lock when idle)."""
    query = (
        sa.select(email_outbox.c.id)
        .where(email_outbox.c.status.in_((PENDING, SENDING)), email_outbox.c.next_attempt_at <= now)
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


async def release_expired_leases(conn: AsyncConnection, *, now: datetime, max_attempts: int) -> int:
    """Take back the messages of workers that stopped mid-send: PENDING, or FAILED if out of attempts."""
    statement = (
        email_outbox.update()
        .where(email_outbox.c.status == SENDING, email_outbox.c.next_attempt_at <= now)
        .values(
            status=sa.case((email_outbox.c.attempts >= max_attempts, FAILED), else_=PENDING),
            next_attempt_at=now,
            last_error="the worker stopped while sending (its lease expired)",
        )
    )
    return (await conn.execute(statement)).rowcount


async def mark_sent(conn: AsyncConnection, message_id: uuid.UUID, *, now: datetime) -> None:
    """SENT, without its bodies: an invitation's or a reset's one-time link is not kept in the database
    once it is on its way (the envelope stays, to send an event once per recipient, until purged)."""
    await conn.execute(
        email_outbox.update()
        .where(email_outbox.c.id == message_id, email_outbox.c.status != SENT)
        .values(status=SENT, sent_at=now, text_body="", html_body="")
    )


def _still_claimed(message_id: uuid.UUID, attempt: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        email_outbox.c.id == message_id,
        email_outbox.c.status == SENDING,
        email_outbox.c.attempts == attempt,
    )


async def retry_later(
    conn: AsyncConnection, message_id: uuid.UUID, *, attempt: int, at: datetime, error: str
) -> bool:
    """PENDING again from ``at``; False when the claim ``attempt`` was lost meanwhile."""
    result = await conn.execute(
        email_outbox.update()
        .where(_still_claimed(message_id, attempt))
        .values(status=PENDING, next_attempt_at=at, last_error=_error_text(error))
    )
    return result.rowcount == 1


async def mark_failed(conn: AsyncConnection, message_id: uuid.UUID, *, attempt: int, error: str) -> bool:
    """FAILED, for an operator; False when the claim ``attempt`` was lost meanwhile."""
    result = await conn.execute(
        email_outbox.update()
        .where(_still_claimed(message_id, attempt))
        .values(status=FAILED, last_error=_error_text(error))
    )
    return result.rowcount == 1


async def fetch(conn: AsyncConnection, ids: Collection[uuid.UUID]) -> list[QueuedEmail]:
    if not ids:
        return []
    rows = await conn.execute(sa.select(email_outbox).where(email_outbox.c.id.in_(list(ids))))
    return [_record(row) for row in rows]


async def failed(conn: AsyncConnection, *, limit: int) -> list[QueuedEmail]:
    """FAILED messages, oldest first."""
    rows = await conn.execute(
        sa.select(email_outbox)
        .where(email_outbox.c.status == FAILED)
        .order_by(email_outbox.c.created_at, email_outbox.c.id)
        .limit(limit)
    )
    return [_record(row) for row in rows]


async def requeue(
    conn: AsyncConnection, ids: Collection[uuid.UUID] | None, *, now: datetime
) -> list[uuid.UUID]:
    """FAILED messages (those of ``ids``, or all with ``None``) PENDING again, with fresh attempts."""
    statement = email_outbox.update().where(email_outbox.c.status == FAILED)
    if ids is not None:
        if not ids:
            return []
        statement = statement.where(email_outbox.c.id.in_(list(ids)))
    statement = statement.values(status=PENDING, attempts=0, next_attempt_at=now).returning(email_outbox.c.id)
    return list((await conn.execute(statement)).scalars())


async def purge_sent(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget messages sent before ``before`` (their (event, recipient) may then be queued again)."""
    result = await conn.execute(
        email_outbox.delete().where(email_outbox.c.status == SENT, email_outbox.c.sent_at < before)
    )
    return result.rowcount


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """How many messages are in each status (statuses with none are absent)."""
    query = sa.select(email_outbox.c.status, sa.func.count()).group_by(email_outbox.c.status)
    return {status: int(count) for status, count in await conn.execute(query)}


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """Messages not yet sent nor failed (PENDING or SENDING), and the oldest one's creation time."""
    query = sa.select(sa.func.count(), sa.func.min(email_outbox.c.created_at)).where(
        email_outbox.c.status.in_((PENDING, SENDING))
    )
    count, oldest = (await conn.execute(query)).one()
    return int(count), oldest
