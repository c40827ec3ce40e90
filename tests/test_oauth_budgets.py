"""``POST /oauth/token`` has a budget per address and one per (authenticated) client."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from loyalty.config import Settings
from tests.conftest import Api, Staff, served
from tests.test_partners import CLIENT_CREDENTIALS, LOGS, TOKEN_PATH, assert_oauth_json

ADDRESS_BUDGET = 6
CLIENT_BUDGET = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "trusted_proxies": "127.0.0.1",
            "oauth_address_rate_limit": f"{ADDRESS_BUDGET}/minute",
            "oauth_client_rate_limit": f"{CLIENT_BUDGET}/minute",
        }
    )


async def token_request(
    api: Api, address: str, auth: tuple[str, str] = ("pc_nobody", "no-secret")
) -> httpx.Response:
    return await api.client.post(
        TOKEN_PATH, data=CLIENT_CREDENTIALS, auth=auth, headers={"x-forwarded-for": address}
    )


def assert_slow_down(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert_oauth_json(response)
    assert 1 <= int(response.headers["retry-after"]) <= 60
    body = response.json()
    assert body["error"] == "slow_down"
    assert "retry in" in body["error_description"]


async def test_an_address_over_its_budget_gets_429_with_retry_after(api: Api) -> None:
    for _ in range(ADDRESS_BUDGET):
        assert (await token_request(api, "203.0.113.5")).status_code == 401

    assert_slow_down(await token_request(api, "203.0.113.5"))
    assert (await token_request(api, "203.0.113.6")).status_code == 401


async def test_a_client_over_its_budget_gets_429_from_any_address(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])
    auth = (client.client_id, client.secret)
    for n in range(CLIENT_BUDGET):
        assert (await token_request(api, f"198.51.100.{n}", auth)).status_code == 200

    assert_slow_down(await token_request(api, "198.51.100.99", auth))
    other = await api.services.partners.create_client("Other shop", ["users:read"])
    assert (await token_request(api, "198.51.100.99", (other.client_id, other.secret))).status_code == 200


async def test_requests_without_the_secret_do_not_spend_a_clients_budget(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])
    for n in range(2 * CLIENT_BUDGET):
        assert (await token_request(api, f"203.0.113.{n}", (client.client_id, "guess"))).status_code == 401

    response = await token_request(api, "198.51.100.1", (client.client_id, client.secret))

    assert response.status_code == 200


async def test_refused_token_requests_are_logged_once_per_window(api: Api, owner: Staff) -> None:
    for _ in range(ADDRESS_BUDGET + 20):
        await token_request(api, "203.0.113.5")

    data = await api.data(LOGS, {"filter": {"action": "auth.client_token_limited"}}, token=owner.token)

    [entry] = [edge["node"] for edge in data["logs"]["edges"]]
    assert (entry["outcome"], entry["details"]) == ("DENIED", {"code": "RATE_LIMITED"})


async def test_repeated_wrong_secrets_leave_the_first_refusal_and_one_summary(api: Api, owner: Staff) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])
    for _ in range(ADDRESS_BUDGET):
        assert (await token_request(api, "203.0.113.7", (client.client_id, "guess"))).status_code == 401

    await api.services.audit.flush()
    data = await api.data(LOGS, {"filter": {"action": "auth.client_token"}}, token=owner.token)

    entries = [edge["node"] for edge in data["logs"]["edges"]]
    assert len(entries) == 2
    summary, first = entries  # newest first
    assert first["details"] == {"error": "invalid_client"}
    assert first["targetId"] == client.client_id
    assert summary["details"]["repeats"] == ADDRESS_BUDGET - 1


async def test_a_burst_from_one_address_is_refused_past_its_bucket(api: Api, settings: Settings) -> None:
    bursty = settings.model_copy(update={"anonymous_burst": 3, "anonymous_per_second": 0.1})
    async with served(bursty, api.services) as bursty_api:
        answers = [
            await bursty_api.client.post(
                TOKEN_PATH,
                data=CLIENT_CREDENTIALS,
                auth=("pc_nobody", "no-secret"),
                headers={"x-forwarded-for": "203.0.113.5"},
            )
            for _ in range(4)
        ]

    assert [answer.status_code for answer in answers[:3]] == [401] * 3
    assert_slow_down(answers[3])


async def test_simultaneous_requests_naming_one_client_look_it_up_once(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])
    statements: list[str] = []
    api.services.db.statement_hook = statements.append
    try:
        answers = await asyncio.gather(
            *(token_request(api, f"203.0.113.{n}", (client.client_id, "a wrong secret")) for n in range(5))
        )
    finally:
        api.services.db.statement_hook = None

    assert [answer.status_code for answer in answers] == [401] * 5
    assert len([s for s in statements if "FROM partner_clients" in s]) == 1
