"""Who may do what, through GraphQL over HTTP: the permission matrix for users and points.

Each table below is one row (operation) of the matrix in the specification, one test per role.
Allowed cells show the change by reading it back as an owner; denied cells show FORBIDDEN and
that nothing an owner can see changed. Cells marked "request" answer with a PENDING approval request,
and nothing changes until a checker approves it (tests/test_approvals.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff

OWNER, MANAGER, ENGINEER, PM, USER = (
    Role.OWNER,
    Role.MANAGER,
    Role.ENGINEER,
    Role.PRODUCT_MANAGER,
    Role.USER,
)
ALLOWED, FORBIDDEN, SELF_ACTION, REQUESTED = "ALLOWED", "FORBIDDEN", "SELF_ACTION", "REQUESTED"

USER_Q = "query($id: ID!) { user(id: $id) { id } }"
USER_BY_EMAIL_Q = "query($email: String!) { userByEmail(email: $email) { id } }"
ACCOUNT_Q = "query($id: ID!) { pointsAccount(id: $id) { id balance user { id } } }"
USERS_Q = "query($role: Role) { users(filter: {role: $role}, first: 100) { totalCount edges { node { id role } } } }"
ME_Q = "{ me { id role } }"
ENROLL_M = "mutation($input: EnrollUserInput!) { enrollUser(input: $input) { user { id role } errors { code field } } }"
UPDATE_M = "mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } errors { code field } } }"
DELETE_M = "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId errors { code field } } }"
OPEN_M = "mutation($userId: ID!, $program: String!) { openPointsAccount(userId: $userId, program: $program) { account { id } errors { code field } } }"
ADJUST_M = "mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { transaction { id } errors { code field } } }"

# All an owner can see: every user, their accounts, balances and ledger rows (the tests' accounts hold
# a few rows; 10 per account keeps the document within LOYALTY_MAX_COST, as 100 would not).
EVERYTHING_Q = """{ users(first: 100) { totalCount edges { node {
    id email firstName lastName role updatedAt
    pointsAccounts { id program balance transactions(first: 10) { edges { node { id action amount actorId } } } }
} } } }"""


async def caller(api: Api, owner: Staff, role: Role) -> Staff:
    """The staff member making a call: the ``owner`` fixture for OWNER, else a new one (no password needed)."""
    return owner if role is OWNER else await api.user(role, password=None)


async def everything(api: Api, owner: Staff) -> dict[str, Any]:
    return await api.data(EVERYTHING_Q, token=owner.token)


async def read_back(api: Api, owner: Staff, user_id: str) -> dict[str, Any] | None:
    """A user as an owner reads them, with their accounts and ledger."""
    query = """query($id: ID!) { user(id: $id) { id email firstName role
        pointsAccounts { program balance transactions { edges { node { action amount actorId } } } } } }"""
    return (await api.data(query, {"id": user_id}, token=owner.token))["user"]


def enrolment(role: Role) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "email": f"new-{role.value.lower()}@example.com",
        "firstName": "New",
        "lastName": "Person",
        "role": role.value,
    }
    return fields


def cell_id(cell: tuple[Any, ...]) -> str:
    """A test id from a table row: ``MANAGER-no-request-FORBIDDEN`` for (MANAGER, "– (request)", FORBIDDEN)."""
    words = " ".join(str(part).replace("–", "no").replace("(", "").replace(")", "") for part in cell)
    return "-".join(words.split())


# --- reading users and balances ----------------------------------------------------------------

READ_ROW = [(OWNER, "all"), (MANAGER, "all"), (ENGINEER, "all"), (PM, "customers only")]


async def look_up(api: Api, operation: str, target: Staff, reader: Staff) -> dict[str, Any] | None:
    if operation == "user":
        return (await api.data(USER_Q, {"id": target.id}, token=reader.token))["user"]
    if operation == "userByEmail":
        return (await api.data(USER_BY_EMAIL_Q, {"email": target.email}, token=reader.token))["userByEmail"]
    found = (await api.data(ACCOUNT_Q, {"id": target.account_id}, token=reader.token))["pointsAccount"]
    return None if found is None else {"id": found["user"]["id"]}


@pytest.mark.parametrize(("reader_role", "spec_cell"), READ_ROW, ids=map(cell_id, READ_ROW))
@pytest.mark.parametrize("operation", ["user", "userByEmail", "pointsAccount"])
async def test_looking_up_a_customer_and_a_staff_member_per_role(
    api: Api, owner: Staff, operation: str, reader_role: Role, spec_cell: str
) -> None:
    reader = await caller(api, owner, reader_role)
    customer = await api.user(USER)
    staff_member = await api.user(MANAGER, password=None)

    seen = [await look_up(api, operation, target, reader) for target in (customer, staff_member)]

    staff_seen = {"id": staff_member.id} if spec_cell == "all" else None
    assert seen == [{"id": customer.id}, staff_seen]


LIST_ROW = [
    (OWNER, "all", {OWNER, MANAGER, ENGINEER, PM, USER}),
    (MANAGER, "all", {OWNER, MANAGER, ENGINEER, PM, USER}),
    (ENGINEER, "all", {OWNER, MANAGER, ENGINEER, PM, USER}),
    (PM, "customers only", {USER}),
]


@pytest.mark.parametrize(
    ("reader_role", "spec_cell", "listed_roles"), LIST_ROW, ids=[cell_id(cell[:2]) for cell in LIST_ROW]
)
async def test_users_lists_the_roles_the_reader_may_see(
    api: Api, owner: Staff, reader_role: Role, spec_cell: str, listed_roles: set[Role]
) -> None:
    for role in (MANAGER, ENGINEER, PM, USER, USER):
        await api.user(role, password=None)
    reader = await caller(api, owner, reader_role)

    data = await api.data(USERS_Q, {"role": None}, token=reader.token)

    roles = [edge["node"]["role"] for edge in data["users"]["edges"]]
    assert set(roles) == {role.value for role in listed_roles}
    assert data["users"]["totalCount"] == len(roles)


async def test_product_manager_filtering_users_by_owner_role_gets_none(api: Api, owner: Staff) -> None:
    product_manager = await api.user(PM, password=None)
    await api.user(USER)

    data = await api.data(USERS_Q, {"role": "OWNER"}, token=product_manager.token)

    assert data["users"] == {"totalCount": 0, "edges": []}


async def test_product_manager_reads_themselves_through_me(api: Api) -> None:
    product_manager = await api.user(PM, password=None)

    data = await api.data(ME_Q, token=product_manager.token)

    assert data["me"] == {"id": product_manager.id, "role": "PRODUCT_MANAGER"}


# --- callers without a staff token -------------------------------------------------------------


def call_of(operation: str, customer: Staff) -> tuple[str, dict[str, Any]]:
    """A well-formed call of ``operation`` aimed at ``customer``."""
    adjustment = {"accountId": customer.account_id, "action": "ADD", "amount": 5}
    return {
        "user": (USER_Q, {"id": customer.id}),
        "userByEmail": (USER_BY_EMAIL_Q, {"email": customer.email}),
        "users": (USERS_Q, {"role": None}),
        "pointsAccount": (ACCOUNT_Q, {"id": customer.account_id}),
        "enrollUser": (ENROLL_M, {"input": enrolment(USER)}),
        "updateUser": (UPDATE_M, {"id": customer.id, "input": {"firstName": "Changed"}}),
        "deleteUser": (DELETE_M, {"id": customer.id}),
        "openPointsAccount": (OPEN_M, {"userId": customer.id, "program": "airline"}),
        "adjustPoints": (ADJUST_M, {"input": adjustment}),
    }[operation]


def token_of(api: Api, credential: str, customer: Staff) -> str | None:
    return api.services.tokens.issue_access_token(customer.id) if credential == "customer-token" else None


@pytest.mark.parametrize("operation", ["user", "userByEmail", "users", "pointsAccount"])
@pytest.mark.parametrize("credential", ["customer-token", "no-token"])
async def test_reading_without_a_staff_token_is_unauthenticated(
    api: Api, credential: str, operation: str
) -> None:
    customer = await api.user(USER, points_balance=10)
    query, variables = call_of(operation, customer)

    code = await api.error_code(query, variables, token=token_of(api, credential, customer))

    assert code == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "operation", ["enrollUser", "updateUser", "deleteUser", "openPointsAccount", "adjustPoints"]
)
@pytest.mark.parametrize("credential", ["customer-token", "no-token"])
async def test_changing_without_a_staff_token_is_unauthenticated_and_changes_nothing(
    api: Api, owner: Staff, credential: str, operation: str
) -> None:
    customer = await api.user(USER, points_balance=10)
    query, variables = call_of(operation, customer)
    before = await everything(api, owner)

    code = await api.error_code(query, variables, token=token_of(api, credential, customer))

    assert code == "UNAUTHENTICATED"
    assert await everything(api, owner) == before


# --- changing a customer, per role -------------------------------------------------------------

ENROL_ROW = [
    (OWNER, "yes", ALLOWED),
    (MANAGER, "yes", ALLOWED),
    (ENGINEER, "request", REQUESTED),
    (PM, "request", REQUESTED),
]
UPDATE_ROW = [
    (OWNER, "yes", ALLOWED),
    (MANAGER, "yes", ALLOWED),
    (ENGINEER, "request", REQUESTED),
    (PM, "–", FORBIDDEN),
]
DELETE_ROW = [
    (OWNER, "yes", ALLOWED),
    (MANAGER, "– (request)", REQUESTED),
    (ENGINEER, "–", FORBIDDEN),
    (PM, "–", FORBIDDEN),
]
POINTS_ROW = [
    (OWNER, "yes", ALLOWED),
    (MANAGER, "yes", ALLOWED),
    (ENGINEER, "request", REQUESTED),
    (PM, "–", FORBIDDEN),
]


async def proposes(api: Api, mutation: str, variables: dict[str, Any], token: str) -> None:
    """The mutation answers with a PENDING approval request instead of the change."""
    data = await api.data(
        mutation.replace("errors {", "approvalRequest { status } errors {"), variables, token=token
    )
    (payload,) = data.values()
    assert payload["errors"] == []
    assert payload["approvalRequest"] == {"status": "PENDING"}


async def attempt(
    api: Api, owner: Staff, actor: Staff, outcome: str, mutation: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """``actor`` makes the call of a matrix cell. A REQUESTED cell must answer with a PENDING approval
    request and a FORBIDDEN one with FORBIDDEN, and neither may change anything an owner can see; an
    ALLOWED call's data is returned for the test to read the change back (``{}`` for the others)."""
    if outcome == ALLOWED:
        return await api.data(mutation, variables, token=actor.token)
    before = await everything(api, owner)
    if outcome == REQUESTED:
        await proposes(api, mutation, variables, actor.token)
    else:
        assert await api.error_code(mutation, variables, token=actor.token) == FORBIDDEN
    assert await everything(api, owner) == before
    return {}


@pytest.mark.parametrize(("actor_role", "spec_cell", "outcome"), ENROL_ROW, ids=map(cell_id, ENROL_ROW))
async def test_enrolling_a_customer_per_role(
    api: Api, owner: Staff, actor_role: Role, spec_cell: str, outcome: str
) -> None:
    actor = await caller(api, owner, actor_role)
    fields = enrolment(USER)

    data = await attempt(api, owner, actor, outcome, ENROLL_M, {"input": fields})

    if outcome == ALLOWED:
        assert data["enrollUser"]["errors"] == []
        found = await api.data(USER_BY_EMAIL_Q, {"email": fields["email"]}, token=owner.token)
        assert found["userByEmail"] == {"id": data["enrollUser"]["user"]["id"]}


@pytest.mark.parametrize(("actor_role", "spec_cell", "outcome"), UPDATE_ROW, ids=map(cell_id, UPDATE_ROW))
async def test_renaming_a_customer_per_role(
    api: Api, owner: Staff, actor_role: Role, spec_cell: str, outcome: str
) -> None:
    actor = await caller(api, owner, actor_role)
    customer = await api.user(USER)
    variables = {"id": customer.id, "input": {"firstName": "Renamed"}}

    data = await attempt(api, owner, actor, outcome, UPDATE_M, variables)

    if outcome == ALLOWED:
        assert data["updateUser"]["errors"] == []
        found = await read_back(api, owner, customer.id)
        assert found is not None
        assert found["firstName"] == "Renamed"


@pytest.mark.parametrize(("actor_role", "spec_cell", "outcome"), DELETE_ROW, ids=map(cell_id, DELETE_ROW))
async def test_deleting_a_customer_per_role(
    api: Api, owner: Staff, actor_role: Role, spec_cell: str, outcome: str
) -> None:
    actor = await caller(api, owner, actor_role)
    customer = await api.user(USER)

    data = await attempt(api, owner, actor, outcome, DELETE_M, {"id": customer.id})

    if outcome == ALLOWED:
        assert data["deleteUser"] == {"deletedUserId": customer.id, "errors": []}
        assert await read_back(api, owner, customer.id) is None


@pytest.mark.parametrize(("actor_role", "spec_cell", "outcome"), POINTS_ROW, ids=map(cell_id, POINTS_ROW))
async def test_opening_a_points_account_for_a_customer_per_role(
    api: Api, owner: Staff, actor_role: Role, spec_cell: str, outcome: str
) -> None:
    actor = await caller(api, owner, actor_role)
    customer = await api.user(USER)
    variables = {"userId": customer.id, "program": "airline"}

    data = await attempt(api, owner, actor, outcome, OPEN_M, variables)

    if outcome == ALLOWED:
        assert data["openPointsAccount"]["errors"] == []
        found = await read_back(api, owner, customer.id)
        assert found is not None
        assert [account["program"] for account in found["pointsAccounts"]] == ["default", "airline"]


@pytest.mark.parametrize(("actor_role", "spec_cell", "outcome"), POINTS_ROW, ids=map(cell_id, POINTS_ROW))
async def test_adding_points_to_a_customer_per_role(
    api: Api, owner: Staff, actor_role: Role, spec_cell: str, outcome: str
) -> None:
    actor = await caller(api, owner, actor_role)
    customer = await api.user(USER, points_balance=100)
    variables = {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 10}}

    data = await attempt(api, owner, actor, outcome, ADJUST_M, variables)

    if outcome == ALLOWED:
        assert data["adjustPoints"]["errors"] == []
        found = await read_back(api, owner, customer.id)
        assert found is not None
        (account,) = found["pointsAccounts"]
        assert account["balance"] == 110
        newest = account["transactions"]["edges"][0]["node"]
        assert newest == {"action": "ADD", "amount": 10, "actorId": actor.id}


# --- the OWNER role: only an owner gives, takes or edits it -------------------------------------

STAFF_ENROLMENTS = [
    (OWNER, "enrols", OWNER, ALLOWED),
    (MANAGER, "enrols", OWNER, FORBIDDEN),
    (MANAGER, "enrols", MANAGER, ALLOWED),
]


@pytest.mark.parametrize(
    ("actor_role", "verb", "new_role", "outcome"), STAFF_ENROLMENTS, ids=map(cell_id, STAFF_ENROLMENTS)
)
async def test_only_an_owner_enrols_an_owner(
    api: Api, owner: Staff, actor_role: Role, verb: str, new_role: Role, outcome: str
) -> None:
    actor = await caller(api, owner, actor_role)
    fields = enrolment(new_role)

    data = await attempt(api, owner, actor, outcome, ENROLL_M, {"input": fields})

    if outcome == ALLOWED:
        assert data["enrollUser"]["errors"] == []
        found = await read_back(api, owner, data["enrollUser"]["user"]["id"])
        assert found is not None
        assert (found["email"], found["role"]) == (fields["email"], new_role.value)


STAFF_UPDATES = [
    (OWNER, "renames", OWNER, {"firstName": "Renamed"}, ALLOWED),  # another owner
    (MANAGER, "renames", OWNER, {"firstName": "Renamed"}, FORBIDDEN),
    (OWNER, "promotes", ENGINEER, {"role": "OWNER"}, ALLOWED),
    (MANAGER, "promotes", ENGINEER, {"role": "OWNER"}, FORBIDDEN),
    (MANAGER, "demotes", OWNER, {"role": "MANAGER"}, FORBIDDEN),
    (MANAGER, "promotes", USER, {"role": "MANAGER"}, ALLOWED),
    (MANAGER, "demotes", ENGINEER, {"role": "USER"}, ALLOWED),
]


@pytest.mark.parametrize(
    ("actor_role", "verb", "target_role", "change", "outcome"),
    STAFF_UPDATES,
    ids=[
        f"{actor}-{verb}-{target}-{'-'.join(change.values())}-{outcome}"
        for actor, verb, target, change, outcome in STAFF_UPDATES
    ],
)
async def test_only_an_owner_edits_an_owner_or_the_owner_role(
    api: Api,
    owner: Staff,
    actor_role: Role,
    verb: str,
    target_role: Role,
    change: dict[str, str],
    outcome: str,
) -> None:
    actor = await caller(api, owner, actor_role)
    target = await api.user(target_role, password=None)
    variables = {"id": target.id, "input": change}

    data = await attempt(api, owner, actor, outcome, UPDATE_M, variables)

    if outcome == ALLOWED:
        assert data["updateUser"]["errors"] == []
        found = await read_back(api, owner, target.id)
        assert found is not None
        assert {name: found[name] for name in change} == change


async def test_an_owner_demotes_another_owner_when_two_exist(api: Api, owner: Staff) -> None:
    other_owner = await api.user(OWNER, password=None)

    data = await api.data(UPDATE_M, {"id": other_owner.id, "input": {"role": "MANAGER"}}, token=owner.token)

    assert data["updateUser"]["errors"] == []
    owners = await api.data(USERS_Q, {"role": "OWNER"}, token=owner.token)
    assert owners["users"] == {"totalCount": 1, "edges": [{"node": {"id": owner.id, "role": "OWNER"}}]}


# --- acting on yourself ------------------------------------------------------------------------

OWN_ROLE_CHANGES = [
    (OWNER, MANAGER, SELF_ACTION),  # with another owner present, so it is not LAST_OWNER that stops it
    (MANAGER, ENGINEER, SELF_ACTION),
    (MANAGER, OWNER, FORBIDDEN),  # only an owner gives the OWNER role
]


@pytest.mark.parametrize(
    ("actor_role", "new_role", "outcome"), OWN_ROLE_CHANGES, ids=map(cell_id, OWN_ROLE_CHANGES)
)
async def test_nobody_changes_their_own_role(
    api: Api, owner: Staff, actor_role: Role, new_role: Role, outcome: str
) -> None:
    actor = await api.user(actor_role, password=None)
    variables = {"id": actor.id, "input": {"role": new_role.value}}
    before = await everything(api, owner)

    if outcome == SELF_ACTION:
        data = await api.data(UPDATE_M, variables, token=actor.token)
        assert data["updateUser"] == {"user": None, "errors": [{"code": "SELF_ACTION", "field": "id"}]}
    else:
        assert await api.error_code(UPDATE_M, variables, token=actor.token) == FORBIDDEN
    assert await everything(api, owner) == before


async def test_an_owner_cannot_delete_themselves(api: Api, owner: Staff) -> None:
    second_owner = await api.user(OWNER, password=None)
    before = await everything(api, owner)

    data = await api.data(DELETE_M, {"id": second_owner.id}, token=second_owner.token)

    assert data["deleteUser"] == {"deletedUserId": None, "errors": [{"code": "SELF_ACTION", "field": "id"}]}
    assert await everything(api, owner) == before
