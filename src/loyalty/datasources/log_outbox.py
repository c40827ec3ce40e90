"""The outbox of log entries: written in the transaction of the change, emptied by the shipper."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.database import InTransaction
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.prepared import Prepared
from loyalty.datasources.tables import log_outbox


def _encode(entry: LogEntry) -> str:
    return orjson.dumps(
        {
            **{name: getattr(entry, name) for name in LogEntry.__slots__},
            "id": str(entry.id),
            "timestamp": entry.timestamp.isoformat(),
        }
    ).decode()


def _decode(text: str) -> LogEntry:
    data: dict[str, Any] = orjson.loads(text)
    data["id"] = uuid.UUID(data["id"])
    data["timestamp"] = datetime.fromisoformat(data["timestamp"])
    return LogEntry(**data)


_ADD = Prepared(
    log_outbox.insert().values(entry=sa.bindparam("entry"), created_at=sa.bindparam("created_at"))
)


async def add(conn: InTransaction, entry: LogEntry) -> None:
    """Write ``entry`` in ``conn``'s transaction (a prepared statement, so it may be a raw one)."""
    await _ADD.execute(conn, entry=_encode(entry), created_at=entry.timestamp)


async def oldest(conn: AsyncConnection, limit: int) -> list[tuple[int, LogEntry]]:
    """The ``limit`` oldest waiting entries, with their outbox sequence numbers."""
    query = sa.select(log_outbox.c.seq, log_outbox.c.entry).order_by(log_outbox.c.seq).limit(limit)
    return [(row[0], _decode(row[1])) for row in await conn.execute(query)]


async def remove(conn: AsyncConnection, seqs: Sequence[int]) -> None:
    await conn.execute(log_outbox.delete().where(log_outbox.c.seq.in_(list(seqs))))


async def waiting(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sa.select(sa.func.count()).select_from(log_outbox)) or 0)


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """Entries waiting to be shipped, and the oldest one's time."""
    query = sa.select(sa.func.count(), sa.func.min(log_outbox.c.created_at))
    count, oldest = (await conn.execute(query)).one()
    return int(count), oldest
