"""The embedded log store: a table in the same SQL database (``LOYALTY_LOG_STORE=sql``)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from loyalty.datasources.database import Database, InTransaction
from loyalty.datasources.log_store import LogEntry, LogPosition, LogQuery
from loyalty.datasources.patterns import contains_pattern
from loyalty.datasources.prepared import Prepared, Row
from loyalty.datasources.tables import UTCDateTime, log_entries

_COLUMNS = tuple(log_entries.c)
_NAMES = tuple(column.name for column in _COLUMNS)
_VALUES = operator.attrgetter(*_NAMES)  # an entry's values in the columns' order
_FILTERS = ("actor_id", "target_id", "action", "outcome", "since", "until")
_INSERT = Prepared(log_entries.insert().values({column: sa.bindparam(column.name) for column in _COLUMNS}))


def _condition(name: str) -> sa.ColumnElement[bool]:
    """The condition :class:`LogQuery`'s field ``name`` sets, its value bound by that name."""
    c = log_entries.c
    if name == "since":
        return c.timestamp >= sa.bindparam(name, type_=UTCDateTime)
    if name == "until":
        return c.timestamp <= sa.bindparam(name, type_=UTCDateTime)
    return c[name] == sa.bindparam(name, type_=c[name].type)


@functools.cache
def _page(filters: tuple[str, ...], *, search: bool, after: bool) -> Prepared:
    """The log query of one shape: the ``filters`` given, a search or not, a position or not. Values are
    bound by the names of :class:`LogQuery`'s fields, plus ``after_timestamp``, ``after_id``, ``limit``."""
    c = log_entries.c
    conditions = [_condition(name) for name in filters]
    if search:
        pattern = sa.bindparam("search", type_=sa.String)
        conditions.append(
            sa.or_(
                *(
                    sa.func.lower(sa.func.coalesce(column, "")).like(pattern, escape="\\")
                    for column in (c.action, c.actor_email, c.target_id)
                )
            )
        )
    if after:
        position = sa.tuple_(
            sa.bindparam("after_timestamp", type_=UTCDateTime), sa.bindparam("after_id", type_=sa.Uuid)
        )
        conditions.append(sa.tuple_(c.timestamp, c.id) < position)
    return Prepared(
        sa.select(*_COLUMNS)
        .where(*conditions)
        .order_by(c.timestamp.desc(), c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


def _entry(row: Row) -> LogEntry:
    return LogEntry(*row)  # the table's columns are in LogEntry's order


async def add_entry(conn: InTransaction, entry: LogEntry) -> None:
    """Write ``entry`` in ``conn``'s transaction: the SQL store needs no outbox."""
    await _INSERT.execute(conn, **dict(zip(_NAMES, _VALUES(entry), strict=True)))


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
        filters = tuple(name for name in _FILTERS if getattr(query, name) is not None)
        values = {name: getattr(query, name) for name in filters}
        if query.search:
            values["search"] = contains_pattern(query.search.lower())
        if after is not None:
            values["after_timestamp"], values["after_id"] = after
        statement = _page(filters, search=bool(query.search), after=after is not None)
        rows = await statement.fetch(self._db, limit=limit, **values)
        return [_entry(row) for row in rows]

    async def purge_before(self, cutoff: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(log_entries.delete().where(log_entries.c.timestamp < cutoff))
        return result.rowcount

    async def close(self) -> None:
        """The database belongs to the application."""
