"""``Database.prepared_transaction()``: one transaction of prepared statements, on PostgreSQL on a raw
asyncpg connection (no SQLAlchemy pool), on SQLite through SQLAlchemy. It commits, rolls back, survives
a lost connection and a cancelled statement as ``transaction()`` does, and adjustPoints runs in it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources import email_outbox, log_sql
from loyalty.datasources.database import Database, DriverTransaction
from loyalty.datasources.errors import DuplicateKey, unique_violations_as_duplicates
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.prepared import Prepared
from loyalty.datasources.tables import log_entries
from loyalty.services.container import Services
from loyalty.services.notifications import EmailTemplates, Notifier
from tests.conftest import Api, Staff
from tests.test_dead_connections import ADJUST, terminate_unnoticed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"notify_customers": True})


async def queued(services: Services) -> list[email_outbox.QueuedEmail]:
    async with services.db.read() as conn:
        ids = list(await conn.scalars(sa.select(email_outbox.email_outbox.c.id)))
        return await email_outbox.fetch(conn, ids)


_SLEEP = Prepared(sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float))))


def an_entry(action: str = "test.prepared") -> LogEntry:
    return LogEntry(
        id=uuid.uuid4(),
        timestamp=datetime.now(UTC),
        action=action,
        outcome="SUCCESS",
        actor_id=None,
        actor_email=None,
        actor_role=None,
        target_type=None,
        target_id=None,
        details={"n": 1},
        source_ip=None,
        user_agent=None,
        request_id=None,
    )


async def stored_actions(db: Database) -> list[str]:
    async with db.read() as conn:
        return list(await conn.scalars(sa.select(log_entries.c.action).order_by(log_entries.c.action)))


async def test_its_statements_are_committed_together_when_the_block_ends(services: Services) -> None:
    async with services.db.prepared_transaction() as conn:
        await log_sql.add_entry(conn, an_entry("test.first"))
        await log_sql.add_entry(conn, an_entry("test.second"))

    assert await stored_actions(services.db) == ["test.first", "test.second"]


async def test_a_block_that_raises_leaves_nothing_written(services: Services) -> None:
    async def one_entry_then_two_of_one_id() -> None:
        entry = an_entry()
        async with services.db.prepared_transaction() as conn:
            await log_sql.add_entry(conn, an_entry("test.kept_back"))
            with unique_violations_as_duplicates():
                await log_sql.add_entry(conn, entry)
                await log_sql.add_entry(conn, replace(entry, action="test.same_id"))

    with pytest.raises(DuplicateKey):
        await one_entry_then_two_of_one_id()

    assert await stored_actions(services.db) == []
    async with services.db.prepared_transaction() as conn:  # the connection went back usable
        await log_sql.add_entry(conn, an_entry("test.after"))
    assert await stored_actions(services.db) == ["test.after"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_it_holds_no_sqlalchemy_connection(services: Services) -> None:
    async with services.db.prepared_transaction() as conn:
        assert isinstance(conn, DriverTransaction)
        await log_sql.add_entry(conn, an_entry())
        use = services.db.pool_use()
        assert use["asyncpg_transactions"][0] == 1
        assert use["sqlalchemy"][0] == 0

    assert services.db.pool_use()["asyncpg_transactions"][0] == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_transaction_whose_begin_met_a_lost_connection_begins_on_another(
    services: Services, database_url: str
) -> None:
    async with services.db.prepared_transaction() as conn:  # a connection in the pool
        await log_sql.add_entry(conn, an_entry("test.before"))

    terminate_unnoticed(database_url)
    async with services.db.prepared_transaction() as conn:
        await log_sql.add_entry(conn, an_entry("test.after"))

    assert await stored_actions(services.db) == ["test.after", "test.before"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_connection_killed_mid_transaction_fails_it_cleanly_and_is_replaced(
    services: Services, database_url: str
) -> None:
    async def change_whose_connection_dies() -> None:
        async with services.db.prepared_transaction() as conn:
            assert isinstance(conn, DriverTransaction)
            await log_sql.add_entry(conn, an_entry("test.half"))
            killer = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                await killer.execute("SELECT pg_terminate_backend($1)", conn.driver.get_server_pid())
            finally:
                await killer.close()
            await log_sql.add_entry(conn, an_entry("test.other_half"))

    with pytest.raises(DBAPIError):
        await change_whose_connection_dies()

    assert await stored_actions(services.db) == []
    async with services.db.prepared_transaction() as conn:
        await log_sql.add_entry(conn, an_entry("test.next"))
    assert await stored_actions(services.db) == ["test.next"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_transaction_cancelled_mid_statement_is_rolled_back_and_its_connection_not_reused_open(
    services: Services,
) -> None:
    started = asyncio.Event()

    async def slow_change() -> None:
        async with services.db.prepared_transaction() as conn:
            await log_sql.add_entry(conn, an_entry("test.cancelled"))
            started.set()
            await _SLEEP.fetchrow(conn, seconds=5.0)

    task = asyncio.create_task(slow_change())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for _ in range(3):  # whichever connection of the pool comes next is outside any transaction
        async with services.db.prepared_transaction() as conn:
            await log_sql.add_entry(conn, an_entry("test.next"))
    assert await stored_actions(services.db) == ["test.next"] * 3
    assert services.db.pool_use()["asyncpg_transactions"][0] == 0


async def test_the_email_worker_is_woken_once_after_the_commit_and_never_after_a_rollback(
    services: Services,
) -> None:
    wakes = []
    notifier = Notifier(EmailTemplates("https://console.example.com"), notify_customers=True,
                        on_queued=lambda: wakes.append(1))  # fmt: skip
    context = {"first_name": "Ada", "program": "default", "action": "ADD", "amount": 5, "balance_after": 5}

    async with services.db.prepared_transaction() as conn:
        for event in ("p:1", "p:2"):
            await notifier.enqueue(conn, event=event, recipients=["ada@example.com"],
                                   template="points_changed", context=context)  # fmt: skip
        assert wakes == []
    assert wakes == [1]

    async def queue_then_fail() -> None:
        async with services.db.prepared_transaction() as conn:
            await notifier.enqueue(conn, event="p:3", recipients=["ada@example.com"],
                                   template="points_changed", context=context)  # fmt: skip
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await queue_then_fail()
    assert wakes == [1]
    assert sorted(message.event for message in await queued(services)) == ["p:1", "p:2"]


async def test_a_customers_points_change_queues_their_email_in_the_same_transaction(
    api: Api, owner: Staff, services: Services
) -> None:
    customer = await api.user(Role.USER, points_balance=7)
    add = {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 5}}

    data = await api.data(ADJUST, add, token=owner.token)

    assert data == {"adjustPoints": {"account": {"balance": 12}, "errors": []}}
    [message] = await queued(services)
    assert message.recipient == customer.email
    assert message.subject == "Your points balance is now 12"
    assert message.event.startswith("points.changed:")
