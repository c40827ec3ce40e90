"""A worker executes at most LOYALTY_MAX_CONCURRENT_OPERATIONS operations at once; the rest wait."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from tests.conftest import Staff


async def test_operations_beyond_the_limit_wait_their_turn(
    services: Services, settings: Settings, owner: Staff, monkeypatch: Any
) -> None:
    in_flight, most = 0, 0
    read_user = services.users.get

    async def slow_read(*args: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return await read_user(*args)

    monkeypatch.setattr(services.users, "get", slow_read)
    app = create_app(settings.model_copy(update={"max_concurrent_operations": 3}), services=services)
    query = {"query": "query U($id: ID!) { user(id: $id) { email } }", "variables": {"id": owner.id}}
    headers = {"authorization": f"Bearer {owner.token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        responses = await asyncio.gather(
            *(client.post("/graphql", json=query, headers=headers) for _ in range(10))
        )

    assert [r.json()["data"] for r in responses] == [{"user": {"email": owner.email}}] * 10
    assert all("errors" not in r.json() for r in responses)
    assert most == 3


async def test_requests_without_a_token_wait_in_a_queue_of_their_own(
    services: Services, settings: Settings, owner: Staff
) -> None:
    """Sign-ins held up (the password thread is busy) take every anonymous turn; staff still run."""
    app = create_app(settings.model_copy(update={"max_concurrent_operations": 2}), services=services)
    busy = threading.Event()
    services.sessions._hashing._thread.submit(busy.wait, 10)  # the one Argon2 thread, busy as in a burst
    sign_in = {"query": 'mutation { signIn(email: "x@example.com", password: "guess") { errors { code } } }'}
    me = {"query": "{ me { email } }"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        sign_ins = [asyncio.create_task(client.post("/graphql", json=sign_in)) for _ in range(5)]
        await asyncio.sleep(0.3)  # two hold the anonymous turns, the others wait for them
        staff = await asyncio.wait_for(
            client.post("/graphql", json=me, headers={"authorization": f"Bearer {owner.token}"}), 5
        )
        still_waiting = not any(task.done() for task in sign_ins)
        busy.set()
        answers = await asyncio.gather(*sign_ins)

    assert staff.json()["data"] == {"me": {"email": owner.email}}
    assert still_waiting
    assert [a.json()["data"]["signIn"]["errors"][0]["code"] for a in answers] == ["INVALID_CREDENTIALS"] * 5
