"""The activity log: one entry per action attempted through the API, read back with `logs`.

With the SQL log store (these tests) an entry is written to ``log_entries`` with the change it
records; the outbox and its shipper serve other stores (tests/test_log_shipping.py) and ship what an
earlier version left waiting, which the shipping tests below put there themselves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest.mock import ANY  # the cost in extensions, whatever it is

import httpx
import sqlalchemy as sa

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources import log_outbox as outbox
from loyalty.datasources.log_sql import SqlLogStore
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.tables import log_entries, log_outbox
from loyalty.services.pagination import encode_cursor
from tests.conftest import TEST_PASSWORD, Api, Staff

LOGS = """
query($filter: LogFilter, $first: Int, $after: String) {
  logs(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id timestamp action outcome actorId actorEmail actorRole targetType targetId details
        sourceIp userAgent requestId
      }
    }
  }
}"""
RETENTION = "{ logRetentionDays }"
SET_RETENTION = """
mutation($days: Int!) { setLogRetention(days: $days) { logRetentionDays errors { code field message } } }
"""
ENROLL = """
mutation($input: EnrollUserInput!) { enrollUser(input: $input) { user { id } errors { code field message } } }
"""
UPDATE = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { user { id } errors { code field message } }
}"""
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId errors { code field message } } }"
OPEN = """
mutation($userId: ID!, $program: String!) {
  openPointsAccount(userId: $userId, program: $program) { account { id } errors { code field message } }
}"""
ADJUST = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { account { id balance } transaction { id } errors { code field message } }
}"""
SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken refreshToken errors { code field message } }
}"""
REFRESH = """
mutation($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken errors { code field message } }
}"""
SIGN_OUT = "mutation($token: String!) { signOut(refreshToken: $token) { ok } }"

WRONG_PASSWORD = "this is not the password"
USER_FIELDS = ("email", "firstName", "lastName", "role")


# --- helpers -------------------------------------------------------------------------------------


async def read_log(
    api: Api, token: str, log_filter: dict[str, Any] | None = None, *, first: int = 100
) -> list[dict[str, Any]]:
    """The entries (newest first) that `logs` returns."""
    data = await api.data(LOGS, {"filter": log_filter, "first": first}, token=token)
    return [edge["node"] for edge in data["logs"]["edges"]]


async def only_entry(api: Api, token: str) -> dict[str, Any]:
    entries = await read_log(api, token)
    assert len(entries) == 1, [(entry["action"], entry["outcome"]) for entry in entries]
    return entries[0]


async def payload(api: Api, query: str, variables: dict[str, Any], *, token: str | None = None) -> Any:
    """The one root field of a mutation that must not fail as a whole."""
    (value,) = (await api.data(query, variables, token=token)).values()
    return value


async def enroll(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    values = {"email": f"u-{uuid.uuid4().hex[:8]}@example.com", "firstName": "Ada", "lastName": "Lovelace"}
    return await payload(api, ENROLL, {"input": values | fields}, token=token)


async def adjust(api: Api, token: str, account_id: str, action: str, amount: int, **extra: Any) -> Any:
    variables = {"input": {"accountId": account_id, "action": action, "amount": amount, **extra}}
    return await payload(api, ADJUST, variables, token=token)


async def sign_in(api: Api, email: str, password: str = TEST_PASSWORD) -> dict[str, Any]:
    return await payload(api, SIGN_IN, {"email": email, "password": password})


async def count_rows(api: Api, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with api.services.db.read() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)


def make_entry(at: datetime, **fields: Any) -> LogEntry:
    values: dict[str, Any] = {"action": "user.enroll", "outcome": "SUCCESS"} | fields
    return LogEntry(id=uuid.uuid4(), timestamp=at, **values)


async def leave_in_outbox(api: Api, *entries: LogEntry) -> None:
    """Entries waiting in the outbox, as an earlier version (or another log store) leaves them."""
    async with api.services.db.transaction() as conn:
        for entry in entries:
            await outbox.add(conn, entry)


async def store(api: Api, *entries: LogEntry) -> None:
    """Entries written straight to the log store, as if shipped at their (past) timestamps."""
    await SqlLogStore(api.services.db).write_batch(list(entries), retention_days=365)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["id"] for entry in entries]


def recent_second() -> datetime:
    """A whole second an hour ago: inside any retention and search window, and exact to compare."""
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


@asynccontextmanager
async def client_behind_proxies(
    api: Api, settings: Settings, trusted: str
) -> AsyncIterator[httpx.AsyncClient]:
    # Settings are rebuilt, not model_copy'd: a copy keeps the cached trusted_networks (see tests/unit/test_origin.py).
    proxied = Settings(**(settings.model_dump() | {"trusted_proxies": trusted}))
    app = create_app(proxied, services=api.services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


# --- one entry per attempted mutation -------------------------------------------------------------


async def test_every_mutation_attempted_leaves_exactly_one_entry_with_its_action(
    api: Api, owner: Staff
) -> None:
    manager = await api.user(Role.MANAGER)
    customer = await api.user(Role.USER, points_balance=10)
    session: dict[str, Any] = {}

    async def sign_in_manager() -> None:
        session.update(await sign_in(api, manager.email))

    async def refresh() -> None:
        session.update(await payload(api, REFRESH, {"token": session["refreshToken"]}))

    steps: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
        ("user.enroll", "SUCCESS", lambda: enroll(api, owner.token)),
        (
            "user.update",
            "SUCCESS",
            lambda: payload(
                api, UPDATE, {"id": customer.id, "input": {"firstName": "Eve"}}, token=owner.token
            ),
        ),
        (
            "points.open_account",
            "SUCCESS",
            lambda: payload(api, OPEN, {"userId": customer.id, "program": "summer"}, token=owner.token),
        ),
        ("points.adjust", "SUCCESS", lambda: adjust(api, owner.token, customer.account_id, "ADD", 5)),
        (
            "log.set_retention",
            "SUCCESS",
            lambda: payload(api, SET_RETENTION, {"days": 90}, token=owner.token),
        ),
        ("auth.sign_in", "SUCCESS", sign_in_manager),
        ("auth.sign_in_failed", "FAILED", lambda: sign_in(api, manager.email, WRONG_PASSWORD)),
        ("auth.refresh", "SUCCESS", refresh),
        ("auth.sign_out", "SUCCESS", lambda: payload(api, SIGN_OUT, {"token": session["refreshToken"]})),
        ("user.delete", "SUCCESS", lambda: payload(api, DELETE, {"id": customer.id}, token=owner.token)),
    ]
    for number, (action, outcome, step) in enumerate(steps, start=1):
        await step()

        entries = await read_log(api, owner.token)

        assert len(entries) == number, f"after {action}: {[entry['action'] for entry in entries]}"
        assert (entries[0]["action"], entries[0]["outcome"]) == (action, outcome), f"step {number}"


async def test_enrolling_logs_the_actor_the_new_user_and_its_fields(api: Api, owner: Staff) -> None:
    result = await enroll(
        api, owner.token, email="grace@example.com", firstName="Grace", lastName="Hopper", role="MANAGER"
    )

    entry = await only_entry(api, owner.token)

    assert result["errors"] == []
    assert (entry["action"], entry["outcome"]) == ("user.enroll", "SUCCESS")
    assert (entry["actorId"], entry["actorEmail"], entry["actorRole"]) == (owner.id, owner.email, "OWNER")
    assert (entry["targetType"], entry["targetId"]) == ("user", result["user"]["id"])
    after = entry["details"]["after"]
    assert {name: after[name] for name in USER_FIELDS} == {
        "email": "grace@example.com",
        "firstName": "Grace",
        "lastName": "Hopper",
        "role": "MANAGER",
    }
    assert uuid.UUID(entry["id"])
    timestamp = datetime.fromisoformat(entry["timestamp"])
    assert entry["timestamp"].endswith("+00:00")
    assert abs(datetime.now(UTC) - timestamp) < timedelta(minutes=1)


async def test_updating_logs_only_the_changed_fields_before_and_after(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    changes = {"firstName": "Grace", "lastName": "Manager", "role": "ENGINEER"}  # lastName is unchanged

    result = await payload(api, UPDATE, {"id": manager.id, "input": changes}, token=owner.token)
    entry = await only_entry(api, owner.token)

    assert result["errors"] == []
    assert (entry["action"], entry["outcome"]) == ("user.update", "SUCCESS")
    assert (entry["actorId"], entry["targetType"], entry["targetId"]) == (owner.id, "user", manager.id)
    assert entry["details"] == {
        "before": {"firstName": "Test", "role": "MANAGER"},
        "after": {"firstName": "Grace", "role": "ENGINEER"},
    }


async def test_deleting_logs_the_fields_the_user_had(api: Api, owner: Staff) -> None:
    customer = await api.user(Role.USER, email="gone@example.com")

    await payload(api, DELETE, {"id": customer.id}, token=owner.token)
    entry = await only_entry(api, owner.token)

    assert (entry["action"], entry["outcome"]) == ("user.delete", "SUCCESS")
    assert (entry["actorId"], entry["targetType"], entry["targetId"]) == (owner.id, "user", customer.id)
    before = entry["details"]["before"]
    assert {name: before[name] for name in USER_FIELDS} == {
        "email": "gone@example.com",
        "firstName": "Test",
        "lastName": "User",
        "role": "USER",
    }


async def test_opening_an_account_logs_the_user_and_the_new_account(api: Api, owner: Staff) -> None:
    customer = await api.user(Role.USER)

    result = await payload(api, OPEN, {"userId": customer.id, "program": "summer"}, token=owner.token)
    entry = await only_entry(api, owner.token)

    assert (entry["action"], entry["outcome"], entry["actorId"]) == (
        "points.open_account",
        "SUCCESS",
        owner.id,
    )
    assert (entry["targetType"], entry["targetId"]) == ("user", customer.id)
    assert entry["details"]["after"] == {"accountId": result["account"]["id"], "program": "summer"}


async def test_adjusting_points_logs_the_request_and_the_balance_before_and_after(
    api: Api, owner: Staff
) -> None:
    customer = await api.user(Role.USER, points_balance=100)

    result = await adjust(
        api, owner.token, customer.account_id, "DEDUCT", 30, reason="returned", idempotencyKey="k-1"
    )
    entry = await only_entry(api, owner.token)

    assert (entry["action"], entry["outcome"], entry["actorId"]) == ("points.adjust", "SUCCESS", owner.id)
    assert (entry["targetType"], entry["targetId"]) == ("points_account", customer.account_id)
    assert entry["details"] == {
        "action": "DEDUCT",
        "amount": 30,
        "reason": "returned",
        "idempotencyKey": "k-1",
        "transactionId": result["transaction"]["id"],
        "before": {"balance": 100},
        "after": {"balance": 70},
    }


async def test_an_override_logs_the_balance_it_replaced(api: Api, owner: Staff) -> None:
    customer = await api.user(Role.USER, points_balance=100)

    await adjust(api, owner.token, customer.account_id, "OVERRIDE", 7)
    details = (await only_entry(api, owner.token))["details"]

    assert (details["action"], details["amount"]) == ("OVERRIDE", 7)
    assert (details["before"], details["after"]) == ({"balance": 100}, {"balance": 7})


async def test_an_idempotent_replay_logs_a_success_marked_replayed(api: Api, owner: Staff) -> None:
    customer = await api.user(Role.USER)
    first = await adjust(api, owner.token, customer.account_id, "ADD", 10, idempotencyKey="retry-me")

    again = await adjust(api, owner.token, customer.account_id, "ADD", 10, idempotencyKey="retry-me")
    replay, original = await read_log(api, owner.token)

    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert original["details"]["transactionId"] == first["transaction"]["id"]
    assert (replay["action"], replay["outcome"], replay["actorId"]) == ("points.adjust", "SUCCESS", owner.id)
    assert replay["details"] == {"replayed": True, "transactionId": first["transaction"]["id"]}


async def test_setting_the_retention_logs_the_days_before_and_after(api: Api, owner: Staff) -> None:
    result = await payload(api, SET_RETENTION, {"days": 30}, token=owner.token)
    entry = await only_entry(api, owner.token)

    assert result == {"logRetentionDays": 30, "errors": []}
    assert (await api.data(RETENTION, token=owner.token))["logRetentionDays"] == 30
    assert (entry["action"], entry["outcome"], entry["actorId"]) == ("log.set_retention", "SUCCESS", owner.id)
    assert entry["targetType"] == "settings"
    assert entry["targetId"]
    assert entry["details"] == {"before": {"days": 365}, "after": {"days": 30}}


# --- sessions ------------------------------------------------------------------------------------


async def test_signing_in_logs_the_staff_member_as_actor_and_target(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)

    assert (await sign_in(api, manager.email))["errors"] == []
    entry = await only_entry(api, owner.token)

    assert (entry["action"], entry["outcome"]) == ("auth.sign_in", "SUCCESS")
    assert (entry["actorId"], entry["actorEmail"], entry["actorRole"]) == (
        manager.id,
        manager.email,
        "MANAGER",
    )
    assert (entry["targetType"], entry["targetId"]) == ("user", manager.id)


async def test_a_failed_sign_in_logs_the_email_tried_and_no_actor(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER, email="known@example.com")

    await sign_in(api, manager.email, WRONG_PASSWORD)
    await sign_in(api, "stranger@example.com", WRONG_PASSWORD)
    entries = await read_log(api, owner.token)

    assert [entry["actorEmail"] for entry in entries] == ["stranger@example.com", "known@example.com"]
    for entry in entries:
        assert (entry["action"], entry["outcome"]) == ("auth.sign_in_failed", "FAILED"), entry
        assert (entry["actorId"], entry["actorRole"]) == (None, None), entry
        assert entry["details"]["reason"] == "INVALID_CREDENTIALS", entry


async def test_a_sign_in_refused_by_the_lock_logs_account_locked(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    for _ in range(5):
        await sign_in(api, manager.email, WRONG_PASSWORD)

    refused = await sign_in(api, manager.email)  # the right password, too late
    entries = await read_log(api, owner.token)

    assert [error["code"] for error in refused["errors"]] == ["ACCOUNT_LOCKED"]
    assert len(entries) == 6
    assert [entry["details"]["reason"] for entry in entries] == ["ACCOUNT_LOCKED"] + [
        "INVALID_CREDENTIALS"
    ] * 5
    locked = entries[0]
    assert (locked["action"], locked["outcome"], locked["actorId"]) == ("auth.sign_in_failed", "FAILED", None)
    assert locked["actorEmail"] == manager.email


async def test_refreshing_and_signing_out_log_the_session_owner_as_actor(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    session = await sign_in(api, manager.email)

    renewed = await payload(api, REFRESH, {"token": session["refreshToken"]})
    await payload(api, SIGN_OUT, {"token": renewed["refreshToken"]})
    sign_out, refresh, _ = await read_log(api, owner.token)

    for entry, action in ((refresh, "auth.refresh"), (sign_out, "auth.sign_out")):
        assert (entry["action"], entry["outcome"]) == (action, "SUCCESS"), entry
        assert (entry["actorId"], entry["actorEmail"], entry["actorRole"]) == (
            manager.id,
            manager.email,
            "MANAGER",
        )
        assert (entry["targetType"], entry["targetId"]) == ("user", manager.id), entry


async def test_a_refused_refresh_logs_a_failure_with_its_error(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    session = await sign_in(api, manager.email)
    await payload(api, REFRESH, {"token": session["refreshToken"]})

    unknown = await payload(api, REFRESH, {"token": "not-a-refresh-token"})
    reused = await payload(api, REFRESH, {"token": session["refreshToken"]})
    reused_entry, unknown_entry, *_ = await read_log(api, owner.token)

    for result, entry in ((unknown, unknown_entry), (reused, reused_entry)):
        assert (entry["action"], entry["outcome"]) == ("auth.refresh", "FAILED"), entry
        assert entry["details"]["errors"] == result["errors"], entry
        assert [error["code"] for error in result["errors"]] == ["INVALID_TOKEN"]
    assert (unknown_entry["actorId"], unknown_entry["actorEmail"]) == (None, None)


# --- refusals and failures -----------------------------------------------------------------------


async def test_forbidden_attempts_are_logged_as_denied_with_the_caller(api: Api, owner: Staff) -> None:
    manager, engineer = await api.user(Role.MANAGER), await api.user(Role.ENGINEER)
    product_manager, customer = await api.user(Role.PRODUCT_MANAGER), await api.user(Role.USER)
    other_owner = await api.user(Role.OWNER)
    new_user = {"email": "n@example.com", "firstName": "N", "lastName": "N"}
    cases: list[tuple[str, Staff, str, dict[str, Any], str]] = [
        ("engineer deletes", engineer, DELETE, {"id": customer.id}, "user.delete"),
        ("manager enrols an owner", manager, ENROLL, {"input": new_user | {"role": "OWNER"}}, "user.enroll"),
        (
            "manager edits an owner",
            manager,
            UPDATE,
            {"id": other_owner.id, "input": {"firstName": "X"}},
            "user.update",
        ),
        (
            "product manager edits",
            product_manager,
            UPDATE,
            {"id": customer.id, "input": {"firstName": "X"}},
            "user.update",
        ),
        (
            "product manager adjusts",
            product_manager,
            ADJUST,
            {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 1}},
            "points.adjust",
        ),
        (
            "product manager opens",
            product_manager,
            OPEN,
            {"userId": customer.id, "program": "p"},
            "points.open_account",
        ),
        ("manager sets retention", manager, SET_RETENTION, {"days": 5}, "log.set_retention"),
    ]
    for case, caller, query, variables, action in cases:
        assert await api.error_code(query, variables, token=caller.token) == "FORBIDDEN", case

        entry = (await read_log(api, owner.token))[0]

        assert (entry["action"], entry["outcome"]) == (action, "DENIED"), case
        assert (entry["actorId"], entry["actorEmail"], entry["actorRole"]) == (
            caller.id,
            caller.email,
            caller.role.value,
        ), case
        assert entry["details"]["code"] == "FORBIDDEN", case
    assert len(await read_log(api, owner.token)) == len(cases)


async def test_unauthenticated_attempts_are_logged_as_denied_without_an_actor(api: Api, owner: Staff) -> None:
    customer = await api.user(Role.USER)
    cases: list[tuple[str, dict[str, Any], str]] = [
        (ENROLL, {"input": {"email": "n@example.com", "firstName": "N", "lastName": "N"}}, "user.enroll"),
        (UPDATE, {"id": customer.id, "input": {"firstName": "X"}}, "user.update"),
        (DELETE, {"id": customer.id}, "user.delete"),
        (OPEN, {"userId": customer.id, "program": "p"}, "points.open_account"),
        (
            ADJUST,
            {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 1}},
            "points.adjust",
        ),
        (SET_RETENTION, {"days": 5}, "log.set_retention"),
    ]
    for query, variables, action in cases:
        for token in (None, "not-a-token"):
            case = f"{action} with token {token!r}"
            assert await api.error_code(query, variables, token=token) == "UNAUTHENTICATED", case

            entry = (await read_log(api, owner.token))[0]

            assert (entry["action"], entry["outcome"]) == (action, "DENIED"), case
            assert (entry["actorId"], entry["actorEmail"], entry["actorRole"]) == (None, None, None), case
            assert entry["details"]["code"] == "UNAUTHENTICATED", case
    assert len(await read_log(api, owner.token)) == 2 * len(cases)


async def test_user_errors_are_logged_as_failed_with_the_errors_returned(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER, email="taken@example.com")
    customer = await api.user(Role.USER)
    absent = str(uuid.uuid4())
    adjustment = {"accountId": customer.account_id, "action": "ADD", "amount": 1, "idempotencyKey": "k"}
    await adjust(api, owner.token, customer.account_id, "ADD", 1, idempotencyKey="k")
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("bad email", ENROLL, {"input": {"email": "nope", "firstName": "A", "lastName": "B"}}, "user.enroll"),
        (
            "taken email",
            ENROLL,
            {"input": {"email": "TAKEN@example.com", "firstName": "A", "lastName": "B"}},
            "user.enroll",
        ),
        ("no such user", UPDATE, {"id": absent, "input": {"firstName": "X"}}, "user.update"),
        ("delete yourself", DELETE, {"id": owner.id}, "user.delete"),
        ("program taken", OPEN, {"userId": manager.id, "program": "default"}, "points.open_account"),
        ("key reused", ADJUST, {"input": adjustment | {"amount": 2}}, "points.adjust"),
        ("retention too long", SET_RETENTION, {"days": 3651}, "log.set_retention"),
    ]
    for case, query, variables, action in cases:
        errors = (await payload(api, query, variables, token=owner.token))["errors"]
        assert errors, case

        entry = (await read_log(api, owner.token))[0]

        assert (entry["action"], entry["outcome"], entry["actorId"]) == (action, "FAILED", owner.id), case
        assert entry["details"] == {"errors": errors}, case


async def test_a_change_that_fails_leaves_only_its_failed_entry(api: Api, owner: Staff) -> None:
    customer = await api.user(Role.USER, points_balance=10)

    result = await adjust(api, owner.token, customer.account_id, "DEDUCT", 50)
    entry = await only_entry(api, owner.token)

    assert [error["code"] for error in result["errors"]] == ["INSUFFICIENT_POINTS"]
    assert (entry["action"], entry["outcome"]) == ("points.adjust", "FAILED")
    assert [error["code"] for error in entry["details"]["errors"]] == ["INSUFFICIENT_POINTS"]
    assert await read_log(api, owner.token, {"outcome": "SUCCESS"}) == []


async def test_no_password_or_token_ever_reaches_the_log(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    new_password = "a brand new staff password"
    session = await sign_in(api, manager.email)
    await sign_in(api, manager.email, WRONG_PASSWORD)
    await enroll(api, owner.token, role="ENGINEER", password=new_password)
    await enroll(
        api, owner.token, role="USER", password="a customer password!"
    )  # refused: customers have none
    renewed = await payload(api, REFRESH, {"token": session["refreshToken"]})
    await payload(api, REFRESH, {"token": session["refreshToken"]})  # a replay, refused
    await payload(api, SIGN_OUT, {"token": renewed["refreshToken"]})
    async with api.services.db.read() as conn:
        stored = json.dumps([list(row) for row in await conn.execute(sa.select(log_entries))], default=str)

    logged = json.dumps(await read_log(api, owner.token))

    secrets = {
        "the password": TEST_PASSWORD,
        "a wrong password": WRONG_PASSWORD,
        "an enrolled password": new_password,
        "a customer password": "a customer password!",
        "an access token": session["accessToken"],
        "a renewed access token": renewed["accessToken"],
        "a refresh token": session["refreshToken"],
        "a renewed refresh token": renewed["refreshToken"],
        "the caller's token": owner.token,
    }
    for name, secret in secrets.items():
        assert secret not in logged, f"{name} is in the log"
        assert secret not in stored, f"{name} is in the log table"
    assert len(json.loads(logged)) == 7


# --- where a request came from -------------------------------------------------------------------


async def test_the_request_id_is_the_one_sent_back_and_the_callers_when_sane(api: Api, owner: Staff) -> None:
    cases: list[tuple[str, dict[str, str]]] = [
        ("sane id", {"x-request-id": "console-42.a:b_c-d"}),
        ("no id", {}),
        ("insane id", {"x-request-id": "two words"}),
    ]
    for case, headers in cases:
        response = await api.client.post(
            "/graphql",
            json={"query": SET_RETENTION, "variables": {"days": 100}},
            headers={"authorization": f"Bearer {owner.token}", **headers},
        )

        entry = (await read_log(api, owner.token))[0]

        assert entry["requestId"] == response.headers["x-request-id"], case
        if case == "sane id":
            assert entry["requestId"] == "console-42.a:b_c-d"
        else:
            assert entry["requestId"] not in ("", "two words"), case


async def test_the_user_agent_and_the_peer_address_are_logged(api: Api, owner: Staff) -> None:
    await api.client.post(
        "/graphql",
        json={"query": SIGN_IN, "variables": {"email": owner.email, "password": TEST_PASSWORD}},
        headers={"user-agent": "LoyaltyConsole/2.1 (back office)", "x-forwarded-for": "203.0.113.7"},
    )

    entry = await only_entry(api, owner.token)

    assert entry["userAgent"] == "LoyaltyConsole/2.1 (back office)"
    assert entry["sourceIp"] == "127.0.0.1"  # X-Forwarded-For is ignored: no proxy is trusted


async def test_behind_trusted_proxies_the_forwarded_client_is_the_source(
    api: Api, owner: Staff, settings: Settings
) -> None:
    async with client_behind_proxies(api, settings, "127.0.0.1,10.0.0.0/8") as client:
        await client.post(
            "/graphql",
            json={"query": SIGN_IN, "variables": {"email": owner.email, "password": TEST_PASSWORD}},
            headers={"x-forwarded-for": "198.51.100.66, 203.0.113.7, 10.0.0.1"},  # the left-most is spoofed
        )

    entry = await only_entry(api, owner.token)

    assert entry["sourceIp"] == "203.0.113.7"


# --- reading the log -----------------------------------------------------------------------------


async def test_the_log_lists_entries_newest_first(api: Api, owner: Staff) -> None:
    enrolled = [(await enroll(api, owner.token))["user"]["id"] for _ in range(3)]

    entries = await read_log(api, owner.token)

    assert [entry["targetId"] for entry in entries] == enrolled[::-1]
    timestamps = [datetime.fromisoformat(entry["timestamp"]) for entry in entries]
    assert timestamps == sorted(timestamps, reverse=True)


async def test_pages_follow_each_other_without_duplicates_or_gaps(api: Api, owner: Staff) -> None:
    at = recent_second()
    tied = [make_entry(at) for _ in range(13)]  # one timestamp: the id breaks the tie
    spread = [make_entry(at + timedelta(seconds=offset)) for offset in (-2, -1, 1, 2)]
    await store(api, *tied, *spread)
    seen: list[str] = []
    after: str | None = None

    for _ in range(10):
        data = await api.data(LOGS, {"first": 5, "after": after}, token=owner.token)
        connection = data["logs"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    assert len(seen) == len(set(seen)), "an entry came twice"
    assert set(seen) == {str(entry.id) for entry in tied + spread}
    assert seen[0] == str(spread[-1].id), "the newest comes first"
    assert seen[-1] == str(spread[0].id), "the oldest comes last"


async def test_each_filter_narrows_the_log_and_all_given_must_hold(api: Api, owner: Staff) -> None:
    at = recent_second()
    enrolled = make_entry(at, actor_id="a1", target_id="t1", action="user.enroll", outcome="SUCCESS")
    adjusted = make_entry(at, actor_id="a1", target_id="t2", action="points.adjust", outcome="FAILED")
    deleted = make_entry(at, actor_id="a2", target_id="t1", action="user.delete", outcome="DENIED")
    failed = make_entry(at, action="auth.sign_in_failed", outcome="FAILED")
    await store(api, enrolled, adjusted, deleted, failed)
    cases: list[tuple[dict[str, Any], list[LogEntry]]] = [
        ({"actorId": "a1"}, [enrolled, adjusted]),
        ({"targetId": "t1"}, [enrolled, deleted]),
        ({"action": "points.adjust"}, [adjusted]),
        ({"outcome": "FAILED"}, [adjusted, failed]),
        ({"outcome": "DENIED"}, [deleted]),
        ({"actorId": "a1", "outcome": "FAILED"}, [adjusted]),
        ({"actorId": "a2", "targetId": "t2"}, []),
        ({"action": "user"}, []),  # an action is matched whole
        ({}, [enrolled, adjusted, deleted, failed]),
    ]
    for log_filter, expected in cases:
        found = await read_log(api, owner.token, log_filter)

        assert set(ids(found)) == {str(entry.id) for entry in expected}, log_filter


async def test_since_and_until_are_inclusive_and_read_any_offset(api: Api, owner: Staff) -> None:
    at = recent_second()
    entries = {offset: make_entry(at + timedelta(minutes=offset)) for offset in (-2, -1, 0, 1, 2)}
    await store(api, *entries.values())
    plus_two = timezone(timedelta(hours=2))

    def window(since: int | None, until: int | None) -> dict[str, Any]:
        def moment(offset: int) -> str:
            return (at + timedelta(minutes=offset)).astimezone(plus_two).isoformat()

        return {
            "since": None if since is None else moment(since),
            "until": None if until is None else moment(until),
        }

    cases: list[tuple[int | None, int | None, set[int]]] = [
        (-1, 1, {-1, 0, 1}),
        (0, 0, {0}),
        (1, None, {1, 2}),
        (None, -1, {-2, -1}),
        (2, -2, set()),
    ]
    for since, until, expected in cases:
        found = await read_log(api, owner.token, window(since, until))

        assert set(ids(found)) == {str(entries[offset].id) for offset in expected}, (since, until)
    just_after = (at + timedelta(microseconds=1)).isoformat()
    assert str(entries[0].id) not in ids(await read_log(api, owner.token, {"since": just_after}))


async def test_search_matches_part_of_the_action_actor_email_or_target_any_case(
    api: Api, owner: Staff
) -> None:
    at = recent_second()
    by_email = make_entry(at, action="user.update", actor_email="Ada.Lovelace@Example.com", target_id="t-1")
    by_action = make_entry(at, action="points.adjust", actor_email="b@example.com", target_id="t-2")
    by_target = make_entry(at, action="user.delete", actor_email="c@example.com", target_id="ABC-123")
    by_percent = make_entry(at, action="user.update", actor_email="d@example.com", target_id="50%_off")
    await store(api, by_email, by_action, by_target, by_percent)
    cases: list[tuple[str, list[LogEntry]]] = [
        ("LOVELACE", [by_email]),
        ("ADJUST", [by_action]),
        ("abc-12", [by_target]),
        ("user.", [by_email, by_target, by_percent]),
        ("%", [by_percent]),  # a LIKE wildcard is matched as itself
        ("0%_o", [by_percent]),
        ("_", [by_percent]),
        ("details", []),
    ]
    for search, expected in cases:
        found = await read_log(api, owner.token, {"search": search})

        assert set(ids(found)) == {str(entry.id) for entry in expected}, search


async def test_a_search_bounded_by_the_earliest_time_finds_nothing(api: Api, owner: Staff) -> None:
    await store(api, make_entry(recent_second(), actor_email="ada@example.com"))
    earliest = "0001-01-01T00:00:00+00:00"

    for log_filter in ({"until": earliest}, {"until": earliest, "search": "ada"}):
        body = await api.post(LOGS, {"filter": log_filter, "first": 5}, token=owner.token)

        assert body == {
            "data": {"logs": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}},
            "extensions": ANY,
        }, log_filter


async def test_a_page_size_outside_1_to_100_is_bad_user_input(api: Api, owner: Staff) -> None:
    for first in (0, -1, 101):
        assert await api.error_code(LOGS, {"first": first}, token=owner.token) == "BAD_USER_INPUT", first
    for first in (1, 100):
        assert "errors" not in await api.post(LOGS, {"first": first}, token=owner.token), first


async def test_a_cursor_the_server_did_not_give_is_bad_user_input(api: Api, owner: Staff) -> None:
    some_id = str(uuid.uuid4())
    cursors: list[tuple[str, str]] = [
        ("not base64", "not a cursor"),
        ("empty", ""),
        ("one part", encode_cursor("nope")),
        ("three parts", encode_cursor("2026-01-01T00:00:00+00:00", some_id, "extra")),
        ("not a uuid", encode_cursor("2026-01-01T00:00:00+00:00", "not-a-uuid")),
        ("not a time", encode_cursor("yesterday", some_id)),
        ("a naive time", encode_cursor("2026-01-01T00:00:00", some_id)),
        ("before year 1 in UTC", encode_cursor("0001-01-01T00:00:00+01:00", some_id)),
        ("after year 9999 in UTC", encode_cursor("9999-12-31T23:59:59-01:00", some_id)),
    ]
    for case, after in cursors:
        body = await api.post(LOGS, {"first": 5, "after": after}, token=owner.token)

        codes = [error["extensions"]["code"] for error in body.get("errors", [])]
        assert codes == ["BAD_USER_INPUT"], f"{case}: {body}"


async def test_owners_managers_and_engineers_read_the_log(api: Api, owner: Staff) -> None:
    await enroll(api, owner.token)
    for role in (Role.OWNER, Role.MANAGER, Role.ENGINEER):
        reader = await api.user(role)

        entries = await read_log(api, reader.token)
        retention = await api.data(RETENTION, token=reader.token)

        assert [entry["action"] for entry in entries] == ["user.enroll"], role
        assert retention == {"logRetentionDays": 365}, role


async def test_a_product_manager_may_not_read_the_log(api: Api) -> None:
    product_manager = await api.user(Role.PRODUCT_MANAGER)

    assert await api.error_code(LOGS, {"first": 5}, token=product_manager.token) == "FORBIDDEN"


async def test_reading_the_log_needs_a_token(api: Api) -> None:
    assert await api.error_code(LOGS, {"first": 5}) == "UNAUTHENTICATED"
    assert await api.error_code(RETENTION) == "UNAUTHENTICATED"


async def test_reads_are_not_logged(api: Api, owner: Staff) -> None:
    product_manager, customer = await api.user(Role.PRODUCT_MANAGER), await api.user(Role.USER)
    reads: list[tuple[str, dict[str, Any] | None, str | None]] = [
        (LOGS, {"first": 5}, owner.token),
        (RETENTION, None, owner.token),
        ("{ me { id } }", None, owner.token),
        ("{ users(first: 5) { edges { node { id } } } }", None, owner.token),
        ("query($id: ID!) { user(id: $id) { id } }", {"id": customer.id}, product_manager.token),
        ("query($id: ID!) { pointsAccount(id: $id) { balance } }", {"id": customer.account_id}, owner.token),
    ]
    for query, variables, token in reads:
        await api.post(query, variables, token=token)

    assert await count_rows(api, log_entries) == 0
    assert await read_log(api, owner.token) == []


async def test_refused_reads_are_logged_as_denials(api: Api, owner: Staff) -> None:
    product_manager = await api.user(Role.PRODUCT_MANAGER)

    await api.post(LOGS, {"first": 5}, token=product_manager.token)
    await api.post(LOGS, {"first": 5})

    entries = await read_log(api, owner.token)
    assert [(e["action"], e["outcome"], e["actorId"]) for e in entries] == [
        ("query.logs", "DENIED", None),
        ("query.logs", "DENIED", product_manager.id),
    ]


# --- retention -----------------------------------------------------------------------------------


async def test_entries_are_kept_365_days_by_default(api: Api, owner: Staff) -> None:
    now = datetime.now(UTC)
    kept, expired = make_entry(now - timedelta(days=364)), make_entry(now - timedelta(days=366))
    await store(api, kept, expired)

    assert await api.data(RETENTION, token=owner.token) == {"logRetentionDays": 365}
    assert ids(await read_log(api, owner.token)) == [str(kept.id)]


async def test_only_an_owner_sets_the_retention(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)

    code = await api.error_code(SET_RETENTION, {"days": 30}, token=manager.token)
    entry = await only_entry(api, owner.token)

    assert code == "FORBIDDEN"
    assert await api.data(RETENTION, token=owner.token) == {"logRetentionDays": 365}
    assert (entry["action"], entry["outcome"], entry["actorId"]) == (
        "log.set_retention",
        "DENIED",
        manager.id,
    )


async def test_a_retention_outside_1_to_3650_days_is_refused(api: Api, owner: Staff) -> None:
    for days in (0, -1, 3651, 100_000):
        result = await payload(api, SET_RETENTION, {"days": days}, token=owner.token)

        assert result["logRetentionDays"] is None, days
        assert [(error["code"], error["field"]) for error in result["errors"]] == [("VALIDATION", "days")], (
            days
        )
    assert await api.data(RETENTION, token=owner.token) == {"logRetentionDays": 365}
    for days in (1, 3650):
        assert await payload(api, SET_RETENTION, {"days": days}, token=owner.token) == {
            "logRetentionDays": days,
            "errors": [],
        }


async def test_a_shorter_retention_hides_older_entries_at_once(api: Api, owner: Staff) -> None:
    now = datetime.now(UTC)
    old, recent = make_entry(now - timedelta(days=10)), make_entry(now - timedelta(days=1))
    await store(api, old, recent)
    assert str(old.id) in ids(await read_log(api, owner.token))

    await payload(api, SET_RETENTION, {"days": 5}, token=owner.token)
    shown = ids(await read_log(api, owner.token))

    assert str(old.id) not in shown
    assert str(recent.id) in shown
    assert await count_rows(api, log_entries, log_entries.c.id == old.id) == 1, "hidden, not yet purged"


async def test_purging_deletes_expired_entries_from_the_store(api: Api, owner: Staff) -> None:
    now = datetime.now(UTC)
    old, recent = make_entry(now - timedelta(days=10)), make_entry(now - timedelta(days=1))
    await store(api, old, recent)
    await payload(api, SET_RETENTION, {"days": 5}, token=owner.token)
    await api.services.shipper.drain()

    purged = await api.services.shipper.purge_expired()

    assert purged == 1
    assert await count_rows(api, log_entries, log_entries.c.id == old.id) == 0
    assert await count_rows(api, log_entries, log_entries.c.id == recent.id) == 1
    assert await count_rows(api, log_entries) == 2  # the recent entry and the retention change


# --- shipping ------------------------------------------------------------------------------------


async def test_an_entry_is_stored_with_its_change_without_the_outbox(api: Api, owner: Staff) -> None:
    enrolled = await enroll(api, owner.token)

    assert (await count_rows(api, log_outbox), await count_rows(api, log_entries)) == (0, 1)
    entry = await only_entry(api, owner.token)
    assert (entry["action"], entry["targetId"]) == ("user.enroll", enrolled["user"]["id"])


async def test_entries_left_in_the_outbox_wait_until_shipped(api: Api, owner: Staff) -> None:
    left = make_entry(recent_second())
    await leave_in_outbox(api, left)

    assert (await count_rows(api, log_outbox), await count_rows(api, log_entries)) == (1, 0)
    assert await read_log(api, owner.token) == []

    assert await api.services.shipper.drain() == 1
    assert (await count_rows(api, log_outbox), await count_rows(api, log_entries)) == (0, 1)
    assert ids(await read_log(api, owner.token)) == [str(left.id)]


async def test_draining_twice_ships_each_entry_once(api: Api, owner: Staff) -> None:
    await leave_in_outbox(api, make_entry(recent_second()), make_entry(recent_second()))

    shipped = [await api.services.shipper.drain(), await api.services.shipper.drain()]

    assert shipped == [2, 0]
    assert len(await read_log(api, owner.token)) == 2


async def test_a_batch_shipped_again_after_a_crash_is_stored_once(api: Api, owner: Staff) -> None:
    await leave_in_outbox(api, make_entry(recent_second()))
    async with api.services.db.read() as conn:
        waiting = [entry for _, entry in await outbox.oldest(conn, 100)]
    await store(api, *waiting)  # written to the store, then the shipper died before emptying the outbox

    await api.services.shipper.drain()

    assert await count_rows(api, log_entries) == 1
    assert ids(await read_log(api, owner.token)) == [str(waiting[0].id)]


async def test_the_same_entry_written_twice_is_stored_once(api: Api, owner: Staff) -> None:
    entry = make_entry(recent_second(), actor_email="twice@example.com")
    log_store = SqlLogStore(api.services.db)

    await log_store.write_batch([entry], retention_days=365)
    await log_store.write_batch([entry, entry], retention_days=365)

    assert await count_rows(api, log_entries) == 1
    assert ids(await read_log(api, owner.token)) == [str(entry.id)]
