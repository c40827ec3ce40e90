"""The console's refresh token lives in an HttpOnly cookie (README: The console's sessions).

Cookies are read from ``Set-Cookie`` and sent by hand: the test client's own jar is emptied after
each response, so every request carries exactly the cookie the test names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import Morsel, SimpleCookie

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from tests.conftest import TEST_PASSWORD, Api, Staff
from tests.fuzzing import budget

OPT_IN = {"loyalty-refresh-cookie": "1"}
SIGN_IN = """mutation SignIn($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken refreshToken expiresIn errors { code } }
}"""


def refresh_cookie(response: httpx.Response) -> Morsel[str]:
    """The one ``loyalty_refresh`` cookie the response sets."""
    headers = [
        value for value in response.headers.get_list("set-cookie") if value.startswith("loyalty_refresh=")
    ]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    jar: SimpleCookie = SimpleCookie()
    jar.load(headers[0])
    return jar["loyalty_refresh"]


def with_cookie(token: str, **headers: str) -> dict[str, str]:
    return {**OPT_IN, "cookie": f"loyalty_refresh={token}", **headers}


async def sign_in(
    client: httpx.AsyncClient, staff: Staff, headers: dict[str, str] = OPT_IN
) -> httpx.Response:
    response = await client.post(
        "/graphql",
        json={"query": SIGN_IN, "variables": {"email": staff.email, "password": TEST_PASSWORD}},
        headers=headers,
    )
    client.cookies.clear()
    assert response.json()["data"]["signIn"]["errors"] == []
    return response


async def post(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
    response = await client.post(path, headers=headers)
    client.cookies.clear()
    return response


async def signed_in_cookie(api: Api, owner: Staff) -> str:
    return refresh_cookie(await sign_in(api.client, owner)).value


@asynccontextmanager
async def client_of(
    settings: Settings, services: Services, base_url: str, **changes: object
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(**settings.model_dump() | changes), services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
        yield client


# --- signing in ----------------------------------------------------------------------------------------


async def test_a_console_sign_in_puts_the_refresh_token_in_a_cookie_and_not_in_the_body(
    api: Api, owner: Staff, settings: Settings
) -> None:
    response = await sign_in(api.client, owner)

    payload = response.json()["data"]["signIn"]
    cookie = refresh_cookie(response)
    assert payload["refreshToken"] is None
    assert payload["accessToken"]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "strict"
    assert cookie["path"] == "/auth"
    assert cookie["max-age"] == str(settings.refresh_token_days * 24 * 3600)
    assert cookie["secure"] is True  # http://testserver is not a loopback host


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "http://[::1]:8000", "http://localhost:8000"])
async def test_the_cookie_is_not_secure_over_plain_http_to_a_loopback_host(
    settings: Settings, services: Services, owner: Staff, base_url: str
) -> None:
    async with client_of(settings, services, base_url) as client:
        response = await sign_in(client, owner)

    assert refresh_cookie(response)["secure"] == ""


async def test_the_cookie_is_secure_over_https_to_a_loopback_host(
    settings: Settings, services: Services, owner: Staff
) -> None:
    async with client_of(settings, services, "https://127.0.0.1:8443") as client:
        response = await sign_in(client, owner)

    assert refresh_cookie(response)["secure"] is True


async def test_without_the_header_the_refresh_token_stays_in_the_body(api: Api, owner: Staff) -> None:
    response = await sign_in(api.client, owner, headers={})

    assert response.json()["data"]["signIn"]["refreshToken"]
    assert "set-cookie" not in response.headers


async def test_the_cookie_is_set_both_on_the_full_path_and_from_the_operations_plan(
    settings: Settings, services: Services, owner: Staff
) -> None:
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        first = await sign_in(client, owner)  # through graphql-core, which remembers the operation
        known = app.state.schema.known_operations.get((SIGN_IN, None))
        second = await sign_in(client, owner)  # from the operation's compiled plan

    assert known is not None
    assert known.plan is not None
    assert refresh_cookie(first).value != refresh_cookie(second).value
    for response in (first, second):
        assert response.json()["data"]["signIn"]["refreshToken"] is None


# --- refreshing ------------------------------------------------------------------------------------------


async def test_refresh_rotates_the_cookie_and_answers_a_working_access_token(api: Api, owner: Staff) -> None:
    token = await signed_in_cookie(api, owner)

    response = await post(api.client, "/auth/refresh", with_cookie(token))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"accessToken", "expiresIn"}
    assert refresh_cookie(response).value not in ("", token)
    assert refresh_cookie(response)["httponly"] is True
    me = await api.data("{ me { email } }", token=body["accessToken"])
    assert me == {"me": {"email": owner.email}}


async def test_a_reused_cookie_is_refused_cleared_and_revokes_the_session(api: Api, owner: Staff) -> None:
    stolen = await signed_in_cookie(api, owner)
    rotated = refresh_cookie(await post(api.client, "/auth/refresh", with_cookie(stolen))).value

    replayed = await post(api.client, "/auth/refresh", with_cookie(stolen))
    after = await post(api.client, "/auth/refresh", with_cookie(rotated))

    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_token"
    assert refresh_cookie(replayed).value == ""
    assert refresh_cookie(replayed)["max-age"] == "0"
    assert after.status_code == 401  # the whole family went with the replay


async def test_refresh_without_a_cookie_is_401_and_clears_it(api: Api) -> None:
    response = await post(api.client, "/auth/refresh", OPT_IN)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert refresh_cookie(response)["max-age"] == "0"


async def test_refresh_without_the_header_is_refused_and_spends_nothing(api: Api, owner: Staff) -> None:
    token = await signed_in_cookie(api, owner)

    refused = await post(api.client, "/auth/refresh", {"cookie": f"loyalty_refresh={token}"})
    then = await post(api.client, "/auth/refresh", with_cookie(token))

    assert refused.status_code == 403
    assert refused.json()["error"] == "missing_header"
    assert "set-cookie" not in refused.headers
    assert then.status_code == 200  # the token was not used by the refused request


async def test_refresh_from_another_sites_page_is_refused(api: Api, owner: Staff) -> None:
    token = await signed_in_cookie(api, owner)

    refused = await post(api.client, "/auth/refresh", with_cookie(token, origin="https://evil.example"))
    then = await post(api.client, "/auth/refresh", with_cookie(token, origin="http://testserver"))

    assert refused.status_code == 403
    assert refused.json()["error"] == "origin_refused"
    assert then.status_code == 200


@pytest.mark.parametrize(
    ("origin", "changes"),
    [
        ("https://testserver", {}),  # LOYALTY_PUBLIC_URL: behind a proxy ending TLS
        ("https://console.example.com", {"console_url": "https://console.example.com"}),
        ("https://ops.example.com", {"cors_origins": "https://ops.example.com"}),
    ],
)
async def test_refresh_from_this_servers_own_origins_is_allowed(
    settings: Settings, services: Services, owner: Staff, origin: str, changes: dict[str, str]
) -> None:
    async with client_of(settings, services, "http://testserver", **changes) as client:
        token = refresh_cookie(await sign_in(client, owner)).value
        response = await post(client, "/auth/refresh", with_cookie(token, origin=origin))

    assert response.status_code == 200


async def test_refresh_spends_the_addresses_graphql_budget(
    settings: Settings, services: Services, owner: Staff
) -> None:
    async with client_of(settings, services, "http://testserver", rate_limit="25/minute") as client:
        answers = [await post(client, "/auth/refresh", OPT_IN) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [401, 401, 429]
    assert answers[2].json()["error"] == "slow_down"
    assert int(answers[2].headers["retry-after"]) > 0


# Any bytes a header may carry (no CR, LF or NUL), as the cookie's value, after the name, or as a
# whole Cookie header: forged, truncated, oversized, quoted, several cookies of the name at once.
COOKIE_BYTES = st.binary(max_size=3000).filter(lambda value: not {0, 10, 13} & set(value))
COOKIE_HEADERS = st.one_of(
    COOKIE_BYTES.map(lambda value: b"loyalty_refresh=" + value),
    COOKIE_BYTES,
    st.lists(COOKIE_BYTES, min_size=2, max_size=3).map(
        lambda values: b"; ".join(b"loyalty_refresh=" + v for v in values)
    ),
)


@budget(60)
@given(cookie=COOKIE_HEADERS, path=st.sampled_from(["/auth/refresh", "/auth/sign-out"]))
async def test_any_cookie_is_answered_cleanly_and_never_refreshes(api: Api, cookie: bytes, path: str) -> None:
    response = await api.client.post(path, headers={"loyalty-refresh-cookie": b"1", "cookie": cookie})
    api.client.cookies.clear()

    if path == "/auth/refresh":
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token"
    else:
        assert response.status_code == 204, response.text
    assert refresh_cookie(response)["max-age"] == "0"


async def test_a_form_posted_to_refresh_is_415(api: Api, owner: Staff) -> None:
    token = await signed_in_cookie(api, owner)

    response = await post(
        api.client,
        "/auth/refresh",
        with_cookie(token, **{"content-type": "application/x-www-form-urlencoded"}),
    )

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


async def test_refresh_by_get_is_a_json_405(api: Api) -> None:
    response = await api.client.get("/auth/refresh", headers=OPT_IN)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


# --- signing out -----------------------------------------------------------------------------------------


async def test_sign_out_revokes_the_session_and_clears_the_cookie(api: Api, owner: Staff) -> None:
    token = await signed_in_cookie(api, owner)

    signed_out = await post(api.client, "/auth/sign-out", with_cookie(token))
    refresh = await post(api.client, "/auth/refresh", with_cookie(token))

    assert signed_out.status_code == 204
    assert refresh_cookie(signed_out)["max-age"] == "0"
    assert refresh.status_code == 401


async def test_sign_out_without_the_header_is_refused(api: Api, owner: Staff) -> None:
    token = await signed_in_cookie(api, owner)

    refused = await post(api.client, "/auth/sign-out", {"cookie": f"loyalty_refresh={token}"})
    refresh = await post(api.client, "/auth/refresh", with_cookie(token))

    assert refused.status_code == 403
    assert refresh.status_code == 200


async def test_sign_out_without_a_session_still_clears_the_cookie(api: Api) -> None:
    response = await post(api.client, "/auth/sign-out", OPT_IN)

    assert response.status_code == 204
    assert refresh_cookie(response)["max-age"] == "0"
