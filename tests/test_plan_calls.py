"""Plans call resolvers and coerce variables by shortcuts that must answer as the general path does.

A resolver with arguments is called as Strawberry's resolver calls it, its arguments converted as
Strawberry converts them; variables of a plain class are their own coerced values; a DataLoader keeps
primed values as they are. Each is held here to the general path it shortcuts.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from graphql import parse
from graphql.execution.values import get_variable_values
from strawberry.types import Info

from loyalty.auth.permissions import Role
from loyalty.resolvers.context import SharedLoader
from loyalty.schema import build_schema
from loyalty.schema.plans import _plain_variable_values, _plain_variables, _PlanInfo, _Request, compile_plan
from tests.conftest import Api
from tests.test_plans_differential import World, answer, both_paths, world  # noqa: F401 - the fixture

SCHEMA = build_schema()

PLAIN = """query P($id: ID!, $email: String, $on: Boolean!) {
  user(id: $id) { id } userByEmail(email: $email) { id } b: user(id: $id) { id }
}"""


class Text(str):
    pass


@pytest.mark.parametrize(
    ("inputs", "shortcut"),
    [
        ({"id": "x", "email": "a@b.c", "on": True}, True),
        ({"id": "x", "email": "a", "on": False, "extra": 1}, True),
        ({"id": "x", "email": None, "on": False}, False),  # a null
        ({"id": "x", "on": True}, False),  # a nullable variable left out
        ({"id": 7, "email": "a", "on": True}, False),  # an ID from a number
        ({"id": "x", "email": "a", "on": 1}, False),  # not a Boolean
        ({"id": Text("x"), "email": "a", "on": True}, False),  # a subclass
        ({"email": "a", "on": True}, False),  # a non-null variable missing
    ],
)
def test_plain_variables_coerce_as_get_variable_values(inputs: dict[str, Any], shortcut: bool) -> None:
    operation = parse(PLAIN).definitions[0]
    plain = _plain_variables(SCHEMA._schema, operation)  # type: ignore[arg-type]
    assert plain is not None

    fast = _plain_variable_values(plain, inputs)
    general = get_variable_values(SCHEMA._schema, operation.variable_definitions, inputs)  # type: ignore[attr-defined]

    assert (fast is not None) is shortcut
    if fast is not None:  # with the general coercion's answer
        assert not isinstance(general, list)
        assert fast.coerced == general.coerced
        assert {name: source.value for name, source in fast.sources.items()} == {
            name: source.value for name, source in general.sources.items()
        }
        assert all(type(fast.coerced[name]) is type(general.coerced[name]) for name in fast.coerced)


@pytest.mark.parametrize(
    "query",
    [
        "query A($n: Int!) { users(first: $n) { edges { cursor } } }",
        "query A($at: DateTime) { logs(filter: {since: $at}) { edges { cursor } } }",
        'query A($id: ID = "x") { user(id: $id) { id } }',
    ],
)
def test_variables_of_other_types_or_with_defaults_are_coerced_in_general(query: str) -> None:
    operation = parse(query).definitions[0]

    assert _plain_variables(SCHEMA._schema, operation) is None  # type: ignore[arg-type]


def test_every_root_query_field_of_the_scenarios_is_called_directly() -> None:
    for query in (
        "query U($id: ID!) { user(id: $id) { email } }",
        "{ users(first: 50) { edges { cursor } } }",
        "{ logs(first: 50) { edges { cursor } } }",
    ):
        plan = compile_plan(SCHEMA._schema, parse(query), None)

        assert [step.resolve.__qualname__ for step in plan.root.steps] == [
            "_Compiler._direct_call.<locals>.call"
        ]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ users(first: 2, filter: {role: USER}) { edges { node { role } } } }", None),
        ('{ users(first: 2, filter: {search: "  "}) { edges { node { role } } } }', None),
        (
            "query F($f: UserFilter) { users(first: 3, filter: $f) { edges { node { role } } } }",
            {"f": {"role": "OWNER"}},
        ),
        ("query F($f: UserFilter) { users(first: 3, filter: $f) { edges { node { role } } } }", {"f": None}),
        (
            '{ logs(first: 2, filter: {since: "2020-01-01T00:00:00Z", outcome: SUCCESS}) { edges { node { action } } } }',
            None,
        ),
        (
            "query L($f: LogFilter!) { logs(first: 2, filter: $f) { edges { node { action } } } }",
            {"f": {"search": "x"}},
        ),
        ("{ users(first: 0) { edges { cursor } } }", None),
        ('{ users(after: "junk") { edges { cursor } } }', None),
        ("{ approvalRequests(status: PENDING) { edges { cursor } } }", None),
    ],
)
async def test_converted_arguments_answer_alike_on_both_paths(
    world: World,  # noqa: F811 - the fixture imported above
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    for principal in world.callers.values():
        full, planned = await both_paths(SCHEMA, world.services, principal, query, variables)

        assert answer(planned) == answer(full)


async def _batch(keys: list[uuid.UUID]) -> list[str]:
    return [f"loaded {key}" for key in keys]


async def test_a_primed_value_is_handed_over_as_it_is_and_loads_as_primed() -> None:
    loader: SharedLoader[uuid.UUID, Any] = SharedLoader(load_fn=_batch)
    key, value = uuid.uuid4(), ["accounts"]

    loader.prime(key, value)

    assert loader.load_now(key) is value
    assert await loader.load(key) is value
    assert loader.load_now(key) is value  # now from the DataLoader's cache


async def test_priming_keeps_a_value_already_loaded_unless_forced() -> None:
    loader: SharedLoader[uuid.UUID, Any] = SharedLoader(load_fn=_batch)
    key = uuid.uuid4()
    loaded = await loader.load(key)

    loader.prime(key, "primed")
    kept = loader.load_now(key)
    loader.prime(key, "forced", force=True)

    assert kept == loaded == f"loaded {key}"
    assert loader.load_now(key) == "forced"
    assert await loader.load(key) == "forced"


async def test_priming_a_key_loaded_in_a_batch_not_yet_sent_settles_that_load() -> None:
    loader: SharedLoader[uuid.UUID, Any] = SharedLoader(load_fn=_batch)
    key, other = uuid.uuid4(), uuid.uuid4()
    pending = loader.load(key)
    waiting = loader.load(other)

    loader.prime(key, "primed")

    assert await pending == "primed"
    assert await waiting == f"loaded {other}"


async def test_a_cleared_primed_value_is_loaded_again() -> None:
    loader: SharedLoader[uuid.UUID, Any] = SharedLoader(load_fn=_batch)
    key, absent = uuid.uuid4(), uuid.uuid4()
    loader.prime(key, "primed")

    loader.clear(key)

    assert await loader.load(key) == f"loaded {key}"
    with pytest.raises(KeyError):  # as DataLoader's, for a key it does not hold
        loader.clear(absent)
    loader.prime_many({absent: "again"})
    loader.clear_all()
    assert asyncio.isfuture(loader.load_now(absent))


async def test_a_page_of_users_reads_their_accounts_from_the_listing(api: Api) -> None:
    owner = await api.user(Role.OWNER)
    await api.user(Role.USER, points_balance=12)
    query = "{ users(first: 5, filter: {role: USER}) { edges { node { pointsAccounts { balance } } } } }"

    answers = [await api.post(query, token=owner.token) for _ in range(2)]  # graphql-core, then the plan

    assert answers[0] == answers[1]
    assert answers[1]["data"]["users"]["edges"][0]["node"]["pointsAccounts"] == [{"balance": 12}]


async def test_a_value_primed_with_force_is_not_replaced_by_a_later_prime() -> None:
    loader: SharedLoader[uuid.UUID, Any] = SharedLoader(load_fn=_batch)
    forced, moved = uuid.uuid4(), uuid.uuid4()
    loader.prime(forced, "forced", force=True)
    loader.prime(moved, "first")
    await loader.load(moved)  # the primed value moves into DataLoader's cache

    loader.prime(forced, "later")
    loader.prime(moved, "later")

    assert loader.load_now(forced) == "forced"
    assert loader.load_now(moved) == "first"


def test_the_info_a_plan_hands_a_resolver_answers_as_strawberrys() -> None:
    query = "query U($id: ID!) { user(id: $id) { id pointsAccounts { id } } }"
    plan = compile_plan(SCHEMA._schema, parse(query), None)
    context = object()
    variables = _plain_variable_values(plan.plain_variables or (), {"id": "x"})
    assert variables is not None
    request = _Request(plan, SCHEMA._schema, context, variables, {"id": "x"})
    user = plan.root.steps[0].object_plan
    assert user is not None
    step = next(step for step in user.steps if step.key == "pointsAccounts")
    field = step.definition.extensions["strawberry-definition"]
    path = ((None, "user", "Query"), "pointsAccounts", "User")

    planned = _PlanInfo(request, step, path, field)
    strawberrys = Info(_raw_info=request.info(step, path), _field=field)

    assert isinstance(planned, Info)
    assert planned.context is strawberrys.context is context
    for name in ("field_name", "path", "return_type", "python_name", "variable_values", "operation"):
        assert getattr(planned, name) == getattr(strawberrys, name), name
    assert [selection.name for selection in planned.selected_fields] == ["pointsAccounts"]
    assert planned._raw_info.field_nodes == strawberrys._raw_info.field_nodes
