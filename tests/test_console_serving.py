"""The console and GraphiQL are served from the build folder: pages, client-side routes, assets, policy.

These test the serving, so they use a small stand-in build in a temporary folder (named by
LOYALTY_CONSOLE_DIR, as an operator would); the real bundle is tested in the browser.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from loyalty.web.console import BUILT_CONSOLE

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
INDEX = '<!doctype html><title>Console</title><script type="module" src="/assets/index-4f2a9c.js"></script>'
GRAPHIQL = (
    '<!doctype html><title>GraphiQL</title><script type="module" src="/assets/graphiql-77e1b0.js"></script>'
)
CLIENT_ROUTES = [
    "/",
    "/sign-in",
    "/users/6f1c2d3e-0000-4000-8000-000000000000",
    "/users/new",
    "/approvals/42",
    "/logs",
    "/settings",
    "/accept-invitation",
    "/reset-password",
]

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build as ``npm run build`` lays it out: two pages and hashed assets."""
    folder = tmp_path / "console_dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "graphiql.html").write_text(GRAPHIQL)
    (folder / "assets" / "index-4f2a9c.js").write_text("console.log('console')")
    (folder / "assets" / "graphiql-77e1b0.js").write_text("console.log('graphiql');\n" * 1000)
    return folder


@pytest.fixture
def client_with(settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A client of the app whose console folder is ``console_dir`` (given as the operator would)."""

    @asynccontextmanager
    async def client(console_dir: Path, **changes: object) -> AsyncIterator[httpx.AsyncClient]:
        monkeypatch.setenv("LOYALTY_CONSOLE_DIR", str(console_dir))
        fields = {name: value for name, value in settings.model_dump().items() if name != "console_dir"}
        app = create_app(Settings(**fields | changes), services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http

    return client


def policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = (part.split() for part in response.headers["content-security-policy"].split(";"))
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", CLIENT_ROUTES)
async def test_the_console_answers_each_of_its_routes_with_its_page(
    client_with: Client, build: Path, path: str
) -> None:
    async with client_with(build) as client:
        response = await client.get(path, headers=HTML)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == INDEX


async def test_the_console_page_is_revalidated_on_every_load_and_varies_by_accept(
    client_with: Client, build: Path
) -> None:
    async with client_with(build) as client:
        response = await client.get("/", headers=HTML)

    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    "path",
    [
        "/graphql/schema",
        "/auth/session",
        "/oauth/authorize",
        "/.well-known/openid-configuration",
        "/healthz/deep",
    ],
)
async def test_unknown_api_addresses_are_json_404s_not_the_console(
    client_with: Client, build: Path, path: str
) -> None:
    async with client_with(build) as client:
        response = await client.get(path, headers=HTML)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_the_api_endpoints_answer_a_browser_as_before(client_with: Client, build: Path) -> None:
    async with client_with(build) as client:
        health = await client.get("/healthz", headers=HTML)
        refresh = await client.get("/auth/refresh", headers=HTML)
        keys = await client.get("/.well-known/jwks.json", headers=HTML)

    assert health.json() == {"status": "ok"}
    assert refresh.status_code == 405
    assert refresh.headers["content-type"] == "application/json"
    assert "keys" in keys.json()


async def test_a_client_route_asked_for_without_html_is_a_json_404(client_with: Client, build: Path) -> None:
    async with client_with(build) as client:
        response = await client.get("/users/42", headers={"accept": "application/json"})

    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_hashed_asset_is_cached_for_a_year_as_immutable(client_with: Client, build: Path) -> None:
    async with client_with(build) as client:
        response = await client.get("/assets/index-4f2a9c.js")

    assert response.status_code == 200
    assert response.text == "console.log('console')"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_large_asset_is_sent_gzipped_to_a_browser_that_takes_it(
    client_with: Client, build: Path
) -> None:
    async with client_with(build) as client:
        gzipped = await client.get("/assets/graphiql-77e1b0.js", headers={"accept-encoding": "gzip"})
        plain = await client.get("/assets/graphiql-77e1b0.js", headers={"accept-encoding": "identity"})

    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < 1000
    assert gzipped.text == plain.text == "console.log('graphiql');\n" * 1000
    assert "content-encoding" not in plain.headers
    assert gzipped.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("path", ["/assets/index-000000.js", "/assets/%2e%2e/index.html"])
async def test_an_asset_that_is_not_in_the_build_is_a_json_404(
    client_with: Client, build: Path, path: str
) -> None:
    async with client_with(build) as client:
        response = await client.get(path, headers=HTML)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/", "/graphql", "/assets/index-4f2a9c.js"])
async def test_the_console_runs_only_scripts_styles_and_fonts_from_this_server(
    client_with: Client, build: Path, path: str
) -> None:
    async with client_with(build) as client:
        response = await client.get(path, headers=HTML)

    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == ["'self'"]
    assert directives["font-src"] == ["'self'"]  # GraphiQL's embedded fonts are dropped at build
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]


async def test_graphiql_is_the_bundled_page_loading_scripts_from_this_server_only(
    client_with: Client, build: Path
) -> None:
    async with client_with(build) as client:
        response = await client.get("/graphql", headers=HTML)

    assert response.status_code == 200
    assert response.text == GRAPHIQL
    sources = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]*)\"", response.text)
    assert sources
    assert all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert response.headers["vary"] == "Accept"


async def test_graphiql_is_not_served_when_turned_off(client_with: Client, build: Path) -> None:
    async with client_with(build, graphiql=False) as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 406
    assert response.headers["content-type"] == "application/json"


async def test_without_a_build_the_pages_say_how_to_build_it_and_the_api_works(
    client_with: Client, tmp_path: Path
) -> None:
    async with client_with(tmp_path / "never-built") as client:
        console = await client.get("/settings", headers=HTML)
        graphiql = await client.get("/graphql", headers=HTML)
        asset = await client.get("/assets/index-4f2a9c.js")
        api = await client.post("/graphql", json={"query": "{ __typename }"})

    for page in (console, graphiql):
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "make run" in page.text
        assert "<script" not in page.text
        assert policy(page)["default-src"] == ["'none'"]
    assert asset.status_code == 404
    assert api.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("page", ["index.html", "graphiql.html"])
def test_the_built_pages_load_only_this_servers_files_and_run_no_inline_script(page: str) -> None:
    """The real build against the policy: what the browser tests would see as violations, found here
    in milliseconds, naming the file."""
    built = BUILT_CONSOLE / page
    if not built.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{built} is not built (make test builds it)")
        pytest.skip(f"the console is not built ({built}); make run or make test builds it")
    html = built.read_text()

    scripts = re.findall(r"<script\b([^>]*)>", html)
    addresses = re.findall(r"\b(?:src|href)=\"([^\"]*)\"", html)
    stylesheets = [BUILT_CONSOLE / address.lstrip("/") for address in addresses if address.endswith(".css")]
    assert scripts
    assert all('src="/assets/' in attributes for attributes in scripts)  # no inline script
    assert not re.search(r"<style\b|\sstyle=", html)
    assert all(address.startswith(("/assets/", "data:")) for address in addresses), addresses
    for stylesheet in stylesheets:
        css = stylesheet.read_text()
        assert "@import" not in css
        assert not re.findall(r"url\(\s*['\"]?(?:https?:)?//", css), stylesheet
