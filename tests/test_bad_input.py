"""Bad input never hurts: whatever a client sends, the answer is a clean JSON refusal and nothing changes.

Every response here is checked the same way: the expected status (never a 500), an
``application/json`` body (GraphiQL's HTML is the one exception, for a browser asking for it), and no
trace of the server's insides (no traceback, no SQLAlchemy, no SQL). Refused mutations are followed
by a read-back as an owner to show that nothing was stored.

Tables of bad inputs are run case by case inside one test (one app, one database reset) to keep the
suite fast; a failure lists every case that went wrong, by name.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from unittest.mock import ANY  # the cost in extensions, whatever it is

import httpx
import orjson
import pytest

from loyalty.auth.permissions import Role
from tests.conftest import TEST_PASSWORD, Api, Staff

MAX_BODY_BYTES = 1024 * 1024  # the default limit, which the test settings keep

ENROLL = """
mutation Enroll($input: EnrollUserInput!) {
  enrollUser(input: $input) { user { id } errors { code field } }
}
"""
ADJUST = """
mutation Adjust($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { transaction { id } errors { code field } }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { user { id } errors { code field } }
}
"""
SIGN_IN = """
mutation SignIn($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken errors { code field } }
}
"""
SEARCH = "query($s: String) { users(filter: {search: $s}) { totalCount edges { node { id } } } }"
BY_EMAIL = "query($e: String!) { userByEmail(email: $e) { id } }"
ME = "{ me { email } }"

# What must never reach a client: a stack trace, the names of the database libraries, SQL text.
LEAKS = re.compile(r"Traceback|(?i:sqlalchemy|asyncpg|aiosqlite)|\bSELECT\b|\bINSERT INTO\b|\[SQL:")
GENERATED_REQUEST_ID = re.compile(r"[0-9a-f]{32}")

T = TypeVar("T")


# --- helpers --------------------------------------------------------------------------------------


def harmless(response: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON body of a response with ``status`` that gives nothing of the server away."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json"), response.headers
    leak = LEAKS.search(response.text)
    assert leak is None, f"the body leaks {leak.group()!r}: {response.text[:500]}"
    return response.json()


def only_error_code(body: dict[str, Any]) -> str:
    """The ``extensions.code`` of the single GraphQL error of ``body``."""
    errors = body.get("errors", [])
    assert len(errors) == 1, body
    return errors[0]["extensions"]["code"]


async def for_each_case(cases: Mapping[str, T], check: Callable[[T], Awaitable[None]]) -> None:
    """Runs ``check`` on every case and fails once, naming every case that failed."""
    failures = []
    for name, case in cases.items():
        try:
            await check(case)
        except AssertionError as error:
            failures.append(f"[{name}] {str(error)[:600]}")
    assert not failures, "\n".join(failures)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def post_json(
    api: Api, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
) -> httpx.Response:
    headers = bearer(token) if token else {}
    return await api.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def post_raw(
    api: Api, content: bytes, *, content_type: str = "application/json", token: str | None = None
) -> httpx.Response:
    headers = {"content-type": content_type, **(bearer(token) if token else {})}
    return await api.client.post("/graphql", content=content, headers=headers)


async def stored_users(api: Api, owner: Staff) -> int:
    data = await api.data("{ users { totalCount } }", token=owner.token)
    return data["users"]["totalCount"]


async def ledger_of(api: Api, owner: Staff, account_id: str) -> tuple[int, int]:
    """(balance, number of ledger rows) of an account, as the owner reads it."""
    data = await api.data(
        """query($id: ID!) {
             pointsAccount(id: $id) { balance transactions(first: 100) { edges { node { id } } } }
           }""",
        {"id": account_id},
        token=owner.token,
    )
    account = data["pointsAccount"]
    return account["balance"], len(account["transactions"]["edges"])


def enrolment(**changes: Any) -> dict[str, Any]:
    return {"email": "new.customer@example.com", "firstName": "Ann", "lastName": "Lee", **changes}


def adjustment(account_id: str, **changes: Any) -> dict[str, Any]:
    return {"accountId": account_id, "action": "ADD", "amount": 100, **changes}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
async def customer(api: Api) -> Staff:
    return await api.user(Role.USER, points_balance=500)


# --- bodies that are not a GraphQL request ---------------------------------------------------------

ENROLL_REQUEST = {"query": ENROLL, "variables": {"input": enrolment()}}

# JSON bodies that are not a GraphQL request; a body of another media type is a 415 (test_http_rules.py).
NOT_A_GRAPHQL_REQUEST: dict[str, tuple[bytes, str]] = {
    "malformed JSON": (b'{"query": "mutation { enrollUser(', "application/json"),
    "empty body": (b"", "application/json"),
    "JSON array (a batch)": (orjson.dumps([ENROLL_REQUEST]), "application/json"),
    "JSON string": (orjson.dumps(ENROLL), "application/json"),
    "JSON number": (b"42", "application/json"),
    "JSON null": (b"null", "application/json"),
    "no query": (orjson.dumps({"variables": {"input": enrolment()}}), "application/json"),
    "query not a string": (orjson.dumps({"query": [ENROLL]}), "application/json"),
    "blank query": (orjson.dumps({"query": "   "}), "application/json"),
    "variables a list": (
        orjson.dumps({"query": ENROLL, "variables": [{"input": enrolment()}]}),
        "application/json",
    ),
    "variables a JSON string": (
        orjson.dumps({"query": ENROLL, "variables": orjson.dumps({"input": enrolment()}).decode()}),
        "application/json",
    ),
    "operationName not a string": (orjson.dumps({**ENROLL_REQUEST, "operationName": 7}), "application/json"),
    "operationName not in the document": (
        orjson.dumps({**ENROLL_REQUEST, "operationName": "Other"}),
        "application/json",
    ),
    "lone surrogate": (b'{"query": "{ me { id } }\\ud800"}', "application/json"),
    "not UTF-8": (b'{"query": "{ me { id } }\xff"}', "application/json"),
    "JSON nested too deep": (b"[" * 5_000 + b"]" * 5_000, "application/json"),
}


async def test_a_body_that_is_not_a_graphql_request_is_a_json_400_and_stores_nothing(
    api: Api, owner: Staff
) -> None:
    # given
    users_before = await stored_users(api, owner)

    async def check(case: tuple[bytes, str]) -> None:
        content, content_type = case
        # when
        response = await post_raw(api, content, content_type=content_type, token=owner.token)
        # then
        assert only_error_code(harmless(response, 400)) == "BAD_REQUEST"

    await for_each_case(NOT_A_GRAPHQL_REQUEST, check)
    assert await stored_users(api, owner) == users_before


async def test_a_document_with_two_operations_and_no_operation_name_is_a_json_400_and_runs_neither(
    api: Api, owner: Staff
) -> None:
    # given: the GraphQL spec requires operationName when a document holds several operations
    users_before = await stored_users(api, owner)
    document = ENROLL + "query Read { me { id } }"

    # when
    response = await api.client.post(
        "/graphql", json={"query": document, "variables": {"input": enrolment()}}, headers=bearer(owner.token)
    )

    # then
    assert only_error_code(harmless(response, 400)) == "BAD_REQUEST"
    assert await stored_users(api, owner) == users_before


# --- size ------------------------------------------------------------------------------------------


async def test_a_10_mb_body_is_refused_with_413_and_stores_nothing(api: Api, owner: Staff) -> None:
    # given
    users_before = await stored_users(api, owner)
    body = orjson.dumps({"query": ENROLL, "variables": {"input": enrolment(firstName="A" * 10_000_000)}})

    # when
    response = await post_raw(api, body, token=owner.token)

    # then
    assert only_error_code(harmless(response, 413)) == "PAYLOAD_TOO_LARGE"
    assert await stored_users(api, owner) == users_before


async def test_a_10_mb_body_sent_without_content_length_is_refused_with_413(api: Api, owner: Staff) -> None:
    # given: a chunked body, so only counting the bytes as they arrive can stop it
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { id } }", "padding": "'
        for _ in range(160):
            yield b"x" * 65_536
        yield b'"}'

    # when
    response = await api.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json", **bearer(owner.token)}
    )

    # then
    assert "content-length" not in response.request.headers
    assert only_error_code(harmless(response, 413)) == "PAYLOAD_TOO_LARGE"


async def test_a_body_of_exactly_1_mib_is_served_and_one_byte_more_is_refused(api: Api, owner: Staff) -> None:
    # given: a query padded with insignificant whitespace to the limit, and to one byte past it
    padding = MAX_BODY_BYTES - len(orjson.dumps({"query": ME}))
    at_limit = orjson.dumps({"query": ME + " " * padding})
    over_limit = orjson.dumps({"query": ME + " " * (padding + 1)})
    assert (len(at_limit), len(over_limit)) == (MAX_BODY_BYTES, MAX_BODY_BYTES + 1)

    # when
    served = await post_raw(api, at_limit, token=owner.token)
    refused = await post_raw(api, over_limit, token=owner.token)

    # then
    assert harmless(served, 200) == {"data": {"me": {"email": owner.email}}, "extensions": ANY}
    assert only_error_code(harmless(refused, 413)) == "PAYLOAD_TOO_LARGE"


# --- documents that do not parse or do not fit the schema -------------------------------------------

SYNTAX_ERRORS = {
    "unclosed selection": "{ me { email ",
    "truncated mutation": "mutation { enrollUser(input: {email: ",
    "SQL instead of GraphQL": "DROP TABLE users;",
    "unterminated string": '{ user(id: "abc) { id } }',
    "stray brace": "{ me { email } } }",
}


async def test_a_syntax_error_is_graphql_parse_failed_with_status_200(api: Api, owner: Staff) -> None:
    async def check(query: str) -> None:
        response = await post_json(api, query, token=owner.token)

        body = harmless(response, 200)
        assert only_error_code(body) == "GRAPHQL_PARSE_FAILED"
        assert "data" not in body

    await for_each_case(SYNTAX_ERRORS, check)


DOCUMENTS_NOT_IN_THE_SCHEMA = {
    "unknown field": "{ me { passwordHash } }",
    "unknown root field": "{ nope }",
    "unknown argument": '{ user(id: "x", extra: 1) { id } }',
    "object without a selection": "{ me }",
    "selection on a scalar": "{ me { email { length } } }",
    "unknown variable type": "query($id: Uuid!) { user(id: $id) { id } }",
    "string literal for Int": '{ users(first: "ten") { totalCount } }',
}


async def test_a_document_that_does_not_fit_the_schema_is_graphql_validation_failed(
    api: Api, owner: Staff
) -> None:
    async def check(query: str) -> None:
        response = await post_json(api, query, token=owner.token)

        body = harmless(response, 200)
        assert only_error_code(body) == "GRAPHQL_VALIDATION_FAILED"
        assert "data" not in body

    await for_each_case(DOCUMENTS_NOT_IN_THE_SCHEMA, check)


async def test_a_mutation_literal_that_does_not_fit_the_schema_is_refused_and_changes_nothing(
    api: Api, owner: Staff, customer: Staff
) -> None:
    # given
    users_before = await stored_users(api, owner)
    ledger_before = await ledger_of(api, owner, customer.account_id)
    adjust = 'mutation {{ adjustPoints(input: {{accountId: "%s", action: ADD, amount: {}}}) {{ errors {{ code }} }} }}'
    adjust %= customer.account_id
    cases = {
        "unknown input field": """mutation {
            enrollUser(input: {email: "a@example.com", firstName: "A", lastName: "B", isAdmin: true}) {
              user { id }
            }
          }""",
        "Long over 2^63-1": adjust.format("9223372036854775808"),
        "string for Long": adjust.format('"100"'),
        "float for Long": adjust.format("1.5"),
        "unknown enum value": adjust.replace("action: ADD", "action: STEAL").format("100"),
    }

    async def check(query: str) -> None:
        # when
        response = await post_json(api, query, token=owner.token)
        # then
        assert only_error_code(harmless(response, 200)) == "GRAPHQL_VALIDATION_FAILED"

    await for_each_case(cases, check)
    assert await stored_users(api, owner) == users_before
    assert await ledger_of(api, owner, customer.account_id) == ledger_before


# --- variables that do not fit their types ----------------------------------------------------------

WRONG_ADJUSTMENT_VARIABLES: dict[str, dict[str, Any]] = {
    "string for Long": {"amount": "100"},
    "float for Long": {"amount": 1.5},
    "Long of 2^63": {"amount": 2**63},
    "Long of -2^63-1": {"amount": -(2**63) - 1},
    "Long of 2^64": {"amount": 2**64},
    "Long of 10^30": {"amount": 10**30},
    "boolean for Long": {"amount": True},
    "null for Long!": {"amount": None},
    "list for Long": {"amount": [100]},
    "object for Long": {"amount": {"value": 100}},
    "unknown enum value": {"action": "STEAL"},
    "enum value in the wrong case": {"action": "add"},
    "object for ID": {"accountId": {"id": "x"}},
    "number for String": {"reason": 42},
    "unknown input field": {"isAdmin": True},
}


async def test_a_variable_of_the_wrong_type_is_bad_user_input_and_the_balance_stays(
    api: Api, owner: Staff, customer: Staff
) -> None:
    # given
    before = await ledger_of(api, owner, customer.account_id)
    cases = {
        name: {"input": adjustment(customer.account_id, **changes)}
        for name, changes in WRONG_ADJUSTMENT_VARIABLES.items()
    }
    cases["missing required input field"] = {"input": {"accountId": customer.account_id, "action": "ADD"}}
    cases["input a list"] = {"input": [adjustment(customer.account_id)]}
    cases["input missing"] = {}

    async def check(variables: dict[str, Any]) -> None:
        # when
        response = await post_json(api, ADJUST, variables, token=owner.token)
        # then
        body = harmless(response, 200)
        assert only_error_code(body) == "BAD_USER_INPUT"
        assert "data" not in body

    await for_each_case(cases, check)
    assert await ledger_of(api, owner, customer.account_id) == before


async def test_a_page_size_that_is_not_a_32_bit_int_is_bad_user_input(api: Api, owner: Staff) -> None:
    cases: dict[str, object] = {"2^31": 2**31, "-2^31-1": -(2**31) - 1, "string": "10", "fraction": 2.5}

    async def check(first: object) -> None:
        response = await post_json(
            api, "query($n: Int) { users(first: $n) { totalCount } }", {"n": first}, token=owner.token
        )

        assert only_error_code(harmless(response, 200)) == "BAD_USER_INPUT"

    await for_each_case(cases, check)


async def test_the_largest_long_is_accepted_as_a_variable_and_refused_as_data(
    api: Api, owner: Staff, customer: Staff
) -> None:
    # given: the type admits 2^63-1; the balance cap refuses it as data
    before = await ledger_of(api, owner, customer.account_id)

    # when
    response = await post_json(
        api,
        ADJUST,
        {"input": adjustment(customer.account_id, action="OVERRIDE", amount=2**63 - 1)},
        token=owner.token,
    )

    # then
    payload = harmless(response, 200)["data"]["adjustPoints"]
    assert payload == {"transaction": None, "errors": [{"code": "LIMIT_EXCEEDED", "field": "input.amount"}]}
    assert await ledger_of(api, owner, customer.account_id) == before


# --- values the services refuse ---------------------------------------------------------------------

INVALID_ENROLMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "invalid email": ({"email": "not-an-email"}, "input.email"),
    "email without a domain": ({"email": "ann@"}, "input.email"),
    "email with a space": ({"email": "ann lee@example.com"}, "input.email"),
    "email over 254 chars": ({"email": "a" * 250 + "@example.com"}, "input.email"),
    "10,000-char first name": ({"firstName": "A" * 10_000}, "input.firstName"),
    "first name of only spaces": ({"firstName": "     "}, "input.firstName"),
    "empty first name": ({"firstName": ""}, "input.firstName"),
    "last name with a newline": ({"lastName": "Lee\nDROP"}, "input.lastName"),
    "negative initial points": ({"initialPoints": -1}, "input.initialPoints"),
    "a password for a customer": ({"password": "a long enough password"}, "input.password"),
}


async def test_an_invalid_enrolment_is_a_validation_error_and_stores_nothing(api: Api, owner: Staff) -> None:
    # given
    users_before = await stored_users(api, owner)

    async def check(case: tuple[dict[str, Any], str]) -> None:
        changes, field = case
        # when
        response = await post_json(api, ENROLL, {"input": enrolment(**changes)}, token=owner.token)
        # then
        payload = harmless(response, 200)["data"]["enrollUser"]
        assert payload == {"user": None, "errors": [{"code": "VALIDATION", "field": field}]}

    await for_each_case(INVALID_ENROLMENTS, check)
    assert await stored_users(api, owner) == users_before


async def test_an_enrolment_with_every_field_wrong_reports_each_field(api: Api, owner: Staff) -> None:
    users_before = await stored_users(api, owner)

    response = await post_json(
        api, ENROLL, {"input": enrolment(email="nope", firstName=" ", lastName="L" * 101)}, token=owner.token
    )

    errors = harmless(response, 200)["data"]["enrollUser"]["errors"]
    assert sorted(error["field"] for error in errors) == ["input.email", "input.firstName", "input.lastName"]
    assert {error["code"] for error in errors} == {"VALIDATION"}
    assert await stored_users(api, owner) == users_before


async def test_renaming_a_user_to_only_spaces_is_refused_and_the_name_stays(
    api: Api, owner: Staff, customer: Staff
) -> None:
    # when
    response = await post_json(
        api, UPDATE, {"id": customer.id, "input": {"lastName": "   "}}, token=owner.token
    )

    # then
    payload = harmless(response, 200)["data"]["updateUser"]
    assert payload == {"user": None, "errors": [{"code": "VALIDATION", "field": "input.lastName"}]}
    data = await api.data(
        "query($id: ID!) { user(id: $id) { lastName } }", {"id": customer.id}, token=owner.token
    )
    assert data["user"] == {"lastName": "User"}


INVALID_ADJUSTMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "reason over 500 chars": ({"reason": "R" * 501}, "input.reason"),
    "empty idempotency key": ({"idempotencyKey": ""}, "input.idempotencyKey"),
    "idempotency key over 255 chars": ({"idempotencyKey": "k" * 256}, "input.idempotencyKey"),
    "zero amount": ({"amount": 0}, "input.amount"),
    "negative amount": ({"amount": -5}, "input.amount"),
    "smallest Long": ({"amount": -(2**63)}, "input.amount"),
}


async def test_an_invalid_adjustment_is_a_validation_error_and_the_balance_stays(
    api: Api, owner: Staff, customer: Staff
) -> None:
    # given
    before = await ledger_of(api, owner, customer.account_id)

    async def check(case: tuple[dict[str, Any], str]) -> None:
        changes, field = case
        # when
        response = await post_json(
            api, ADJUST, {"input": adjustment(customer.account_id, **changes)}, token=owner.token
        )
        # then
        payload = harmless(response, 200)["data"]["adjustPoints"]
        assert payload == {"transaction": None, "errors": [{"code": "VALIDATION", "field": field}]}

    await for_each_case(INVALID_ADJUSTMENTS, check)
    assert await ledger_of(api, owner, customer.account_id) == before


MALFORMED_IDS = {
    "not a UUID": "not-a-uuid",
    "SQL": "' OR 1=1 --",
    "10,000 chars": "0" * 10_000,
    "a UUID and one more char": "0f9e8d7c-6b5a-4321-8765-0123456789ab0",
    "empty": "",
}


async def test_an_adjustment_of_a_malformed_account_id_is_not_found(
    api: Api, owner: Staff, customer: Staff
) -> None:
    before = await ledger_of(api, owner, customer.account_id)

    async def check(account_id: str) -> None:
        response = await post_json(api, ADJUST, {"input": adjustment(account_id)}, token=owner.token)

        payload = harmless(response, 200)["data"]["adjustPoints"]
        assert payload == {"transaction": None, "errors": [{"code": "NOT_FOUND", "field": "input.accountId"}]}

    await for_each_case(MALFORMED_IDS, check)
    assert await ledger_of(api, owner, customer.account_id) == before


# --- reads with strange arguments -------------------------------------------------------------------


async def test_a_strange_search_matches_nothing(api: Api, owner: Staff, customer: Staff) -> None:
    cases = {
        "LIKE wildcard": "%",
        "LIKE single-char wildcard": "_",
        "backslash": "\\",
        "SQL": "'; DROP TABLE users; --",
        "10,000 chars": "x" * 10_000,
    }

    async def check(search: str) -> None:
        response = await post_json(api, SEARCH, {"s": search}, token=owner.token)

        assert harmless(response, 200) == {
            "data": {"users": {"totalCount": 0, "edges": []}},
            "extensions": ANY,
        }

    await for_each_case(cases, check)


async def test_a_lookup_by_a_strange_email_or_a_malformed_id_reads_as_absent(
    api: Api, owner: Staff, customer: Staff
) -> None:
    emails = {"LIKE wildcards": "%@%", "10,000 chars": "a" * 10_000, "empty": ""}

    async def check_email(email: str) -> None:
        response = await post_json(api, BY_EMAIL, {"e": email}, token=owner.token)

        assert harmless(response, 200) == {"data": {"userByEmail": None}, "extensions": ANY}

    async def check_id(user_id: str) -> None:
        response = await post_json(
            api, "query($id: ID!) { user(id: $id) { id } }", {"id": user_id}, token=owner.token
        )

        assert harmless(response, 200) == {"data": {"user": None}, "extensions": ANY}

    await for_each_case(emails, check_email)
    await for_each_case(MALFORMED_IDS, check_id)


async def test_signing_in_with_strange_credentials_is_invalid_credentials(api: Api, owner: Staff) -> None:
    cases = {
        "10,000-char email": ("o" * 10_000 + "@example.com", TEST_PASSWORD),
        "empty email": ("", TEST_PASSWORD),
        "10,000-char password": (owner.email, "p" * 10_000),
        "empty password": (owner.email, ""),
    }

    async def check(case: tuple[str, str]) -> None:
        email, password = case
        response = await post_json(api, SIGN_IN, {"email": email, "password": password})

        payload = harmless(response, 200)["data"]["signIn"]
        assert payload == {"accessToken": None, "errors": [{"code": "INVALID_CREDENTIALS", "field": None}]}

    await for_each_case(cases, check)


# --- NUL characters: SQLite cuts strings at them, PostgreSQL refuses them; neither may show -------

NUL_REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "an email to enrol": (
        ENROLL,
        {"input": {"email": "ann\x00@example.com", "firstName": "Ann", "lastName": "Lee"}},
    ),
    "a last name to enrol": (
        ENROLL,
        {"input": {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee\x00"}},
    ),
    "a reason": (ADJUST, {"input": {"accountId": "?", "action": "ADD", "amount": 1, "reason": "refund\x00"}}),
    "an idempotency key": (
        ADJUST,
        {"input": {"accountId": "?", "action": "ADD", "amount": 1, "idempotencyKey": "k\x00"}},
    ),
    "a search": (SEARCH, {"s": "\x00"}),
    "an email to look up": (BY_EMAIL, {"e": "ann@example.com\x00"}),
    "an email to sign in with": (SIGN_IN, {"email": "ann@example.com\x00", "password": TEST_PASSWORD}),
    "a NUL inside a list of the variables": (
        ENROLL,
        {"input": {"email": "a@example.com", "firstName": "A", "lastName": "B"}, "x": ["\x00"]},
    ),
}


async def test_text_holding_a_nul_is_refused_as_bad_user_input_and_stores_nothing(
    api: Api, owner: Staff, customer: Staff
) -> None:
    # given
    users_before = await stored_users(api, owner)
    ledger_before = await ledger_of(api, owner, customer.account_id)

    async def check(case: tuple[str, dict[str, Any]]) -> None:
        query, variables = case
        if "input" in variables and variables["input"].get("accountId") == "?":
            variables = {"input": {**variables["input"], "accountId": customer.account_id}}
        # when
        response = await post_json(api, query, variables, token=owner.token)
        # then
        assert only_error_code(harmless(response, 200)) == "BAD_USER_INPUT"

    await for_each_case(NUL_REQUESTS, check)
    assert await stored_users(api, owner) == users_before
    assert await ledger_of(api, owner, customer.account_id) == ledger_before


async def test_a_nul_written_as_a_graphql_escape_is_refused_too(api: Api, owner: Staff) -> None:
    for escape in ("\\u0000", "\\u{0}"):
        query = '{ users(filter: {search: "a' + escape + 'b"}) { totalCount } }'
        response = await post_json(api, query, None, token=owner.token)
        assert only_error_code(harmless(response, 200)) == "BAD_USER_INPUT"


# --- HTTP methods and paths -------------------------------------------------------------------------


async def test_a_query_over_get_is_served_with_its_json_variables(api: Api, owner: Staff) -> None:
    # when
    plain = await api.client.get("/graphql", params={"query": ME}, headers=bearer(owner.token))
    with_variables = await api.client.get(
        "/graphql",
        params={
            "query": BY_EMAIL.replace("{ id }", "{ email }"),
            "variables": orjson.dumps({"e": owner.email}).decode(),
        },
        headers=bearer(owner.token),
    )

    # then
    assert harmless(plain, 200) == {"data": {"me": {"email": owner.email}}, "extensions": ANY}
    assert harmless(with_variables, 200) == {
        "data": {"userByEmail": {"email": owner.email}},
        "extensions": ANY,
    }


async def test_a_mutation_over_get_is_refused_with_405_and_stores_nothing(api: Api, owner: Staff) -> None:
    # given
    users_before = await stored_users(api, owner)

    # when
    response = await api.client.get(
        "/graphql",
        params={"query": ENROLL, "variables": orjson.dumps({"input": enrolment()}).decode()},
        headers=bearer(owner.token),
    )

    # then
    assert only_error_code(harmless(response, 405)) == "METHOD_NOT_ALLOWED"
    assert await stored_users(api, owner) == users_before


async def test_a_get_without_a_proper_query_is_a_json_400(api: Api, owner: Staff) -> None:
    cases = {
        "no query": {},
        "variables not JSON": {"query": ME, "variables": "{not json"},
        "variables not an object": {"query": ME, "variables": "[1, 2]"},
    }

    async def check(params: dict[str, str]) -> None:
        response = await api.client.get(
            "/graphql", params=params, headers={"accept": "application/json", **bearer(owner.token)}
        )

        assert only_error_code(harmless(response, 400)) == "BAD_REQUEST"

    await for_each_case(cases, check)


async def test_the_explorer_is_html_only_for_a_browser(api: Api) -> None:
    browser = await api.client.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    script = await api.client.get("/graphql", headers={"accept": "*/*"})

    assert browser.status_code == 200
    assert browser.headers["content-type"].startswith("text/html")
    assert only_error_code(harmless(script, 400)) == "BAD_REQUEST"


async def test_another_method_on_graphql_is_a_json_405(api: Api, owner: Staff) -> None:
    async def check(method: str) -> None:
        response = await api.client.request(
            method, "/graphql", json={"query": ME}, headers=bearer(owner.token)
        )

        assert only_error_code(harmless(response, 405)) == "METHOD_NOT_ALLOWED"

    await for_each_case({method: method for method in ("PUT", "DELETE", "PATCH")}, check)


async def test_an_unknown_path_is_a_json_404(api: Api) -> None:
    paths = ["/nope", "/graphql/extra", "/.env", "/admin/../../etc/passwd", "/%00", "/" + "a" * 5_000]

    async def check(path: str) -> None:
        response = await api.client.get(path)

        assert only_error_code(harmless(response, 404)) == "NOT_FOUND"

    await for_each_case({path[:40]: path for path in paths}, check)


# --- credentials ------------------------------------------------------------------------------------


async def test_a_malformed_authorization_header_is_unauthenticated(api: Api) -> None:
    cases = {
        "Basic": "Basic b3duZXI6cGFzc3dvcmQ=",
        "Bearer without a token": "Bearer",
        "Bearer and a space": "Bearer ",
        "unknown scheme": "Token abc.def.ghi",
        "token without a scheme": "abc.def.ghi",
        "token with spaces": "Bearer a b c",
    }

    async def check(authorization: str) -> None:
        response = await api.client.post(
            "/graphql", json={"query": ME}, headers={"authorization": authorization}
        )

        body = harmless(response, 200)
        assert only_error_code(body) == "UNAUTHENTICATED"
        assert body["data"] == {"me": None}

    await for_each_case(cases, check)


async def test_a_garbage_bearer_token_is_unauthenticated(api: Api, owner: Staff) -> None:
    # An unsigned token ("alg": "none") with every right claim must fare no better than noise.
    unsigned_owner = b64url(orjson.dumps({"alg": "none", "typ": "JWT"})) + "."
    unsigned_owner += b64url(
        orjson.dumps(
            {
                "sub": owner.id,
                "iss": "https://testserver",
                "aud": "loyalty-api",
                "exp": 2**40,
                "token_use": "access",
            }
        )
    )
    cases = {
        "one word": "garbage",
        "three dots of nothing": "a.b.c",
        "10,000 chars": "x" * 10_000,
        "header a JSON array": f"{b64url(b'[]')}.{b64url(b'{}')}.sig",
        "claims a JSON array": f"{b64url(b'{}')}.{b64url(b'[]')}.sig",
        "symmetric algorithm": ".".join(
            b64url(part) for part in (b'{"alg":"HS256"}', b'{"sub":"x"}', b"mac")
        ),
        "header not UTF-8": f"{b64url(bytes([0xFF, 0xFE]))}.{b64url(b'{}')}.sig",
        "unsigned, naming the owner": unsigned_owner + ".",
    }

    async def check(token: str) -> None:
        response = await api.client.post("/graphql", json={"query": ME}, headers=bearer(token))

        assert only_error_code(harmless(response, 200)) == "UNAUTHENTICATED"

    await for_each_case(cases, check)


async def test_a_mutation_with_a_garbage_token_is_unauthenticated_and_stores_nothing(
    api: Api, owner: Staff
) -> None:
    # given
    users_before = await stored_users(api, owner)

    # when
    response = await api.client.post("/graphql", json=ENROLL_REQUEST, headers=bearer("garbage"))

    # then
    body = harmless(response, 200)
    assert only_error_code(body) == "UNAUTHENTICATED"
    assert body.get("data") is None
    assert await stored_users(api, owner) == users_before


async def test_a_garbage_token_does_not_stop_signing_in(api: Api, owner: Staff) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": SIGN_IN, "variables": {"email": owner.email, "password": TEST_PASSWORD}},
        headers=bearer("garbage"),
    )

    payload = harmless(response, 200)["data"]["signIn"]
    assert payload["errors"] == []
    assert payload["accessToken"]


# --- request ids ------------------------------------------------------------------------------------


async def test_a_sane_request_id_is_echoed(api: Api) -> None:
    sane = ["abc-123", "req_1.2:3", "0f9e8d7c-6b5a-4321-8765-0123456789ab", "R" * 128]

    async def check(request_id: str) -> None:
        response = await api.client.post("/graphql", json={"query": ME}, headers={"x-request-id": request_id})

        harmless(response, 200)
        assert response.headers["x-request-id"] == request_id

    await for_each_case({request_id[:40]: request_id for request_id in sane}, check)


async def test_an_insane_request_id_is_replaced(api: Api) -> None:
    insane = {
        "empty": b"",
        "129 chars": b"R" * 129,
        "space": b"has space",
        "markup": b"<script>alert(1)</script>",
        "quotes": b'id"quoted"',
        "non-ASCII": "caf\u00e9".encode(),
        "separators": b"a;b=c",
    }

    async def check(request_id: bytes) -> None:
        response = await api.client.post("/graphql", json={"query": ME}, headers={"x-request-id": request_id})

        harmless(response, 200)
        assert GENERATED_REQUEST_ID.fullmatch(response.headers["x-request-id"])

    await for_each_case(insane, check)


async def test_every_response_gets_its_own_request_id_errors_included(api: Api) -> None:
    responses = [
        await api.client.post("/graphql", json={"query": ME}),
        await post_raw(api, b"{not json"),
        await api.client.get("/nope"),
        await api.client.put("/graphql"),
    ]

    ids = [response.headers["x-request-id"] for response in responses]
    assert all(GENERATED_REQUEST_ID.fullmatch(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)
