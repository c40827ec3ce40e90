"""The embedded log store: a table in the same SQL database (``LOYALTY_LOG_STORE=sql``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from loyalty.datasources.database import Database
from loyalty.datasources.log_store import LogEntry, LogPosition, LogQuery
from loyalty.datasources.patterns import contains_pattern
from loyalty.datasources.tables import log_entries

_COLUMNS = tuple(log_entries.c)


def _conditions(query: LogQuery) -> list[sa.ColumnElement[bool]]:
    c = log_entries.c
    conditions: list[sa.ColumnElement[bool]] = []
    for column, value in (
        (c.actor_id, query.actor_id),
        (c.target_id, query.target_id),
        (c.action, query.action),
        (c.outcome, query.outcome),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.since is not None:
        conditions.append(c.timestamp >= query.since)
    if query.until is not None:
        conditions.append(c.timestamp <= query.until)
    if query.search:
        pattern = contains_pattern(query.search.lower())
        conditions.append(
            sa.or_(
                *(
                    sa.func.lower(sa.func.coalesce(column, "")).like(pattern, escape="\\")
                    for column in (c.action, c.actor_email, c.target_id)
                )
            )
        )
    return conditions


def _entry(row: sa.Row[Any]) -> LogEntry:
    return LogEntry(**row._mapping)


class SqlLogStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure_ready(self) -> None:
        """The table comes with the migrations."""

    async def write_batch(self, entries: Sequence[LogEntry], *, retention_days: int) -> None:
        if not entries:
            return
        insert = sqlite_insert if self._db.is_sqlite else postgresql_insert
        rows = [{column.name: getattr(entry, column.name) for column in _COLUMNS} for entry in entries]
        async with self._db.transaction() as conn:
            await conn.execute(insert(log_entries).on_conflict_do_nothing(index_elements=["id"]), rows)

    async def query(self, query: LogQuery, *, limit: int, after: LogPosition | None) -> list[LogEntry]:
        conditions = _conditions(query)
        if after is not None:
            conditions.append(sa.tuple_(log_entries.c.timestamp, log_entries.c.id) < sa.tuple_(*after))
        statement = (
            sa.select(*_COLUMNS)
            .where(*conditions)
            .order_by(log_entries.c.timestamp.desc(), log_entries.c.id.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [_entry(row) for row in await conn.execute(statement)]

    async def purge_before(self, cutoff: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(log_entries.delete().where(log_entries.c.timestamp < cutoff))
        return result.rowcount

    async def close(self) -> None:
        """The database belongs to the application."""
