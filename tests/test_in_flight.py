"""An address has at most LOYALTY_ANONYMOUS_IN_FLIGHT_PER_ADDRESS requests without a token under way;
past the cap it is answered 429 at once, before its document is read."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from loyalty.web.in_flight import InFlight
from tests.conftest import Staff

CAP = 3
ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.7"
SIGN_IN = 'mutation { signIn(email: "x@example.com", password: "guess") { errors { code } } }'


def test_a_key_may_start_up_to_the_cap_and_again_once_one_ended() -> None:
    in_flight = InFlight(2)

    assert [in_flight.try_enter("a") for _ in range(3)] == [True, True, False]
    assert in_flight.try_enter("b")
    in_flight.leave("a")
    assert in_flight.try_enter("a")
    assert not in_flight.try_enter("a")


def test_keys_with_nothing_under_way_are_forgotten() -> None:
    in_flight = InFlight(2)
    for key in ("a", "a", "b"):
        in_flight.try_enter(key)
    for key in ("a", "b", "a"):
        in_flight.leave(key)

    assert len(in_flight) == 0


@pytest.fixture
async def client(services: Services, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    capped = settings.model_copy(
        update={"trusted_proxies": "127.0.0.1", "anonymous_in_flight_per_address": CAP}
    )
    transport = httpx.ASGITransport(app=create_app(capped, services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def password_thread_busy(services: Services) -> threading.Event:
    """The one Argon2 thread held, so that sign-ins stay under way until the event is set (ask for it after
    any fixture that hashes a password, such as `owner`)."""
    release = threading.Event()
    services.sessions._hashing._thread.submit(release.wait, 10)
    return release


def sign_in_from(client: httpx.AsyncClient, address: str) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(
        client.post("/graphql", json={"query": SIGN_IN}, headers={"x-forwarded-for": address})
    )


async def test_past_the_cap_an_address_is_refused_at_once_and_others_are_not(
    owner: Staff, client: httpx.AsyncClient, password_thread_busy: threading.Event
) -> None:
    held = [sign_in_from(client, ATTACKER) for _ in range(CAP)]
    await asyncio.sleep(0.2)  # each waits for the password thread, under way
    refused = await asyncio.wait_for(asyncio.gather(*(sign_in_from(client, ATTACKER) for _ in range(10))), 5)
    neighbour = sign_in_from(client, NEIGHBOUR)
    me = await asyncio.wait_for(
        client.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"x-forwarded-for": ATTACKER, "authorization": f"Bearer {owner.token}"},
        ),
        5,
    )
    await asyncio.sleep(0.1)
    neighbour_waiting = not neighbour.done()
    password_thread_busy.set()
    answered = await asyncio.gather(*held, neighbour)

    assert {r.status_code for r in refused} == {429}
    assert {r.json()["errors"][0]["extensions"]["code"] for r in refused} == {"RATE_LIMITED"}
    assert all(r.headers["retry-after"] == "1" for r in refused)
    assert me.json()["data"] == {"me": {"email": owner.email}}  # signed in, not counted
    assert neighbour_waiting  # another address is let in, to wait for the thread too
    codes = Counter(r.json()["data"]["signIn"]["errors"][0]["code"] for r in answered)
    assert codes == {"INVALID_CREDENTIALS": CAP + 1}


async def test_once_its_requests_ended_the_address_is_let_in_again(
    client: httpx.AsyncClient, password_thread_busy: threading.Event
) -> None:
    held = [sign_in_from(client, ATTACKER) for _ in range(CAP)]
    await asyncio.sleep(0.2)
    assert (await sign_in_from(client, ATTACKER)).status_code == 429
    password_thread_busy.set()
    await asyncio.gather(*held)

    again = await sign_in_from(client, ATTACKER)

    assert again.status_code == 200
    assert again.json()["data"]["signIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
