"""Sign-in budgets: exact under concurrency, per email and address, and not a weapon against the owner.

The server believes X-Forwarded-For from 127.0.0.1 here, so each test chooses the address a
sign-in comes from (see the scheme in ``loyalty.services.sessions``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.principal import Origin
from loyalty.config import Settings
from loyalty.datasources import sign_in_attempts
from loyalty.datasources.tables import sign_in_addresses
from loyalty.services.errors import ServiceError
from loyalty.services.sessions import SessionService
from tests.conftest import TEST_PASSWORD, Api, Staff
from tests.test_sessions import MAX_FAILURES, SIGN_IN, WRONG_PASSWORD

ADDRESS_ATTEMPTS = 12
UNKNOWN_ADDRESS_FAILURES = 20
ATTACKER = "203.0.113.66"
OWNERS_ADDRESS = "198.51.100.7"
FAILED_SIGN_INS = """
{ logs(filter: {action: "auth.sign_in_failed"}, first: 100) { edges { node { details sourceIp } } } }
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"trusted_proxies": "127.0.0.1", "sign_in_address_attempts": ADDRESS_ATTEMPTS}
    )


async def sign_in_from(api: Api, address: str, email: str, password: str = TEST_PASSWORD) -> str | None:
    """The error code of a sign-in from ``address`` (None when it succeeded)."""
    response = await api.client.post(
        "/graphql",
        json={"query": SIGN_IN, "variables": {"email": email, "password": password}},
        headers={"x-forwarded-for": address},
    )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["signIn"]
    if not payload["errors"]:
        assert payload["accessToken"]
        return None
    assert payload["accessToken"] is None
    [error] = payload["errors"]
    return str(error["code"])


async def fail_from(api: Api, address: str, email: str, times: int = MAX_FAILURES) -> None:
    for _ in range(times):
        assert await sign_in_from(api, address, email, WRONG_PASSWORD) == "INVALID_CREDENTIALS"


async def checked_passwords(api: Api, owner: Staff) -> int:
    """How many wrong passwords were checked: each leaves one INVALID_CREDENTIALS entry."""
    data = await api.data(FAILED_SIGN_INS, token=owner.token)
    reasons = [edge["node"]["details"]["reason"] for edge in data["logs"]["edges"]]
    return reasons.count("INVALID_CREDENTIALS")


# --- exact under concurrency ---------------------------------------------------------------------


async def test_forty_parallel_wrong_guesses_check_exactly_five_passwords(api: Api, owner: Staff) -> None:
    codes = await asyncio.gather(
        *(sign_in_from(api, ATTACKER, owner.email, f"{WRONG_PASSWORD} {n}") for n in range(40))
    )

    assert Counter(codes) == {"INVALID_CREDENTIALS": MAX_FAILURES, "ACCOUNT_LOCKED": 40 - MAX_FAILURES}
    assert await checked_passwords(api, owner) == MAX_FAILURES


async def test_aliased_wrong_guesses_in_one_request_are_refused_before_any_password_is_checked(
    api: Api, owner: Staff
) -> None:
    """Six aliased wrong sign-ins in one anonymous request once locked the owner out everywhere; an
    operation now holds one sign-in, so such a request checks nothing and locks nobody."""
    aliases = " ".join(
        f'a{n}: signIn(email: "{owner.email}", password: "{WRONG_PASSWORD} {n}") {{ errors {{ code }} }}'
        for n in range(6)
    )
    response = await api.client.post(
        "/graphql", json={"query": f"mutation {{ {aliases} }}"}, headers={"x-forwarded-for": ATTACKER}
    )

    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "data" not in response.json()
    assert await checked_passwords(api, owner) == 0
    assert await sign_in_from(api, ATTACKER, owner.email) is None


async def test_a_burst_on_a_locked_email_is_refused_without_reaching_the_database(
    api: Api, owner: Staff
) -> None:
    await fail_from(api, ATTACKER, owner.email)
    assert await sign_in_from(api, ATTACKER, owner.email) == "ACCOUNT_LOCKED"  # found in the database
    statements: list[str] = []
    api.services.db.statement_hook = statements.append
    try:
        codes = await asyncio.gather(*(sign_in_from(api, ATTACKER, owner.email) for _ in range(20)))
    finally:
        api.services.db.statement_hook = None

    assert set(codes) == {"ACCOUNT_LOCKED"}
    assert [s for s in statements if "sign_in_" in s or "users" in s] == []


class HeldChecks(PasswordHashing):
    """Argon2id checks that, once started, wait until the test lets them go on."""

    def __init__(self, expected: int) -> None:
        super().__init__(time_cost=1, memory_kib=8, parallelism=1)
        self.go_on = asyncio.Event()
        self.all_started = asyncio.Event()  # ``expected`` checks have started
        self._expected = expected

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self._expected -= 1
        if self._expected == 0:
            self.all_started.set()
        await self.go_on.wait()
        return await super().verify(password_hash, password)


async def error_code(attempt: Any) -> str:
    try:
        await attempt
    except ServiceError as error:
        return str(error.problems[0].code)
    return "signed in"


async def test_attempts_beyond_five_under_way_are_refused_without_reaching_the_database(
    api: Api, owner: Staff
) -> None:
    checks = HeldChecks(expected=MAX_FAILURES)
    services = api.services
    sessions = SessionService(services.db, checks, services.tokens, services.audit, refresh_token_days=1)
    origin = Origin(source_ip=ATTACKER)
    guesses = [
        asyncio.create_task(error_code(sessions.sign_in(owner.email, f"{WRONG_PASSWORD} {n}", origin)))
        for n in range(MAX_FAILURES)
    ]
    await checks.all_started.wait()  # all five counted in the database, their passwords being checked
    statements: list[str] = []
    services.db.statement_hook = statements.append
    try:
        more = [await error_code(sessions.sign_in(owner.email, WRONG_PASSWORD, origin)) for _ in range(10)]
    finally:
        services.db.statement_hook = None
    checks.go_on.set()

    assert more == ["ACCOUNT_LOCKED"] * 10
    assert [s for s in statements if "sign_in_" in s or "users" in s] == []
    assert await asyncio.gather(*guesses) == ["INVALID_CREDENTIALS"] * MAX_FAILURES
    assert await error_code(sessions.sign_in(owner.email, WRONG_PASSWORD, origin)) == "ACCOUNT_LOCKED"


# --- not a weapon against the owner --------------------------------------------------------------


async def test_a_guessing_address_locks_itself_out_even_with_the_right_password(
    api: Api, owner: Staff
) -> None:
    await fail_from(api, ATTACKER, owner.email)

    assert await sign_in_from(api, ATTACKER, owner.email) == "ACCOUNT_LOCKED"


async def test_the_owner_signs_in_from_another_address_while_a_guesser_is_locked_out(
    api: Api, owner: Staff
) -> None:
    await fail_from(api, ATTACKER, owner.email)
    assert await sign_in_from(api, ATTACKER, owner.email, WRONG_PASSWORD) == "ACCOUNT_LOCKED"

    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) is None


async def test_many_guessing_addresses_lock_out_new_addresses_but_not_one_the_owner_used(
    api: Api, owner: Staff
) -> None:
    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) is None
    for n in range(UNKNOWN_ADDRESS_FAILURES // MAX_FAILURES):
        await fail_from(api, f"203.0.113.{n}", owner.email)

    assert await sign_in_from(api, "192.0.2.1", owner.email) == "ACCOUNT_LOCKED"
    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) is None


async def test_the_owners_own_failures_still_lock_their_address(api: Api, owner: Staff) -> None:
    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) is None
    await fail_from(api, OWNERS_ADDRESS, owner.email)

    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) == "ACCOUNT_LOCKED"


async def test_a_success_forgives_only_its_own_addresss_failures(api: Api, owner: Staff) -> None:
    await fail_from(api, ATTACKER, owner.email, MAX_FAILURES - 1)
    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) is None

    await fail_from(api, ATTACKER, owner.email, 1)

    assert await sign_in_from(api, ATTACKER, owner.email) == "ACCOUNT_LOCKED"


# --- the address's budget ------------------------------------------------------------------------


async def test_an_address_has_a_budget_of_attempts_across_emails(api: Api, owner: Staff) -> None:
    for n in range(ADDRESS_ATTEMPTS):
        assert await sign_in_from(api, ATTACKER, f"guess-{n}@example.com", WRONG_PASSWORD) == (
            "INVALID_CREDENTIALS"
        )

    assert await sign_in_from(api, ATTACKER, owner.email) == "ACCOUNT_LOCKED"
    assert await sign_in_from(api, ATTACKER, "nobody@example.com") == "ACCOUNT_LOCKED"
    assert await sign_in_from(api, OWNERS_ADDRESS, owner.email) is None


async def test_successful_sign_ins_spend_the_address_budget_too(api: Api, owner: Staff) -> None:
    for _ in range(ADDRESS_ATTEMPTS):
        assert await sign_in_from(api, ATTACKER, owner.email) is None

    assert await sign_in_from(api, ATTACKER, owner.email) == "ACCOUNT_LOCKED"


async def test_refusals_over_budget_check_no_password(api: Api, owner: Staff) -> None:
    for n in range(ADDRESS_ATTEMPTS):
        await sign_in_from(api, ATTACKER, f"guess-{n}@example.com", WRONG_PASSWORD)

    await asyncio.gather(*(sign_in_from(api, ATTACKER, owner.email, WRONG_PASSWORD) for _ in range(20)))

    assert await checked_passwords(api, owner) == ADDRESS_ATTEMPTS


# --- the log --------------------------------------------------------------------------------------


async def test_refused_sign_ins_are_logged_once_then_counted(api: Api, owner: Staff) -> None:
    await fail_from(api, ATTACKER, owner.email)
    for _ in range(20):
        assert await sign_in_from(api, ATTACKER, owner.email) == "ACCOUNT_LOCKED"
    await api.services.audit.flush()

    data = await api.data(FAILED_SIGN_INS, token=owner.token)

    details = [edge["node"]["details"] for edge in data["logs"]["edges"]]
    assert Counter(d["reason"] for d in details) == {"INVALID_CREDENTIALS": MAX_FAILURES, "ACCOUNT_LOCKED": 2}
    assert sorted(d.get("repeats", 0) for d in details if d["reason"] == "ACCOUNT_LOCKED") == [0, 19]


# --- housekeeping --------------------------------------------------------------------------------


async def test_attempts_and_addresses_too_old_to_matter_are_forgotten(api: Api, owner: Staff) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=91)
    async with api.services.db.transaction() as conn:
        for _ in range(MAX_FAILURES):
            await sign_in_attempts.reserve(conn, email_key=owner.email, source_key=ATTACKER, now=long_ago)
        seq = await sign_in_attempts.reserve(
            conn, email_key=owner.email, source_key=OWNERS_ADDRESS, now=long_ago
        )
        await sign_in_attempts.mark_succeeded(
            conn, seq=seq, email_key=owner.email, source_key=OWNERS_ADDRESS, now=long_ago
        )

    assert await sign_in_from(api, ATTACKER, owner.email) is None

    async with api.services.db.read() as conn:
        since = long_ago - timedelta(days=1)
        attempts = await sign_in_attempts.attempts_on(conn, email_key=owner.email, since=since)
        addresses = (await conn.execute(sa.select(sign_in_addresses.c.source_key))).scalars().all()
    assert [(a.source_key, a.succeeded) for a in attempts] == [(ATTACKER, True)]
    assert addresses == [ATTACKER]
