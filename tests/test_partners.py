"""Partner clients: the client-credentials token endpoint, scopes instead of roles, idempotent retries.

A partner is an OAuth 2.0 client (RFC 6749 §4.4). It trades its id and secret at ``POST /oauth/token``
for a short-lived JWT carrying its scopes, and with it acts on customers (role USER) only, within
those scopes: ``users:read``, ``points:read``, ``points:credit`` (ADD), ``points:debit`` (DEDUCT).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet

from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources.tables import metadata, partner_clients, points_accounts, points_transactions
from loyalty.services.container import Services
from tests.conftest import Api, Staff, served
from tests.test_cli_and_server import cli_env, run_cli

TOKEN_PATH = "/oauth/token"
ISSUER = "https://testserver"
ALL_SCOPES = ("users:read", "points:read", "points:credit", "points:debit")
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}

USER_BY_EMAIL = "query($email: String!) { userByEmail(email: $email) { id role } }"
USER = "query($id: ID!) { user(id: $id) { id role } }"
ACCOUNT = "query($id: ID!) { pointsAccount(id: $id) { id balance } }"
ADJUST = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    transaction { id action amount actorId idempotencyKey }
    errors { code field message }
  }
}"""
LOGS = """
query($filter: LogFilter) {
  logs(filter: $filter, first: 100) {
    edges { node { action outcome actorId actorEmail actorRole targetType targetId details } }
  }
}"""


# --- helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partner:
    client_id: str
    secret: str
    token: str

    @property
    def actor_id(self) -> str:
        return f"client:{self.client_id}"


async def request_token(
    api: Api, form: dict[str, str], *, auth: tuple[str, str] | None = None
) -> httpx.Response:
    """A form-encoded POST to the token endpoint, as an OAuth 2.0 client library sends it."""
    return await api.client.post(TOKEN_PATH, data=form, auth=auth)


async def partner(api: Api, *scopes: str, name: str = "Shop") -> Partner:
    """A client holding ``scopes``, with a token for all of them got over HTTP."""
    client = await api.services.partners.create_client(name, scopes)
    response = await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, client.secret))
    assert response.status_code == 200, response.text
    return Partner(client.client_id, client.secret, response.json()["access_token"])


def all_scopes_but(scope: str) -> tuple[str, ...]:
    return tuple(held for held in ALL_SCOPES if held != scope)


async def adjust(
    api: Api, token: str, account_id: str, action: str, amount: int, **extra: Any
) -> dict[str, Any]:
    variables = {"input": {"accountId": account_id, "action": action, "amount": amount, **extra}}
    return (await api.data(ADJUST, variables, token=token))["adjustPoints"]


def codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(error["code"], error["field"]) for error in payload["errors"]]


async def balance_of(api: Api, account_id: str) -> int:
    async with api.services.db.read() as conn:
        balance = await conn.scalar(
            sa.select(points_accounts.c.balance).where(points_accounts.c.id == uuid.UUID(account_id))
        )
    return int(balance)


async def verified_claims(api: Api, token: str) -> dict[str, Any]:
    """The claims of ``token``, checked against the keys the server publishes."""
    jwks = (await api.client.get("/.well-known/jwks.json")).json()
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims


async def ledger_rows(api: Api, account_id: str) -> int:
    async with api.services.db.read() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(points_transactions)
            .where(points_transactions.c.account_id == uuid.UUID(account_id))
        )
    return int(count or 0)


def refusals(body: dict[str, Any]) -> list[tuple[str, list[str | int]]]:
    """(code, path) of each GraphQL error in a response."""
    return [(error["extensions"]["code"], error["path"]) for error in body.get("errors", [])]


async def logged(api: Api, owner: Staff, **log_filter: str) -> list[dict[str, Any]]:
    """The activity log entries matching ``log_filter`` once shipped, as an owner reads them."""
    await api.services.shipper.drain()
    data = await api.data(LOGS, {"filter": log_filter}, token=owner.token)
    return [edge["node"] for edge in data["logs"]["edges"]]


def assert_oauth_json(response: httpx.Response) -> None:
    """JSON, and never stored by a cache (RFC 6749 §5.1; decided here for every answer, errors too)."""
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("cache-control") == "no-store"


@pytest.fixture
async def customer(api: Api) -> Staff:
    return await api.user(Role.USER, points_balance=100)


@pytest.fixture
async def manager(api: Api) -> Staff:
    return await api.user(Role.MANAGER, points_balance=100)


# --- the token endpoint --------------------------------------------------------------------------


async def test_a_client_authenticated_with_http_basic_gets_a_bearer_token_for_every_scope_it_holds(
    api: Api,
) -> None:
    client = await api.services.partners.create_client("Shop", ["points:credit", "users:read"])

    response = await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, client.secret))

    assert response.status_code == 200, response.text
    assert_oauth_json(response)
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert set(body["scope"].split()) == {"points:credit", "users:read"}


async def test_a_client_may_send_its_id_and_secret_in_the_form_body(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["points:read"])

    response = await request_token(
        api, {**CLIENT_CREDENTIALS, "client_id": client.client_id, "client_secret": client.secret}
    )

    assert response.status_code == 200, response.text
    assert_oauth_json(response)
    assert response.json()["scope"] == "points:read"


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        ("users:read", {"users:read"}),
        ("points:credit points:debit", {"points:credit", "points:debit"}),
        ("points:debit users:read points:read points:credit", set(ALL_SCOPES)),
    ],
)
async def test_a_client_asking_some_of_its_scopes_is_granted_just_those(
    api: Api, asked: str, granted: set[str]
) -> None:
    client = await api.services.partners.create_client("Shop", ALL_SCOPES)

    response = await request_token(
        api, {**CLIENT_CREDENTIALS, "scope": asked}, auth=(client.client_id, client.secret)
    )

    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == granted
    claims = await verified_claims(api, response.json()["access_token"])
    assert set(claims["scope"].split()) == granted


# (form, credentials) from the client's id and secret; the client holds users:read and points:credit.
Request = Callable[[str, str], tuple[dict[str, str], tuple[str, str] | None]]


@pytest.mark.parametrize(
    ("make_request", "status", "error"),
    [
        pytest.param(
            lambda cid, secret: (CLIENT_CREDENTIALS, (cid, "not-the-secret")),
            401,
            "invalid_client",
            id="wrong secret over basic",
        ),
        pytest.param(
            lambda cid, secret: (
                {**CLIENT_CREDENTIALS, "client_id": cid, "client_secret": "not-the-secret"},
                None,
            ),
            401,
            "invalid_client",
            id="wrong secret in the body",
        ),
        pytest.param(
            lambda cid, secret: (CLIENT_CREDENTIALS, ("pc_nobody", secret)),
            401,
            "invalid_client",
            id="unknown client",
        ),
        pytest.param(
            lambda cid, secret: (CLIENT_CREDENTIALS, None), 401, "invalid_client", id="no credentials"
        ),
        pytest.param(
            lambda cid, secret: ({**CLIENT_CREDENTIALS, "client_id": cid}, None),
            401,
            "invalid_client",
            id="id without a secret",
        ),
        pytest.param(
            lambda cid, secret: ({**CLIENT_CREDENTIALS, "scope": "points:debit"}, (cid, secret)),
            400,
            "invalid_scope",
            id="a scope it does not hold",
        ),
        pytest.param(
            lambda cid, secret: ({**CLIENT_CREDENTIALS, "scope": "users:read points:debit"}, (cid, secret)),
            400,
            "invalid_scope",
            id="one held scope and one not",
        ),
        pytest.param(
            lambda cid, secret: ({**CLIENT_CREDENTIALS, "scope": "admin"}, (cid, secret)),
            400,
            "invalid_scope",
            id="an unknown scope",
        ),
        pytest.param(
            lambda cid, secret: (
                {"grant_type": "password", "username": "owner@example.com", "password": "x" * 12},
                (cid, secret),
            ),
            400,
            "unsupported_grant_type",
            id="password grant",
        ),
        pytest.param(
            lambda cid, secret: ({"grant_type": "authorization_code", "code": "abc"}, (cid, secret)),
            400,
            "unsupported_grant_type",
            id="authorization code grant",
        ),
    ],
)
async def test_a_refused_token_request_answers_with_its_oauth_error(
    api: Api, make_request: Request, status: int, error: str
) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read", "points:credit"])
    form, auth = make_request(client.client_id, client.secret)

    response = await request_token(api, form, auth=auth)

    assert response.status_code == status, response.text
    assert_oauth_json(response)
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


async def test_a_token_request_without_grant_type_is_an_invalid_request(api: Api) -> None:
    """RFC 6749 §5.2: a missing required parameter is ``invalid_request``; ``unsupported_grant_type``
    is for a grant type the server does not support, and a missing one is no grant type at all."""
    client = await api.services.partners.create_client("Shop", ["users:read"])

    response = await request_token(api, {"scope": "users:read"}, auth=(client.client_id, client.secret))

    assert response.status_code == 400, response.text
    assert_oauth_json(response)
    assert response.json()["error"] == "invalid_request"


async def test_a_client_failing_http_basic_authentication_is_told_the_scheme_to_use(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])

    response = await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, "not-the-secret"))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_disabled_client_gets_no_token(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])
    await api.services.partners.disable_client(client.client_id)

    response = await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, client.secret))

    assert response.status_code == 401, response.text
    assert_oauth_json(response)
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"grant_type=client_credentials&scope=\xff", 400, id="not UTF-8"),
        pytest.param(b"grant_type=client_credentials&scope=" + b"a" * (1024 * 1024), 413, id="over 1 MiB"),
    ],
)
async def test_a_malformed_token_request_is_an_invalid_request(api: Api, body: bytes, status: int) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])

    response = await api.client.post(
        TOKEN_PATH,
        content=body,
        auth=(client.client_id, client.secret),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == status, response.text
    assert response.json()["error"] == "invalid_request"
    assert_oauth_json(response)


async def test_the_client_secret_is_stored_only_as_a_digest(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])

    async with api.services.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(partner_clients).where(partner_clients.c.client_id == client.client_id)
            )
        ).one()

    stored = [str(value) for value in row]
    assert not any(client.secret in value for value in stored)
    assert row.secret_digest != client.secret
    assert len(row.secret_digest) >= 32  # a digest, not an empty placeholder


async def test_the_access_token_is_an_rs256_jwt_verifiable_with_the_published_keys(api: Api) -> None:
    client = await api.services.partners.create_client("Shop", ["points:credit", "users:read"])
    response = await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, client.secret))
    jwks = (await api.client.get("/.well-known/jwks.json")).json()

    token = jwt.decode(response.json()["access_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])

    assert token.header["alg"] == "RS256"
    assert token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert token.claims["iss"] == ISSUER
    assert token.claims["aud"] == "loyalty-api"
    assert token.claims["client_id"] == client.client_id
    assert set(token.claims["scope"].split()) == {"points:credit", "users:read"}
    assert token.claims["exp"] - token.claims["iat"] == 900


async def test_token_requests_granted_and_refused_are_in_the_activity_log(api: Api, owner: Staff) -> None:
    client = await api.services.partners.create_client("Shop", ["users:read"])
    await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, client.secret))
    await request_token(api, CLIENT_CREDENTIALS, auth=(client.client_id, "not-the-secret"))

    entries = await logged(api, owner, action="auth.client_token")

    granted, refused = sorted(entries, key=lambda entry: entry["outcome"] != "SUCCESS")
    assert granted["outcome"] == "SUCCESS"
    assert (granted["actorId"], granted["actorRole"]) == (f"client:{client.client_id}", "PARTNER")
    assert refused["outcome"] == "FAILED"
    assert refused["actorId"] is None
    assert refused["targetId"] == client.client_id
    assert refused["details"] == {"error": "invalid_client"}


# --- what a partner may read ---------------------------------------------------------------------

# field -> (query, the scope it needs, the variables naming a user's record)
READS: dict[str, tuple[str, str, Callable[[Staff], dict[str, str]]]] = {
    "userByEmail": (USER_BY_EMAIL, "users:read", lambda someone: {"email": someone.email}),
    "user": (USER, "users:read", lambda someone: {"id": someone.id}),
    "pointsAccount": (ACCOUNT, "points:read", lambda someone: {"id": someone.account_id}),
}


@pytest.mark.parametrize("field", list(READS))
async def test_a_partner_with_the_scope_reads_a_customer(api: Api, customer: Staff, field: str) -> None:
    query, scope, variables = READS[field]
    shop = await partner(api, scope)

    found = (await api.data(query, variables(customer), token=shop.token))[field]

    assert found is not None
    if field == "pointsAccount":
        assert found == {"id": customer.account_id, "balance": 100}
    else:
        assert found == {"id": customer.id, "role": "USER"}


@pytest.mark.parametrize("field", list(READS))
async def test_a_partner_with_the_scope_reads_a_staff_member_as_null(
    api: Api, manager: Staff, field: str
) -> None:
    query, scope, variables = READS[field]
    shop = await partner(api, scope)

    found = (await api.data(query, variables(manager), token=shop.token))[field]

    assert found is None


@pytest.mark.parametrize("field", list(READS))
async def test_a_partner_without_the_scope_is_forbidden_to_read(
    api: Api, customer: Staff, field: str
) -> None:
    query, scope, variables = READS[field]
    shop = await partner(api, *all_scopes_but(scope))

    assert await api.error_code(query, variables(customer), token=shop.token) == "FORBIDDEN"


@pytest.mark.parametrize(
    ("scope", "query", "variables", "path"),
    [
        pytest.param(
            "users:read",
            "query($id: ID!) { user(id: $id) { id pointsAccounts { balance } } }",
            lambda someone: {"id": someone.id},
            ["user", "pointsAccounts"],
            id="the balances of a user without points:read",
        ),
        pytest.param(
            "points:read",
            "query($id: ID!) { pointsAccount(id: $id) { balance user { email } } }",
            lambda someone: {"id": someone.account_id},
            ["pointsAccount", "user"],
            id="the owner of an account without users:read",
        ),
    ],
)
async def test_a_partner_is_forbidden_a_nested_field_that_needs_a_scope_it_lacks(
    api: Api,
    customer: Staff,
    scope: str,
    query: str,
    variables: Callable[[Staff], dict[str, str]],
    path: list[str],
) -> None:
    shop = await partner(api, scope)

    body = await api.post(query, variables(customer), token=shop.token)

    assert refusals(body) == [("FORBIDDEN", path)]


async def test_a_partner_with_users_read_and_points_read_reads_a_customers_balances(
    api: Api, customer: Staff
) -> None:
    shop = await partner(api, "users:read", "points:read")

    found = await api.data(
        "query($id: ID!) { user(id: $id) { pointsAccounts { id balance } totalPoints } }",
        {"id": customer.id},
        token=shop.token,
    )

    assert found["user"] == {
        "pointsAccounts": [{"id": customer.account_id, "balance": 100}],
        "totalPoints": 100,
    }


# --- what a partner may change -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "scope", "after"), [("ADD", "points:credit", 110), ("DEDUCT", "points:debit", 90)]
)
async def test_a_partner_with_the_scope_adjusts_a_customers_points(
    api: Api, customer: Staff, action: str, scope: str, after: int
) -> None:
    shop = await partner(api, scope)

    result = await adjust(api, shop.token, customer.account_id, action, 10, idempotencyKey="order-1")

    assert result["errors"] == []
    assert result["transaction"]["actorId"] == shop.actor_id
    assert result["transaction"]["idempotencyKey"] == "order-1"
    assert await balance_of(api, customer.account_id) == after


# What an adjustment's payload shows: the rules of the queries (points:read for balances and ledgers,
# users:read for users); the partner's own transaction is shown, but not its balanceAfter without
# points:read, since that is the balance.
ADJUST_SHOWING = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    account { id balance transactions { edges { node { actorId idempotencyKey } } } %s }
    transaction { id actorId idempotencyKey %s }
    errors { code }
  }
}"""


async def adjust_showing(
    api: Api,
    shop: Partner,
    customer: Staff,
    *,
    user: bool = False,
    balance_after: bool = False,
    key: str = "order-1",
) -> dict[str, Any]:
    query = ADJUST_SHOWING % ("user { email }" if user else "", "balanceAfter" if balance_after else "")
    change = {"accountId": customer.account_id, "action": "ADD", "amount": 10, "idempotencyKey": key}
    return await api.post(query, {"input": change}, token=shop.token)


async def test_a_partner_without_points_read_is_forbidden_the_account_in_its_adjustments_payload(
    api: Api, owner: Staff, customer: Staff
) -> None:
    await adjust(api, owner.token, customer.account_id, "ADD", 5, idempotencyKey="staff-secret-key")
    shop = await partner(api, "points:credit")

    body = await adjust_showing(api, shop, customer)

    assert refusals(body) == [("FORBIDDEN", ["adjustPoints", "account"])]
    assert body["data"]["adjustPoints"]["account"] is None
    transaction = body["data"]["adjustPoints"]["transaction"]
    assert (transaction["actorId"], transaction["idempotencyKey"]) == (shop.actor_id, "order-1")
    assert "staff-secret-key" not in str(body)
    assert owner.id not in str(body)
    assert await balance_of(api, customer.account_id) == 115


async def test_a_partner_without_points_read_is_forbidden_the_balance_after_its_own_transaction(
    api: Api, customer: Staff
) -> None:
    shop = await partner(api, "points:credit")

    for key in ("order-1", "order-2"):  # the second time, the document runs as a known operation
        body = await adjust_showing(api, shop, customer, balance_after=True, key=key)

        assert refusals(body) == [
            ("FORBIDDEN", ["adjustPoints", "account"]),
            ("FORBIDDEN", ["adjustPoints", "transaction", "balanceAfter"]),
        ]
        assert body["data"]["adjustPoints"] == {"account": None, "transaction": None, "errors": []}
    assert await balance_of(api, customer.account_id) == 120


async def test_a_partner_with_points_read_but_not_users_read_is_forbidden_the_owner_in_the_payload(
    api: Api, customer: Staff
) -> None:
    shop = await partner(api, "points:credit", "points:read")

    body = await adjust_showing(api, shop, customer, user=True, balance_after=True)

    assert refusals(body) == [("FORBIDDEN", ["adjustPoints", "account", "user"])]
    assert body["data"]["adjustPoints"]["transaction"]["balanceAfter"] == 110


async def test_a_partner_with_points_read_and_users_read_sees_the_whole_payload(
    api: Api, customer: Staff
) -> None:
    shop = await partner(api, "points:credit", "points:read", "users:read")

    body = await adjust_showing(api, shop, customer, user=True, balance_after=True)

    assert refusals(body) == []
    account = body["data"]["adjustPoints"]["account"]
    assert (account["balance"], account["user"]) == (110, {"email": customer.email})
    assert len(account["transactions"]["edges"]) == 2


@pytest.mark.parametrize(
    ("action", "scopes"),
    [
        pytest.param("ADD", all_scopes_but("points:credit"), id="ADD without points:credit"),
        pytest.param("DEDUCT", all_scopes_but("points:debit"), id="DEDUCT without points:debit"),
        pytest.param("OVERRIDE", ALL_SCOPES, id="OVERRIDE with every scope"),
    ],
)
async def test_a_partner_without_the_scope_is_forbidden_to_adjust_points(
    api: Api, customer: Staff, action: str, scopes: tuple[str, ...]
) -> None:
    shop = await partner(api, *scopes)
    variables = {
        "input": {"accountId": customer.account_id, "action": action, "amount": 10, "idempotencyKey": "k"}
    }

    assert await api.error_code(ADJUST, variables, token=shop.token) == "FORBIDDEN"
    assert await ledger_rows(api, customer.account_id) == 1  # the opening OVERRIDE only
    assert await balance_of(api, customer.account_id) == 100


@pytest.mark.parametrize("action", ["ADD", "DEDUCT"])
async def test_a_partner_adjusting_a_staff_members_account_finds_no_such_account(
    api: Api, manager: Staff, action: str
) -> None:
    shop = await partner(api, *ALL_SCOPES)

    result = await adjust(api, shop.token, manager.account_id, action, 10, idempotencyKey="k")

    assert codes(result) == [("NOT_FOUND", "input.accountId")]
    assert await balance_of(api, manager.account_id) == 100


# operation -> (document, variables from the customer); a partner holding every scope is refused all.
STAFF_ONLY: dict[str, tuple[str, Callable[[Staff], dict[str, Any] | None]]] = {
    "me": ("{ me { id } }", lambda _: None),
    "users": ("{ users { totalCount } }", lambda _: None),
    "logs": ("{ logs { edges { cursor } } }", lambda _: None),
    "logRetentionDays": ("{ logRetentionDays }", lambda _: None),
    "enrollUser": (
        "mutation($input: EnrollUserInput!) { enrollUser(input: $input) { user { id } errors { code } } }",
        lambda _: {"input": {"email": "new@example.com", "firstName": "New", "lastName": "Customer"}},
    ),
    "updateUser": (
        'mutation($id: ID!) { updateUser(id: $id, input: {firstName: "Eve"}) { user { id } errors { code } } }',
        lambda someone: {"id": someone.id},
    ),
    "deleteUser": (
        "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId errors { code } } }",
        lambda someone: {"id": someone.id},
    ),
    "openPointsAccount": (
        'mutation($id: ID!) { openPointsAccount(userId: $id, program: "travel") { account { id } errors { code } } }',
        lambda someone: {"id": someone.id},
    ),
    "setLogRetention": (
        "mutation { setLogRetention(days: 30) { logRetentionDays errors { code } } }",
        lambda _: None,
    ),
}


@pytest.mark.parametrize("operation", list(STAFF_ONLY))
async def test_a_partner_with_every_scope_is_forbidden_everything_else(
    api: Api, owner: Staff, customer: Staff, operation: str
) -> None:
    document, variables = STAFF_ONLY[operation]
    shop = await partner(api, *ALL_SCOPES)

    assert await api.error_code(document, variables(customer), token=shop.token) == "FORBIDDEN"
    unchanged = await api.data(
        "query($id: ID!) { user(id: $id) { firstName pointsAccounts { program } } }",
        {"id": customer.id},
        token=owner.token,
    )
    assert unchanged["user"] == {"firstName": "Test", "pointsAccounts": [{"program": "default"}]}
    assert (await api.data("{ users { totalCount } }", token=owner.token))["users"]["totalCount"] == 2
    assert (await api.data("{ logRetentionDays }", token=owner.token))["logRetentionDays"] == 365


# --- idempotency ---------------------------------------------------------------------------------


async def test_a_partner_must_send_an_idempotency_key(api: Api, customer: Staff) -> None:
    shop = await partner(api, "points:credit")

    result = await adjust(api, shop.token, customer.account_id, "ADD", 10)

    assert codes(result) == [("VALIDATION", "input.idempotencyKey")]
    assert await balance_of(api, customer.account_id) == 100


async def test_a_partners_retry_with_the_same_key_returns_the_first_transaction(
    api: Api, customer: Staff
) -> None:
    shop = await partner(api, "points:credit")

    first = await adjust(api, shop.token, customer.account_id, "ADD", 10, idempotencyKey="order-7")
    retry = await adjust(api, shop.token, customer.account_id, "ADD", 10, idempotencyKey="order-7")

    assert first["errors"] == retry["errors"] == []
    assert retry["transaction"]["id"] == first["transaction"]["id"]
    assert await ledger_rows(api, customer.account_id) == 2  # the opening OVERRIDE and one ADD
    assert await balance_of(api, customer.account_id) == 110


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"amount": 11}, id="another amount"),
        pytest.param({"action": "DEDUCT"}, id="another action"),
        pytest.param({"reason": "another order"}, id="another reason"),
        pytest.param({"account": "other"}, id="another account"),
    ],
)
async def test_a_partner_reusing_a_key_for_another_change_gets_idempotency_mismatch(
    api: Api, customer: Staff, other: dict[str, Any]
) -> None:
    shop = await partner(api, "points:credit", "points:debit")
    another_customer = await api.user(Role.USER, points_balance=100)
    await adjust(api, shop.token, customer.account_id, "ADD", 10, idempotencyKey="order-7")

    account = another_customer.account_id if other.get("account") else customer.account_id
    extra = {"reason": other["reason"]} if "reason" in other else {}
    result = await adjust(
        api,
        shop.token,
        account,
        other.get("action", "ADD"),
        other.get("amount", 10),
        idempotencyKey="order-7",
        **extra,
    )

    assert codes(result) == [("IDEMPOTENCY_MISMATCH", "input.idempotencyKey")]
    assert await balance_of(api, customer.account_id) == 110
    assert await balance_of(api, another_customer.account_id) == 100


@pytest.mark.parametrize("other_caller", ["staff member", "another partner"])
async def test_idempotency_keys_belong_to_their_caller(
    api: Api, owner: Staff, customer: Staff, other_caller: str
) -> None:
    shop = await partner(api, "points:credit")
    other_token = (
        owner.token if other_caller == "staff member" else (await partner(api, "points:credit")).token
    )

    mine = await adjust(api, shop.token, customer.account_id, "ADD", 10, idempotencyKey="order-7")
    theirs = await adjust(api, other_token, customer.account_id, "ADD", 10, idempotencyKey="order-7")

    assert mine["errors"] == theirs["errors"] == []
    assert mine["transaction"]["id"] != theirs["transaction"]["id"]
    assert await balance_of(api, customer.account_id) == 120


@pytest.fixture
async def pg_api(postgresql_url: str, signing_key_pem: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app on PostgreSQL only: row locks and unique constraints under real concurrency."""
    settings = Settings(
        database_url=postgresql_url,
        data_dir=tmp_path,
        jwt_private_key=signing_key_pem,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        public_url=ISSUER,
        rate_limit="100000/minute",  # one partner sends the 1,000 calls
    )
    services = Services.build(settings)
    async with services.db.transaction() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
    try:
        async with served(settings, services) as api:
            yield api
    finally:
        await services.close()


async def test_1000_concurrent_partner_retries_of_250_keys_make_exactly_250_ledger_rows(pg_api: Api) -> None:
    api = pg_api
    customer = await api.user(Role.USER)
    shop = await partner(api, "points:credit")

    def call(key: int) -> Any:
        change = {
            "accountId": customer.account_id,
            "action": "ADD",
            "amount": key,
            "idempotencyKey": f"k{key}",
        }
        return api.data(ADJUST, {"input": change}, token=shop.token)

    keys = [key for key in range(1, 251) for _ in range(4)]
    results = await asyncio.wait_for(asyncio.gather(*(call(key) for key in keys)), timeout=60)

    assert [result["adjustPoints"]["errors"] for result in results] == [[]] * 1000
    transactions: dict[int, set[str]] = defaultdict(set)
    for key, result in zip(keys, results, strict=True):
        transactions[key].add(result["adjustPoints"]["transaction"]["id"])
    assert all(len(ids) == 1 for ids in transactions.values())
    assert len(set.union(*transactions.values())) == 250
    assert await ledger_rows(api, customer.account_id) == 250
    assert await balance_of(api, customer.account_id) == sum(range(1, 251)) == 31_375


# --- losing access and leaving a trail -----------------------------------------------------------


async def test_a_disabled_clients_token_is_refused_at_once(api: Api, customer: Staff) -> None:
    shop = await partner(api, "users:read")
    assert (await api.data(USER, {"id": customer.id}, token=shop.token))["user"] is not None

    await api.services.partners.disable_client(shop.client_id)

    assert await api.error_code(USER, {"id": customer.id}, token=shop.token) == "UNAUTHENTICATED"


async def test_a_disabled_clients_refused_calls_are_logged_with_its_client_id(
    api: Api, owner: Staff, customer: Staff
) -> None:
    shop = await partner(api, "points:credit", "users:read")
    await api.services.partners.disable_client(shop.client_id)

    read = await api.error_code(USER, {"id": customer.id}, token=shop.token)
    change = await api.error_code(
        ADJUST,
        {"input": {"accountId": customer.account_id, "action": "ADD", "amount": 1, "idempotencyKey": "k"}},
        token=shop.token,
    )
    entries = await logged(api, owner, outcome="DENIED")

    assert read == change == "UNAUTHENTICATED"
    assert sorted((entry["action"], entry["actorId"], entry["actorRole"]) for entry in entries) == [
        ("points.adjust", shop.actor_id, "PARTNER"),
        ("query.user", shop.actor_id, "PARTNER"),
    ]
    assert await balance_of(api, customer.account_id) == 100


async def test_every_partner_change_and_refusal_is_in_the_activity_log(
    api: Api, owner: Staff, customer: Staff
) -> None:
    shop = await partner(api, "points:credit")

    await adjust(api, shop.token, customer.account_id, "ADD", 10, idempotencyKey="k1")
    await adjust(api, shop.token, customer.account_id, "ADD", 10, idempotencyKey="k1")
    deduct = {"accountId": customer.account_id, "action": "DEDUCT", "amount": 10, "idempotencyKey": "k2"}
    await api.post(ADJUST, {"input": deduct}, token=shop.token)
    await adjust(api, shop.token, customer.account_id, "ADD", 10)
    await api.post("{ users { totalCount } }", token=shop.token)
    await api.post("{ me { id } }", token=shop.token)
    await api.post(STAFF_ONLY["enrollUser"][0], STAFF_ONLY["enrollUser"][1](customer), token=shop.token)

    entries = await logged(api, owner, actorId=shop.actor_id)

    assert Counter((entry["action"], entry["outcome"]) for entry in entries) == {
        ("auth.client_token", "SUCCESS"): 1,
        ("points.adjust", "SUCCESS"): 2,  # the change and its replay
        ("points.adjust", "DENIED"): 1,
        ("points.adjust", "FAILED"): 1,  # no idempotency key
        ("query.users", "DENIED"): 1,
        ("query.me", "DENIED"): 1,
        ("user.enroll", "DENIED"): 1,
    }
    assert {(entry["actorId"], entry["actorRole"], entry["actorEmail"]) for entry in entries} == {
        (shop.actor_id, "PARTNER", None)
    }


# --- the command line ----------------------------------------------------------------------------


def exchange(client_id: str, secret: str) -> httpx.Response:
    """A token request to an app built from the LOYALTY_* settings the command line used."""

    async def run() -> httpx.Response:
        settings = Settings()
        services = Services.build(settings)
        try:
            async with served(settings, services) as api:
                return await request_token(api, CLIENT_CREDENTIALS, auth=(client_id, secret))
        finally:
            await services.close()

    return asyncio.run(run())


def printed(output: str, label: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(f"{label}:")]
    return line.split(":", 1)[1].strip()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``loyalty ARGS`` in this process, against a migrated SQLite database in a temporary folder."""
    env = cli_env(tmp_path, LOYALTY_PUBLIC_URL=ISSUER)

    def run(*args: str) -> None:
        run_cli(*args, env=env, monkeypatch=monkeypatch)

    run("migrate")
    return run


def test_cli_creates_a_partner_client_and_prints_its_secret_once(
    cli: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    cli("create-partner-client", "--name", "Shop", "--scopes", "points:credit", "users:read")

    output = capsys.readouterr().out
    client_id, secret = printed(output, "client_id"), printed(output, "client_secret")
    assert output.count(secret) == 1
    response = exchange(client_id, secret)
    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {"points:credit", "users:read"}


def test_cli_disables_a_partner_client(cli: Callable[..., None], capsys: pytest.CaptureFixture[str]) -> None:
    cli("create-partner-client", "--name", "Shop", "--scopes", "points:credit")
    output = capsys.readouterr().out
    client_id, secret = printed(output, "client_id"), printed(output, "client_secret")

    cli("disable-partner-client", client_id)

    assert f"Disabled {client_id}" in capsys.readouterr().out
    response = exchange(client_id, secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_cli_refuses_an_unknown_scope_with_a_clear_message(cli: Callable[..., None]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli("create-partner-client", "--name", "Shop", "--scopes", "points:credit", "points:steal")

    assert stopped.value.code not in (0, None)
    message = str(stopped.value)
    assert "points:steal" in message
    assert "points:credit" in message  # the known scopes are listed


def test_cli_disabling_an_unknown_client_fails(cli: Callable[..., None]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli("disable-partner-client", "pc_nobody")

    assert stopped.value.code not in (0, None)
    assert "pc_nobody" in str(stopped.value)
