"""DataLoaders batch the reads of one request; a bad argument fails only the field that holds it."""

from __future__ import annotations

import uuid

import pytest

from loyalty.auth.permissions import Role
from loyalty.resolvers.context import Loaders
from tests.conftest import Api, Staff

TWO_LEDGERS = """
query Ledgers($bad: ID!, $good: ID!, $first: Int, $after: String) {
  bad: pointsAccount(id: $bad) { transactions(first: $first, after: $after) { pageInfo { hasNextPage } } }
  good: pointsAccount(id: $good) { transactions(first: 2) { edges { node { amount } } } }
}"""


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ({"first": 0}, "first must be between 1 and 100"),
        ({"first": 2, "after": "not-a-cursor"}, "after is not a cursor this server gave out"),
    ],
)
async def test_a_bad_page_of_one_ledger_fails_only_that_ledger_in_a_batch(
    api: Api, owner: Staff, page: dict[str, object], message: str
) -> None:
    bad = await api.user(Role.USER, points_balance=10)
    good = await api.user(Role.USER, points_balance=20)
    variables = {"bad": bad.account_id, "good": good.account_id, **page}

    # The first answer comes from graphql-core's executor, the second from the plan.
    answers = [await api.post(TWO_LEDGERS, variables, token=owner.token) for _ in range(2)]

    for body in answers:
        assert body["data"] == {"bad": None, "good": {"transactions": {"edges": [{"node": {"amount": 20}}]}}}
        assert [(error["message"], error["path"]) for error in body["errors"]] == [
            (message, ["bad", "transactions"])
        ]


async def test_a_load_cancelled_for_one_field_still_answers_the_others_waiting_for_it(
    api: Api, owner: Staff
) -> None:
    # graphql-core cancels what the siblings of a failed non-null field still wait for; another
    # field elsewhere may wait for the same user.
    loaders = Loaders(api.services)
    cancelled = loaders.user.load(uuid.UUID(owner.id))
    waiting = loaders.user.load(uuid.UUID(owner.id))

    cancelled.cancel()  # type: ignore[attr-defined]
    found = await waiting

    assert found is not None
    assert found.email == owner.email
