"""The admin console and GraphiQL: one Vite build (``console/``), served by this server.

``npm run build`` (which ``make run`` runs when the sources changed) writes ``console_dist/`` beside
this module, so it is found in an editable install and in the wheel alike: ``index.html`` (the
console), ``graphiql.html`` and content-hashed files under ``assets/``. The hashed files never change
under their names, so browsers keep them a year; the two pages are revalidated on every load, so a new
build is picked up at once. Assets go gzipped to browsers that take it (GraphiQL's scripts shrink
from ~1 MB to ~340 kB; no secret is in them, so compression cannot leak one, as it could in API
answers). Before a build, the pages answer a short page saying how to build it, and the API works.

The console routes in the browser (``/users/…``, ``/approvals/<id>``, ``/settings``, …): any GET that
accepts HTML, outside the API's own addresses, is answered ``index.html``, and the console shows the
screen for its path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from loyalty.web.security_headers import CONSOLE_POLICY

BUILT_CONSOLE = Path(__file__).parent / "console_dist"
# Content-hashed names: a changed file gets a new name, so a cached one never goes stale.
IMMUTABLE = "public, max-age=31536000, immutable"
# The pages name the current hashed files: the browser checks back on every load.
REVALIDATE = "no-cache"

NOT_BUILT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Loyalty: the console is not built</title></head>
<body>
<h1>The console is not built yet</h1>
<p>The admin console and GraphiQL are built from <code>console/</code> with npm.
<code>make run</code> builds them and serves them; to build only:
<code>cd console &amp;&amp; uv run --frozen npm ci &amp;&amp; uv run --frozen npm run build</code>,
then reload this page.</p>
<p>The API answers meanwhile at <code>/graphql</code>.</p>
</body>
</html>
"""


def accepts_html(request: Request) -> bool:
    """Whether a browser navigates here (it asks for HTML); scripts and API clients do not."""
    return "text/html" in request.headers.get("accept", "")


class _HashedAssets(StaticFiles):
    """``assets/``: cached for a year, under the console's policy (a worker script runs under the
    policy its own response carries)."""

    async def check_config(self) -> None:
        """Nothing to check: before a build each asset is a 404, not a 500 (and ``/`` says why)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = IMMUTABLE
        response.headers["content-security-policy"] = CONSOLE_POLICY
        return response


class ConsolePages:
    """The built console's files: its pages, its assets and GraphiQL's page."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or BUILT_CONSOLE  # LOYALTY_CONSOLE_DIR may name another

    def routes(self, api_routes: Sequence[BaseRoute]) -> list[BaseRoute]:
        """The console's routes, to go after ``api_routes``, whose first path segments stay the API's."""

        async def page(_request: Request) -> Response:
            response = self._page("index.html")
            response.headers["vary"] = "Accept"  # asked for without HTML, the same address is a 404
            return response

        return [
            Mount(
                "/assets",
                app=GZipMiddleware(
                    _HashedAssets(directory=self.folder / "assets", check_dir=False), compresslevel=6
                ),
            ),
            _ClientRoutes(page, reserved=_first_segments(api_routes) | {"assets"}),
        ]

    async def graphiql(self, _request: Request) -> Response:
        return self._page("graphiql.html")

    def _page(self, name: str) -> Response:
        path = self.folder / name
        if not path.is_file():
            return HTMLResponse(NOT_BUILT)
        return FileResponse(
            path,
            media_type="text/html",
            headers={"cache-control": REVALIDATE, "content-security-policy": CONSOLE_POLICY},
        )


class _ClientRoutes(Route):
    """A browser's GET of any path outside the ``reserved`` first segments. Those stay the API's (an
    unknown ``/auth/…`` is a JSON 404, a GET of ``/auth/refresh`` a 405), and a request that does not
    ask for HTML is not the console's either (a JSON 404)."""

    def __init__(self, page: Callable[[Request], Awaitable[Response]], *, reserved: set[str]) -> None:
        super().__init__("/{path:path}", page, methods=["GET"])
        self._reserved = frozenset(reserved)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not accepts_html(Request(scope)):
            return Match.NONE, {}
        if scope["path"].lstrip("/").split("/", 1)[0] in self._reserved:
            return Match.NONE, {}
        return super().matches(scope)


def _first_segments(routes: Iterable[BaseRoute]) -> set[str]:
    return {route.path.strip("/").split("/", 1)[0] for route in routes if isinstance(route, Route | Mount)}
