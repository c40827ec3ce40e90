"""Engines and connections: one writer at a time on SQLite, a pool on PostgreSQL.

On PostgreSQL the hot statements (``prepared.py``) run straight on asyncpg: single reads on an asyncpg
pool of their own, statements of a transaction on the driver connection beneath SQLAlchemy's. The
SQLAlchemy asyncpg adapter would BEGIN lazily, before its own first statement, so a raw statement run
first would escape the transaction: SQLAlchemy runs in AUTOCOMMIT there, and ``transaction()`` sends
BEGIN and COMMIT (or ROLLBACK) on the driver connection itself. A transaction of prepared statements
alone (``prepared_transaction()``, the hot changes) skips SQLAlchemy altogether: a connection of a third
pool, asyncpg's, with BEGIN and COMMIT on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiosqlite
import asyncpg
import orjson
from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import await_

from loyalty.datasources.errors import DRIVER_ERRORS, as_sqlalchemy_error

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Where a PostgreSQL connection's ``info`` keeps its :class:`DriverLink`.
DRIVER_LINK = "loyalty.driver_link"

StatementHook = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DriverLink:
    """What a raw statement needs of the SQLAlchemy connection it runs in: the driver's connection
    beneath it (asyncpg's, or aiosqlite's on SQLite)."""

    database: Database
    driver: Any


_IDLE_RAW_CONNECTION_SECONDS = 5.0
_BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
# Connections a raw pool keeps open however quiet the worker: with none, the first requests after 5 s
# without any each waited 13-25 ms for a new connection (the first partner tokens of a burst, say).
_WARM_RAW_CONNECTIONS = 2
# SQLSTATEs of a session the server ended: admin_shutdown, crash_shutdown, cannot_connect_now.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})


class DriverTransaction:
    """A transaction open on a raw asyncpg connection (PostgreSQL), which prepared statements run in
    as they run in an :class:`AsyncConnection`'s (``Database.prepared_transaction()`` gives it)."""

    __slots__ = ("_after_commit", "database", "driver")

    def __init__(self, database: Database, driver: asyncpg.Connection) -> None:
        self.database = database
        self.driver = driver
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed (never if it rolls back); once, however
        often it is given."""
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    def run_after_commit(self) -> None:
        """What :meth:`after_commit` was given, called by the block that committed the transaction."""
        for callback in self._after_commit:
            callback()


# What a change runs its statements on: a SQLAlchemy connection in a transaction, or a raw one.
InTransaction = AsyncConnection | DriverTransaction


class Database:
    """Hands out connections: ``read()`` for queries, ``transaction()`` for one unit of change.

    SQLite allows one writer at a time; writers share a single connection that opens every
    transaction with ``BEGIN IMMEDIATE``, so concurrent mutations queue instead of failing
    with "database is locked". PostgreSQL writers run in parallel under row locks.

    ``statement_hook``, when set, is called with the text of every statement this database runs,
    SQLAlchemy's and raw ones alike, BEGIN and COMMIT included (tests and the benchmark count them).
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 20) -> None:
        """``pool_size``: on PostgreSQL, connections for single reads, and as many for transactions."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._statement_hook: StatementHook | None = None
        self._pool_size = pool_size
        self._driver_pool: asyncpg.Pool | None = None
        self._driver_transaction_pool: asyncpg.Pool | None = None
        self._driver_pool_lock = asyncio.Lock()
        # orjson reads and writes JSON columns several times faster than the json module, to equal values.
        options: dict[str, Any] = {
            "echo": echo,
            "json_serializer": _json_text,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            # The writer's connections are only used in transaction()'s block, which always commits or
            # rolls back: nothing is left to reset when one goes back to the pool.
            self._writer = create_async_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=60, pool_reset_on_return=None, **options
            )
            # Readers run in autocommit (isolation_level None, and no BEGIN for them): there is no
            # transaction to roll back when a connection goes back to the pool, and the rollback that
            # SQLAlchemy sends anyway cost every read a second trip to aiosqlite's thread, a turn of a
            # busy event loop. Eight kept open, none beyond: with four and four more on demand, every
            # fifth read at once opened a connection (fifteen trips to its thread) and closed it after.
            self._reader = create_async_engine(
                url, pool_size=8, max_overflow=0, pool_reset_on_return=None, **options
            )
            for engine in (self._writer, self._reader):
                event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
                event.listen(engine.sync_engine, "connect", self._link_driver)
            event.listen(self._writer.sync_engine, "begin", self._begin_immediate)
            self.engines: tuple[AsyncEngine, ...] = (self._writer, self._reader)
        else:
            self._writer = create_async_engine(
                url,
                pool_size=pool_size // 2,
                max_overflow=pool_size - pool_size // 2,
                pool_pre_ping=False,
                isolation_level="AUTOCOMMIT",  # transaction() begins and ends transactions itself
                **options,
            )
            self._reader = self._writer
            event.listen(self._writer.sync_engine, "connect", self._link_driver)
            event.listen(self._writer.sync_engine, "checkout", _replace_if_closed)
            self.engines = (self._writer,)
        self.dialect: Dialect = self._writer.dialect

    # --- statement hook --------------------------------------------------------------------------

    @property
    def statement_hook(self) -> StatementHook | None:
        return self._statement_hook

    @statement_hook.setter
    def statement_hook(self, hook: StatementHook | None) -> None:
        """Listen to SQLAlchemy's statements only while a hook is set: no cost otherwise."""
        listeners: list[tuple[AsyncEngine, str, Callable[..., None]]] = [
            (engine, "before_cursor_execute", self._report_cursor) for engine in self.engines
        ]
        if self.is_sqlite:  # the writer's BEGIN IMMEDIATE ends through the driver, not a cursor
            listeners += [
                (self._writer, "commit", self._report_commit),
                (self._writer, "rollback", self._report_rollback),
            ]
        for engine, name, listener in listeners:
            listening = event.contains(engine.sync_engine, name, listener)
            if hook is not None and not listening:
                event.listen(engine.sync_engine, name, listener)
            elif hook is None and listening:
                event.remove(engine.sync_engine, name, listener)
        self._statement_hook = hook

    def _report_cursor(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.report(statement)

    def _report_commit(self, _conn: Any) -> None:
        self.report("COMMIT")

    def _report_rollback(self, _conn: Any) -> None:
        self.report("ROLLBACK")

    def report(self, statement: str) -> None:
        hook = self._statement_hook
        if hook is not None:
            hook(statement)

    # --- connections -----------------------------------------------------------------------------

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries. Closed by a call, not by its own ``async with``: SQLAlchemy closes
        it that way in a task of its own, and waiting for that task cost every read a turn of the
        event loop, long when the loop is busy (as ``transaction()`` closes its connection too)."""
        conn = await self._reader.connect()
        try:
            yield conn
        finally:
            await conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One database transaction: committed when the block ends, rolled back if it raises."""
        if self.is_sqlite:
            async with self._sqlite_transaction() as conn:
                yield conn
            return
        conn, driver = await self._begun()
        try:
            try:
                yield conn
                await self._control(driver, "COMMIT")
            except BaseException as error:
                await self._roll_back(conn, driver, error)
                raise
            if conn.in_transaction():
                # A SQLAlchemy statement began SQLAlchemy's own transaction, empty in AUTOCOMMIT; ending
                # it fires its commit event after the real COMMIT (the email notifier wakes its worker on
                # it). A transaction of raw statements alone skips the two round trips through greenlets.
                await conn.commit()
        finally:
            await conn.close()

    async def _begun(self) -> tuple[AsyncConnection, asyncpg.Connection]:
        """A connection with a transaction begun. A BEGIN that failed because the server had closed
        the connection did nothing, so it is sent once more on another; a failure later in the
        transaction is reported, never repeated (its changes may have reached the server)."""
        try:
            return await self._begin_on_a_connection()
        except DBAPIError as error:
            if not connection_lost(error):
                raise
            return await self._begin_on_a_connection()

    async def _begin_on_a_connection(self) -> tuple[AsyncConnection, asyncpg.Connection]:
        conn = await self._writer.connect()
        driver = conn.info[DRIVER_LINK].driver
        try:
            await self._control(driver, "BEGIN")
        except BaseException as error:
            await discard_if_broken(conn, driver, error)
            await conn.close()
            raise
        return conn, driver

    async def pool(self) -> asyncpg.Pool:
        """The asyncpg pool single raw reads take a connection from (PostgreSQL only), opened on first use.

        It is cheaper to take from than SQLAlchemy's pool (its checkout costs several times a raw
        SELECT). Connections go back without asyncpg's reset query: these statements set no session
        state, and asyncpg rolls back an open transaction before the reset anyway.
        """
        if self._driver_pool is None:
            async with self._driver_pool_lock:
                if self._driver_pool is None:
                    self._driver_pool = await self._open_raw_pool()
        return self._driver_pool

    def prepared_transaction(self) -> PreparedTransaction:
        """One database transaction in which only prepared statements run (``prepared.py``): committed
        when the block ends, rolled back if it raises. On PostgreSQL a :class:`DriverTransaction` on a
        connection of asyncpg's pool for transactions, without SQLAlchemy's pool and its greenlets (their
        checkout and return were a fifth of adjustPoints' CPU); on SQLite, ``transaction()``."""
        return PreparedTransaction(self)

    async def _transaction_pool(self) -> asyncpg.Pool:
        """The asyncpg pool of :meth:`prepared_transaction` (PostgreSQL), opened on first use. Not the
        reads' pool: a request holding a connection of that one for its reads (``SharedReads``) would
        wait on it for a transaction, and enough such requests at once would wait for ever."""
        if self._driver_transaction_pool is None:
            async with self._driver_pool_lock:
                if self._driver_transaction_pool is None:
                    self._driver_transaction_pool = await self._open_raw_pool()
        return self._driver_transaction_pool

    async def _open_raw_pool(self) -> asyncpg.Pool:
        _, options = self.dialect.create_connect_args(self.url)
        for sqlalchemy_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            options.pop(sqlalchemy_only, None)
        pool: asyncpg.Pool = await asyncpg.create_pool(
            min_size=min(_WARM_RAW_CONNECTIONS, self._pool_size),
            max_size=self._pool_size,
            # Fewer connections than concurrent requests queue them (unfairly: asyncio
            # queues let a newcomer take a connection a waiter was woken for), which
            # stretches the latency tail; idle ones beyond the warm few close soon, so a quiet
            # worker holds few.
            max_inactive_connection_lifetime=_IDLE_RAW_CONNECTION_SECONDS,
            init=_decode_json_as_sqlalchemy_does,
            reset=_keep_session,
            **options,
        )
        return pool

    async def _begin_raw(self) -> tuple[asyncpg.Pool, asyncpg.Connection]:
        """A connection of the transaction pool with a transaction begun; once more on another if the
        first was found lost at BEGIN (as :meth:`_begun`)."""
        pool = await self._transaction_pool()
        for attempt in (1, 2):
            driver = await pool.acquire()
            try:
                await self._control(driver, "BEGIN")
            except BaseException as error:
                await pool.release(driver)  # a closed one is replaced, an open one has nothing begun
                if attempt == 2 or not connection_lost(error):
                    raise
            else:
                return pool, driver
        raise AssertionError("unreachable")

    async def _end_raw(self, pool: asyncpg.Pool, driver: asyncpg.Connection, *, commit: bool) -> None:
        """COMMIT, or ROLLBACK, then the connection back to the pool. A connection whose ROLLBACK failed
        (lost, or still busy with a cancelled statement) is closed instead, which ends its transaction
        on the server; the error that led to the rollback is the one raised, not the ROLLBACK's."""
        try:
            if commit:
                await self._control(driver, "COMMIT")
            elif _open(driver) and driver.is_in_transaction():
                try:
                    await self._control(driver, "ROLLBACK")
                except BaseException:  # noqa: BLE001 - closing the connection rolls back as well
                    driver.terminate()
        finally:
            await pool.release(driver)

    def pool_use(self) -> dict[str, tuple[int, int]]:
        """Per pool, the connections checked out and the pool's size (its steady connections; SQLAlchemy
        opens overflow connections beyond it, asyncpg's pool none): for metrics, read without waiting."""
        named = (
            {"writer": self._writer, "reader": self._reader}
            if self.is_sqlite
            else {"sqlalchemy": self._writer}
        )
        use = {}
        for name, engine in named.items():
            pool = engine.pool
            if isinstance(pool, QueuePool):
                use[name] = (pool.checkedout(), pool.size())
        raw_pools = {"asyncpg": self._driver_pool, "asyncpg_transactions": self._driver_transaction_pool}
        for name, raw in raw_pools.items():
            if raw is not None:
                use[name] = (raw.get_size() - raw.get_idle_size(), raw.get_max_size())
        return use

    async def dispose(self) -> None:
        for raw in (self._driver_pool, self._driver_transaction_pool):
            if raw is not None:
                await raw.close()
        self._driver_pool = self._driver_transaction_pool = None
        for engine in self.engines:
            await engine.dispose()

    @asynccontextmanager
    async def _sqlite_transaction(self) -> AsyncIterator[AsyncConnection]:
        """``transaction()`` on SQLite's writer. COMMIT goes to aiosqlite's connection first, as it goes to
        asyncpg's on PostgreSQL: SQLAlchemy fires its commit event (the email notifier wakes its worker
        on it) before its own COMMIT, and the worker, woken while that COMMIT waited for the driver's
        thread, could read the outbox before the new rows were in it. SQLAlchemy's transaction then ends
        on a connection with none open. The connection is closed by a call, as read()'s is; one whose
        ROLLBACK failed, its transaction still open, is discarded instead (the writer's pool does not
        reset what it is given back)."""
        conn = await self._writer.connect()
        driver: aiosqlite.Connection = conn.info[DRIVER_LINK].driver
        try:
            await conn.begin()  # BEGIN IMMEDIATE (_begin_immediate)
            try:
                yield conn
                try:
                    await driver.commit()
                except sqlite3.Error as error:
                    raise DBAPIError.instance("COMMIT", (), error, sqlite3.Error) from error
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()
        finally:
            if driver.in_transaction:
                await conn.invalidate()
            await conn.close()

    def _link_driver(self, dbapi_connection: Any, record: Any) -> None:
        record.info[DRIVER_LINK] = DriverLink(self, dbapi_connection.driver_connection)

    def _begin_immediate(self, conn: Any) -> None:
        """SQLite's writer takes its lock as it begins (SQLAlchemy's own BEGIN would wait for the first
        write), in one trip to aiosqlite's thread: through a cursor of SQLAlchemy's, three."""
        self.report(_BEGIN_IMMEDIATE)
        driver: aiosqlite.Connection = conn.connection.info[DRIVER_LINK].driver
        try:
            await_(driver.execute(_BEGIN_IMMEDIATE))
        except sqlite3.Error as error:
            raise DBAPIError.instance(_BEGIN_IMMEDIATE, (), error, sqlite3.Error) from error

    async def _control(self, driver: asyncpg.Connection, statement: str) -> None:
        self.report(statement)
        try:
            await driver.execute(statement)
        except DRIVER_ERRORS as error:  # a deferred constraint fails at COMMIT
            raise as_sqlalchemy_error(statement, (), error) from error

    async def _roll_back(
        self, conn: AsyncConnection, driver: asyncpg.Connection, error: BaseException
    ) -> None:
        if await discard_if_broken(conn, driver, error) or not driver.is_in_transaction():
            return  # lost with its connection, or ended by a failed COMMIT
        try:
            await self._control(driver, "ROLLBACK")
        except BaseException:
            await conn.invalidate()  # never hand out a connection whose transaction may be open
            raise


class PreparedTransaction:
    """``Database.prepared_transaction()``'s block. (A class, not a generator: it wraps every change
    of points.)"""

    __slots__ = ("_database", "_driver", "_pool", "_sqlalchemy", "_transaction")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sqlalchemy: AbstractAsyncContextManager[AsyncConnection] | None = None
        self._pool: asyncpg.Pool | None = None
        self._driver: asyncpg.Connection | None = None
        self._transaction: DriverTransaction | None = None

    async def __aenter__(self) -> InTransaction:
        database = self._database
        if database.is_sqlite:
            self._sqlalchemy = database.transaction()
            return await self._sqlalchemy.__aenter__()
        self._pool, self._driver = await database._begin_raw()
        self._transaction = DriverTransaction(database, self._driver)
        return self._transaction

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._sqlalchemy is not None:
            await self._sqlalchemy.__aexit__(kind, error, trace)
            return
        assert self._pool is not None
        assert self._driver is not None
        assert self._transaction is not None
        await self._database._end_raw(self._pool, self._driver, commit=error is None)
        if error is None:
            self._transaction.run_after_commit()


def connection_lost(error: BaseException) -> bool:
    """Whether ``error`` says the connection is gone (the client's failure, class 08, or the server
    shutting the session down): a statement that changes nothing may run again on another."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, InterfaceError):
        return True
    state = getattr(getattr(error, "orig", error), "sqlstate", None) or ""
    return state.startswith("08") or state in _SESSION_ENDED


async def discard_if_broken(
    conn: AsyncConnection, driver: asyncpg.Connection, error: BaseException | None = None
) -> bool:
    """Drop ``conn`` from SQLAlchemy's pool if its driver connection is gone or failed on the client's
    side (SQLAlchemy notices that only on its own statements); whether it did."""
    if not driver.is_closed() and not isinstance(error, InterfaceError):
        return False
    await conn.invalidate()
    return True


def _open(driver: asyncpg.Connection) -> bool:
    """Whether a connection of an asyncpg pool is still open, and still ours: when the server ends it,
    asyncpg hands it back to the pool at once, and it then refuses every call."""
    try:
        return not driver.is_closed()
    except asyncpg.InterfaceError:
        return False


def _replace_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Have the pool reconnect a connection the server closed while it sat idle (a restart, a
    failover, ``pg_terminate_backend``). asyncpg notices that without a round trip, so this costs
    nothing, where ``pool_pre_ping`` would add one to every request. (asyncpg's own pool, which the
    raw reads use, checks the same on acquire.)"""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _decode_json_as_sqlalchemy_does(driver: asyncpg.Connection) -> None:
    """JSON columns read on the raw pool decode as SQLAlchemy's asyncpg dialect sets them up to."""
    await driver.set_type_codec(
        "json", encoder=str.encode, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )


async def _keep_session(_driver: asyncpg.Connection) -> None:
    """Release without a reset round trip (see :meth:`Database.pool`)."""


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver so the "begin" hook decides how to BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
