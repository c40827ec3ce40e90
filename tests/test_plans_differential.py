"""Plans answer as graphql-core does: the same ``data`` and the same errors, on any document.

A known operation runs from its plan (``loyalty.schema.plans``), every other one on graphql-core's
executor through Strawberry's full path. Here each document runs on both paths with the same
variables and the same caller, and the answers are compared: documents generated from the schema
by hypothesis-graphql over seeded data for several callers, the same documents with each resolver
made to fail in turn, and the findings that once told the paths apart.

Errors are compared as sets (see ``answer``): both paths locate each error the same way, but they
may meet them in another order (the plan completes a level of the response at a time, graphql-core
a field with all it leads to), and the order of ``errors`` carries no meaning in a GraphQL response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import graphql
import pytest
from graphql import ExecutionResult, parse, validate
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries

from loyalty.auth.permissions import Role
from loyalty.auth.principal import Caller, Origin, Principal
from loyalty.resolvers import accounts, activity_log, approvals, points, sessions, users
from loyalty.resolvers.context import Context
from loyalty.schema import LoyaltySchema, build_schema
from loyalty.schema.plans import compile_plan
from loyalty.services.container import Services
from loyalty.services.points import Adjustment, PointsAction
from tests.conftest import Api

SCHEMA = build_schema()

# graphql-core cancels the siblings of a failed non-null field (``gather_with_cancel``); a sibling
# cancelled before its first step never awaits the coroutines it holds, which Python reports when
# it collects them. Those warnings are graphql-core's, not a difference between the paths.
pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <coroutine object:pytest.PytestUnraisableExceptionWarning"
    ),
]

# Stand-ins the generated documents hold, replaced by the seeded rows' ids once seeded.
CUSTOMER, OTHER_CUSTOMER, STAFF, ACCOUNT, OTHER_ACCOUNT, REQUEST, CUSTOMER_EMAIL = (
    f"@@{name}"
    for name in ("customer", "other_customer", "staff", "account", "other_account", "request", "email")
)
NOWHERE = str(uuid.UUID(int=7))
_IDS = [CUSTOMER, OTHER_CUSTOMER, STAFF, ACCOUNT, OTHER_ACCOUNT, REQUEST, NOWHERE, "not-an-id"]
_STRINGS = ["", "e", CUSTOMER_EMAIL, "points.adjust", "bad-cursor"]
_DATETIMES = ["2020-01-01T00:00:00Z", "2999-01-01T00:00:00+00:00"]
# Page sizes mostly within the limits (1 to 100), sometimes outside, so pages fail in every position.
_INTS = [1, 2, 5, 1, 2, 5, 0, 101]


def _strings(values: list[str]) -> st.SearchStrategy[graphql.StringValueNode]:
    return st.sampled_from(values).map(lambda value: graphql.StringValueNode(value=value))


SCALARS = {
    "ID": _strings(_IDS),
    "String": _strings(_STRINGS),
    "DateTime": _strings(_DATETIMES),
    "Int": st.sampled_from(_INTS).map(lambda value: graphql.IntValueNode(value=str(value))),
    "Long": st.sampled_from([0, 3, 10**12]).map(lambda value: graphql.IntValueNode(value=str(value))),
}
GENERATED_DOCUMENTS = 40
# Root fields that may be null: documents of these only keep partial data where an error nulls one.
NULLABLE_ROOT_FIELDS = ("me", "user", "userByEmail", "pointsAccount")


# Changes the callers below may not make: refused, they change nothing, so both paths meet the same
# rows (sign-ins are left out: failed ones count towards a lockout).
CHANGES = (
    "enrollUser",
    "updateUser",
    "deleteUser",
    "openPointsAccount",
    "adjustPoints",
    "setLogRetention",
    "approveRequest",
    "rejectRequest",
    "cancelRequest",
)
REFUSED_CALLERS = ("partner with users:read", "anonymous")


def generated_documents(
    count: int, fields: tuple[str, ...] | None = None, *, generate: Callable[..., Any] = queries
) -> list[str]:
    """``count`` query (or mutation) documents over the whole schema or ``fields`` of the root, the
    same ones on every run."""
    found: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(generate(SCHEMA._schema, fields=fields, custom_scalars=SCALARS))
    def collect(document: str) -> None:
        if document not in found:
            found.append(document)

    collect()
    return found


@dataclass
class World:
    """Seeded rows and the callers that read them; ``ids`` maps each stand-in to a row's id."""

    services: Services
    ids: dict[str, str]
    callers: dict[str, Principal | None]

    def document(self, text: str) -> str:
        for stand_in, value in self.ids.items():
            text = text.replace(stand_in, value)
        return text


@pytest.fixture
async def world(api: Api) -> World:
    services = api.services
    owner = await api.user(Role.OWNER)
    manager = await api.user(Role.MANAGER)
    engineer = await api.user(Role.ENGINEER)
    product_manager = await api.user(Role.PRODUCT_MANAGER)
    customer = await api.user(Role.USER, points_balance=300)
    other = await api.user(Role.USER, points_balance=40)
    principals = {
        name: await services.principals.authenticate(staff.token)
        for name, staff in (
            ("owner", owner),
            ("manager", manager),
            ("engineer", engineer),
            ("product manager", product_manager),
        )
    }
    as_owner = Caller(principals["owner"], Origin())
    for amount in (5, 7, 11):
        await services.points.adjust(
            as_owner, Adjustment(customer.account_id, PointsAction.ADD, amount, "seed", None)
        )
    proposal = await services.points.adjust(
        Caller(principals["engineer"], Origin()),
        Adjustment(other.account_id, PointsAction.DEDUCT, 3, "seed", None),
    )
    shop = await services.partners.create_client("Shop", ["users:read"])
    record = await services.partners.find_active_client(shop.client_id)
    assert record is not None
    partner_token = services.partners.issue_token(record, shop.scopes)["access_token"]
    callers: dict[str, Principal | None] = {
        "owner": principals["owner"],
        "product manager": principals["product manager"],
        "engineer": principals["engineer"],
        "partner with users:read": await services.principals.authenticate(partner_token),
        "anonymous": None,
    }
    ids = {
        CUSTOMER: customer.id,
        OTHER_CUSTOMER: other.id,
        STAFF: manager.id,
        ACCOUNT: customer.account_id,
        OTHER_ACCOUNT: other.account_id,
        REQUEST: str(proposal.id),  # type: ignore[union-attr]
        CUSTOMER_EMAIL: customer.email,
    }
    return World(services, ids, callers)


def _context(services: Services, principal: Principal | None) -> Context:
    return Context(services=services, origin=Origin(request_id="differential"), principal=principal)


def answer(result: ExecutionResult) -> tuple[Any, list[str], list[str]]:
    """What a client can hold both paths to: the data; each error that nulled its own field (its
    parent stands) with its message, path and locations; and the positions errors bubbled up to null.

    Where several failures race to null one position (a non-null field failing in several list
    items, or a sibling still under way when a null reaches the root), graphql-core reports the
    first to arrive and whatever siblings already in flight recorded before it: which ones is the
    event loop's timing, on graphql-core's side too, so only the nulled position is compared.
    """
    standing, bubbled = set(), set()
    for error in result.errors or ():
        path = error.path or []
        nulled = _topmost_null(result.data, path)
        if nulled == path:
            standing.add(json.dumps([error.message, path, error.formatted.get("locations")]))
        else:
            bubbled.add(json.dumps(nulled))
    return result.data, sorted(standing), sorted(bubbled)


def _topmost_null(data: Any, path: list[str | int]) -> list[str | int]:
    """The shortest part of ``path`` at which ``data`` holds null."""
    value = data
    for depth, key in enumerate(path):
        if value is None:
            return path[:depth]
        value = value[key]
    return path


async def both_paths(
    schema: LoyaltySchema,
    services: Services,
    principal: Principal | None,
    query: str,
    variables: dict[str, Any] | None = None,
) -> tuple[ExecutionResult, ExecutionResult]:
    """The answer of Strawberry's full path (graphql-core's executor), then the plan's."""
    document = parse(query)
    assert validate(schema._schema, document) == [], query
    full = await settled(
        schema.execute(query, variable_values=variables, context_value=_context(services, principal))
    )
    plan = compile_plan(schema._schema, document, None)
    planned = await settled(
        plan.run(schema._schema, variables=variables, context=_context(services, principal))
    )
    return full, planned


async def settled(execution: Awaitable[ExecutionResult]) -> ExecutionResult:
    """The result, once the tasks it left behind are done: graphql-core settles the siblings of a
    failed field in the background, which the next document (or the test's end) must not cut short."""
    before = asyncio.all_tasks()
    result = await execution
    if left := asyncio.all_tasks() - before:
        await asyncio.wait(left, timeout=5)
    return result


async def differences(world: World, documents: list[str], roles: Iterable[str] | None = None) -> list[str]:
    """Each document and caller (of ``roles``, else all) whose answers differ, with both answers."""
    found = []
    for text in documents:
        query = world.document(text)
        for role in roles or world.callers:
            principal = world.callers[role]
            full, planned = await both_paths(SCHEMA, world.services, principal, query)
            if answer(full) != answer(planned):
                found.append(f"{role}: {query}\n  full: {answer(full)}\n  plan: {answer(planned)}")
    return found


async def test_generated_documents_answer_alike_on_both_paths(world: World) -> None:
    documents = generated_documents(GENERATED_DOCUMENTS) + generated_documents(
        GENERATED_DOCUMENTS, NULLABLE_ROOT_FIELDS
    )

    found = await differences(world, documents)

    assert len(documents) >= GENERATED_DOCUMENTS * 3 // 2
    assert found == [], "\n".join(found[:5])


async def test_generated_refused_changes_answer_alike_on_both_paths(world: World) -> None:
    documents = generated_documents(GENERATED_DOCUMENTS // 2, CHANGES, generate=mutations)

    found = await differences(world, documents, REFUSED_CALLERS)

    assert len(documents) >= GENERATED_DOCUMENTS // 3
    assert found == [], "\n".join(found[:5])


# --- resolvers made to fail, one at a time -----------------------------------------------------------

# Every query resolver, in nullable positions (the root fields that may be null, and what is below
# them) and in non-null ones (fields of a page, which null all of ``data``).
NULLABLE_ROOTS = """
query Nullable($customer: ID!, $account: ID!, $email: String!) {
  me { id email totalPoints pointsAccounts { id balance } }
  user(id: $customer) {
    id email role enrolledAt totalPoints
    pointsAccounts {
      id balance user { id email }
      transactions(first: 2) { edges { node { id action amount balanceAfter } } pageInfo { hasNextPage } }
    }
  }
  userByEmail(email: $email) { id pointsAccounts { balance } }
  pointsAccount(id: $account) {
    balance user { email totalPoints } transactions { edges { cursor node { amount reason } } }
  }
}"""
PAGES = """
query Pages($customer: ID!) {
  logRetentionDays
  user(id: $customer) { totalPoints }
  users(first: 3) {
    totalCount
    edges { node { id email totalPoints pointsAccounts { balance transactions(first: 1) { edges { node { amount } } } } } }
    pageInfo { hasNextPage }
  }
  logs(first: 3) { edges { node { action outcome } } }
  approvalRequests { edges { node { id kind status } } }
}"""
# Mutations that change nothing (each input is refused), so both paths meet the same rows.
REFUSED_CHANGES = """
mutation Refused($account: ID!) {
  adjustPoints(input: {accountId: $account, action: ADD, amount: 0}) { account { balance } errors { code } }
  setLogRetention(days: 0) { logRetentionDays errors { code } }
  approveRequest(id: "not-an-id") { approvalRequest { id } errors { code } }
  signOut(refreshToken: "not-a-token") { ok }
}"""
RESOLVER_MODULES = (users, points, activity_log, approvals, sessions)


def resolvers() -> Iterator[tuple[Any, str, Callable[..., Any]]]:
    """Every resolver function the schema calls: (module, name, function)."""
    for module in RESOLVER_MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_"):
                yield module, name, function


def failing(function: Callable[..., Any], *, after_io: bool) -> Callable[..., Any]:
    """``function`` made to raise: a coroutine function at once or once the real one has done its
    I/O, a plain function at once."""
    error = RuntimeError(f"{function.__name__} failed")
    if not inspect.iscoroutinefunction(function):

        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise error

        return fail

    async def fail_async(*args: Any, **kwargs: Any) -> Any:
        if after_io:
            await function(*args, **kwargs)
        raise error

    return fail_async


async def answers_differ(world: World, query: str, variables: dict[str, Any], label: str) -> list[str]:
    full, planned = await both_paths(SCHEMA, world.services, world.callers["owner"], query, variables)
    if answer(full) == answer(planned):
        return []
    return [f"{label}:\n  full: {answer(full)}\n  plan: {answer(planned)}"]


def _variables(world: World, query: str) -> dict[str, Any]:
    values = {
        "customer": world.ids[CUSTOMER],
        "account": world.ids[ACCOUNT],
        "email": world.ids[CUSTOMER_EMAIL],
    }
    return {name: value for name, value in values.items() if f"${name}:" in query}


async def test_each_resolver_made_to_fail_fails_alike_on_both_paths(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    found: list[str] = []
    cases = 0
    for module, name, function in resolvers():
        for after_io in (False, True) if inspect.iscoroutinefunction(function) else (False,):
            with monkeypatch.context() as patch:
                patch.setattr(module, name, failing(function, after_io=after_io))
                for query in (NULLABLE_ROOTS, PAGES, REFUSED_CHANGES):
                    label = f"{name} fails{' after its I/O' if after_io else ''}: {query.split()[1]}"
                    found += await answers_differ(world, query, _variables(world, query), label)
                    cases += 1

    assert cases >= 3 * 30
    assert found == [], "\n".join(found[:5])


# Records with a value their type refuses: leaves read straight off a record fail as they complete.
BAD_RECORDS: dict[str, dict[str, Any]] = {
    "a null in a non-null leaf": {"email": None},
    "an enum value the enum lacks": {"role": "NOT_A_ROLE"},
    "a scalar that cannot be serialized": {"enrolled_at": "not a datetime"},
}


@pytest.mark.parametrize("service_method", ["get", "by_ids", "list"])
async def test_a_record_with_a_bad_value_fails_alike_on_both_paths(
    world: World, monkeypatch: pytest.MonkeyPatch, service_method: str
) -> None:
    found: list[str] = []
    real = getattr(world.services.users, service_method)
    for label, changes in BAD_RECORDS.items():

        def spoil(record: Any, changes: dict[str, Any] = changes) -> Any:
            return dataclasses.replace(record, **changes) if record is not None else None

        async def spoiled(*args: Any, **kwargs: Any) -> Any:
            found_records = await real(*args, **kwargs)
            if isinstance(found_records, list):
                return [spoil(record) for record in found_records]
            if hasattr(found_records, "items"):  # a page
                return dataclasses.replace(found_records, items=[spoil(r) for r in found_records.items])
            return spoil(found_records)

        with monkeypatch.context() as patch:
            patch.setattr(world.services.users, service_method, spoiled)
            for query in (NULLABLE_ROOTS, PAGES):
                found += await answers_differ(
                    world, query, _variables(world, query), f"{label}: {query.split()[1]}"
                )

    assert found == [], "\n".join(found[:5])


# --- findings that once told the paths apart ------------------------------------------------------


async def test_an_error_under_a_nullable_root_field_nulls_only_that_field(world: World) -> None:
    query = """query Q($id: ID!) {
      logRetentionDays
      pointsAccount(id: $id) { transactions(first: 0) { pageInfo { hasNextPage } } } }"""

    full, planned = await both_paths(
        SCHEMA, world.services, world.callers["owner"], query, {"id": world.ids[ACCOUNT]}
    )

    assert planned.data == {"logRetentionDays": 365, "pointsAccount": None}
    assert [(error.message, error.path) for error in planned.errors or ()] == [
        ("first must be between 1 and 100", ["pointsAccount", "transactions"])
    ]
    assert answer(planned) == answer(full)


async def test_errors_under_a_field_nulled_by_a_sibling_are_not_reported(world: World) -> None:
    # ``users`` fails at once and nulls all of data; graphql-core cancels ``me`` before its
    # accounts are refused, so that refusal is not reported.
    query = "{ me { pointsAccounts { id } } users(first: 0) { totalCount } }"

    full, planned = await both_paths(SCHEMA, world.services, world.callers["product manager"], query)

    assert planned.data is None
    assert [error.path for error in planned.errors or ()] == [["users"]]
    assert answer(planned) == answer(full)


# Accounts with a value their type refuses, deep in lists: in a page of users (where an error nulls
# all of ``data``) and under nullable root fields; handed over at once (the accounts came with their
# users) or by a resolver that waits.
BAD_ACCOUNTS: dict[str, Callable[[list[Any]], list[Any]]] = {
    "a null in a non-null leaf": lambda accounts: [dataclasses.replace(a, balance=None) for a in accounts],
    "a null in a list of non-null objects": lambda accounts: [*accounts, None],
    "an ID that cannot be serialized": lambda accounts: [dataclasses.replace(a, id=3.5j) for a in accounts],
    "a Long that cannot be serialized": lambda accounts: [
        dataclasses.replace(a, balance="many") for a in accounts
    ],
    "not a list": lambda _accounts: "accounts",  # type: ignore[return-value, arg-type]
}


@pytest.mark.parametrize("waits", [False, True], ids=["at once", "awaited"])
async def test_accounts_with_a_bad_value_fail_alike_on_both_paths(
    world: World, monkeypatch: pytest.MonkeyPatch, waits: bool
) -> None:
    found: list[str] = []
    real = users.points_accounts
    for label, spoil in BAD_ACCOUNTS.items():

        def spoiled(ctx: Context, owner: Any, spoil: Callable[[list[Any]], list[Any]] = spoil) -> Any:
            accounts = real(ctx, owner)
            if not waits and not inspect.isawaitable(accounts):
                return spoil(accounts)

            async def later() -> list[Any]:
                return spoil(await accounts if inspect.isawaitable(accounts) else accounts)

            return later()

        with monkeypatch.context() as patch:
            patch.setattr(users, "points_accounts", spoiled)
            for query in (NULLABLE_ROOTS, PAGES):
                found += await answers_differ(
                    world, query, _variables(world, query), f"{label}: {query.split()[1]}"
                )

    assert found == [], "\n".join(found[:5])


@pytest.mark.parametrize(
    "permission", [["users:read"], "not a permission"], ids=["cannot be hashed", "not in the enum"]
)
async def test_an_enum_read_off_a_record_with_a_bad_value_fails_alike_on_both_paths(
    world: World, monkeypatch: pytest.MonkeyPatch, permission: Any
) -> None:
    real = accounts.permissions

    def spoiled(user: Any) -> list[Any]:
        return [dataclasses.replace(grant, permission=permission) for grant in real(user)][:2]

    monkeypatch.setattr(accounts, "permissions", spoiled)
    query = "{ me { email permissions { access permission } } }"

    full, planned = await both_paths(SCHEMA, world.services, world.callers["owner"], query)

    # The error bubbles up to ``me``, where ``answer`` compares only what was nulled: the message too.
    assert answer(planned) == answer(full)
    assert {error.message for error in planned.errors or ()} == {error.message for error in full.errors or ()}
    assert "cannot represent value" in (planned.errors or [])[0].message
