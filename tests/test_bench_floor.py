"""The floor of `make bench` answers each scenario as our server does, with as many SQL statements, and
PostGraphile answers it with the same data in its own names: otherwise the ratios of their throughputs
would measure something else."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from bench import floor
from bench.scenarios import (
    PICK,
    SCENARIOS,
    Scenario,
    StatementLog,
    answer,
    comparable,
    in_process,
    logging_statements,
)

from loyalty.auth.permissions import Role
from loyalty.datasources import points
from loyalty.datasources.log_sql import SqlLogStore
from loyalty.datasources.log_store import LogEntry
from tests.conftest import Api, Staff


@pytest.fixture
def database_url(postgresql_url: str) -> str:
    """PostgreSQL only: the floor speaks asyncpg."""
    return postgresql_url


@pytest.fixture
async def customers(api: Api, owner: Staff) -> list[Staff]:
    """51 users with the owner, so that a page of 50 has a next page; the first has two accounts."""
    customers = [await api.user(Role.USER, points_balance=100) for _ in range(50)]
    async with api.services.db.transaction() as conn:
        await points.insert_account(
            conn, user_id=uuid.UUID(customers[0].id), program="travel", now=datetime.now(UTC)
        )
    now = datetime.now(UTC)
    entries = [
        LogEntry(
            id=uuid.uuid4(),
            # pairs share a timestamp, so that the order falls back to the id
            timestamp=now - timedelta(seconds=number // 2),
            action="points.adjust",
            outcome="SUCCESS" if number % 3 else "DENIED",
            actor_id=owner.id,
            target_id=None if number % 5 == 0 else customers[number % 50].account_id,
        )
        for number in range(60)
    ]
    await SqlLogStore(api.services.db).write_batch(entries, retention_days=365)
    return customers


@pytest.fixture
async def floor_client(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, StatementLog]]:
    log = StatementLog()
    async with in_process(floor.create_app(database_url, statement_hook=log)) as client:
        yield client, log


def _picks(scenario: Scenario, customers: list[Staff]) -> tuple[str, str]:
    """What each server's request names: the same user; two accounts of the same balance."""
    if scenario.picks == "users":
        return customers[0].id, customers[0].id
    if scenario.picks == "accounts":
        return customers[1].account_id, customers[2].account_id
    return PICK, PICK


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.key)
async def test_the_floor_answers_as_our_server_does_with_as_many_statements(
    scenario: Scenario,
    api: Api,
    owner: Staff,
    customers: list[Staff],
    floor_client: tuple[httpx.AsyncClient, StatementLog],
) -> None:
    ours_pick, floor_pick = _picks(scenario, customers)
    ours_log = StatementLog()
    with logging_statements(api.services.db, ours_log):
        ours, ours_statements = await answer(
            api.client, "/graphql", scenario.body(ours_pick), owner.token, ours_log
        )
    client, floor_log = floor_client
    theirs, floor_statements = await answer(
        client, scenario.floor_path, scenario.body(floor_pick), owner.token, floor_log
    )

    assert "errors" not in ours, ours
    assert comparable(theirs) == comparable(ours)
    assert len(floor_statements) == len(ours_statements), (ours_statements, floor_statements)
    if scenario.picks == "accounts":
        assert ours["data"]["adjustPoints"]["account"]["id"] == ours_pick
        assert theirs["data"]["adjustPoints"]["account"]["id"] == floor_pick
        assert ours["data"]["adjustPoints"]["account"]["balance"] == 102  # 100, then two requests of 1


BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def peer() -> Iterator[ModuleType]:
    """bench/peer.py, which imports its neighbours as the scripts do (bench/ first on the path)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("peer")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def postgraphile(
    postgresql_url: str, peer: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """PostGraphile as `make bench` runs it, on the tests' PostgreSQL database; its URL. Not a
    requirement of `make test`: `make bench` installs it."""
    if not peer.CLI.exists():
        missing = f"PostGraphile is not installed (`make test` installs it): cd {peer.FOLDER} && uv run --frozen npm ci"
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    serving = importlib.import_module("serving")  # bench/serving.py, imported by peer
    asyncio.run(peer.create_function(postgresql_url))
    port = serving.free_port()
    log = tmp_path_factory.mktemp("postgraphile") / "postgraphile.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            peer.command(postgresql_url, port), stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_ENV": "production"},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        serving.wait_healthy("PostGraphile", process, url, log, 60, peer.answers)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.key)
async def test_postgraphile_answers_each_scenario_with_our_data(
    scenario: Scenario, api: Api, owner: Staff, customers: list[Staff], peer: ModuleType, postgraphile: str
) -> None:
    ours_pick, peer_pick = _picks(scenario, customers)
    headers = {"authorization": f"Bearer {owner.token}", "content-type": "application/json"}
    ours = await api.client.post("/graphql", content=scenario.body(ours_pick), headers=headers)
    async with httpx.AsyncClient(base_url=postgraphile) as client:
        body = peer.PEER_SCENARIOS[scenario.key].body(peer_pick, owner.id)
        theirs = await client.post("/graphql", content=body, headers=headers)

    peer.check_same_data(scenario.key, ours.json(), theirs.json())  # raises HarnessError otherwise
    if scenario.picks == "accounts":
        assert theirs.json()["data"]["adjustPoints"]["pointsAccountByAccountId"]["id"] == peer_pick
