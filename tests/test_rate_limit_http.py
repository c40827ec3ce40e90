"""Over its budget a caller gets RATE_LIMITED with a Retry-After header; the budget is per caller and
is spent by each request's cost (``{ me { id } }`` costs 1, plus the request's weight of 10)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.schema.limits import REQUEST_WEIGHT
from loyalty.services.container import Services
from tests.conftest import Api
from tests.test_rate_limit import REDIS_URL, redis_namespace  # noqa: F401 (a fixture)

ME = "{ me { id } }"
ME_SPENDS = REQUEST_WEIGHT + 1


@pytest.fixture
async def make_api(services: Services, settings: Settings) -> AsyncIterator[Callable[..., Api]]:
    """An API (a server instance) with its own rate limiter, over the shared test database."""
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: str) -> Api:
        app = create_app(Settings(**settings.model_dump() | overrides), services=services)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return Api(client, services)

    yield make
    for client in clients:
        await client.aclose()


async def test_a_caller_over_budget_is_rate_limited_with_retry_after(make_api: Callable[..., Api]) -> None:
    api = make_api(rate_limit=f"{3 * ME_SPENDS}/minute")
    manager, engineer = await api.user(Role.MANAGER), await api.user(Role.ENGINEER)

    allowed = [
        await api.client.post("/graphql", json={"query": ME}, headers=bearer(manager.token)) for _ in range(3)
    ]
    refused = await api.client.post("/graphql", json={"query": ME}, headers=bearer(manager.token))
    other = await api.client.post("/graphql", json={"query": ME}, headers=bearer(engineer.token))

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert other.status_code == 200


async def test_a_rate_limited_request_is_in_the_activity_log(make_api: Callable[..., Api]) -> None:
    api = make_api(rate_limit=f"{ME_SPENDS}/minute")
    manager = await api.user(Role.MANAGER)
    for _ in range(2):
        await api.client.post("/graphql", json={"query": ME}, headers=bearer(manager.token))

    await api.services.shipper.drain()
    owner = await api.user(Role.OWNER)
    entries = await make_api().data(
        "{ logs { edges { node { action outcome actorId } } } }", token=owner.token
    )

    assert [edge["node"] for edge in entries["logs"]["edges"]] == [
        {"action": "request.rate_limited", "outcome": "DENIED", "actorId": manager.id}
    ]


async def test_server_instances_share_a_budget_through_redis(
    make_api: Callable[..., Api],
    redis_namespace: str,  # noqa: F811 - Redis is reachable (or the test is skipped/fails as the fixture says)
) -> None:
    first, second = (make_api(rate_limit=f"{3 * ME_SPENDS}/minute", redis_url=REDIS_URL) for _ in range(2))
    manager = await first.user(Role.MANAGER)

    statuses = [
        (await api.client.post("/graphql", json={"query": ME}, headers=bearer(manager.token))).status_code
        for api in (first, second, first, second)
    ]

    assert statuses == [200, 200, 200, 429]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_the_budget_is_spent_by_cost_not_by_requests(make_api: Callable[..., Api]) -> None:
    api = make_api(rate_limit="100/minute")
    manager = await api.user(Role.MANAGER)
    page = "{ users(first: 20) { edges { node { id } } } }"  # costs 41, spends 51

    statuses = [
        (await api.client.post("/graphql", json={"query": page}, headers=bearer(manager.token))).status_code
        for _ in range(2)
    ]
    me = await api.client.post("/graphql", json={"query": ME}, headers=bearer(manager.token))

    assert statuses == [200, 429]
    assert me.status_code == 200  # 51 + 11 fit in 100


async def test_a_document_refused_by_the_limits_still_spends(make_api: Callable[..., Api]) -> None:
    api = make_api(rate_limit="3000/minute")  # a refusal spends 2,010 with the default limits
    too_big = "{" + " me" * 3000 + "}"

    first = await api.client.post("/graphql", json={"query": too_big})
    second = await api.client.post("/graphql", json={"query": too_big})

    assert first.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert second.status_code == 429


async def test_a_caller_with_no_budget_left_is_refused_before_its_document_is_read(
    services: Services, settings: Settings
) -> None:
    app = create_app(
        Settings(**settings.model_dump() | {"rate_limit": f"{ME_SPENDS}/minute"}), services=services
    )
    manager = await Api(httpx.AsyncClient(), services).user(Role.MANAGER)
    unread = "{ me { email firstName } }"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        spent = await client.post("/graphql", json={"query": ME}, headers=bearer(manager.token))
        refused = await client.post("/graphql", json={"query": unread}, headers=bearer(manager.token))

    assert spent.status_code == 200
    assert refused.status_code == 429
    assert app.state.schema.documents.cache.get(unread) is None  # never parsed, let alone kept
