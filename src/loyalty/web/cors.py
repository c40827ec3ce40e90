"""Cross-origin calls from browsers: allowed for an allow-list of exact origins, refused for the rest.

No ``Access-Control-Allow-Credentials``: the API takes bearer tokens in ``Authorization``, not
cookies, so a browser never needs to send credentials along, and a page on another origin can never
ride on a signed-in user's session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.observability.metrics import Refusal, count_refusal
from loyalty.web.errors import error_response

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-Id")
# What a console reads from a response besides the safelisted headers: the id to quote, the wait after a 429.
EXPOSED_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE_SECONDS = 600


class CorsPolicy:
    """Which origins may call, and what an answer says to each."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origins)
        self._allowed_headers = frozenset(name.lower() for name in ALLOWED_HEADERS)

    def preflight_of(self, method: str, header: Callable[[str], str | None]) -> Response | None:
        """The answer to a browser's preflight (an OPTIONS with Origin and Access-Control-Request-Method),
        whatever the path; None for any other request. ``header`` reads a request header."""
        if method != "OPTIONS":
            return None
        origin, requested_method = header("origin"), header("access-control-request-method")
        if origin is None or requested_method is None:
            return None
        return self._preflight(origin, requested_method, header("access-control-request-headers") or "")

    def mark(self, headers: MutableHeaders, origin: str | None) -> None:
        """Add to a response's ``headers`` what a browser calling from ``origin`` reads (nothing to add
        without an allow-list: the answer never varies by origin)."""
        if not self.origins:
            return
        headers.add_vary_header("Origin")
        if origin in self.origins:
            headers["access-control-allow-origin"] = origin
            headers["access-control-expose-headers"] = EXPOSED_HEADERS

    def _preflight(self, origin: str, method: str, requested_headers: str) -> Response:
        """Yes with exactly what is allowed, or a JSON 403 saying what is not (a browser then refuses
        the call)."""
        requested = {name.strip().lower() for name in requested_headers.split(",")}
        refused_headers = sorted(requested - self._allowed_headers - {""})
        if origin not in self.origins:
            refusal = f"The origin {origin!r} may not call this API from a browser."
        elif method not in ALLOWED_METHODS:
            refusal = f"The method {method!r} is not served; use {' or '.join(ALLOWED_METHODS)}."
        elif refused_headers:
            allowed = ", ".join(ALLOWED_HEADERS)
            refusal = f"The headers {', '.join(refused_headers)} may not be sent; allowed: {allowed}."
        else:
            return Response(
                status_code=204,
                headers={
                    "access-control-allow-origin": origin,
                    "access-control-allow-methods": ", ".join(ALLOWED_METHODS),
                    "access-control-allow-headers": ", ".join(ALLOWED_HEADERS),
                    "access-control-max-age": str(PREFLIGHT_MAX_AGE_SECONDS),
                    "vary": "Origin",
                },
            )
        count_refusal(Refusal.CORS_REFUSED)
        response = error_response(403, "CORS_REFUSED", refusal)
        response.headers["vary"] = "Origin"
        return response


class CORSMiddleware:
    def __init__(self, app: ASGIApp, *, policy: CorsPolicy) -> None:
        self.app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Same-origin only (no list): nothing to add to an answer, which never varies by origin.
        if scope["type"] != "http" or (not self._policy.origins and scope["method"] != "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        preflight = self._policy.preflight_of(scope["method"], headers.get)
        if preflight is not None:
            await preflight(scope, receive, send)
            return
        origin = headers.get("origin")

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._policy.mark(MutableHeaders(scope=message), origin)
            await send(message)

        await self.app(scope, receive, send_with_cors)
