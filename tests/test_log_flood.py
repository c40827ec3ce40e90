"""The activity log cannot be flooded: one entry per refused request, repeats of a caller summarized."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from tests.conftest import Api, Staff

REFUSED_READ = "{ users(first: 1) { totalCount } }"
LOGS = """
query($action: String!) {
  logs(filter: {action: $action}, first: 100) {
    edges { node { action outcome actorId sourceIp details } }
  }
}"""
NO_QUERY_LIMITS = {
    "max_tokens": 1_000_000,
    "max_aliases": 10_000,
    "max_root_fields": 10_000,
    "max_cost": 10**9,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={**NO_QUERY_LIMITS, "trusted_proxies": "127.0.0.1"})


@asynccontextmanager
async def server(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own over the test database, shut down (services closed) on leaving."""
    services = Services.build(settings)
    transport = httpx.ASGITransport(app=create_app(settings, services=services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await services.close()


async def refuse(client: httpx.AsyncClient, query: str = REFUSED_READ, times: int = 1) -> None:
    for _ in range(times):
        body = (await client.post("/graphql", json={"query": query})).json()
        assert {error["extensions"]["code"] for error in body["errors"]} == {"UNAUTHENTICATED"}, body


async def entries(api: Api, owner: Staff, action: str) -> list[dict[str, Any]]:
    data = await api.data(LOGS, {"action": action}, token=owner.token)
    return [edge["node"] for edge in data["logs"]["edges"]]


async def test_two_thousand_aliased_refused_reads_leave_one_entry_named_by_the_field(
    api: Api, owner: Staff
) -> None:
    aliases = " ".join(f"x{n}: users(first: 1) {{ totalCount }}" for n in range(2000))

    await refuse(api.client, f"{{ {aliases} }}")

    [entry] = await entries(api, owner, "query.users")
    assert entry["outcome"] == "DENIED"
    assert entry["details"] == {
        "code": "UNAUTHENTICATED",
        "reason": "Sign in to do this.",
        "fields": ["users"],
    }
    assert await entries(api, owner, "query.x1") == []


async def test_a_known_operations_refusals_are_named_by_the_field_too(api: Api, owner: Staff) -> None:
    query = "{ a: users(first: 1) { totalCount } b: users(first: 2) { totalCount } }"
    await refuse(api.client, query, times=2)  # the second time it runs from its plan

    await api.services.audit.flush()

    logged = await entries(api, owner, "query.users")

    assert sorted(entry["details"].get("repeats", 0) for entry in logged) == [0, 1]
    assert await entries(api, owner, "query.a") == []


async def test_a_hundred_refusals_in_a_window_leave_the_first_entry_and_a_summary_at_shutdown(
    api: Api, owner: Staff, settings: Settings
) -> None:
    async with server(settings) as client:
        await refuse(client, times=100)
        assert len(await entries(api, owner, "query.users")) == 1

    first, summary = sorted(await entries(api, owner, "query.users"), key=lambda e: "repeats" in e["details"])
    assert first["details"] == {
        "code": "UNAUTHENTICATED",
        "reason": "Sign in to do this.",
        "fields": ["users"],
    }
    assert summary["details"]["repeats"] == 99
    assert summary["details"]["first_at"]
    assert first["sourceIp"] == summary["sourceIp"] == "127.0.0.1"


async def test_the_summary_is_written_when_the_window_closes(
    api: Api, owner: Staff, settings: Settings
) -> None:
    async with server(settings.model_copy(update={"refusal_log_window_seconds": 0.5})) as client:
        await refuse(client, times=5)
        await asyncio.sleep(1.0)

        logged = await entries(api, owner, "query.users")

        assert sorted(entry["details"].get("repeats", 0) for entry in logged) == [0, 4]
        await refuse(client)  # a new window: written at once
        assert len(await entries(api, owner, "query.users")) == 3


async def test_refusals_of_different_callers_are_counted_apart(api: Api, owner: Staff) -> None:
    another_refused_read = "{ logs(first: 1) { edges { node { id } } } }"
    await refuse(api.client, another_refused_read, times=3)
    await refuse(api.client, times=3)

    assert len(await entries(api, owner, "query.logs")) == 1
    assert len(await entries(api, owner, "query.users")) == 1


async def test_requests_over_budget_are_logged_once_per_window_then_counted(
    api: Api, owner: Staff, settings: Settings
) -> None:
    async with server(settings.model_copy(update={"rate_limit": "5/minute"})) as client:
        statuses = [
            (await client.post("/graphql", json={"query": "{ me { id } }"})).status_code for _ in range(50)
        ]
        refused = statuses.count(429)
        assert refused >= 45
        assert len(await entries(api, owner, "request.rate_limited")) == 1

    [summary] = [e for e in await entries(api, owner, "request.rate_limited") if "repeats" in e["details"]]
    assert summary["details"]["repeats"] == refused - 1


async def test_refusals_of_many_callers_at_once_are_committed_in_few_transactions(
    api: Api, owner: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    transactions = 0
    open_transaction = api.services.db.transaction

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return open_transaction(*args, **kwargs)

    monkeypatch.setattr(api.services.db, "transaction", counted)
    await asyncio.gather(
        *(
            api.client.post(
                "/graphql", json={"query": REFUSED_READ}, headers={"x-forwarded-for": f"192.0.2.{n}"}
            )
            for n in range(30)
        )
    )
    monkeypatch.undo()

    assert transactions < 10  # not one per entry
    data = await api.data(LOGS, {"action": "query.users"}, token=owner.token)
    assert len({edge["node"]["sourceIp"] for edge in data["logs"]["edges"]}) == 30  # one entry per caller
