"""Sign-in attempts per email and address, and the addresses each email has signed in from.

An attempt is a row reserved before its password is checked; it counts as a failure unless it is
marked as succeeded. :func:`serialize` makes the reservations of one email (and of one address) take
turns, so that a count read in the reserving transaction is exact under concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.tables import sign_in_addresses, sign_in_attempts

# Advisory lock classes (the first key of PostgreSQL's two-key advisory locks), one per key space.
_EMAIL_LOCK, _SOURCE_LOCK = 1, 2


@dataclass(frozen=True, slots=True)
class PastAttempt:
    source_key: str
    attempted_at: datetime
    succeeded: bool


async def serialize(conn: AsyncConnection, *, email_key: str, source_key: str) -> None:
    """Wait for other reserving transactions of this email or address, until this one ends.

    On PostgreSQL: transaction-scoped advisory locks, always the email's before the address's (so two
    transactions never wait on each other in a circle). SQLite's one writer serializes them already.
    """
    if conn.dialect.name == "sqlite":
        return
    await conn.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(:email_class, hashtext(:email)),"
            " pg_advisory_xact_lock(:source_class, hashtext(:source))"
        ),
        {"email_class": _EMAIL_LOCK, "email": email_key, "source_class": _SOURCE_LOCK, "source": source_key},
    )


async def attempts_on(conn: AsyncConnection, *, email_key: str, since: datetime) -> list[PastAttempt]:
    """The attempts on ``email_key`` after ``since``, from any address."""
    table = sign_in_attempts
    query = sa.select(table.c.source_key, table.c.attempted_at, table.c.succeeded).where(
        table.c.email_key == email_key, table.c.attempted_at > since
    )
    return [PastAttempt(*row) for row in (await conn.execute(query)).all()]


async def count_from(conn: AsyncConnection, *, source_key: str, since: datetime) -> int:
    """How many attempts ``source_key`` made after ``since``, on any email."""
    table = sign_in_attempts
    query = sa.select(sa.func.count()).where(table.c.source_key == source_key, table.c.attempted_at > since)
    return int((await conn.scalar(query)) or 0)


async def known_sources(conn: AsyncConnection, *, email_key: str, since: datetime) -> set[str]:
    """The addresses ``email_key`` signed in from after ``since``."""
    query = sa.select(sign_in_addresses.c.source_key).where(
        sign_in_addresses.c.email_key == email_key, sign_in_addresses.c.last_success_at > since
    )
    return set((await conn.scalars(query)).all())


async def reserve(conn: AsyncConnection, *, email_key: str, source_key: str, now: datetime) -> int:
    """Record an attempt, a failure until :func:`mark_succeeded`; its sequence number."""
    statement = (
        sign_in_attempts.insert()
        .values(email_key=email_key, source_key=source_key, attempted_at=now, succeeded=False)
        .returning(sign_in_attempts.c.seq)
    )
    return int((await conn.execute(statement)).scalar_one())


async def mark_succeeded(
    conn: AsyncConnection, *, seq: int, email_key: str, source_key: str, now: datetime
) -> None:
    """The attempt ``seq`` succeeded: its address's failures on the email are forgiven, the address known."""
    table = sign_in_attempts
    await conn.execute(
        table.delete().where(
            table.c.email_key == email_key,
            table.c.source_key == source_key,
            table.c.seq != seq,
            table.c.succeeded.is_(False),
        )
    )
    await conn.execute(table.update().where(table.c.seq == seq).values(succeeded=True))
    await conn.execute(
        sign_in_addresses.delete().where(
            sign_in_addresses.c.email_key == email_key, sign_in_addresses.c.source_key == source_key
        )
    )
    await conn.execute(
        sign_in_addresses.insert().values(email_key=email_key, source_key=source_key, last_success_at=now)
    )


async def purge(conn: AsyncConnection, *, attempts_before: datetime, addresses_before: datetime) -> None:
    """Forget attempts and known addresses too old to matter.

    Rows another transaction is purging already are skipped rather than waited for: concurrent
    sign-ins purging the same rows in different orders could otherwise deadlock.
    """
    old_attempts = (
        sa.select(sign_in_attempts.c.seq)
        .where(sign_in_attempts.c.attempted_at < attempts_before)
        .with_for_update(skip_locked=True)
    )
    await conn.execute(sign_in_attempts.delete().where(sign_in_attempts.c.seq.in_(old_attempts)))
    addresses = sign_in_addresses.c
    old_addresses = (
        sa.select(addresses.email_key, addresses.source_key)
        .where(addresses.last_success_at < addresses_before)
        .with_for_update(skip_locked=True)
    )
    await conn.execute(
        sign_in_addresses.delete().where(
            sa.tuple_(addresses.email_key, addresses.source_key).in_(old_addresses)
        )
    )
