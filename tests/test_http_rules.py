"""HTTP by the book: media types, GraphQL-over-HTTP status codes, CORS and security headers.

The GraphQL-over-HTTP specification (https://graphql.github.io/graphql-over-http/draft/) is followed
for ``application/graphql-response+json``; ``application/json`` stays the default and keeps status 200
for GraphQL errors (SPEC.md). POST bodies are JSON only, so a cross-site "simple" request (a form or
``text/plain``, which a browser sends without asking) runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from tests.conftest import Api, Staff

GRAPHQL_RESPONSE = "application/graphql-response+json"
CONSOLE = "https://console.example.com"
ME = "{ me { email } }"
ENROLL = """
mutation Enroll($input: EnrollUserInput!) {
  enrollUser(input: $input) { user { id } errors { code } }
}
"""
ADJUST = """
mutation Adjust($input: AdjustPointsInput!) {
  adjustPoints(input: $input) { transaction { id } errors { code } }
}
"""
ENROLMENT = {"input": {"email": "simple.request@example.com", "firstName": "Ann", "lastName": "Lee"}}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def only_error(response: httpx.Response) -> dict[str, Any]:
    """The single GraphQL error of a JSON response."""
    errors = response.json().get("errors", [])
    assert len(errors) == 1, response.text
    return errors[0]


def only_error_code(response: httpx.Response) -> str:
    return only_error(response)["extensions"]["code"]


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def is_refusal(response: httpx.Response, status: int, code: str, served: str = "application/json") -> bool:
    """Whether ``response`` is a refusal with ``status`` and one error ``code``, served as ``served``."""
    return (
        response.status_code == status
        and media_type(response) == served
        and "data" not in response.json()
        and only_error_code(response) == code
    )


def answers_me(response: httpx.Response, staff: Staff) -> bool:
    """Whether ``response`` answers ``ME`` for ``staff``, without errors."""
    body = response.json()
    return body.get("data") == {"me": {"email": staff.email}} and "errors" not in body


async def stored_users(api: Api, owner: Staff) -> int:
    data = await api.data("{ users { totalCount } }", token=owner.token)
    return data["users"]["totalCount"]


async def post_accepting_graphql_response(
    api: Api, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
) -> httpx.Response:
    headers = {"accept": GRAPHQL_RESPONSE, **(bearer(token) if token else {})}
    return await api.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


@asynccontextmanager
async def client_of(
    settings: Settings, services: Services, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built with ``changes`` to the test settings (validated as at start)."""
    app = create_app(Settings(**{**settings.model_dump(), **changes}), services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# --- request media types ----------------------------------------------------------------------------

NOT_JSON_BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "text/plain (a simple request)": (
        orjson.dumps({"query": ENROLL, "variables": ENROLMENT}),
        {"content-type": "text/plain"},
    ),
    "form-encoded (a simple request)": (
        b"query=" + ENROLL.encode() + b"&variables=" + orjson.dumps(ENROLMENT),
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    "multipart (a simple request)": (
        b"--b\r\nContent-Disposition: form-data; name=query\r\n\r\n{ me { id } }\r\n--b--\r\n",
        {"content-type": "multipart/form-data; boundary=b"},
    ),
    "no content type": (orjson.dumps({"query": ENROLL, "variables": ENROLMENT}), {}),
    "application/graphql": (ENROLL.encode(), {"content-type": "application/graphql"}),
    "JSON in another charset": (
        orjson.dumps({"query": ENROLL, "variables": ENROLMENT}),
        {"content-type": "application/json; charset=latin-1"},
    ),
    "a look-alike": (orjson.dumps({"query": ME}), {"content-type": "application/jsonp"}),
}


async def test_a_post_that_is_not_json_is_refused_with_415_and_runs_nothing(api: Api, owner: Staff) -> None:
    # given
    users_before = await stored_users(api, owner)
    failures = []

    for name, (content, headers) in NOT_JSON_BODIES.items():
        # when
        response = await api.client.post(
            "/graphql", content=content, headers={**headers, **bearer(owner.token)}
        )
        # then
        if not is_refusal(response, 415, "UNSUPPORTED_MEDIA_TYPE"):
            failures.append(f"[{name}] {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)
    assert await stored_users(api, owner) == users_before


async def test_json_with_a_utf8_charset_and_the_graphql_response_type_are_accepted_as_bodies(
    api: Api, owner: Staff
) -> None:
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        GRAPHQL_RESPONSE,
        f"{GRAPHQL_RESPONSE}; charset=utf-8",
    ):
        response = await api.client.post(
            "/graphql",
            content=orjson.dumps({"query": ME}),
            headers={"content-type": content_type, **bearer(owner.token)},
        )

        assert response.status_code == 200, (content_type, response.text)
        assert answers_me(response, owner)


# --- response media types: negotiation on Accept ----------------------------------------------------

ACCEPT_TO_MEDIA_TYPE = {
    None: "application/json",
    "*/*": "application/json",
    "application/*": "application/json",
    "application/json": "application/json",
    "application/json, */*;q=0.5": "application/json",
    f"{GRAPHQL_RESPONSE};q=0.5, application/json": "application/json",
    GRAPHQL_RESPONSE: GRAPHQL_RESPONSE,
    f"{GRAPHQL_RESPONSE}, application/json;q=0.9": GRAPHQL_RESPONSE,
    f"application/json, {GRAPHQL_RESPONSE}": GRAPHQL_RESPONSE,
    f"{GRAPHQL_RESPONSE}; charset=utf-8": GRAPHQL_RESPONSE,
    f"text/html, {GRAPHQL_RESPONSE};q=0.8, */*;q=0.1": GRAPHQL_RESPONSE,
}


async def test_the_response_media_type_follows_accept_and_defaults_to_application_json(
    api: Api, owner: Staff
) -> None:
    failures = []
    for accept, expected in ACCEPT_TO_MEDIA_TYPE.items():
        headers = bearer(owner.token) | ({"accept": accept} if accept else {})

        response = await api.client.post("/graphql", json={"query": ME}, headers=headers)

        if response.status_code != 200 or media_type(response) != expected:
            failures.append(f"[{accept}] {response.status_code} {response.headers['content-type']}")
        elif not answers_me(response, owner):
            failures.append(f"[{accept}] {response.text}")
    assert not failures, "\n".join(failures)


async def test_the_graphql_response_type_is_served_as_utf8(api: Api, owner: Staff) -> None:
    response = await api.client.post(
        "/graphql", json={"query": ME}, headers={"accept": GRAPHQL_RESPONSE, **bearer(owner.token)}
    )

    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"


async def test_a_request_accepting_neither_json_type_is_refused_with_406_and_runs_nothing(
    api: Api, owner: Staff
) -> None:
    # given
    users_before = await stored_users(api, owner)
    failures = []

    for accept in ("text/html", "application/xml", "application/json;q=0", f"{GRAPHQL_RESPONSE};q=0, text/*"):
        # when
        response = await api.client.post(
            "/graphql",
            json={"query": ENROLL, "variables": ENROLMENT},
            headers={"accept": accept, **bearer(owner.token)},
        )
        # then: the refusal itself is JSON, the one type every GraphQL client reads
        if not is_refusal(response, 406, "NOT_ACCEPTABLE"):
            failures.append(f"[{accept}] {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)
    assert await stored_users(api, owner) == users_before


async def test_every_answer_of_the_endpoint_says_it_varies_by_accept(
    api: Api, owner: Staff, console_client: httpx.AsyncClient
) -> None:
    # given: what /graphql answers (GraphiQL or JSON, and which JSON) depends on Accept, so caches must key on it
    responses = {
        "GraphiQL": await api.client.get("/graphql", headers={"accept": "text/html"}),
        "JSON": await api.client.get("/graphql", params={"query": ME}, headers=bearer(owner.token)),
        "the newer type": await post_accepting_graphql_response(api, ME, token=owner.token),
        "406": await api.client.post("/graphql", json={"query": ME}, headers={"accept": "text/html"}),
        "with CORS": await console_client.post("/graphql", json={"query": ME}, headers={"origin": CONSOLE}),
    }

    varies = {name: response.headers.get("vary", "") for name, response in responses.items()}
    assert all("accept" in value.lower() for value in varies.values()), varies
    assert "origin" in varies["with CORS"].lower()


# --- status codes with application/graphql-response+json ---------------------------------------------


async def test_a_document_that_fails_before_execution_is_400_with_the_graphql_response_type(
    api: Api, owner: Staff
) -> None:
    cases: dict[str, tuple[str, dict[str, Any] | None, str]] = {
        "syntax error": ("{ me { email ", None, "GRAPHQL_PARSE_FAILED"),
        "unknown field": ("{ me { passwordHash } }", None, "GRAPHQL_VALIDATION_FAILED"),
        "variables of the wrong type": (
            "query($n: Int) { users(first: $n) { totalCount } }",
            {"n": "ten"},
            "BAD_USER_INPUT",
        ),
        "a required variable missing": (
            "query($e: String!) { userByEmail(email: $e) { id } }",
            {},
            "BAD_USER_INPUT",
        ),
        "a NUL in a string": (
            '{ users(filter: {search: "a\\u0000b"}) { totalCount } }',
            None,
            "BAD_USER_INPUT",
        ),
        "two operations, none named": ("query A { me { id } } query B { me { id } }", None, "BAD_REQUEST"),
    }
    failures = []
    for name, (query, variables, code) in cases.items():
        # twice: the second time a document Strawberry has seen may run on the known-operation path
        for attempt in (1, 2):
            response = await post_accepting_graphql_response(api, query, variables, token=owner.token)

            if not is_refusal(response, 400, code, served=GRAPHQL_RESPONSE):
                failures.append(f"[{name} #{attempt}] {response.headers} {response.text[:300]}")
    assert not failures, "\n".join(failures)


async def test_bad_variables_of_a_known_operation_are_400_with_the_graphql_response_type(
    api: Api, owner: Staff
) -> None:
    # given: the operation ran once, so it is known and runs from its plan from now on
    query = "query($n: Int) { users(first: $n) { totalCount } }"
    assert (await post_accepting_graphql_response(api, query, {"n": 1}, token=owner.token)).status_code == 200

    # when
    response = await post_accepting_graphql_response(api, query, {"n": "ten"}, token=owner.token)

    # then
    assert response.status_code == 400, response.text
    assert only_error_code(response) == "BAD_USER_INPUT"


async def test_an_operation_that_started_executing_is_200_with_the_graphql_response_type(
    api: Api, owner: Staff
) -> None:
    # given: field errors (no token) come from execution, so "data" is present and the status is 200
    for attempt in (1, 2):
        # when
        read = await post_accepting_graphql_response(api, ME)
        write = await post_accepting_graphql_response(api, ENROLL, ENROLMENT)

        # then
        assert read.status_code == 200, (attempt, read.text)
        assert read.json()["data"] == {"me": None}
        assert only_error_code(read) == "UNAUTHENTICATED"
        assert write.status_code == 200, (attempt, write.text)
        assert write.json()["data"] is None
        assert only_error_code(write) == "UNAUTHENTICATED"


async def test_errors_before_execution_stay_200_with_application_json(api: Api, owner: Staff) -> None:
    for query in ("{ me { email ", "{ me { passwordHash } }"):
        response = await api.client.post("/graphql", json={"query": query}, headers=bearer(owner.token))

        assert response.status_code == 200, response.text
        assert media_type(response) == "application/json"
        assert "data" not in response.json()


async def test_a_request_error_is_served_in_the_negotiated_type(api: Api, owner: Staff) -> None:
    response = await api.client.post(
        "/graphql",
        content=b"{not json",
        headers={"content-type": "application/json", "accept": GRAPHQL_RESPONSE, **bearer(owner.token)},
    )

    assert is_refusal(response, 400, "BAD_REQUEST", served=GRAPHQL_RESPONSE), response.text


# --- operations this endpoint does not serve ---------------------------------------------------------


async def test_a_subscription_is_refused_as_not_served_on_get_and_post(api: Api, owner: Staff) -> None:
    document = "subscription { me { id } }"

    over_post = await api.client.post("/graphql", json={"query": document}, headers=bearer(owner.token))
    over_get = await api.client.get("/graphql", params={"query": document}, headers=bearer(owner.token))

    for response in (over_post, over_get):
        assert response.status_code == 400, response.text
        error = only_error(response)
        assert error["extensions"]["code"] == "SUBSCRIPTIONS_NOT_SUPPORTED"
        assert "POST" not in error["message"]


async def test_a_mutation_over_get_is_405_naming_post_as_allowed(api: Api, owner: Staff) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": ENROLL, "variables": orjson.dumps(ENROLMENT).decode()},
        headers=bearer(owner.token),
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert only_error(response)["message"] == "Mutations are sent with POST."


async def test_get_variables_that_are_not_json_are_named_as_the_problem(api: Api, owner: Staff) -> None:
    response = await api.client.get(
        "/graphql", params={"query": ME, "variables": "{x"}, headers=bearer(owner.token)
    )

    assert response.status_code == 400
    error = only_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"] == "The 'variables' parameter is not valid JSON."


# --- "did you mean" suggestions ------------------------------------------------------------------------

SUGGESTION_BAIT: dict[str, tuple[str, dict[str, Any] | None]] = {
    "a misspelt field": ("{ me { emai } }", None),
    "a misspelt argument": ('{ user(i: "x") { id } }', None),
    "a misspelt type": ("query($e: Strin!) { userByEmail(email: $e) { id } }", None),
    "a misspelt enum literal": ("{ users(filter: {role: OWNR}) { totalCount } }", None),
    "a misspelt enum in variables": (ADJUST, {"input": {"accountId": "x", "action": "AD", "amount": 1}}),
    "a misspelt input field in variables": (
        ADJUST,
        {"input": {"accountId": "x", "actio": "ADD", "action": "ADD", "amount": 1}},
    ),
}


async def messages_of(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    messages = {}
    for name, (query, variables) in SUGGESTION_BAIT.items():
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=bearer(token)
        )
        messages[name] = " ".join(error["message"] for error in response.json()["errors"])
    return messages


async def test_without_introspection_errors_suggest_no_names(
    api: Api, owner: Staff, settings: Settings, services: Services
) -> None:
    # given: the same documents suggest names when introspection is on
    suggesting = await messages_of(api.client, owner.token)
    assert all("Did you mean" in message for message in suggesting.values()), suggesting

    async with client_of(settings, services, introspection=False) as client:
        # when
        for _ in (1, 2):  # and again, when the documents are known
            messages = await messages_of(client, owner.token)

            # then
            leaking = {name: message for name, message in messages.items() if "Did you mean" in message}
            assert not leaking, leaking


# --- CORS --------------------------------------------------------------------------------------------


def preflight(
    origin: str, method: str = "POST", headers: str = "authorization, content-type"
) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


@pytest.fixture
async def console_client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(settings, services, cors_origins=f"{CONSOLE}, http://localhost:5173") as client:
        yield client


async def test_a_preflight_from_an_allowed_origin_is_answered(console_client: httpx.AsyncClient) -> None:
    for origin in (CONSOLE, "http://localhost:5173"):
        response = await console_client.options("/graphql", headers=preflight(origin))

        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == origin
        assert {"GET", "POST"} <= set(re.split(r",\s*", response.headers["access-control-allow-methods"]))
        allowed_headers = set(re.split(r",\s*", response.headers["access-control-allow-headers"].lower()))
        assert {"authorization", "content-type"} <= allowed_headers
        assert "access-control-allow-credentials" not in response.headers
        assert "origin" in response.headers["vary"].lower()
        assert int(response.headers["access-control-max-age"]) > 0


async def test_a_preflight_that_asks_too_much_is_refused_as_json(console_client: httpx.AsyncClient) -> None:
    cases = {
        "another origin": preflight("https://evil.example"),
        "an allowed origin's sibling": preflight("https://console.example.com.evil.example"),
        "another scheme": preflight("http://console.example.com"),
        "the null origin": preflight("null"),
        "a method not served": preflight(CONSOLE, method="DELETE"),
        "a header not allowed": preflight(CONSOLE, headers="authorization, x-forwarded-for"),
    }
    failures = []
    for name, headers in cases.items():
        response = await console_client.options("/graphql", headers=headers)

        if not is_refusal(response, 403, "CORS_REFUSED") or "access-control-allow-origin" in response.headers:
            failures.append(f"[{name}] {response.status_code} {dict(response.headers)} {response.text[:200]}")
    assert not failures, "\n".join(failures)


async def test_a_request_from_an_allowed_origin_may_be_read_by_it(
    console_client: httpx.AsyncClient, owner: Staff
) -> None:
    response = await console_client.post(
        "/graphql", json={"query": ME}, headers={"origin": CONSOLE, **bearer(owner.token)}
    )

    assert response.status_code == 200
    assert answers_me(response, owner)
    assert response.headers["access-control-allow-origin"] == CONSOLE
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed
    assert "access-control-allow-credentials" not in response.headers


async def test_a_request_from_another_origin_gets_no_permission_to_read(
    console_client: httpx.AsyncClient, owner: Staff
) -> None:
    response = await console_client.post(
        "/graphql", json={"query": ME}, headers={"origin": "https://evil.example", **bearer(owner.token)}
    )

    assert "access-control-allow-origin" not in response.headers
    assert "origin" in response.headers["vary"].lower()


async def test_without_an_allow_list_no_other_origin_is_allowed(api: Api, owner: Staff) -> None:
    answered = await api.client.options("/graphql", headers=preflight(CONSOLE))
    read = await api.client.post(
        "/graphql", json={"query": ME}, headers={"origin": CONSOLE, **bearer(owner.token)}
    )

    assert is_refusal(answered, 403, "CORS_REFUSED"), answered.text
    assert "access-control-allow-origin" not in answered.headers
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers


def test_the_allow_list_takes_exact_origins_only() -> None:
    for bad in (
        "*",
        "https://*.example.com",
        "console.example.com",
        "https://console.example.com/app",
        "null",
        "https://console.example.com?x=1",
        "https://user@console.example.com",
        "ftp://console.example.com",
    ):
        with pytest.raises(ValidationError, match="cors_origins"):
            Settings(cors_origins=bad)


def test_the_allow_list_is_read_as_origins_browsers_send() -> None:
    settings = Settings(cors_origins=" https://Console.Example.com/ , http://localhost:5173,")

    assert settings.allowed_origins == ("https://console.example.com", "http://localhost:5173")


# --- security headers ----------------------------------------------------------------------------------


async def every_kind_of_response(client: httpx.AsyncClient, token: str) -> dict[str, httpx.Response]:
    return {
        "GraphQL over POST": await client.post("/graphql", json={"query": ME}, headers=bearer(token)),
        "GraphQL over GET": await client.get("/graphql", params={"query": ME}, headers=bearer(token)),
        "GraphQL request error": await client.post(
            "/graphql", content=b"{", headers={"content-type": "application/json"}
        ),
        "415": await client.post("/graphql", content=b"x", headers={"content-type": "text/plain"}),
        "token endpoint": await client.post("/oauth/token", data={"grant_type": "client_credentials"}),
        "health": await client.get("/healthz"),
        "keys": await client.get("/.well-known/jwks.json"),
        "404": await client.get("/nope"),
        "405": await client.put("/graphql"),
    }


async def test_every_response_carries_the_security_headers(api: Api, owner: Staff) -> None:
    failures = []
    for name, response in (await every_kind_of_response(api.client, owner.token)).items():
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        if (
            headers.get("x-content-type-options") != "nosniff"
            or headers.get("referrer-policy") != "no-referrer"
            or headers.get("x-frame-options") != "DENY"
            or "frame-ancestors 'none'" not in policy
            or "default-src 'none'" not in policy
            or not headers.get("strict-transport-security", "").startswith("max-age=")
        ):
            failures.append(f"[{name}] {dict(headers)}")
    assert not failures, "\n".join(failures)


async def test_graphql_and_token_responses_are_never_stored(api: Api, owner: Staff) -> None:
    responses = await every_kind_of_response(api.client, owner.token)

    stored = {
        name: response.headers.get("cache-control")
        for name, response in responses.items()
        if name != "keys" and response.headers.get("cache-control") != "no-store"
    }
    assert not stored, stored
    assert responses["keys"].headers["cache-control"] == "public, max-age=300"  # public keys may be cached


async def test_no_strict_transport_security_when_the_public_url_is_plain_http(
    settings: Settings, services: Services
) -> None:
    async with client_of(settings, services, public_url="http://127.0.0.1:8000") as client:
        response = await client.get("/healthz")

    assert "strict-transport-security" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


# --- methods ---------------------------------------------------------------------------------------------


async def test_head_is_answered_as_get(api: Api, owner: Staff) -> None:
    get = await api.client.get("/graphql", params={"query": ME}, headers=bearer(owner.token))
    head = await api.client.head("/graphql", params={"query": ME}, headers=bearer(owner.token))

    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_a_method_not_served_is_405_naming_the_methods_that_are(api: Api) -> None:
    served = {"/graphql": {"GET", "HEAD", "POST"}, "/oauth/token": {"POST"}}
    for method, path in (
        ("PUT", "/graphql"),
        ("DELETE", "/graphql"),
        ("OPTIONS", "/graphql"),
        ("GET", "/oauth/token"),
    ):
        response = await api.client.request(method, path)

        assert is_refusal(response, 405, "METHOD_NOT_ALLOWED"), (method, path, response.text)
        assert set(response.headers["allow"].split(", ")) == served[path], (method, path, response.headers)


async def test_an_unhandled_failure_is_a_json_500_with_the_request_id_and_the_headers(
    settings: Settings, services: Services
) -> None:
    async def failing(_request: Request) -> Response:
        raise RuntimeError("a bug, with a secret in it")

    app = create_app(settings, services=services)
    app.router.routes.insert(0, Route("/fails", failing))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get("/fails", headers={"x-request-id": "req-500"})

    assert response.status_code == 500
    assert response.json() == {
        "errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL"}}]
    }
    assert response.headers["x-request-id"] == "req-500"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
