"""Prepared statements run on the driver return what SQLAlchemy returns, inside the transaction around
them, and leave no transaction open whatever happens to the request that ran them."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from loyalty.auth.permissions import Role
from loyalty.datasources import database, log_sql, points, users
from loyalty.datasources.database import DRIVER_LINK, Database
from loyalty.datasources.errors import DuplicateKey
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.prepared import OneOf, Prepared, ReadsOnOneConnection
from loyalty.datasources.tables import log_entries
from loyalty.services.container import Services

ENTRIES = Prepared(sa.select(*log_entries.c).where(OneOf(log_entries.c.id, "ids")))
ALL_ENTRIES = sa.select(*log_entries.c)


def entry(**fields: object) -> LogEntry:
    values = {"timestamp": datetime.now(UTC), "action": "points.adjust", "outcome": "SUCCESS"} | fields
    return LogEntry(id=uuid.uuid4(), **values)  # type: ignore[arg-type]


async def stored_ids(db: Database) -> set[uuid.UUID]:
    async with db.read() as conn:
        return set(await conn.scalars(sa.select(log_entries.c.id)))


async def test_rows_read_raw_equal_sqlalchemys(services: Services) -> None:
    db = services.db
    written = [
        entry(actor_id="a", details={"before": {"balance": 1}, "after": {"balance": 2}, "note": "é"}),
        entry(target_id="t", timestamp=datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)),
    ]
    async with db.transaction() as conn:
        for one in written:
            await log_sql.add_entry(conn, one)
        in_transaction = await ENTRIES.fetch(conn, ids=[one.id for one in written])
    alone = await ENTRIES.fetch(db, ids=[one.id for one in written])
    async with db.read() as conn:
        through_sqlalchemy = (await conn.execute(ALL_ENTRIES)).all()

    def by_id(rows: list) -> dict:
        return {row[0]: tuple(row) for row in rows}

    assert by_id(alone) == by_id(in_transaction) == by_id(through_sqlalchemy)
    assert sorted(by_id(alone).values()) == sorted(tuple(vars_of(one)) for one in written)
    timestamps = [row[1] for row in alone]
    assert all(moment.tzinfo is not None and moment.utcoffset() == timedelta(0) for moment in timestamps)


ENTRY = Prepared(sa.select(*log_entries.c).where(log_entries.c.id == sa.bindparam("id")))
SINCE = Prepared(
    sa.select(log_entries.c.id, log_entries.c.details)
    .where(log_entries.c.timestamp >= sa.bindparam("since"))
    .order_by(log_entries.c.timestamp)
)


async def test_reads_alone_return_what_sqlalchemy_returns_with_every_type(services: Services) -> None:
    """On SQLite too, where a read alone runs in one trip to aiosqlite's thread."""
    db = services.db
    moment = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    written = [entry(timestamp=moment, details={"after": {"balance": 2}, "note": "é"}), entry()]
    async with db.transaction() as conn:
        for one in written:
            await log_sql.add_entry(conn, one)

    one_row = await ENTRY.fetchrow(db, id=written[0].id)
    no_row = await ENTRY.fetchrow(db, id=uuid.uuid4())
    since = await SINCE.fetch(db, since=moment)
    async with db.read() as conn:
        through_sqlalchemy = (await conn.execute(ALL_ENTRIES.where(log_entries.c.id == written[0].id))).one()

    assert one_row is not None
    assert tuple(one_row) == tuple(through_sqlalchemy) == tuple(vars_of(written[0]))
    assert no_row is None
    assert [tuple(row) for row in since] == [(one.id, one.details) for one in written]


async def test_a_failed_read_alone_is_sqlalchemys_error(services: Services) -> None:
    missing = Prepared(sa.select(sa.table("no_such_table", sa.column("x")).c.x))

    with pytest.raises(sa.exc.DBAPIError, match="no_such_table"):
        await missing.fetch(services.db)


def vars_of(one: LogEntry) -> list[object]:
    return [getattr(one, name) for name in LogEntry.__slots__]


async def test_one_list_parameter_takes_any_number_of_values(services: Services) -> None:
    db = services.db
    written = [entry() for _ in range(60)]
    async with db.transaction() as conn:
        for one in written:
            await log_sql.add_entry(conn, one)
    texts: list[str] = []
    db.statement_hook = texts.append
    try:
        found = [len(await ENTRIES.fetch(db, ids=[one.id for one in written[:size]])) for size in (0, 1, 60)]
    finally:
        db.statement_hook = None

    assert found == [0, 1, 60]
    if not db.is_sqlite:
        assert len(set(texts)) == 1, "one SQL text whatever the number of values"


async def test_a_raw_statement_run_first_is_rolled_back_with_its_transaction(services: Services) -> None:
    db = services.db

    async def failing_change() -> None:
        async with db.transaction() as conn:
            await log_sql.add_entry(conn, entry())
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await failing_change()

    assert await stored_ids(db) == set()


async def test_raw_and_sqlalchemy_statements_commit_together(services: Services) -> None:
    db = services.db
    raw, through_sqlalchemy = entry(), entry()
    hook: list[str] = []
    db.statement_hook = hook.append
    try:
        async with db.transaction() as conn:
            await log_sql.add_entry(conn, raw)
            await conn.execute(
                log_entries.insert().values(
                    id=through_sqlalchemy.id, timestamp=datetime.now(UTC), action="a", outcome="SUCCESS"
                )
            )
    finally:
        db.statement_hook = None

    assert await stored_ids(db) == {raw.id, through_sqlalchemy.id}
    assert hook[0].startswith("BEGIN")
    assert hook[-1] == "COMMIT"
    assert len(hook) == 4


async def test_a_cancelled_transaction_leaves_nothing_behind(services: Services) -> None:
    db = services.db
    started = asyncio.Event()

    async def change() -> None:
        async with db.transaction() as conn:
            await log_sql.add_entry(conn, entry())
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(change())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    later = entry()
    async with db.transaction() as conn:
        await log_sql.add_entry(conn, later)
    assert await stored_ids(db) == {later.id}


async def test_a_unique_violation_on_a_raw_statement_is_a_duplicate_key(services: Services) -> None:
    db = services.db
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        user = await users.insert_user(
            conn, email="ada@example.com", first_name="Ada", last_name="L", role=Role.USER,
            password_hash=None, now=now,
        )  # fmt: skip
        account = await points.insert_account(conn, user_id=user.id, program="default", now=now)

    async def add(key: str) -> None:
        async with db.transaction() as conn:
            await points.change_balance(
                conn, account_id=account.id, kind="ADD", amount=1, reason=None, actor_id="me",
                idempotency_key=key, request_digest=None, now=now,
            )  # fmt: skip

    await add("k")
    with pytest.raises(DuplicateKey):
        await add("k")
    found = await points.fetch_account_with_holder(db, account.id)
    assert found is not None
    assert found[0].balance == 1


async def test_sqlalchemys_commit_event_fires_once_after_the_commit(services: Services) -> None:
    """The email notifier wakes its worker on this event: the rows must be committed by then."""
    db = services.db
    open_when_fired: list[bool] = []

    async with db.transaction() as conn:
        await log_sql.add_entry(conn, entry())
        await conn.execute(sa.select(1))  # a SQLAlchemy statement, as the notifier's insert is
        driver = conn.info[DRIVER_LINK].driver  # aiosqlite's connection on SQLite, asyncpg's on PostgreSQL

        def fired(_conn: object) -> None:
            open_when_fired.append(driver.in_transaction if db.is_sqlite else driver.is_in_transaction())

        event.listen(conn.sync_connection, "commit", fired)

    assert open_when_fired == [False]


async def test_a_connection_lost_in_a_transaction_is_not_handed_out_again(postgresql_url: str) -> None:
    db = Database(postgresql_url, pool_size=1)  # one connection, taken again by every transaction
    try:
        async with db.transaction() as conn:
            first_backend = await conn.info[DRIVER_LINK].driver.fetchval("SELECT pg_backend_pid()")

        async def change_on_a_lost_connection() -> None:
            async with db.transaction() as conn:
                await (await db.pool()).execute("SELECT pg_terminate_backend($1)", first_backend)
                await log_sql.add_entry(conn, entry())

        with pytest.raises(sa.exc.DBAPIError):
            await change_on_a_lost_connection()

        later = entry()
        async with db.transaction() as conn:
            await log_sql.add_entry(conn, later)
            assert await conn.info[DRIVER_LINK].driver.fetchval("SELECT pg_backend_pid()") != first_backend
        assert later.id in await stored_ids(db)
    finally:
        await db.dispose()


# --- the reads of one request on one connection ----------------------------------------------------

BACKEND = Prepared(sa.select(sa.func.pg_backend_pid()))
SLOW_BACKEND = Prepared(sa.select(sa.func.pg_backend_pid(), sa.func.pg_sleep(sa.bindparam("seconds"))))
NOT_A_NUMBER = Prepared(sa.select(sa.cast(sa.bindparam("text", type_=sa.String), sa.Integer)))


@pytest.fixture
async def postgresql_db(postgresql_url: str) -> AsyncIterator[Database]:
    db = Database(postgresql_url, pool_size=4)
    try:
        yield db
    finally:
        await db.dispose()


async def backend(db: Database) -> int:
    row = await BACKEND.fetchrow(db)
    assert row is not None
    return row[0]


def checked_out(db: Database) -> int:
    return db.pool_use()["asyncpg"][0]


async def test_the_reads_of_one_request_share_one_connection(postgresql_db: Database) -> None:
    async with ReadsOnOneConnection(postgresql_db):
        backends = {await backend(postgresql_db) for _ in range(3)}
        held = checked_out(postgresql_db)

    assert len(backends) == 1
    assert held == 1
    assert checked_out(postgresql_db) == 0, "given back when the request ends"


async def test_reads_of_separate_requests_run_on_a_connection_each(postgresql_db: Database) -> None:
    async def request() -> int:
        async with ReadsOnOneConnection(postgresql_db):
            row = await SLOW_BACKEND.fetchrow(postgresql_db, seconds=0.05)
            assert row is not None
            return row[0]

    backends = await asyncio.gather(request(), request())

    assert len(set(backends)) == 2


async def test_concurrent_reads_of_one_request_take_turns_on_its_connection(
    postgresql_db: Database,
) -> None:
    async with ReadsOnOneConnection(postgresql_db):
        rows = await asyncio.gather(*(SLOW_BACKEND.fetchrow(postgresql_db, seconds=0.01) for _ in range(3)))
        held = checked_out(postgresql_db)

    assert len({row[0] for row in rows if row is not None}) == 1
    assert held == 1
    assert checked_out(postgresql_db) == 0


async def test_a_failed_read_leaves_the_connection_to_the_pool(postgresql_db: Database) -> None:
    async with ReadsOnOneConnection(postgresql_db):
        await backend(postgresql_db)
        with pytest.raises(sa.exc.DBAPIError):
            await NOT_A_NUMBER.fetchrow(postgresql_db, text="x")
        given_back = checked_out(postgresql_db)
        await backend(postgresql_db)
        taken_again = checked_out(postgresql_db)

    assert (given_back, taken_again) == (0, 1)
    assert checked_out(postgresql_db) == 0


async def test_a_cancelled_read_leaves_a_connection_that_serves_the_next(postgresql_db: Database) -> None:
    async with ReadsOnOneConnection(postgresql_db):
        slow = asyncio.ensure_future(SLOW_BACKEND.fetchrow(postgresql_db, seconds=5))
        await asyncio.sleep(0.1)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await BACKEND.fetchrow(postgresql_db) is not None

    assert checked_out(postgresql_db) == 0


async def test_a_read_running_when_the_request_ends_gives_the_connection_back_when_done(
    postgresql_db: Database,
) -> None:
    async with ReadsOnOneConnection(postgresql_db):
        lingering = asyncio.ensure_future(SLOW_BACKEND.fetchrow(postgresql_db, seconds=0.2))
        await asyncio.sleep(0.05)
    assert checked_out(postgresql_db) == 1

    assert await lingering is not None
    assert checked_out(postgresql_db) == 0


async def test_reads_on_sqlite_are_unchanged(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with ReadsOnOneConnection(db):
            assert await users.fetch_user(db, uuid.uuid4()) is None
    finally:
        await db.dispose()


async def trips_to_the_drivers_thread(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, work: Callable[[Database], Awaitable[None]]
) -> list[str]:
    """What ``work`` asks of aiosqlite's thread, the second time it runs (its connection open and its
    statements compiled the first)."""
    db = Database(sqlite_url)
    trips: list[str] = []
    run_on_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(fn.__name__)
        return await run_on_thread(self, fn, *args, **kwargs)

    try:
        await work(db)
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await work(db)
        monkeypatch.undo()
    finally:
        await db.dispose()
    return trips


async def test_a_read_alone_on_sqlite_takes_one_trip_to_the_drivers_thread(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def read(db: Database) -> None:
        assert await ENTRY.fetchrow(db, id=uuid.uuid4()) is None

    trips = await trips_to_the_drivers_thread(sqlite_url, monkeypatch, read)

    # Through SQLAlchemy: cursor, execute, fetch and close too; and a rollback of no transaction, when
    # the connection went back to the pool, until readers stopped resetting (they run in autocommit).
    assert trips == ["_execute_fetchall"]


async def test_a_change_on_sqlite_takes_one_trip_to_the_drivers_thread_a_statement(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def change(db: Database) -> None:
        async with db.transaction() as conn:
            await log_sql.add_entry(conn, entry())

    trips = await trips_to_the_drivers_thread(sqlite_url, monkeypatch, change)

    # BEGIN IMMEDIATE, the insert, COMMIT, and SQLAlchemy's own commit of nothing once the rows are in.
    # Through SQLAlchemy's cursors: eight (three to begin, three to insert, the commit, a reset).
    assert trips == ["execute", "_execute_fetchall", "commit", "commit"]


async def test_a_sqlite_transaction_whose_rollback_failed_leaves_no_transaction_open_for_the_next(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(sqlite_url)

    async def rollback_lost(_driver: aiosqlite.Connection) -> None:
        raise sqlite3.OperationalError("the rollback was lost")

    failed, kept = entry(), entry()
    try:
        with pytest.raises(DBAPIError, match="rollback was lost"):  # noqa: PT012 - the block fails
            async with db.transaction() as conn:
                await log_sql.add_entry(conn, failed)
                monkeypatch.setattr(aiosqlite.Connection, "rollback", rollback_lost)
                raise ValueError("the change failed")
        monkeypatch.undo()

        async with db.transaction() as conn:  # on a connection with no transaction left open
            await log_sql.add_entry(conn, kept)
        async with db.read() as conn:
            stored = set(await conn.scalars(sa.select(log_entries.c.id)))
    finally:
        await db.dispose()

    assert kept.id in stored
    assert failed.id not in stored


async def test_a_read_connection_is_closed_without_a_task_of_its_own(database_url: str) -> None:
    """SQLAlchemy's ``async with`` closes a connection in a task and waits for it: a turn of the event
    loop for every read, long on a busy loop."""
    db = Database(database_url)
    loop = asyncio.get_running_loop()
    tasks: list[Any] = []

    def counted(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        tasks.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    try:
        async with db.read() as conn:  # the connection opened
            await conn.execute(sa.select(1))
        loop.set_task_factory(counted)
        async with db.read() as conn:
            assert await conn.scalar(sa.select(1)) == 1
    finally:
        loop.set_task_factory(None)
        await db.dispose()

    assert tasks == []


async def test_a_quiet_worker_keeps_two_raw_connections_open(
    postgresql_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle connections beyond two close; two stay, so the first reads after a pause wait for no new one."""
    monkeypatch.setattr(database, "_IDLE_RAW_CONNECTION_SECONDS", 0.05)
    await postgresql_db.dispose()  # its pools open anew, with the short idle time
    pool = await postgresql_db.pool()
    held = [await pool.acquire() for _ in range(4)]
    for connection in held:
        await pool.release(connection)

    await asyncio.sleep(0.5)

    assert pool.get_size() == 2
    assert pool.get_idle_size() == 2


async def test_sqlite_keeps_its_readers_open_between_bursts_of_reads(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    opened: list[object] = []
    event.listen(db.engines[1].sync_engine, "connect", lambda connection, _record: opened.append(connection))

    async def read_while_others_do() -> None:
        async with db.read() as conn:
            await conn.execute(sa.select(1))
            await asyncio.sleep(0.01)

    try:
        for _ in range(3):
            await asyncio.gather(*(read_while_others_do() for _ in range(8)))
    finally:
        await db.dispose()

    assert len(opened) == 8
