"""Root mutation fields run one after another, and each payload reads the data as its change left it."""

from __future__ import annotations

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff

ACCOUNT = (
    "account { balance user { totalPoints } transactions(first: 5) { edges { node { action amount } } } }"
)
TWO_ADJUSTMENTS = f"""
mutation Two($id: ID!) {{
  a: adjustPoints(input: {{accountId: $id, action: ADD, amount: 10}}) {{ {ACCOUNT} }}
  b: adjustPoints(input: {{accountId: $id, action: DEDUCT, amount: 3}}) {{ {ACCOUNT} }}
}}"""


def _account(balance: int, *ledger: tuple[str, int]) -> dict[str, object]:
    edges = [{"node": {"action": action, "amount": amount}} for action, amount in ledger]
    return {
        "account": {"balance": balance, "user": {"totalPoints": balance}, "transactions": {"edges": edges}}
    }


async def test_the_second_of_two_adjustments_shows_the_balance_and_ledger_after_it(
    api: Api, owner: Staff
) -> None:
    customer = await api.user(Role.USER, points_balance=50)

    # The first answer comes from graphql-core's executor, the second from the plan.
    first = await api.data(TWO_ADJUSTMENTS, {"id": customer.account_id}, token=owner.token)
    second = await api.data(TWO_ADJUSTMENTS, {"id": customer.account_id}, token=owner.token)

    set_up = ("OVERRIDE", 50)
    assert first == {
        "a": _account(60, ("ADD", 10), set_up),
        "b": _account(57, ("DEDUCT", 3), ("ADD", 10), set_up),
    }
    assert second == {
        "a": _account(67, ("ADD", 10), ("DEDUCT", 3), ("ADD", 10), set_up),
        "b": _account(64, ("DEDUCT", 3), ("ADD", 10), ("DEDUCT", 3), ("ADD", 10), set_up),
    }
