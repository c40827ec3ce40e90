"""Correct under concurrency: balances move atomically in SQL, races end in one well-defined answer."""

from __future__ import annotations

import asyncio
from collections import Counter

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff
from tests.test_points import ADJUST, replay

LEDGER = """
query($id: ID!, $after: String) {
  pointsAccount(id: $id) {
    balance
    transactions(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { action amount balanceAfter } }
    }
  }
}"""


async def whole_ledger(api: Api, token: str, account_id: str) -> tuple[int, list[dict]]:
    rows: list[dict] = []
    after = None
    while True:
        account = (await api.data(LEDGER, {"id": account_id, "after": after}, token=token))["pointsAccount"]
        rows += [edge["node"] for edge in account["transactions"]["edges"]]
        if not account["transactions"]["pageInfo"]["hasNextPage"]:
            return account["balance"], rows
        after = account["transactions"]["pageInfo"]["endCursor"]


async def test_200_concurrent_deducts_of_10_from_1000_leave_exactly_zero(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=1_000)
    deduct = {"input": {"accountId": ada.account_id, "action": "DEDUCT", "amount": 10}}

    results = await asyncio.gather(*(api.data(ADJUST, deduct, token=owner.token) for _ in range(200)))

    outcomes = Counter(
        result["adjustPoints"]["errors"][0]["code"] if result["adjustPoints"]["errors"] else "OK"
        for result in results
    )
    assert outcomes == {"OK": 100, "INSUFFICIENT_POINTS": 100}
    balance, rows = await whole_ledger(api, owner.token, ada.account_id)
    assert balance == 0
    assert len(rows) == 101  # the opening OVERRIDE and 100 deducts
    assert replay(rows) == balance
    assert sorted(r["balanceAfter"] for r in rows[:-1]) == list(range(0, 1_000, 10))


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(api: Api) -> None:
    alice, bob = await api.user(Role.OWNER), await api.user(Role.OWNER)
    update = (
        "mutation($id: ID!) { updateUser(id: $id, input: {role: MANAGER}) { user { id } errors { code } } }"
    )

    results = await asyncio.gather(
        api.post(update, {"id": bob.id}, token=alice.token),
        api.post(update, {"id": alice.id}, token=bob.token),
    )

    def outcome(body: dict) -> str:
        if "errors" in body:  # the loser was demoted before its own request was authorized
            return body["errors"][0]["extensions"]["code"]
        errors = body["data"]["updateUser"]["errors"]
        return errors[0]["code"] if errors else "OK"

    first, second = sorted(outcome(body) for body in results)
    assert (first, second) in {("LAST_OWNER", "OK"), ("FORBIDDEN", "OK")}
    owners = await api.data("{ users(filter: {role: OWNER}) { totalCount } }", token=alice.token)
    assert owners["users"]["totalCount"] == 1
