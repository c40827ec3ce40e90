"""Generated GraphQL documents never break the server, whoever sends them, over real data.

hypothesis-graphql writes valid documents from the printed schema. The scalars come from strategies
that mix the ids, emails and tokens of seeded rows with junk and edge values (placeholders such as
``@@user:2@@``, replaced by the real values of the run), and some arguments travel as variables,
a few of those of the wrong type. Each document is sent twice by the same caller: the second time it
runs from its compiled plan (``loyalty.schema.plans``), a different executor from Strawberry's.

Every answer must be under 500, JSON, without an ``INTERNAL`` code and without a trace of the
server's insides (see ``tests.fuzzing``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta, timezone
from typing import Any

import graphql
import hypothesis_graphql
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.schema import build_schema
from tests.conftest import TEST_PASSWORD, Api
from tests.fuzzing import JSON_VALUES, assert_harmless, budget, codes_in, without_budgets
from tests.test_partners import ALL_SCOPES, partner

SDL = build_schema().as_str()
SCHEMA = graphql.build_schema(SDL)
QUERY_ROUNDS_BUDGET = 50  # rounds of 9 documents, each sent twice
MUTATION_ROUNDS_BUDGET = 40  # rounds of 13

# How many seeded values of each kind the strategies may point at (the seed holds at least these).
SEEDED = {"user": 8, "account": 6, "approval": 3, "log": 6, "email": 8}
PLACEHOLDER = re.compile(r"@@(\w+):(\d+)@@")
CALLERS = ("owner", "manager", "product_manager", "engineer", "partner", "narrow_partner", "anonymous")


# --- the seeded data ------------------------------------------------------------------------------


@dataclass(repr=False)  # its tokens and ids would bury a failure's report
class Seed:
    """What the generated documents are pointed at: ids and emails by kind, tokens by caller."""

    values: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str | None] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        """``text`` with every placeholder replaced by the seeded value it names."""

        def value(match: re.Match[str]) -> str:
            kind, index = match.group(1), int(match.group(2))
            if kind == "password":
                return TEST_PASSWORD
            choices = self.values[kind]
            return choices[index % len(choices)]

        return PLACEHOLDER.sub(value, text)

    def fill_values(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, list):
            return [self.fill_values(item) for item in value]
        if isinstance(value, dict):
            return {key: self.fill_values(item) for key, item in value.items()}
        return value


ENROLL = """mutation($input: EnrollUserInput!) {
  enrollUser(input: $input) { user { id pointsAccounts { id } } approvalRequest { id } errors { code } } }"""
ADJUST = """mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { transaction { id } approvalRequest { id } errors { code } } }"""
OPEN = """mutation($userId: ID!) {
  openPointsAccount(userId: $userId, program: "gold") { account { id } errors { code } } }"""
SIGN_IN = """mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { refreshToken errors { code } } }"""
APPROVE = "mutation($id: ID!) { approveRequest(id: $id) { errors { code } } }"
LOG_IDS = "{ logs(first: 20) { edges { node { id } } } }"


async def _seed(api: Api) -> Seed:
    """Callers of every kind; customers with ledgers; spare staff; approval requests; log entries."""
    owner = await api.user(Role.OWNER)
    callers = {role: await api.user(role) for role in (Role.MANAGER, Role.PRODUCT_MANAGER, Role.ENGINEER)}
    spare_staff = [await api.user(role) for role in (Role.OWNER, Role.MANAGER, Role.ENGINEER)]
    seed = Seed()
    seed.tokens = {
        "owner": owner.token,
        "manager": callers[Role.MANAGER].token,
        "product_manager": callers[Role.PRODUCT_MANAGER].token,
        "engineer": callers[Role.ENGINEER].token,
        "partner": (await partner(api, *ALL_SCOPES)).token,
        "narrow_partner": (await partner(api, "points:credit", name="Narrow")).token,
        "anonymous": None,
    }
    users, accounts, emails = [owner.id], [owner.account_id], [owner.email]
    for number in range(4):
        email = f"customer{number}@example.com"
        enrolled = await api.data(
            ENROLL,
            {"input": {"email": email, "firstName": "Ada", "lastName": f"L{number}", "initialPoints": 500}},
            token=owner.token,
        )
        user = enrolled["enrollUser"]["user"]
        account = user["pointsAccounts"][0]["id"]
        for action, amount in (("ADD", 40), ("DEDUCT", 25)):
            adjusted = await api.data(
                ADJUST,
                {
                    "input": {
                        "accountId": account,
                        "action": action,
                        "amount": amount,
                        "idempotencyKey": f"{email}-{action}",
                    }
                },
                token=owner.token,
            )
            assert adjusted["adjustPoints"]["errors"] == []
        users.append(user["id"])
        accounts.append(account)
        emails.append(email)
    gold = await api.data(OPEN, {"userId": users[1]}, token=owner.token)
    accounts.append(gold["openPointsAccount"]["account"]["id"])
    for staff in spare_staff:
        users.append(staff.id)
        accounts.append(staff.account_id)
        emails.append(staff.email)
    engineer = callers[Role.ENGINEER].token
    proposals = [
        (await api.data(ENROLL, {"input": {"email": "proposed@example.com", "firstName": "P", "lastName": "Q"}}, token=engineer))["enrollUser"],
        (await api.data(ADJUST, {"input": {"accountId": accounts[1], "action": "ADD", "amount": 7}}, token=engineer))["adjustPoints"],
        (await api.data(ADJUST, {"input": {"accountId": accounts[2], "action": "DEDUCT", "amount": 3}}, token=engineer))["adjustPoints"],
    ]  # fmt: skip
    approvals = [proposal["approvalRequest"]["id"] for proposal in proposals]
    assert (await api.data(APPROVE, {"id": approvals[0]}, token=owner.token))["approveRequest"][
        "errors"
    ] == []
    signed_in = await api.data(SIGN_IN, {"email": spare_staff[1].email, "password": TEST_PASSWORD})
    await api.post(SIGN_IN, {"email": owner.email, "password": "wrong"})
    logs = await api.data(LOG_IDS, token=owner.token)
    seed.values = {
        "user": users,
        "account": accounts,
        "approval": approvals,
        "log": [edge["node"]["id"] for edge in logs["logs"]["edges"]],
        "email": emails,
        "refresh": [signed_in["signIn"]["refreshToken"]],
    }
    for kind, needed in SEEDED.items():
        assert len(seed.values[kind]) >= needed, (kind, seed.values[kind])
    return seed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_budgets(settings)


@pytest.fixture
async def seed(api: Api) -> Seed:
    return await _seed(api)


# --- the scalars ----------------------------------------------------------------------------------


def _string(value: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=value)


def _int(value: int) -> graphql.IntValueNode:
    return graphql.IntValueNode(value=str(value))


def _seeded(kind: str) -> st.SearchStrategy[str]:
    return st.integers(0, SEEDED[kind] - 1).map(lambda index: f"@@{kind}:{index}@@")


# Strings that have broken parsers, collations and LIKE patterns elsewhere.
NASTY_STRINGS = (
    "",
    " ",
    "%",
    "_",
    "\\",
    "'",
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    "a" * 300,
    "é" * 70,
    "😀@example.com",
    "\u202eevil",
    "ADMIN@EXAMPLE.COM",
    "owner@example.com",
    "user.enroll",
    "points.adjust",
    "auth.sign_in",
    "default",
    "gold",
    "YXJyYXljb25uZWN0aW9uOjA=",  # what a base64 cursor looks like
)
TEXT = st.text(max_size=40)

IDS = st.one_of(
    st.sampled_from(["user", "account", "approval", "log"]).flatmap(_seeded),
    st.uuids().map(str),
    st.sampled_from(NASTY_STRINGS),
    TEXT,
).map(_string) | st.integers().map(_int)

STRINGS = st.one_of(
    st.one_of(_seeded("email"), st.just("@@password:0@@"), st.just("@@refresh:0@@")),
    st.sampled_from(NASTY_STRINGS),
    TEXT,
).map(_string)

INTS = st.one_of(st.integers(-2, 120), st.sampled_from([2**31 - 1, -(2**31), 1000, 3650, 3651])).map(_int)

LONGS = st.one_of(
    st.integers(1, 1000).map(_int),
    st.sampled_from([0, -1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**30]).map(_int),
    st.sampled_from(["12", "1.5"]).map(_string),
)

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30))])
DATETIMES = st.one_of(
    st.datetimes(timezones=OFFSETS).map(lambda moment: moment.isoformat()),  # valid
    st.datetimes().map(lambda moment: moment.isoformat()),  # naive
    st.sampled_from(
        ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00Z", "2026-01-01"]
    ),
    TEXT,
).map(_string)

SCALARS = {"ID": IDS, "String": STRINGS, "Int": INTS, "Long": LONGS, "DateTime": DATETIMES}

# --- documents with variables ---------------------------------------------------------------------


def _type_node(type_: graphql.GraphQLInputType) -> graphql.TypeNode:
    if isinstance(type_, graphql.GraphQLNonNull):
        return graphql.NonNullTypeNode(type=_type_node(type_.of_type))
    if isinstance(type_, graphql.GraphQLList):
        return graphql.ListTypeNode(type=_type_node(type_.of_type))
    return graphql.NamedTypeNode(name=graphql.NameNode(value=type_.name))


# Asked of every mutation, so the answers show (and the statistics count) the expected failures.
USER_ERRORS = graphql.parse("{ errors { code field message } }").definitions[0].selection_set.selections[0]


class _Rewrite(graphql.Visitor):
    """Moves some argument values into variables (``junk`` may swap a value for one of another type),
    and selects each mutation's user errors."""

    def __init__(self, type_info: graphql.TypeInfo, lift: Callable[[], bool], junk: Callable[[Any], Any]):
        super().__init__()
        self.type_info = type_info
        self.lift = lift
        self.junk = junk
        self.definitions: list[graphql.VariableDefinitionNode] = []
        self.values: dict[str, Any] = {}

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> graphql.ArgumentNode | None:
        argument = self.type_info.get_argument()
        if argument is None or not self.lift():
            return None
        variable = graphql.VariableNode(name=graphql.NameNode(value=f"v{len(self.definitions)}"))
        self.definitions.append(
            graphql.VariableDefinitionNode(variable=variable, type=_type_node(argument.type))
        )
        self.values[variable.name.value] = self.junk(graphql.value_from_ast_untyped(node.value))
        return graphql.ArgumentNode(name=node.name, value=variable)

    def leave_field(self, node: graphql.FieldNode, *_: Any) -> graphql.FieldNode | None:
        payload = graphql.get_named_type(self.type_info.get_type())
        if self.type_info.get_parent_type() is not SCHEMA.mutation_type or "errors" not in payload.fields:
            return None
        selections = node.selection_set.selections
        if any(selection.name.value == "errors" for selection in selections):
            return None
        return replace(node, selection_set=replace(node.selection_set, selections=(*selections, USER_ERRORS)))


@st.composite
def requests(
    draw: st.DrawFn, documents: st.SearchStrategy[graphql.DocumentNode]
) -> tuple[str, dict[str, Any]]:
    """A generated document and its variables, with placeholders for the seeded values."""
    document = draw(documents)
    type_info = graphql.TypeInfo(SCHEMA)
    moving = _Rewrite(
        type_info,
        lift=lambda: draw(st.booleans()),
        junk=lambda value: draw(st.one_of(st.just(value), st.just(value), st.just(value), JSON_VALUES)),
    )
    document = graphql.visit(document, graphql.TypeInfoVisitor(type_info, moving))
    if moving.definitions:
        operation = replace(document.definitions[0], variable_definitions=tuple(moving.definitions))
        document = replace(document, definitions=(operation, *document.definitions[1:]))
    return graphql.print_ast(document), moving.values


def _document(node: graphql.DocumentNode) -> graphql.DocumentNode:
    return node


Request = tuple[str, str, dict[str, Any]]  # caller, document, variables


def rounds(generate: Callable[..., st.SearchStrategy[graphql.DocumentNode]], root: graphql.GraphQLObjectType):
    """One document per root field, then one of several fields, each from a drawn caller.

    A round holds every root field because, drawing one document at a time, hypothesis-graphql
    and hypothesis's dislike of repeats leave some fields out: in 60 queries ``user`` never came.
    """
    options = {"custom_scalars": SCALARS, "print_ast": _document}
    documents = [generate(SDL, fields=[name], **options) for name in root.fields]
    documents.append(generate(SDL, **options))
    return st.tuples(
        *(
            st.tuples(st.sampled_from(CALLERS), requests(document)).map(lambda r: (r[0], *r[1]))
            for document in documents
        )
    )


QUERY_ROUNDS = rounds(hypothesis_graphql.queries, SCHEMA.query_type)
MUTATION_ROUNDS = rounds(hypothesis_graphql.mutations, SCHEMA.mutation_type)


# --- the tests ------------------------------------------------------------------------------------


async def send_twice(api: Api, seed: Seed, round_: tuple[Request, ...]) -> None:
    """Sends each document twice: first through Strawberry, then from its plan."""
    for caller, document, placeholders in round_:
        query, variables = seed.fill(document), seed.fill_values(placeholders)
        token = seed.tokens[caller]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        outcomes = []
        for attempt in ("first", "second"):
            response = await api.client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            sent = f"{attempt} time, as {caller}: {query}\nvariables: {variables}"
            outcomes.append(
                ", ".join(sorted(set(codes_in(assert_harmless(response, sent=sent))))) or "no error"
            )
        event(f"codes: {outcomes[0]}")  # shown by --hypothesis-show-statistics
        if outcomes[0] != outcomes[1]:
            event(f"codes changed from the first time to the second: {outcomes[0]} -> {outcomes[1]}")


@budget(QUERY_ROUNDS_BUDGET)
@given(round_=QUERY_ROUNDS)
async def test_generated_queries_are_answered_cleanly_by_every_caller(
    api: Api, seed: Seed, round_: tuple[Request, ...]
) -> None:
    await send_twice(api, seed, round_)


@budget(MUTATION_ROUNDS_BUDGET)
@given(round_=MUTATION_ROUNDS)
async def test_generated_mutations_are_answered_cleanly_by_every_caller(
    api: Api, seed: Seed, round_: tuple[Request, ...]
) -> None:
    await send_twice(api, seed, round_)
