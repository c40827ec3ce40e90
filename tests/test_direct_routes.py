"""``/graphql`` and ``/oauth/token`` are answered before Starlette's middlewares and router
(web/direct_routes.py), and answer exactly as they did through them: the same status, headers and
body for every kind of request."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from tests.conftest import Api, Staff

CONSOLE = "https://console.example.com"
TOKEN_PATH = "/oauth/token"
ME = "{ me { email } }"


@pytest.fixture
async def app(settings: Settings, services: Services) -> Starlette:
    """The app with a CORS allow-list, so that every header the middlewares add is in play."""
    return create_app(settings.model_copy(update={"cors_origins": CONSOLE}), services=services)


@pytest.fixture
async def clients(app: Starlette) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A client of the app as served, and one of the same app through Starlette alone (its middlewares
    and router, which answered both addresses before the direct routes)."""
    through_starlette = functools.partial(Starlette.__call__, app)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as served,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=through_starlette), base_url="http://testserver"
        ) as starlette,
    ):
        yield served, starlette


def _requests(token: str) -> dict[str, dict[str, Any]]:
    """Requests of every kind /graphql meets, by what they are."""
    json = {"content-type": "application/json"}
    signed_in = {**json, "authorization": f"Bearer {token}"}
    preflight = {"origin": CONSOLE, "access-control-request-method": "POST"}
    return {
        "a query": {"method": "POST", "content": orjson.dumps({"query": ME}), "headers": signed_in},
        "a query from the console's origin": {
            "method": "POST",
            "content": orjson.dumps({"query": ME}),
            "headers": {**signed_in, "origin": CONSOLE},
        },
        "a query from another origin": {
            "method": "POST",
            "content": orjson.dumps({"query": ME}),
            "headers": {**signed_in, "origin": "https://elsewhere.example.com"},
        },
        "an anonymous query": {"method": "POST", "content": orjson.dumps({"query": ME}), "headers": json},
        "the newer media type": {
            "method": "POST",
            "content": orjson.dumps({"query": "{ me { nope } }"}),
            "headers": {**signed_in, "accept": "application/graphql-response+json"},
        },
        "a query string": {"method": "GET", "params": {"query": ME}, "headers": signed_in},
        "HEAD": {"method": "HEAD", "params": {"query": ME}, "headers": signed_in},
        "a mutation in a GET": {
            "method": "GET",
            "params": {"query": 'mutation { signOut(refreshToken: "x") }'},
            "headers": signed_in,
        },
        "a body that is not JSON": {"method": "POST", "content": b"{", "headers": json},
        "a form": {"method": "POST", "content": b"query=x", "headers": {"content-type": "text/plain"}},
        "a body too large": {"method": "POST", "content": b" " * (1024 * 1024 + 1), "headers": json},
        "an Accept of neither type": {
            "method": "POST",
            "content": orjson.dumps({"query": ME}),
            "headers": {**json, "accept": "text/csv"},
        },
        "a browser opening GraphiQL": {"method": "GET", "headers": {"accept": "text/html"}},
        "PUT": {"method": "PUT", "content": b"{}", "headers": json},
        "OPTIONS without a preflight": {"method": "OPTIONS", "headers": {"origin": CONSOLE}},
        "a preflight": {"method": "OPTIONS", "headers": preflight},
        "a preflight from another origin": {
            "method": "OPTIONS",
            "headers": {**preflight, "origin": "https://elsewhere.example.com"},
        },
        "a query string after the path": {
            "method": "POST",
            "url": "/graphql?x",
            "content": orjson.dumps({"query": ME}),
            "headers": signed_in,
        },
    }


def _token_requests(client_id: str) -> dict[str, dict[str, Any]]:
    """Requests of every kind /oauth/token meets but a granted one (whose token differs every time)."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    grant = b"grant_type=client_credentials"
    preflight = {"origin": CONSOLE, "access-control-request-method": "POST"}
    return {
        "a wrong secret": {"method": "POST", "content": grant, "auth": (client_id, "wrong")},
        "a wrong secret from the console's origin": {
            "method": "POST",
            "content": grant,
            "auth": (client_id, "wrong"),
            "headers": {**form, "origin": CONSOLE},
        },
        "an unknown client": {"method": "POST", "content": grant, "auth": ("nobody", "wrong")},
        "no grant type": {"method": "POST", "content": b"scope=x", "auth": (client_id, "wrong")},
        "a grant type not served": {"method": "POST", "content": b"grant_type=password"},
        "a repeated parameter": {"method": "POST", "content": grant + b"&" + grant},
        "a body too large": {"method": "POST", "content": b"x" * (1024 * 1024 + 1)},
        "GET": {"method": "GET"},
        "a preflight": {"method": "OPTIONS", "headers": preflight},
    }


async def _answer(client: httpx.AsyncClient, request: dict[str, Any]) -> tuple[int, list[Any], bytes]:
    request = {"url": "/graphql", **request}
    request["headers"] = {**request.get("headers", {}), "x-request-id": "req-compared"}
    response = await client.request(**request)
    headers = [
        # Starlette names the methods in an Allow in the order of a set's, which varies by process.
        (name, ", ".join(sorted(value.split(", "))) if name == "allow" else value)
        for name, value in response.headers.multi_items()
    ]
    return response.status_code, sorted(headers), response.content


async def _differences(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], url: str, requests: dict[str, dict[str, Any]]
) -> list[str]:
    """Each request sent to both clients, and where their answers differ."""
    served, starlette = clients
    differences = []
    for name, request in requests.items():
        request = {"url": url, **request}
        direct, stacked = await _answer(served, request), await _answer(starlette, request)
        if direct != stacked:
            differences.append(f"[{name}]\n  direct:    {direct}\n  starlette: {stacked}")
    return differences


async def test_graphql_is_answered_as_starlette_answered_it(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], api: Api, owner: Staff
) -> None:
    differences = await _differences(clients, "/graphql", _requests(owner.token))

    assert not differences, "\n".join(differences)


async def test_the_token_endpoint_is_answered_as_starlette_answered_it(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    partner = await services.partners.create_client("Shop", ["points:read"])

    differences = await _differences(clients, TOKEN_PATH, _token_requests(partner.client_id))

    assert not differences, "\n".join(differences)


async def test_a_token_is_granted_on_the_direct_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    partner = await services.partners.create_client("Shop", ["points:read"])
    served, _ = clients

    response = await served.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(partner.client_id, partner.secret)
    )

    assert response.status_code == 200
    assert response.json()["scope"] == "points:read"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    claims = services.tokens.verify_access_token(response.json()["access_token"])
    assert claims.subject == f"client:{partner.client_id}"


async def test_a_failure_inside_graphql_is_a_json_500_with_the_request_id_and_every_header(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any) -> None:
        raise RuntimeError("a bug, with a secret in it")

    monkeypatch.setattr(services.principals, "authenticate", broken)
    served, starlette = clients
    request = {
        "method": "POST",
        "content": orjson.dumps({"query": ME}),
        "headers": {"content-type": "application/json", "authorization": "Bearer x", "origin": CONSOLE},
    }

    status, headers, body = await _answer(served, request)

    assert status == 500
    assert orjson.loads(body) == {
        "errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL"}}]
    }
    named = dict(headers)
    assert named["x-request-id"] == "req-compared"
    assert named["x-content-type-options"] == "nosniff"
    assert named["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert named["access-control-allow-origin"] == CONSOLE
    assert (status, headers, body) == await _answer(starlette, request)


async def test_graphql_with_a_trailing_slash_is_redirected_as_before(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    served, _ = clients

    response = await served.post("/graphql/", json={"query": ME})

    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/graphql"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_graphql_is_answered_before_starlettes_router(app: Starlette, api: Api, owner: Staff) -> None:
    async def shadow(_request: Request) -> Response:
        return PlainTextResponse("the router's")

    app.router.routes.insert(0, Route("/graphql", shadow, methods=["POST"]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.post(
            "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {owner.token}"}
        )

    assert response.json()["data"] == {"me": {"email": owner.email}}
