"""Known operations run from compiled plans: the same answers as Strawberry's full path, bounded caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import ANY  # the cost in extensions, whatever it is

import httpx
import pytest
from graphql import parse

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.auth.tokens import TokenIssuer, load_signing_key
from loyalty.config import Settings
from loyalty.schema import build_schema
from loyalty.schema.documents import CACHE_ENTRIES, CACHE_TOKENS
from loyalty.schema.limits import Figures
from loyalty.schema.operations import KnownOperation, KnownOperations
from loyalty.schema.plans import Unsupported, compile_plan
from loyalty.services.container import Services
from tests.conftest import Api, Staff

# Each document is sent twice: the first answer comes from Strawberry's full path (which remembers
# the document), the second from the compiled plan. They must be the same, errors included.
DOCUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "aliases, fragments and __typename": (
        """query Q($id: ID!) {
             first: user(id: $id) { ...names __typename pointsAccounts { balance } }
             again: user(id: $id) { id ... on User { email } }
           }
           fragment names on User { firstName lastName role }""",
        {},
    ),
    "a variable nested in an input object": (
        "query S($s: String) { users(filter: {search: $s}, first: 5) { totalCount edges { node { id } } } }",
        {"s": "_"},
    ),
    "a literal argument and a page with ledgers": (
        """{ users(first: 3) { edges { cursor node { id totalPoints
             pointsAccounts { program transactions(first: 2) { edges { node { action amount } } } } } }
             pageInfo { hasNextPage endCursor } } }""",
        {},
    ),
    "a field the caller may not read (an error at its path)": (
        "{ logs(first: 2) { edges { node { id } } } me { email } }",
        {},
    ),
    "a JSON scalar": ("{ logs(first: 3) { edges { node { action outcome details } } } }", {}),
    "a bad variable": ("query U($id: ID!) { user(id: $id) { id } }", {"id": None}),
    "a mutation with a user error": (
        """mutation A($input: AdjustPointsInput!) {
             adjustPoints(input: $input) { account { balance } errors { code field message } } }""",
        {"input": {"accountId": "not-an-id", "action": "ADD", "amount": 5}},
    ),
}


@pytest.fixture
async def customer(api: Api) -> Staff:
    return await api.user(Role.USER, points_balance=40)


@pytest.mark.parametrize("case", DOCUMENTS)
async def test_a_plan_answers_as_the_full_path_does(
    api: Api, owner: Staff, customer: Staff, case: str
) -> None:
    query, variables = DOCUMENTS[case]
    variables = {"id": customer.id, **variables}
    token = (await api.user(Role.PRODUCT_MANAGER)).token if "may not read" in case else owner.token
    if case.startswith("a mutation"):
        variables = {"input": variables["input"]}
    elif "$id" not in query:
        variables.pop("id")

    if case == "a JSON scalar":  # something in the log, with details
        adjust = (
            'mutation { adjustPoints(input: {accountId: "%s", action: ADD, amount: 2}) { errors { code } } }'
        )
        assert await api.data(adjust % customer.account_id, token=owner.token)
    first = await api.post(query, variables, token=token)
    second = await api.post(query, variables, token=token)

    assert second == first
    assert "data" in first or "errors" in first


async def test_a_repeated_document_runs_from_its_plan(
    services: Services, settings: Settings, owner: Staff
) -> None:
    query = "{ me { id email } }"
    app = create_app(settings, services=services)
    known = app.state.schema.known_operations
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        headers = {"authorization": f"Bearer {owner.token}"}
        assert known.get((query, None)) is None
        first = await client.post("/graphql", json={"query": query}, headers=headers)
        remembered = known.get((query, None))
        second = await client.post("/graphql", json={"query": query}, headers=headers)

    assert remembered is not None
    assert remembered.plan is not None
    assert (
        second.json()
        == first.json()
        == {"data": {"me": {"id": owner.id, "email": owner.email}}, "extensions": ANY}
    )


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        "query Q($skip: Boolean!) { me @skip(if: $skip) { id } }",
    ],
)
def test_introspection_and_directives_are_left_to_graphql_core(query: str) -> None:
    with pytest.raises(Unsupported):
        compile_plan(build_schema()._schema, parse(query), None)


def test_the_caches_are_bounded(tmp_path: Path) -> None:
    schema = build_schema()
    assert (schema.documents.cache.maxsize, schema.documents.cache.max_total) == (CACHE_ENTRIES, CACHE_TOKENS)
    assert (schema.known_operations.maxsize, schema.known_operations.max_total) == (
        CACHE_ENTRIES,
        CACHE_TOKENS,
    )

    known = KnownOperations(maxsize=2)
    document = parse("{ me { id } }")
    figures = Figures(tokens=6, depth=2, aliases=0, root_fields=1)
    for name in ("a", "b", "c"):
        known.put(("{ me { id } }", name), KnownOperation(document, None, None, figures))  # type: ignore[arg-type]
    assert len(known) == 2
    assert known.get(("{ me { id } }", "a")) is None
    assert known.get(("{ me { id } }", "c")) is not None

    issuer = TokenIssuer(
        load_signing_key(None, tmp_path),
        issuer="https://testserver",
        access_ttl_seconds=60,
        verified_cache_size=2,
    )
    for subject in ("1", "2", "3"):
        issuer.verify_access_token(issuer.issue_access_token(subject))
    assert len(issuer.verified_tokens) == 2
