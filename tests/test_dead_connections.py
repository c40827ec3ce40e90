"""PostgreSQL connections that die between requests (a failover, an idle timeout, an operator's
``pg_terminate_backend``) are replaced before use: reads and changes after it answer as usual,
never INTERNAL."""

from __future__ import annotations

import asyncio
import threading
import uuid

import asyncpg
import pytest
import sqlalchemy as sa

from loyalty.auth.permissions import Role
from loyalty.datasources import users
from loyalty.services.container import Services
from tests.conftest import Api, Staff

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

# user(id) reads on the raw asyncpg pool; userByEmail through SQLAlchemy's pool.
READ = """query($id: ID!, $email: String!) {
  user(id: $id) { email pointsAccounts { balance } }
  userByEmail(email: $email) { id }
}"""
ADJUST = """mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { account { balance } errors { code } } }"""


OTHER_SESSIONS = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


async def terminate_the_servers_connections(database_url: str) -> int:
    """End every other session on the test database from a connection of our own, and wait until
    they are gone; how many there were."""
    killer = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        ended = await killer.fetch(f"SELECT pg_terminate_backend(pid) {OTHER_SESSIONS}")
        for _ in range(500):  # they end within milliseconds; 5 s at most
            if not await killer.fetchval(f"SELECT count(*) {OTHER_SESSIONS}"):
                break
            await asyncio.sleep(0.01)
    finally:
        await killer.close()
    return len(ended)


async def test_a_read_after_the_servers_connections_were_killed_succeeds(
    api: Api, owner: Staff, database_url: str
) -> None:
    customer = await api.user(Role.USER, points_balance=7)
    variables = {"id": customer.id, "email": customer.email}
    before = await api.data(READ, variables, token=owner.token)

    assert await terminate_the_servers_connections(database_url) > 0
    after = await api.post(READ, variables, token=owner.token)

    assert "errors" not in after
    assert after["data"] == before
    assert before["user"]["pointsAccounts"] == [{"balance": 7}]


async def test_a_change_after_the_servers_connections_were_killed_is_made_once(
    api: Api, owner: Staff, database_url: str
) -> None:
    customer = await api.user(Role.USER, points_balance=7)
    add = {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 1}}
    await api.data(ADJUST, add, token=owner.token)

    await terminate_the_servers_connections(database_url)
    after = await api.post(ADJUST, add, token=owner.token)

    assert "errors" not in after
    assert after["data"] == {"adjustPoints": {"account": {"balance": 9}, "errors": []}}


def terminate_unnoticed(database_url: str) -> None:
    """Terminate the sessions from another thread while this event loop is blocked, so our driver
    learns of it only when its next statement fails (a connection lost in flight)."""
    thread = threading.Thread(target=asyncio.run, args=(terminate_the_servers_connections(database_url),))
    thread.start()
    thread.join()


async def test_a_single_read_whose_connection_was_lost_unnoticed_runs_once_more(
    api: Api, services: Services, database_url: str
) -> None:
    customer = await api.user(Role.USER)
    assert await users.fetch_user(services.db, uuid.UUID(customer.id)) is not None  # a connection in the pool

    terminate_unnoticed(database_url)
    found = await users.fetch_user(services.db, uuid.UUID(customer.id))

    assert found is not None
    assert found.email == customer.email


async def test_a_transaction_whose_begin_met_a_lost_connection_begins_on_another(
    services: Services, database_url: str
) -> None:
    async with services.db.transaction() as conn:  # a connection in SQLAlchemy's pool
        await conn.scalar(sa.select(1))

    terminate_unnoticed(database_url)
    async with services.db.transaction() as conn:
        backend = await conn.scalar(sa.select(sa.func.pg_backend_pid()))

    assert backend
