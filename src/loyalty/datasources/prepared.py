"""Hot statements at the driver's cost: a Core statement defined once, compiled once, run on asyncpg.

SQLAlchemy spends more CPU on one ``execute`` (compiled-cache lookup, parameter processing, result
construction, its asyncpg adapter) than asyncpg spends running the statement. A :class:`Prepared`
statement keeps SQLAlchemy for what it is good at, writing the SQL for the dialect, and does that once:
its SQL text, parameter order and SQLAlchemy's own bind and result processors are kept, and each call
hands positional values to asyncpg (which prepares the statement once per connection). Values in and
out are the ones SQLAlchemy would pass and return: UUIDs, aware UTC datetimes, decoded JSON.

On SQLite a statement runs the same way on aiosqlite's connection beneath SQLAlchemy's, in one trip to
its thread (through SQLAlchemy, three or four: each waits for a turn of the event loop, which a busy
server makes long), in a transaction or alone; those that render per call run through SQLAlchemy.

A statement runs on a connection, inside its transaction (SQLAlchemy's, or a
:class:`DriverTransaction` of ``Database.prepared_transaction()``), or on the :class:`Database` itself:
one statement alone, on a connection of the raw pool (on SQLite, of the read engine). Within
:class:`ReadsOnOneConnection` (a request), the reads alone share one connection of the pool.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

import aiosqlite
import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from loyalty.datasources.database import (
    DRIVER_LINK,
    Database,
    DriverTransaction,
    InTransaction,
    connection_lost,
    discard_if_broken,
)
from loyalty.datasources.errors import DRIVER_ERRORS, as_sqlalchemy_error

# Where a statement runs: a connection (in its transaction), or the database (alone, on any connection).
Connectable = Database | AsyncConnection | DriverTransaction
# What a prepared statement may be: executable, and compilable on its own.
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete
Row = Sequence[Any]

_REQUIRED = object()
_UNCOMPILED = object()


class OneOf(sa.ColumnElement[bool]):
    """``column IN (values)``, the values bound as one list parameter: on PostgreSQL ``= ANY($n)``, one
    SQL text whatever the list's length; elsewhere SQLAlchemy's expanding IN."""

    __visit_name__ = "one_of"
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's cache key declaration
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]
    type = sa.Boolean()
    _is_implicitly_boolean = True  # a condition as it is: no "= 1" where booleans are integers

    def __init__(self, column: sa.ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(OneOf)
def _expanding_in(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(sa.bindparam(element.name, expanding=True)), **kw)


@compiles(OneOf, "postgresql")
def _equals_any(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = sa.bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == sa.any_(values), **kw)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One statement as asyncpg takes it."""

    sql: str
    # Per positional parameter: its name, and its value when the statement fixes it (a literal in the
    # expression), already processed.
    params: tuple[tuple[str, Any], ...]
    # Per given parameter that needs one: its position and SQLAlchemy's bind processor.
    binds: tuple[tuple[int, Callable[[Any], Any]], ...]
    # Per result column that needs one: its position and SQLAlchemy's result processor.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, statement: Statement, dialect: Dialect) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        sql = str(compiled)
        if "POSTCOMPILE" in sql:
            raise ValueError(f"a prepared statement renders once; this one renders per call: {sql}")
        params, binds = [], []
        for position, name in enumerate(compiled.positiontup or ()):
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                params.append((name, _REQUIRED))
                if process is not None:
                    binds.append((position, process))
            else:
                value = bind.effective_value
                params.append((name, process(value) if process else value))
        columns = statement.exported_columns if isinstance(statement, sa.sql.expression.ReturnsRows) else ()
        results = []
        for position, column in enumerate(columns):
            # The driver's type code is not known here; no type used in these statements needs it.
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((position, process))
        return cls(sql, tuple(params), tuple(binds), tuple(results))

    def args(self, given: Mapping[str, Any]) -> list[Any]:
        values = [given[name] if fixed is _REQUIRED else fixed for name, fixed in self.params]
        for position, process in self.binds:
            values[position] = process(values[position])
        return values

    def row(self, record: Row) -> Row:
        if not self.results:
            return record
        values = list(record)
        for position, process in self.results:
            values[position] = process(values[position])
        return values


class SharedReads:
    """The pooled connection the single reads of one request share (PostgreSQL): taken on the first
    read, given back when the request ends, so a request checks the pool out once.

    asyncpg runs one statement at a time on a connection: reads of sibling fields resolved
    concurrently take turns. (Measured against a busy connection sending a read to a connection of its
    own: a turn costs less than a second checkout, with the server one local round trip away.) A
    read that fails or is cancelled leaves the connection to the pool, which knows how to tidy it,
    and the next read takes another. A read still running when the request ends gives it back when done.
    """

    __slots__ = ("_closed", "_connection", "_pool", "_turn", "database")

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pool: asyncpg.Pool | None = None
        self._connection: asyncpg.Connection | None = None
        self._turn = asyncio.Lock()
        self._closed = False

    def serves(self, database: Database) -> bool:
        return database is self.database and not self._closed

    async def take(self) -> asyncpg.Connection:
        """The connection, once the reads before this one are done with it."""
        await self._turn.acquire()
        if self._connection is None:
            try:
                self._pool = await self.database.pool()
                self._connection = await self._pool.acquire()
            except BaseException:
                self._turn.release()
                raise
        return self._connection

    async def give_back(self, *, failed: bool) -> None:
        """The read is over: the connection is the next read's, or back in the pool if the read
        failed or the request has ended."""
        try:
            if failed or self._closed:
                await self._release()
        finally:
            self._turn.release()

    async def close(self) -> None:
        self._closed = True
        if not self._turn.locked():
            await self._release()

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._pool is not None:
            await self._pool.release(connection)


_SHARED_READS: ContextVar[SharedReads | None] = ContextVar("loyalty_shared_reads", default=None)


class ReadsOnOneConnection:
    """Within the block (and the tasks it starts), single reads on ``database`` share one pooled
    connection (:class:`SharedReads`); on SQLite, nothing changes. (A class, not a generator: it
    wraps every request.)"""

    __slots__ = ("_shared", "_token")

    def __init__(self, database: Database) -> None:
        self._shared = None if database.is_sqlite else SharedReads(database)
        self._token: Token[SharedReads | None] | None = None

    async def __aenter__(self) -> None:
        if self._shared is not None:
            self._token = _SHARED_READS.set(self._shared)

    async def __aexit__(self, *_exc_info: object) -> None:
        if self._shared is not None and self._token is not None:
            _SHARED_READS.reset(self._token)
            await self._shared.close()


def _nothing(_result: sa.Result[Any]) -> None:
    """What :meth:`Prepared.execute` keeps of a result."""


class Prepared:
    """A statement with named ``bindparam``s, defined once at module level; see the module's doc."""

    __slots__ = ("_compiled", "_reads", "_sqlite", "statement")

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None  # for PostgreSQL, the one dialect run raw
        # For SQLite; None if it renders per call (a list parameter): it runs through SQLAlchemy.
        self._sqlite: _Compiled | object | None = _UNCOMPILED
        self._reads = isinstance(statement, sa.Select)

    async def fetch(self, on: Connectable, /, **params: Any) -> list[Row]:
        """Every row the statement returns."""
        compiled, records = await self._query(on, "fetch", sa.Result.all, params)
        return list(records) if compiled is None else [compiled.row(record) for record in records]

    async def fetchrow(self, on: Connectable, /, **params: Any) -> Row | None:
        """The first row, or ``None``."""
        compiled, record = await self._query(on, "fetchrow", sa.Result.first, params)
        return record if compiled is None or record is None else compiled.row(record)

    async def execute(self, conn: InTransaction, /, **params: Any) -> None:
        """Run a statement that returns nothing, in ``conn``'s transaction."""
        await self._query(conn, "execute", _nothing, params)

    async def _query(
        self, on: Connectable, method: str, take: Callable[[sa.Result[Any]], Any], params: Mapping[str, Any]
    ) -> tuple[_Compiled | None, Any]:
        """What asyncpg's ``method`` returns, with the compiled statement to process its rows; where the
        statement runs through SQLAlchemy instead, ``None`` and what ``take`` keeps of its result."""
        if isinstance(on, DriverTransaction):  # its block rolls back, and drops a broken connection
            return await self._run(on.database, getattr(on.driver, method), params)
        if isinstance(on, Database):
            if on.is_sqlite:
                async with on.read() as conn:
                    return await self._query(conn, method, take, params)
            pool = await on.pool()
            shared = _SHARED_READS.get() if self._reads else None
            try:
                if shared is not None and shared.serves(on):
                    return await self._run_shared(on, shared, method, params)
                return await self._run(on, getattr(pool, method), params)
            except DBAPIError as error:
                # A read alone changes nothing: once more, on another connection, if this one was lost.
                if not (self._reads and connection_lost(error)):
                    raise
                return await self._run(on, getattr(pool, method), params)
        link = on.info.get(DRIVER_LINK)
        if link is not None and not link.database.is_sqlite:
            try:
                return await self._run(link.database, getattr(link.driver, method), params)
            except BaseException as error:
                await discard_if_broken(on, link.driver, error)
                raise
        compiled = self._for_sqlite(link.database) if link is not None else None
        if link is None or compiled is None:
            return None, take(await on.execute(self.statement, params))
        rows = await _run_on_sqlite(link.driver, compiled, link.database, params)
        return compiled, rows if method != "fetchrow" else next(iter(rows), None)

    def _for_sqlite(self, database: Database) -> _Compiled | None:
        compiled = self._sqlite
        if compiled is _UNCOMPILED:
            try:
                compiled = _Compiled.of(self.statement, database.dialect)
            except ValueError:
                compiled = None
            self._sqlite = compiled
        assert compiled is None or isinstance(compiled, _Compiled)
        return compiled

    async def _run_shared(
        self, database: Database, shared: SharedReads, method: str, params: Mapping[str, Any]
    ) -> tuple[_Compiled, Any]:
        connection = await shared.take()
        failed = True
        try:
            ran = await self._run(database, getattr(connection, method), params)
            failed = False
            return ran
        finally:
            await shared.give_back(failed=failed)

    async def _run(
        self, database: Database, call: Callable[..., Any], params: Mapping[str, Any]
    ) -> tuple[_Compiled, Any]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _Compiled.of(self.statement, database.dialect)
        args = compiled.args(params)
        hook = database.statement_hook
        if hook is not None:
            hook(compiled.sql)
        try:
            return compiled, await call(compiled.sql, *args)
        except DRIVER_ERRORS as error:
            raise as_sqlalchemy_error(compiled.sql, args, error) from error


async def _run_on_sqlite(
    driver: aiosqlite.Connection, compiled: _Compiled, database: Database, params: Mapping[str, Any]
) -> list[Row]:
    """A statement run on aiosqlite's connection beneath SQLAlchemy's, in one trip to its thread:
    through SQLAlchemy it took three or four (cursor, execute, fetch, close), each a turn of a busy
    event loop."""
    args = compiled.args(params)
    hook = database.statement_hook
    if hook is not None:
        hook(compiled.sql)
    try:
        return list(await driver.execute_fetchall(compiled.sql, args))
    except sqlite3.Error as error:
        raise DBAPIError.instance(compiled.sql, args, error, sqlite3.Error) from error
