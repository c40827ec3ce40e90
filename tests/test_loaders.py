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


SHARED_OWNER = """query Shared($id: ID!, $email: String!) {
  a: user(id: $id) { pointsAccounts { user { email } transactions(first: 0) { pageInfo { hasNextPage } } } }
  b: userByEmail(email: $email) { pointsAccounts { user { email } } }
}"""


async def test_a_field_cancelled_by_graphql_core_leaves_the_same_load_elsewhere_alone(
    api: Api, owner: Staff
) -> None:
    # Under ``a`` the ledger fails at once and graphql-core cancels its sibling ``user``, which waits
    # for the same user as ``b``'s. Distinct texts run on graphql-core each time (a repeat would
    # run from its plan), where the timing once let the cancellation through about half the time.
    customer = await api.user(Role.USER, points_balance=5)
    variables = {"id": customer.id, "email": customer.email}

    for spaces in range(6):
        body = await api.post(SHARED_OWNER + " " * spaces, variables, token=owner.token)

        assert body["data"] == {"a": None, "b": {"pointsAccounts": [{"user": {"email": customer.email}}]}}
        assert [error["path"] for error in body["errors"]] == [["a", "pointsAccounts", 0, "transactions"]]
