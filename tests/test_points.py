"""Points accounts and the ledger: every change is one immutable row, and the ledger replays to the balance."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff

ADJUST = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    account { id balance }
    transaction { id action amount balanceAfter reason actorId idempotencyKey createdAt }
    errors { code field message }
  }
}"""
OPEN = """
mutation($userId: ID!, $program: String!) {
  openPointsAccount(userId: $userId, program: $program) {
    account { id program balance user { id } } errors { code field message }
  }
}"""
ACCOUNT = """
query($id: ID!, $first: Int, $after: String) {
  pointsAccount(id: $id) {
    id program balance createdAt user { id email }
    transactions(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id action amount balanceAfter } }
    }
  }
}"""
MAX_AMOUNT = 1_000_000_000
MAX_BALANCE = 1_000_000_000_000


async def adjust(
    api: Api, token: str, account_id: str, action: str, amount: int, **extra: Any
) -> dict[str, Any]:
    data = await api.data(
        ADJUST, {"input": {"accountId": account_id, "action": action, "amount": amount, **extra}}, token=token
    )
    return data["adjustPoints"]


def codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(error["code"], error["field"]) for error in payload["errors"]]


async def balance(api: Api, token: str, account_id: str) -> int:
    return (await api.data(ACCOUNT, {"id": account_id}, token=token))["pointsAccount"]["balance"]


@pytest.mark.parametrize(
    ("action", "amount", "expected"),
    [("ADD", 50, 150), ("DEDUCT", 30, 70), ("DEDUCT", 100, 0), ("OVERRIDE", 5, 5), ("OVERRIDE", 0, 0)],
)
async def test_each_action_moves_the_balance_and_writes_one_ledger_row(
    api: Api, owner: Staff, action: str, amount: int, expected: int
) -> None:
    ada = await api.user(Role.USER, points_balance=100)

    result = await adjust(api, owner.token, ada.account_id, action, amount, reason="goodwill")

    assert result["errors"] == []
    assert result["account"] == {"id": ada.account_id, "balance": expected}
    transaction = result["transaction"]
    assert (transaction["action"], transaction["amount"], transaction["balanceAfter"]) == (
        action,
        amount,
        expected,
    )
    assert (transaction["reason"], transaction["actorId"]) == ("goodwill", owner.id)
    assert transaction["createdAt"].endswith("+00:00")
    assert await balance(api, owner.token, ada.account_id) == expected


async def test_deducting_more_than_the_balance_is_refused_and_changes_nothing(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=10)

    result = await adjust(api, owner.token, ada.account_id, "DEDUCT", 11)

    assert codes(result) == [("INSUFFICIENT_POINTS", "input.amount")]
    assert result["account"] is None
    assert await balance(api, owner.token, ada.account_id) == 10


@pytest.mark.parametrize(
    ("action", "amount"), [("ADD", 0), ("ADD", -5), ("DEDUCT", 0), ("ADD", MAX_AMOUNT + 1)]
)
async def test_amounts_outside_1_to_a_billion_are_invalid(
    api: Api, owner: Staff, action: str, amount: int
) -> None:
    ada = await api.user(Role.USER, points_balance=10)

    result = await adjust(api, owner.token, ada.account_id, action, amount)

    assert codes(result) == [("VALIDATION", "input.amount")]
    assert await balance(api, owner.token, ada.account_id) == 10


async def test_override_cannot_go_negative(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=10)

    assert codes(await adjust(api, owner.token, ada.account_id, "OVERRIDE", -1)) == [
        ("VALIDATION", "input.amount")
    ]


async def test_no_balance_passes_a_trillion(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=MAX_BALANCE - 10)

    over_by_add = await adjust(api, owner.token, ada.account_id, "ADD", 11)
    over_by_override = await adjust(api, owner.token, ada.account_id, "OVERRIDE", MAX_BALANCE + 1)
    up_to_the_cap = await adjust(api, owner.token, ada.account_id, "ADD", 10)

    assert codes(over_by_add) == [("LIMIT_EXCEEDED", "input.amount")]
    assert codes(over_by_override) == [("LIMIT_EXCEEDED", "input.amount")]
    assert up_to_the_cap["account"]["balance"] == MAX_BALANCE


async def test_a_long_reason_is_invalid(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER)

    result = await adjust(api, owner.token, ada.account_id, "ADD", 1, reason="x" * 501)

    assert codes(result) == [("VALIDATION", "input.reason")]


async def test_a_missing_account_is_not_found(api: Api, owner: Staff) -> None:
    for account_id in ("00000000-0000-0000-0000-000000000000", "nope"):
        result = await adjust(api, owner.token, account_id, "ADD", 1)
        assert codes(result) == [("NOT_FOUND", "input.accountId")]


async def test_a_retry_with_the_same_key_returns_the_first_result(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=100)

    first = await adjust(api, owner.token, ada.account_id, "DEDUCT", 30, idempotencyKey="order-1")
    retry = await adjust(api, owner.token, ada.account_id, "DEDUCT", 30, idempotencyKey="order-1")

    assert retry["errors"] == []
    assert retry["transaction"] == first["transaction"]
    assert retry["transaction"]["idempotencyKey"] == "order-1"
    assert await balance(api, owner.token, ada.account_id) == 70


async def test_the_same_key_with_another_request_is_a_mismatch(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=100)
    await adjust(api, owner.token, ada.account_id, "DEDUCT", 30, idempotencyKey="order-1")

    result = await adjust(api, owner.token, ada.account_id, "DEDUCT", 31, idempotencyKey="order-1")

    assert codes(result) == [("IDEMPOTENCY_MISMATCH", "input.idempotencyKey")]
    assert await balance(api, owner.token, ada.account_id) == 70


async def test_a_failed_attempt_does_not_burn_its_key(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=10)
    refused = await adjust(api, owner.token, ada.account_id, "DEDUCT", 30, idempotencyKey="order-1")
    await adjust(api, owner.token, ada.account_id, "ADD", 50)

    retried = await adjust(api, owner.token, ada.account_id, "DEDUCT", 30, idempotencyKey="order-1")

    assert codes(refused) == [("INSUFFICIENT_POINTS", "input.amount")]
    assert retried["errors"] == []
    assert retried["account"]["balance"] == 30


async def test_keys_are_scoped_per_caller(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    ada = await api.user(Role.USER, points_balance=100)

    await adjust(api, owner.token, ada.account_id, "DEDUCT", 10, idempotencyKey="k")
    other = await adjust(api, manager.token, ada.account_id, "DEDUCT", 20, idempotencyKey="k")

    assert other["errors"] == []
    assert await balance(api, owner.token, ada.account_id) == 70


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_idempotency_key_is_1_to_255_characters(api: Api, owner: Staff, key: str) -> None:
    ada = await api.user(Role.USER)

    result = await adjust(api, owner.token, ada.account_id, "ADD", 1, idempotencyKey=key)

    assert codes(result) == [("VALIDATION", "input.idempotencyKey")]


async def test_the_ledger_reads_newest_first_in_pages_and_replays_to_the_balance(
    api: Api, owner: Staff
) -> None:
    ada = await api.user(Role.USER, points_balance=100)
    for action, amount in [("ADD", 5), ("DEDUCT", 20), ("OVERRIDE", 300), ("ADD", 7)]:
        await adjust(api, owner.token, ada.account_id, action, amount)

    first = (await api.data(ACCOUNT, {"id": ada.account_id, "first": 3}, token=owner.token))["pointsAccount"]
    after = first["transactions"]["pageInfo"]["endCursor"]
    rest = (await api.data(ACCOUNT, {"id": ada.account_id, "first": 3, "after": after}, token=owner.token))[
        "pointsAccount"
    ]

    rows = [e["node"] for e in first["transactions"]["edges"] + rest["transactions"]["edges"]]
    assert [(r["action"], r["amount"]) for r in rows] == [
        ("ADD", 7),
        ("OVERRIDE", 300),
        ("DEDUCT", 20),
        ("ADD", 5),
        ("OVERRIDE", 100),
    ]
    assert first["transactions"]["pageInfo"]["hasNextPage"] is True
    assert rest["transactions"]["pageInfo"]["hasNextPage"] is False
    assert replay(rows) == first["balance"] == 307


def replay(rows_newest_first: list[dict[str, Any]]) -> int:
    total = 0
    for row in reversed(rows_newest_first):
        if row["action"] == "ADD":
            total += row["amount"]
        elif row["action"] == "DEDUCT":
            total -= row["amount"]
        else:
            total = row["amount"]
        assert total == row["balanceAfter"]
    return total


async def test_a_points_account_reads_with_its_owner(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, email="ada@example.com")

    account = (await api.data(ACCOUNT, {"id": ada.account_id}, token=owner.token))["pointsAccount"]

    assert account["program"] == "default"
    assert account["user"] == {"id": ada.id, "email": "ada@example.com"}


async def test_an_account_opens_once_per_program(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER)

    opened = (await api.data(OPEN, {"userId": ada.id, "program": "airline"}, token=owner.token))[
        "openPointsAccount"
    ]
    again = (await api.data(OPEN, {"userId": ada.id, "program": "airline"}, token=owner.token))[
        "openPointsAccount"
    ]
    total = await api.data(
        "query($id: ID!) { user(id: $id) { pointsAccounts { program } } }", {"id": ada.id}, token=owner.token
    )

    assert opened["errors"] == []
    assert opened["account"]["program"] == "airline"
    assert opened["account"]["balance"] == 0
    assert opened["account"]["user"] == {"id": ada.id}
    assert codes(again) == [("CONFLICT", "program")]
    assert [a["program"] for a in total["user"]["pointsAccounts"]] == ["default", "airline"]


@pytest.mark.parametrize("program", ["", " ", "x" * 65, "air line", "café;drop"])
async def test_a_program_name_is_short_and_plain(api: Api, owner: Staff, program: str) -> None:
    ada = await api.user(Role.USER)

    result = (await api.data(OPEN, {"userId": ada.id, "program": program}, token=owner.token))[
        "openPointsAccount"
    ]

    assert codes(result) == [("VALIDATION", "program")]


async def test_opening_an_account_for_a_missing_user_is_not_found(api: Api, owner: Staff) -> None:
    result = (await api.data(OPEN, {"userId": "nope", "program": "airline"}, token=owner.token))[
        "openPointsAccount"
    ]

    assert codes(result) == [("NOT_FOUND", "userId")]


async def test_total_points_adds_up_every_account(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=40)
    opened = (await api.data(OPEN, {"userId": ada.id, "program": "airline"}, token=owner.token))[
        "openPointsAccount"
    ]
    await adjust(api, owner.token, opened["account"]["id"], "ADD", 2)

    data = await api.data(
        "query($id: ID!) { user(id: $id) { totalPoints } }", {"id": ada.id}, token=owner.token
    )

    assert data["user"]["totalPoints"] == 42
