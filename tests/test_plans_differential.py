"""Plans answer as graphql-core does: the same ``data`` and the same errors, on any document.

A known operation runs from its plan (``loyalty.schema.plans``), every other one on graphql-core's
executor through Strawberry's full path. Here each document runs on both paths with the same
variables and the same caller, and the answers are compared: documents generated from the schema
by hypothesis-graphql over seeded data for several callers, the same documents with each resolver
made to fail in turn, and the findings that once told the paths apart.

Errors are compared sorted by path: both paths locate each error the same way, but they may meet
them in another order (the plan completes a level of the response at a time, graphql-core a field
with all it leads to), and the order of ``errors`` carries no meaning in a GraphQL response.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import graphql
import pytest
from graphql import ExecutionResult, parse, validate
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries

from loyalty.auth.permissions import Role
from loyalty.auth.principal import Caller, Origin, Principal
from loyalty.resolvers.context import Context
from loyalty.schema import LoyaltySchema, build_schema
from loyalty.schema.plans import compile_plan
from loyalty.services.container import Services
from loyalty.services.points import Adjustment, PointsAction
from tests.conftest import Api

SCHEMA = build_schema()

# Stand-ins the generated documents hold, replaced by the seeded rows' ids once seeded.
CUSTOMER, OTHER_CUSTOMER, STAFF, ACCOUNT, OTHER_ACCOUNT, REQUEST, CUSTOMER_EMAIL = (
    f"@@{name}"
    for name in ("customer", "other_customer", "staff", "account", "other_account", "request", "email")
)
NOWHERE = str(uuid.UUID(int=7))
_IDS = [CUSTOMER, OTHER_CUSTOMER, STAFF, ACCOUNT, OTHER_ACCOUNT, REQUEST, NOWHERE, "not-an-id"]
_STRINGS = ["", "e", CUSTOMER_EMAIL, "points.adjust", "bad-cursor"]
_DATETIMES = ["2020-01-01T00:00:00Z", "2999-01-01T00:00:00+00:00"]
# Page sizes on both sides of the limits (1 to 100), so pages fail in every position.
_INTS = [0, 1, 2, 5, 101]


def _strings(values: list[str]) -> st.SearchStrategy[graphql.StringValueNode]:
    return st.sampled_from(values).map(lambda value: graphql.StringValueNode(value=value))


SCALARS = {
    "ID": _strings(_IDS),
    "String": _strings(_STRINGS),
    "DateTime": _strings(_DATETIMES),
    "Int": st.sampled_from(_INTS).map(lambda value: graphql.IntValueNode(value=str(value))),
}
GENERATED_DOCUMENTS = 80


def generated_documents(count: int) -> list[str]:
    """``count`` query documents over the whole schema, the same ones on every run."""
    found: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(queries(SCHEMA._schema, custom_scalars=SCALARS))
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


def answer(result: ExecutionResult) -> tuple[Any, list[dict[str, Any]]]:
    """What a client reads: the data, and each error's message, path and locations (by path)."""
    errors = [
        {"message": e.message, "path": e.path, "locations": e.formatted.get("locations")}
        for e in result.errors or ()
    ]
    return result.data, sorted(errors, key=lambda error: json.dumps(error, sort_keys=True))


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
    full = await schema.execute(query, variable_values=variables, context_value=_context(services, principal))
    plan = compile_plan(schema._schema, document, None)
    planned = await plan.run(schema._schema, variables=variables, context=_context(services, principal))
    return full, planned


async def differences(world: World, documents: list[str]) -> list[str]:
    """Each document and caller whose answers differ, with both answers."""
    found = []
    for text in documents:
        query = world.document(text)
        for role, principal in world.callers.items():
            full, planned = await both_paths(SCHEMA, world.services, principal, query)
            if answer(full) != answer(planned):
                found.append(f"{role}: {query}\n  full: {answer(full)}\n  plan: {answer(planned)}")
    return found


async def test_generated_documents_answer_alike_on_both_paths(world: World) -> None:
    documents = generated_documents(GENERATED_DOCUMENTS)

    found = await differences(world, documents)

    assert len(documents) >= GENERATED_DOCUMENTS * 3 // 4
    assert found == [], "\n".join(found[:5])
