"""Engines and connections: one writer at a time on SQLite, a pool on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """Hands out connections: ``read()`` for queries, ``transaction()`` for one unit of change.

    SQLite allows one writer at a time; writers share a single connection that opens every
    transaction with ``BEGIN IMMEDIATE``, so concurrent mutations queue instead of failing
    with "database is locked". PostgreSQL writers run in parallel under row locks.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self._writer = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60)
            self._reader = create_async_engine(url, echo=echo, pool_size=4, max_overflow=4)
            for engine in (self._writer, self._reader):
                event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
            event.listen(self._writer.sync_engine, "begin", _begin_immediate)
            self.engines: tuple[AsyncEngine, ...] = (self._writer, self._reader)
        else:
            self._writer = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
            )
            # Single statements need no BEGIN/COMMIT round trips.
            self._reader = self._writer.execution_options(isolation_level="AUTOCOMMIT")
            self.engines = (self._writer,)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One database transaction: committed when the block ends, rolled back if it raises."""
        async with self._writer.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver so the "begin" hook decides how to BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
