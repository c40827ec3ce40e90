"""Failed sign-ins per email (known or not), for locking an email after repeated failures."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.tables import sign_in_failures


async def record_failure(conn: AsyncConnection, *, email_key: str, now: datetime) -> None:
    await conn.execute(sign_in_failures.insert().values(email_key=email_key, failed_at=now))


async def failures_since(conn: AsyncConnection, *, email_key: str, since: datetime) -> list[datetime]:
    """Times of the failures for ``email_key`` after ``since``, newest first."""
    query = (
        sa.select(sign_in_failures.c.failed_at)
        .where(sign_in_failures.c.email_key == email_key, sign_in_failures.c.failed_at > since)
        .order_by(sign_in_failures.c.failed_at.desc())
    )
    return list((await conn.scalars(query)).all())


async def clear_failures(conn: AsyncConnection, *, email_key: str) -> None:
    await conn.execute(sign_in_failures.delete().where(sign_in_failures.c.email_key == email_key))


async def purge_before(conn: AsyncConnection, *, cutoff: datetime) -> None:
    await conn.execute(sign_in_failures.delete().where(sign_in_failures.c.failed_at < cutoff))
