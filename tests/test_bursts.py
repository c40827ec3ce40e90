"""An address's requests without a token come out of a bucket of LOYALTY_ANONYMOUS_BURST, refilled at
LOYALTY_ANONYMOUS_PER_SECOND; past it a request is answered 429 at once, before its document is read."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from loyalty.config import Settings
from loyalty.schema import LoyaltySchema
from loyalty.services.container import Services
from loyalty.web.bursts import Bursts
from tests.conftest import Staff, served

BURST = 4
ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.7"
SIGN_IN = 'mutation { signIn(email: "x@example.com", password: "guess") { errors { code } } }'


def test_a_key_takes_its_burst_then_waits_for_the_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1000.0
    monkeypatch.setattr("loyalty.web.bursts.time.monotonic", lambda: now)
    bursts = Bursts(3, per_second=2.0)

    assert [bursts.take("a") for _ in range(4)] == [None, None, None, 1.0]
    assert bursts.take("b") is None  # every key has a bucket of its own
    now += 0.5  # one request back
    assert [bursts.take("a") for _ in range(2)] == [None, 1.0]
    now += 10  # full again, and no more than full
    assert [bursts.take("a") for _ in range(4)] == [None, None, None, 1.0]


def test_the_wait_is_until_one_request_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("loyalty.web.bursts.time.monotonic", lambda: 5.0)
    bursts = Bursts(1, per_second=0.25)
    bursts.take("a")

    assert bursts.take("a") == 4.0


def test_full_buckets_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1000.0
    monkeypatch.setattr("loyalty.web.bursts.time.monotonic", lambda: now)
    bursts = Bursts(2, per_second=1.0)
    for key in ("a", "b", "c"):
        bursts.take(key)
    assert len(bursts) == 3

    now += 2.5
    bursts.take("d")

    assert len(bursts) == 1


@pytest.fixture
async def client(services: Services, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    bursty = settings.model_copy(
        update={"trusted_proxies": "127.0.0.1", "anonymous_burst": BURST, "anonymous_per_second": 0.01}
    )
    async with served(bursty, services) as api:
        yield api.client


async def post(
    client: httpx.AsyncClient, query: str, address: str, token: str | None = None
) -> httpx.Response:
    headers = {"x-forwarded-for": address} | ({"authorization": f"Bearer {token}"} if token else {})
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def test_past_its_burst_an_address_is_refused_and_other_callers_are_not(
    owner: Staff, client: httpx.AsyncClient, services: Services
) -> None:
    statements: list[str] = []
    answers = await asyncio.gather(*(post(client, SIGN_IN, ATTACKER) for _ in range(BURST)))
    services.db.statement_hook = statements.append
    try:
        refused = await asyncio.gather(*(post(client, SIGN_IN, ATTACKER) for _ in range(20)))
    finally:
        services.db.statement_hook = None
    neighbour = await post(client, SIGN_IN, NEIGHBOUR)
    me = await post(client, "{ me { email } }", ATTACKER, token=owner.token)

    assert Counter(a.json()["data"]["signIn"]["errors"][0]["code"] for a in answers) == {
        "INVALID_CREDENTIALS": BURST
    }
    assert {r.status_code for r in refused} == {429}
    assert {r.json()["errors"][0]["extensions"]["code"] for r in refused} == {"RATE_LIMITED"}
    assert {r.headers["retry-after"] for r in refused} == {"100"}  # one request back at 0.01 a second
    assert [s for s in statements if "sign_in_" in s or "users" in s] == []  # no sign-in was tried
    assert neighbour.json()["data"]["signIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert me.json()["data"] == {"me": {"email": owner.email}}  # signed in: not counted


async def test_a_request_with_a_token_that_is_not_valid_is_counted(client: httpx.AsyncClient) -> None:
    answers = [await post(client, "{ __typename }", ATTACKER, token="forged") for _ in range(BURST + 1)]

    assert [a.status_code for a in answers] == [200] * BURST + [429]


async def test_documents_without_a_token_are_read_one_per_turn_of_the_event_loop(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that a burst of documents to parse, from many addresses, cannot hold everyone else's next step."""
    loop = asyncio.get_running_loop()
    turns = 0
    ticking: asyncio.Handle | None = None

    def tick() -> None:
        nonlocal turns, ticking
        turns += 1
        ticking = loop.call_soon(tick)

    read_in_turn: list[int] = []
    admit = LoyaltySchema.admit

    def counted(self: LoyaltySchema, *args: Any, **kwargs: Any) -> Any:
        read_in_turn.append(turns)
        return admit(self, *args, **kwargs)

    monkeypatch.setattr(LoyaltySchema, "admit", counted)
    async with served(settings, services) as api:
        client = api.client
        tick()
        try:
            answers = await asyncio.gather(
                *(client.post("/graphql", json={"query": f"query Q{n} {{ __typename }}"}) for n in range(6))
            )
        finally:
            assert ticking is not None
            ticking.cancel()

    assert [answer.status_code for answer in answers] == [200] * 6
    assert len(set(read_in_turn)) == len(read_in_turn) == 6
