"""Limits before work: documents over a limit are refused with QUERY_TOO_COMPLEX before they are
validated or run, on every path; the cost of what is run comes back in ``extensions.cost``; the
documents kept are bounded by their tokens and never include a refused one."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any

import httpx
import pytest
from graphql import parse
from starlette.applications import Starlette

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.schema import build_schema
from loyalty.schema.documents import Documents
from loyalty.schema.limits import MAX_PAGE, QueryLimits, measure
from loyalty.services.container import Services
from tests.conftest import TEST_PASSWORD, Api, Staff

SCHEMA = build_schema()._schema
LIMITS = QueryLimits()
ONE_MB_OF_ME = "{ me {" + " id" * 340_000 + "} }"  # one root field: refused by its tokens


def cost(query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None) -> int:
    return measure(SCHEMA, parse(query), operation_name, LIMITS).cost.evaluate(variables)


def fan_out(levels: int) -> str:
    """Two aliases per level over User.pointsAccounts and PointsAccount.user, one fragment a level."""
    fragments = []
    for level in range(levels):
        on, field = ("User", "pointsAccounts") if level % 2 == 0 else ("PointsAccount", "user")
        inner = f"...L{level + 1}" if level + 1 < levels else "id"
        fragments.append(f"fragment L{level} on {on} {{ a: {field} {{ {inner} }} b: {field} {{ {inner} }} }}")
    return "{ users(first: 100) { edges { node { ...L0 } } } } " + " ".join(fragments)


# The cost function.


def test_an_object_weighs_one_and_a_scalar_nothing() -> None:
    assert cost("{ me { id email role } }") == 1
    assert cost("{ logRetentionDays }") == 0


def test_a_connection_counts_each_item_of_its_page() -> None:
    # The connection, then per item an edge and its node; pageInfo once.
    assert cost("{ users(first: 30) { totalCount edges { node { id } } pageInfo { hasNextPage } } }") == 62
    assert cost("{ users { edges { node { id } } } }") == 1 + 20 * 2  # the schema's default page, 20


def test_a_list_without_a_page_counts_as_five_items() -> None:
    assert cost("{ me { pointsAccounts { id } } }") == 1 + 5


def test_a_page_given_by_a_variable_is_counted_with_the_requests_value() -> None:
    query = "query Q($n: Int) { users(first: $n) { edges { node { id } } } }"
    assert cost(query, {"n": 100}) == 201
    assert cost(query, {"n": 3}) == 7
    assert cost(query, {}) == 41  # absent: the argument's default
    assert cost(query, {"n": 10**9}) == 1 + 2 * MAX_PAGE  # more than a page holds is refused anyway
    assert cost("query Q($n: Int = 5) { users(first: $n) { edges { node { id } } } }", {}) == 11


def test_mutations_weigh_and_signing_in_weighs_most() -> None:
    assert cost('mutation { signOut(refreshToken: "x") { ok } }') == 11
    many = " ".join(
        f's{n}: signIn(email: "a@example.com", password: "x") {{ accessToken }}' for n in range(50)
    )
    assert cost(f"mutation {{ {many} }}") > LIMITS.max_cost


def test_introspection_weighs_like_any_other_field() -> None:
    assert cost("{ __schema { types { name } } }") == 100 + 1 + 5
    assert cost('{ __type(name: "User") { fields { name } } }') == 1 + 5


def test_a_fragment_spread_many_times_is_counted_each_time_and_measured_once() -> None:
    # 40 levels of fragments each spreading the next twice: 2^40 objects, measured in 40 steps.
    fragments = " ".join(f"fragment F{n} on User {{ ...F{n + 1} ...F{n + 1} }}" for n in range(40))
    query = "{ me { ...F0 } } " + fragments + " fragment F40 on User { pointsAccounts { id } }"
    assert cost(query) == 1 + 2**40 * 5


def test_cyclic_and_unknown_fragments_are_left_to_validation() -> None:
    assert cost("{ me { ...A ...Missing } } fragment A on User { ...B } fragment B on User { ...A id }") == 1


def test_the_figures_of_the_fan_out() -> None:
    figures = measure(SCHEMA, parse(fan_out(8)), None, LIMITS)
    assert figures.aliases == 2 * (2**8 - 1)
    assert figures.cost.evaluate(None) > LIMITS.max_cost


def test_the_depth_is_not_walked_past_the_limit() -> None:
    query = "{ me " + "{ pointsAccounts { user " * 30 + "{ id }" + " } }" * 30 + " }"
    figures = measure(SCHEMA, parse(query, max_tokens=None), None, LIMITS)
    assert figures.depth == LIMITS.max_depth + 1


# Over HTTP.


@pytest.fixture
async def make_api(
    services: Services, settings: Settings
) -> AsyncIterator[Callable[..., tuple[Starlette, Api]]]:
    """An app with its own settings over the shared test database, and a client of it."""
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> tuple[Starlette, Api]:
        app = create_app(Settings(**settings.model_dump() | overrides), services=services)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return app, Api(client, services)

    yield make
    for client in clients:
        await client.aclose()


async def refusal(
    api: Api, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> str:
    body = await api.post(query, variables, token=token)
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    return error["message"]


async def test_a_one_megabyte_document_is_refused_by_its_tokens(api: Api) -> None:
    assert "more than 1000 tokens" in await refusal(api, ONE_MB_OF_ME)


@pytest.mark.parametrize(
    "document", [ONE_MB_OF_ME, "{" + " me" * 340_000 + "}", "{ me { id } " + "!" * 1_000_000]
)
async def test_a_refused_document_is_freed_when_its_request_ends_not_by_the_collector(
    api: Api, document: str
) -> None:
    """Nothing of ours is left in a reference cycle (which keeps the document until the collector runs)."""
    await api.post(document)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await api.post(document)
        gc.collect()
        ours = [
            item.f_code.co_qualname
            for item in gc.garbage
            if isinstance(item, FrameType) and "/loyalty/" in item.f_code.co_filename
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()

    assert ours == []


def test_root_fields_over_the_limit_are_refused_before_the_rest_is_read() -> None:
    admission = build_schema().admit("{" + " me" * 21 + " and then no GraphQL at all !", None, None)

    assert admission.refusal is not None
    assert admission.refusal.message == "The document has more than 20 root fields."


def test_aliases_over_the_limit_are_refused_before_the_rest_is_read() -> None:
    aliases = " ".join(f"a{n}: id" for n in range(31))
    admission = build_schema().admit("{ me { " + aliases + " and then no GraphQL at all !", None, None)

    assert admission.refusal is not None
    assert admission.refusal.message == "The document has more than 30 aliases."


def test_a_refused_document_sent_again_is_refused_without_being_parsed() -> None:
    schema = build_schema()
    parsed: list[str] = []
    parse = schema.documents.parse
    schema.documents.parse = lambda query: parsed.append(query) or parse(query)  # type: ignore[method-assign]
    fan_out_document = fan_out(9)

    first = schema.admit(fan_out_document, None, None)
    again = schema.admit(fan_out_document, None, None)

    assert first.refusal is not None
    assert again.refusal is not None
    assert again.refusal.message == first.refusal.message
    assert again.refusal.extensions == {"code": "QUERY_TOO_COMPLEX"}
    assert again.spend == first.spend
    assert len(parsed) == 1
    assert len(schema.documents.cache) == 0  # the document itself is not kept


def test_aliases_are_counted_per_operation_while_parsing() -> None:
    aliases = " ".join(f"a{n}: id" for n in range(20))
    document = f"query A {{ me {{ {aliases} }} }} query B {{ me {{ {aliases} }} }}"

    assert build_schema().admit(document, "A", None).refusal is None


@pytest.mark.parametrize("max_tokens", [1_000, 1_000_000])
async def test_two_thousand_aliases_of_users_are_refused(
    make_api: Callable[..., tuple[Starlette, Api]], owner: Staff, max_tokens: int
) -> None:
    _, api = make_api(max_tokens=max_tokens)
    aliases = " ".join(f"u{n}: users(first: 100) {{ edges {{ node {{ id }} }} }}" for n in range(2000))
    await refusal(api, f"{{ {aliases} }}", token=owner.token)


async def test_a_fan_out_over_accounts_and_their_users_is_refused(api: Api, owner: Staff) -> None:
    await refusal(api, fan_out(8), token=owner.token)


async def test_a_fan_out_is_refused_by_its_cost_when_aliases_are_allowed(
    make_api: Callable[..., tuple[Starlette, Api]], owner: Staff
) -> None:
    _, api = make_api(max_aliases=10_000)
    assert "over the limit of 20000" in await refusal(api, fan_out(8), token=owner.token)


async def test_three_hundred_aliased_schemas_are_refused_anonymously(api: Api) -> None:
    await refusal(api, "{ " + " ".join(f"s{n}: __schema {{ types {{ name }} }}" for n in range(300)) + " }")


async def test_fifty_aliased_sign_ins_are_refused_before_any_password_is_checked(
    api: Api, owner: Staff
) -> None:
    sign_ins = " ".join(
        f's{n}: signIn(email: "{owner.email}", password: "wrong {n}") {{ accessToken }}' for n in range(50)
    )
    await refusal(api, f"mutation {{ {sign_ins} }}")

    signed_in = await api.data(
        "mutation S($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken errors { code } } }",
        {"e": owner.email, "p": TEST_PASSWORD},
    )
    assert signed_in["signIn"]["errors"] == []
    await api.services.shipper.drain()
    logs = await api.data("{ logs { edges { node { action } } } }", token=owner.token)
    assert "auth.sign_in_failed" not in {edge["node"]["action"] for edge in logs["logs"]["edges"]}


FRAGMENTS_OF_ACCOUNTS = (
    "fragment A on User { pointsAccounts { id } } fragment B on User { pointsAccounts { id } }"
    " fragment C on User { pointsAccounts { id } }"
)
FRAGMENTS_OF_ID = (
    "fragment A on User { id __typename } fragment B on User { id __typename } fragment C on User { id }"
)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ me " + "{ pointsAccounts { user " * 8 + "{ id }" + " } }" * 8 + " }", "deep"),
        ("{ me { " + " ".join(f"m{n}: id" for n in range(31)) + " } }", "aliases"),
        ("{ " + " ".join(f"m{n}: logRetentionDays" for n in range(21)) + " }", "root fields"),
        ("{ me { " + " pointsAccounts { id }" * 4 + " } }", "more than 3 times"),
        (
            'mutation { signIn(email: "a@example.com", password: "x") { accessToken }'
            ' requestPasswordReset(email: "a@example.com") { ok } }',
            "more than 1 of acceptInvitation, changePassword, requestPasswordReset, resetPassword, signIn",
        ),
        (
            'mutation { ...S ... on Mutation { signIn(email: "b@example.com", password: "y") { accessToken } } }'
            ' fragment S on Mutation { signIn(email: "a@example.com", password: "x") { accessToken } }',
            "more than 1 of",
        ),
        (
            "{ me { ...A ...B ... on User { pointsAccounts { id } ...C } } } " + FRAGMENTS_OF_ACCOUNTS,
            "more than 3 times",
        ),
        (
            "{ me { id } } query Other { me " + "{ pointsAccounts { user " * 8 + "{ id }" + " } }" * 8 + " }",
            "deep",
        ),
    ],
)
async def test_each_limit_refuses_what_is_over_it(api: Api, owner: Staff, query: str, message: str) -> None:
    assert message in await refusal(api, query, token=owner.token)


async def test_leaves_repeated_by_fragments_are_not_refused(api: Api, owner: Staff) -> None:
    # What a code generator sends: every fragment asks for id and __typename again.
    query = "{ me { id __typename ...A ...B ... on User { id __typename ...C } } } " + FRAGMENTS_OF_ID

    body = await api.post(query, token=owner.token)

    assert "errors" not in body
    assert body["data"]["me"]["id"] == owner.id


async def test_the_cost_comes_back_with_the_answer(api: Api, owner: Staff) -> None:
    for _ in range(2):  # Strawberry's path, then the known operation's plan
        body = await api.post("{ me { id } }", token=owner.token)
        assert body["extensions"]["cost"] == {"requested": 1, "limit": LIMITS.max_cost}


async def test_a_known_operation_over_the_cost_with_its_variables_is_refused(
    make_api: Callable[..., tuple[Starlette, Api]], owner: Staff
) -> None:
    app, api = make_api()
    query = """query Q($n: Int) { users(first: $n) { edges { node {
                 pointsAccounts { transactions(first: 100) { edges { node { id } } } } } } } }"""
    for _ in range(2):
        assert (await api.post(query, {"n": 1}, token=owner.token))["extensions"]["cost"]["requested"] == 1013
    assert app.state.schema.known_operations.get((query, None)) is not None

    assert "costs 101201" in await refusal(api, query, {"n": 100}, token=owner.token)


def test_refused_documents_are_not_kept() -> None:
    schema = build_schema()
    schema.admit(ONE_MB_OF_ME, None, None)  # the first call's allocations out of the way
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(100):
            admission = schema.admit(ONE_MB_OF_ME[:-1] + f" x{n} }}", None, None)
            assert admission.refusal is not None
        del admission
        gc.collect()  # what is still held, not garbage awaiting the collector
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()

    assert len(schema.documents.cache) == 0
    assert schema.documents.cache.total == 0
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 100_000  # one such document parsed and kept took ~200 MB


async def test_documents_that_fail_validation_are_not_kept(
    make_api: Callable[..., tuple[Starlette, Api]],
) -> None:
    app, api = make_api()
    body = await api.post("{ nothing }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert len(app.state.schema.documents.cache) == 0


def test_the_documents_kept_are_bounded_by_their_tokens() -> None:
    documents = Documents(SCHEMA, LIMITS, max_tokens=60)
    for n in range(20):
        documents.admit(f"{{ a{n}: me {{ id }} }}", None)  # 8 tokens each
    assert documents.cache.total <= 60
    assert len(documents.cache) == 7
    assert documents.cache.get("{ a19: me { id } }") is not None


async def test_a_customer_page_of_the_console_is_well_within_the_limits(api: Api, owner: Staff) -> None:
    await api.user(Role.USER, points_balance=5)
    query = """{ users(first: 100) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { email totalPoints pointsAccounts { program balance
        transactions(first: 5) { edges { node { action amount balanceAfter createdAt } } } } } } } }"""
    body = await api.post(query, token=owner.token)
    assert "errors" not in body
    assert body["extensions"]["cost"]["requested"] < LIMITS.max_cost / 2


async def test_a_document_over_the_limits_run_directly_is_not_remembered() -> None:
    schema = build_schema()
    await schema.execute("{ me { " + " pointsAccounts { id }" * 4 + " } }")
    assert len(schema.known_operations) == 0
