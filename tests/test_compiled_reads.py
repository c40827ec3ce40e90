"""Users read with their accounts in one statement answer as the DataLoader path does.

When a selection reads ``pointsAccounts`` or ``totalPoints`` under ``me``, ``user``, ``userByEmail``
or ``users``, the users come with their accounts in one statement, primed into the request's
``accounts_of_user`` loader (``loyalty.schema.query``). Here each document runs three ways for each
caller and target: from its plan, on graphql-core's executor, and from its plan with the accounts left
to the loader; all three answers must be the same, data and errors, so what a caller may read and how
a refusal reads cannot drift with the statement.
"""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import parse

from loyalty.auth.permissions import Role
from loyalty.auth.principal import Origin, Principal
from loyalty.datasources import points, users
from loyalty.resolvers import users as user_resolvers
from loyalty.resolvers.context import Context
from loyalty.schema import query as query_module
from loyalty.schema.plans import compile_plan
from loyalty.services.container import Services
from loyalty.services.errors import Forbidden
from tests.conftest import Api
from tests.test_plans_differential import SCHEMA, answer, both_paths

ACCOUNTS = "id program balance createdAt user { id }"
DOCUMENTS = {
    "user": f"query Q($id: ID!) {{ user(id: $id) {{ id role totalPoints pointsAccounts {{ {ACCOUNTS} }} }} }}",
    "userByEmail": f"query Q($email: String!) {{ userByEmail(email: $email) {{ id pointsAccounts {{ {ACCOUNTS} }} }} }}",
    "me": f"{{ me {{ id role totalPoints pointsAccounts {{ {ACCOUNTS} }} }} }}",
    "users": f"""{{ users(first: 10) {{
        edges {{ cursor node {{ id role pointsAccounts {{ {ACCOUNTS} }} }} }} pageInfo {{ hasNextPage }} }} }}""",
    "users, total points only": "{ users(first: 3) { edges { node { id totalPoints } } } }",
    "fragments": """query Q($id: ID!) { user(id: $id) { ...Owned } users(first: 10) { ...Listed } }
        fragment Owned on User { ... on User { pointsAccounts { id balance } } }
        fragment Listed on UserConnection { edges { node { ...Owned } } }""",
    "aliases": """query Q($id: ID!, $email: String!) {
        a: user(id: $id) { totalPoints } b: userByEmail(email: $email) { accounts: pointsAccounts { balance } } }""",
}
CALLERS = (
    "owner",
    "engineer",
    "product manager",
    "partner with users:read",
    "partner with users:read and points:read",
    "anonymous",
)
TARGETS = ("customer with two accounts", "customer without accounts", "deleted customer", "manager")


@dataclass
class Readers:
    services: Services
    callers: dict[str, Principal | None]
    targets: dict[str, tuple[str, str]]  # name: (id, email)


@pytest.fixture
async def readers(api: Api) -> Readers:
    services = api.services
    staff = {
        "owner": await api.user(Role.OWNER),
        "engineer": await api.user(Role.ENGINEER),
        "product manager": await api.user(Role.PRODUCT_MANAGER),
    }
    callers: dict[str, Principal | None] = {
        name: await services.principals.authenticate(member.token) for name, member in staff.items()
    }
    for name, scopes in (
        ("partner with users:read", ["users:read"]),
        ("partner with users:read and points:read", ["users:read", "points:read"]),
    ):
        created = await services.partners.create_client(name, scopes)
        client = await services.partners.find_active_client(created.client_id)
        assert client is not None
        token = services.partners.issue_token(client, created.scopes)["access_token"]
        callers[name] = await services.principals.authenticate(token)
    callers["anonymous"] = None

    two_accounts = await api.user(Role.USER, points_balance=30)
    deleted = await api.user(Role.USER, points_balance=20)
    manager = await api.user(Role.MANAGER, points_balance=10)
    enrolled = datetime.now(UTC) + timedelta(seconds=1)
    async with services.db.transaction() as conn:
        # Opened later than the first, and two at one instant: the order falls back to the id.
        for program in ("travel", "dining"):
            await points.insert_account(
                conn, user_id=uuid.UUID(two_accounts.id), program=program, now=enrolled
            )
        without = await users.insert_user(
            conn,
            email=f"none-{uuid.uuid4().hex[:8]}@example.com",
            first_name="No",
            last_name="Accounts",
            role=Role.USER,
            password_hash=None,
            now=enrolled,
        )
        await users.soft_delete_user(conn, uuid.UUID(deleted.id), now=enrolled)
    targets = {
        "customer with two accounts": (two_accounts.id, two_accounts.email),
        "customer without accounts": (str(without.id), without.email),
        "deleted customer": (deleted.id, deleted.email),
        "manager": (manager.id, manager.email),
    }
    return Readers(services, callers, targets)


def _variables(document: str, target: tuple[str, str]) -> dict[str, Any]:
    values = {"id": target[0], "email": target[1].upper()}  # any case
    return {name: value for name, value in values.items() if f"${name}:" in document}


async def _answers(readers: Readers, caller: str, document: str, target: tuple[str, str]) -> list[Any]:
    full, planned = await both_paths(
        SCHEMA, readers.services, readers.callers[caller], document, _variables(document, target)
    )
    return [answer(full), answer(planned)]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_reads_with_accounts_answer_as_the_loader_does_for_every_caller(
    readers: Readers, document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DOCUMENTS[document]
    found = []
    for caller in CALLERS:
        for target in TARGETS if "$" in text else TARGETS[:1]:
            with_accounts = await _answers(readers, caller, text, readers.targets[target])
            with monkeypatch.context() as patch:
                patch.setattr(query_module, "_selects_accounts", lambda *_args: False)
                from_loader = await _answers(readers, caller, text, readers.targets[target])
            if not with_accounts[0] == with_accounts[1] == from_loader[0] == from_loader[1]:
                found.append(
                    f"{caller} on {target}:\n  full: {with_accounts[0]}\n  plan: {with_accounts[1]}"
                    f"\n  loader: {from_loader[1]}"
                )

    assert found == [], "\n".join(found[:3])


async def test_the_accounts_come_in_their_order_with_the_user(readers: Readers) -> None:
    customer_id, _ = readers.targets["customer with two accounts"]
    document = DOCUMENTS["user"]

    full, planned = await both_paths(
        SCHEMA, readers.services, readers.callers["owner"], document, {"id": customer_id}
    )

    accounts = planned.data["user"]["pointsAccounts"]  # type: ignore[index]
    assert accounts[0]["program"] == "default"
    later = accounts[1:]
    assert [account["id"] for account in later] == sorted(account["id"] for account in later)
    assert planned.data["user"]["totalPoints"] == 30  # type: ignore[index]
    assert answer(full) == answer(planned)


async def test_a_product_manager_reads_a_customer_with_accounts_and_is_refused_their_own(
    readers: Readers,
) -> None:
    customer_id, _ = readers.targets["customer with two accounts"]
    document = (
        "query Q($id: ID!) { user(id: $id) { pointsAccounts { balance } } me { pointsAccounts { id } } }"
    )

    full, planned = await both_paths(
        SCHEMA, readers.services, readers.callers["product manager"], document, {"id": customer_id}
    )

    assert planned.data == {
        "user": {"pointsAccounts": [{"balance": 30}, {"balance": 0}, {"balance": 0}]},
        "me": None,
    }
    assert [(error.path, type(error.original_error)) for error in planned.errors or ()] == [
        (["me", "pointsAccounts"], Forbidden)
    ]
    assert answer(full) == answer(planned)


async def test_accounts_read_with_their_user_resolve_without_waiting(readers: Readers) -> None:
    customer_id, _ = readers.targets["customer with two accounts"]
    ctx = Context(services=readers.services, origin=Origin(), principal=readers.callers["owner"])

    customer = await user_resolvers.user(ctx, customer_id, with_accounts=True)
    assert customer is not None
    accounts = user_resolvers.points_accounts(ctx, customer)

    assert not inspect.isawaitable(accounts)
    assert [account.balance for account in accounts] == [30, 0, 0]  # type: ignore[union-attr]


async def test_accounts_not_asked_for_are_left_to_the_loader(readers: Readers) -> None:
    customer_id, _ = readers.targets["customer with two accounts"]
    ctx = Context(services=readers.services, origin=Origin(), principal=readers.callers["owner"])

    customer = await user_resolvers.user(ctx, customer_id)
    assert customer is not None

    assert inspect.isawaitable(user_resolvers.points_accounts(ctx, customer))


@pytest.mark.parametrize(
    ("caller", "target"),
    [("partner with users:read", "customer with two accounts"), ("product manager", "itself")],
)
async def test_accounts_are_not_read_for_a_caller_who_may_not_read_them(
    readers: Readers, caller: str, target: str
) -> None:
    principal = readers.callers[caller]
    assert principal is not None
    ctx = Context(services=readers.services, origin=Origin(), principal=principal)
    user_id = readers.targets[target][0] if target in readers.targets else str(ctx.staff().user_id)
    statements: list[str] = []
    readers.services.db.statement_hook = statements.append
    try:
        found = await user_resolvers.user(ctx, user_id, with_accounts=True)
    finally:
        readers.services.db.statement_hook = None

    assert found is not None
    assert ctx.loaders.accounts_of_user.cache_map.get(found.id) is None
    mentions = ["points_accounts" in statement for statement in statements]
    assert mentions == ([False] if caller.startswith("partner") else [True])  # the role is known after


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_reads_of_a_request_hold_one_connection_until_it_ends(readers: Readers) -> None:
    db = readers.services.db
    ctx = Context(services=readers.services, origin=Origin(), principal=readers.callers["owner"])
    document = """{ users(first: 2) {
        totalCount edges { node { id pointsAccounts { transactions { edges { cursor } } } } } } }"""
    statements: list[str] = []
    db.statement_hook = statements.append
    try:
        async with ctx.one_read_connection():
            plan = compile_plan(SCHEMA._schema, parse(document), None)
            result = await plan.run(SCHEMA._schema, variables=None, context=ctx)
            held = db.pool_use()["asyncpg"][0]
    finally:
        db.statement_hook = None

    assert result.errors is None
    assert len(statements) == 3  # the page with its accounts, the total, the ledgers
    assert held == 1  # the same one for each statement: see test_prepared
    assert db.pool_use()["asyncpg"][0] == 0
