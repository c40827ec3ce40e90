"""Random HTTP requests never break the server: any method, path, headers and body get a clean answer.

The requests go to every address the app serves (and to some it does not), with random methods,
content types, Accept headers, query strings and bodies (random bytes, JSON of the wrong shape,
huge numbers, deep nesting, NUL, invalid UTF-8, real GraphQL and token requests) and
Authorization headers (garbage, unsigned ``alg: none`` JWTs, truncated tokens, real ones).
Every answer must be under 500, JSON (GraphiQL's page aside), without an ``INTERNAL`` code and
without a trace of the server's insides (see ``tests.fuzzing``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from loyalty.auth.permissions import Role
from loyalty.config import Settings
from tests.conftest import Api
from tests.fuzzing import JSON_VALUES, TEXT, assert_harmless, budget, without_budgets
from tests.test_partners import partner

EXAMPLES = 800
MAX_BODY_BYTES = 1024 * 1024  # the default limit, which the test settings keep
OVERSIZED = b"@@oversized@@"  # a body one byte over the limit, made when sent (it would flood reports)
ADDRESSES = ("/graphql", "/oauth/token", "/healthz", "/readyz", "/.well-known/jwks.json")


@dataclass(frozen=True, repr=False)  # tokens would bury a failure's report
class Secrets:
    """The run's real credentials, which the requests name by a placeholder."""

    staff_token: str
    partner_token: str
    client_id: str
    client_secret: str

    def authorization(self, value: str) -> str | None:
        """The header for a named kind of credential (``@@staff@@``), or ``value`` itself."""
        header: dict[str, Callable[[], str | None]] = {
            "none": lambda: None,
            "staff": lambda: f"Bearer {self.staff_token}",
            "partner": lambda: f"Bearer {self.partner_token}",
            "truncated": lambda: f"Bearer {self.staff_token[:-7]}",
            "tampered": lambda: f"Bearer {_with_payload(self.staff_token, {'role': 'OWNER'})}",
            "alg_none": lambda: f"Bearer {_unsigned(self.staff_token)}",
            "basic": lambda: "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode(),
            "basic_wrong": lambda: "Basic " + base64.b64encode(f"{self.client_id}:nope".encode()).decode(),
        }  # fmt: skip
        kind = value.strip("@")
        return header[kind]() if value == f"@@{kind}@@" and kind in header else value

    def fill(self, body: bytes) -> bytes:
        """``body`` with the client's credentials in place of their placeholders."""
        if body == OVERSIZED:
            return b"x" * (MAX_BODY_BYTES + 1)
        return body.replace(b"@@client_id@@", self.client_id.encode()).replace(
            b"@@client_secret@@", self.client_secret.encode()
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _unsigned(token: str) -> str:
    """The token's claims under ``alg: none`` and no signature: what a forger tries first."""
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{_b64(orjson.dumps(_claims(token)))}."


def _with_payload(token: str, extra: dict[str, Any]) -> str:
    """The token with claims added but the original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(orjson.dumps({**_claims(token), **extra}))}.{signature}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_budgets(settings)


@pytest.fixture
async def secrets(api: Api) -> Secrets:
    owner = await api.user(Role.OWNER)
    await api.user(Role.USER, points_balance=100)
    shop = await partner(api, "users:read", "points:read")
    return Secrets(owner.token, shop.token, shop.client_id, shop.secret)


# --- the requests ---------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    """JSON text of any value, integers past 64 bits included (orjson refuses those)."""
    return json.dumps(value).encode()


DOCUMENTS = st.sampled_from(
    [
        "{ me { id email } }",
        "{ users(first: 5) { totalCount edges { node { id totalPoints } } } }",
        "query($id: ID!) { user(id: $id) { id } }",
        'mutation { signOut(refreshToken: "x") { ok } }',
        "subscription { me { id } }",
        "query A { me { id } } query B { logRetentionDays }",
        "{ __schema { types { name } } }",
        "{ me { id ",
        "{" * 3000 + "}" * 3000,
        "{ me { " + "pointsAccounts { user { " * 200 + "id" + " } }" * 200 + " } }",
    ]
)
# Automatic persisted queries: a hash of a document (sent with it, or alone to run a stored one) or not.
PERSISTED = st.fixed_dictionaries(
    {
        "persistedQuery": st.fixed_dictionaries(
            {"version": st.sampled_from([1, 2, "1", None])},
            optional={
                "sha256Hash": DOCUMENTS.map(lambda query: hashlib.sha256(query.encode()).hexdigest()) | TEXT
            },
        )
    }
)
GRAPHQL_BODIES = st.one_of(
    st.fixed_dictionaries(
        {"query": DOCUMENTS | TEXT},
        optional={
            "variables": JSON_VALUES,
            "operationName": JSON_VALUES,
            "extensions": PERSISTED | JSON_VALUES,
        },
    ),
    st.fixed_dictionaries({"extensions": PERSISTED}, optional={"variables": JSON_VALUES}),
).map(_json)
FORM_VALUES = (
    st.sampled_from(["@@client_id@@", "@@client_secret@@", "client_credentials", "password", ""]) | TEXT
)
FORMS = st.one_of(
    st.fixed_dictionaries(  # nearly a token request
        {"grant_type": st.just("client_credentials") | FORM_VALUES},
        optional={
            "client_id": st.just("@@client_id@@") | FORM_VALUES,
            "client_secret": st.just("@@client_secret@@") | FORM_VALUES,
            "scope": st.sampled_from(["users:read", "points:read users:read", "points:credit", "openid"])
            | TEXT,
        },
    ),
    st.dictionaries(
        st.sampled_from(["grant_type", "client_id", "client_secret", "scope"]) | TEXT, FORM_VALUES, max_size=5
    ),
).map(lambda form: urlencode(form).encode())
# Bodies that have broken JSON parsers: huge numbers, deep nesting, NUL, lone surrogates, bad UTF-8.
NASTY_BODIES = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b'"query"',
        b'{"query": 1e999999}',
        b'{"query": "{ me { id } }", "variables": {"id": ' + b"9" * 5000 + b"}}",
        b"[" * 2000 + b"]" * 2000,
        b'{"query": "{ me { id } }\\u0000"}',
        b'{"query": "{ me { id } }", "variables": {"a": "\\ud800"}}',
        b'{"query": "\xff\xfe{ me }"}',
        b'\xef\xbb\xbf{"query": "{ me { id } }"}',
        b'{"query": "{ me { id } }", "query": "{ logRetentionDays }"}',
        b"grant_type=client_credentials&grant_type=client_credentials",
        b"grant_type=%ff%fe&client_id=%00",
        OVERSIZED,
    ]
)
BODIES = st.one_of(st.binary(max_size=200), JSON_VALUES.map(_json), GRAPHQL_BODIES, FORMS, NASTY_BODIES)

PATHS = st.one_of(
    st.sampled_from(ADDRESSES),
    st.sampled_from(ADDRESSES).map(lambda path: path + "/"),
    st.sampled_from(["/", "//graphql", "/graphql/../healthz", "/%2e%2e/etc/passwd", "/GRAPHQL", "/graphql%00", "/" + "a" * 3000]),
    TEXT.map(lambda text: "/" + "".join(f"%{byte:02X}" for byte in text.encode())),
)  # fmt: skip
METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/graphql-response+json",
        "application/graphql",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "text/html",
        "*/*",
        "garbage",
        "application/json; boundary",
    ]
)
ACCEPTS = st.sampled_from(
    [
        None,
        "*/*",
        "application/json",
        "application/graphql-response+json",
        "application/graphql-response+json, application/json;q=0.9",
        "text/html",
        "text/html, */*",
        "image/png",
        "application/json;q=abc",
        "",
    ]
)
AUTHORIZATIONS = (
    st.sampled_from(
        ["none", "staff", "partner", "truncated", "tampered", "alg_none", "basic", "basic_wrong"]
    ).map("@@{}@@".format)
    | st.sampled_from(
        ["Bearer", "Bearer ", "bearer x.y.z", "Bearer a.b", "Token abc", "Basic ###", "Basic " + "A" * 3000]
    )
    | TEXT
)
QUERY_STRINGS = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["query", "variables", "operationName", "extensions"]) | TEXT, DOCUMENTS | TEXT, max_size=3),
    st.fixed_dictionaries({"query": DOCUMENTS}, optional={"variables": JSON_VALUES.map(json.dumps) | TEXT}),
    st.fixed_dictionaries({"extensions": PERSISTED.map(json.dumps)}, optional={"query": DOCUMENTS}),
)  # fmt: skip
FORWARDED_FOR = st.none() | st.sampled_from(["1.2.3.4", "::1", "not an address", "1.2.3.4, " * 300])


@dataclass(frozen=True)
class RandomRequest:
    method: str
    path: str
    params: dict[str, str] | None
    content_type: str | None
    accept: str | None
    authorization: str
    forwarded_for: str | None
    body: bytes


ANY_REQUEST = st.builds(
    RandomRequest,
    method=METHODS,
    path=PATHS,
    params=QUERY_STRINGS,
    content_type=CONTENT_TYPES,
    accept=ACCEPTS,
    authorization=AUTHORIZATIONS,
    forwarded_for=FORWARDED_FOR,
    body=BODIES,
)
# Most requests are nearly right, so that they pass the checks at the door and reach the work.
GRAPHQL_REQUEST = st.builds(
    RandomRequest,
    method=st.sampled_from(["POST", "POST", "GET"]),
    path=st.just("/graphql"),
    params=QUERY_STRINGS,
    content_type=st.just("application/json") | CONTENT_TYPES,
    accept=st.none() | ACCEPTS,
    authorization=AUTHORIZATIONS,
    forwarded_for=FORWARDED_FOR,
    body=GRAPHQL_BODIES | BODIES,
)
TOKEN_REQUEST = st.builds(
    RandomRequest,
    method=st.sampled_from(["POST", "POST", "GET"]),
    path=st.just("/oauth/token"),
    params=st.none(),
    content_type=st.just("application/x-www-form-urlencoded") | CONTENT_TYPES,
    accept=st.none() | ACCEPTS,
    authorization=AUTHORIZATIONS,
    forwarded_for=FORWARDED_FOR,
    body=FORMS | BODIES,
)
REQUESTS = st.one_of(GRAPHQL_REQUEST, GRAPHQL_REQUEST, TOKEN_REQUEST, ANY_REQUEST)


# --- the test -------------------------------------------------------------------------------------


@budget(EXAMPLES)
@given(request=REQUESTS)
async def test_random_http_requests_are_answered_cleanly(
    api: Api, secrets: Secrets, request: RandomRequest
) -> None:
    headers: dict[str, bytes] = {}
    for name, value in (
        ("authorization", secrets.authorization(request.authorization)),
        ("content-type", request.content_type),
        ("accept", request.accept),
        ("x-forwarded-for", request.forwarded_for),
    ):
        if value is not None:
            headers[name] = value.encode()  # UTF-8 bytes: what a client may send
    body = secrets.fill(request.body)
    response = await api.client.request(
        request.method, request.path, params=request.params, headers=headers, content=body
    )
    assert_harmless(
        response, sent=f"{request.method} {request.path} {request.params} {headers} {body[:300]!r}"
    )
    known = request.path if request.path in ADDRESSES else "elsewhere"
    event(f"{known} -> {response.status_code}")  # shown by --hypothesis-show-statistics


# --- what the fuzzer found ------------------------------------------------------------------------


async def test_a_token_request_whose_authorization_is_a_scheme_and_a_space_is_an_invalid_client(
    api: Api,
) -> None:
    """Was a 500 (also over uvicorn): authlib split ``Basic `` into one word and failed to unpack it."""
    response = await api.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded", "authorization": "Basic "},
    )

    body = assert_harmless(response, sent="POST /oauth/token, Authorization: 'Basic '")
    assert (response.status_code, body["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("credentials", "form"),
    [
        pytest.param({}, b"grant_type=client_credentials&client_id=%00&client_secret=x", id="in the form"),
        pytest.param(
            {"authorization": "Basic AAA6eA=="}, b"grant_type=client_credentials", id="in http basic"
        ),
    ],
)
async def test_a_token_request_whose_client_id_holds_a_nul_is_an_invalid_request(
    api: Api, credentials: dict[str, str], form: bytes
) -> None:
    """Was a 500 on PostgreSQL, which stores no NUL: the client's lookup failed, then its log entry."""
    response = await api.client.post(
        "/oauth/token",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded", **credentials},
    )

    body = assert_harmless(response, sent=f"POST /oauth/token {credentials} {form!r}")
    assert (response.status_code, body["error"]) == (400, "invalid_request")
