"""Cross-origin calls from browsers: allowed for an allow-list of exact origins, refused for the rest.

No ``Access-Control-Allow-Credentials``: the API takes bearer tokens in ``Authorization``, not
cookies, so a browser never needs to send credentials along, and a page on another origin can never
ride on a signed-in user's session.
"""

from __future__ import annotations

from collections.abc import Iterable

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


class CORSMiddleware:
    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self._origins = frozenset(origins)
        self._allowed_headers = frozenset(name.lower() for name in ALLOWED_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Same-origin only (no list): nothing to add to an answer, which never varies by origin.
        if scope["type"] != "http" or (not self._origins and scope["method"] != "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            await self._preflight(origin, headers)(scope, receive, send)
            return
        if not self._origins:
            await self.app(scope, receive, send)
            return
        allowed = origin if origin in self._origins else None

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if allowed is not None:
                    response_headers["access-control-allow-origin"] = allowed
                    response_headers["access-control-expose-headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self, origin: str, headers: Headers) -> Response:
        """The answer to a browser asking whether ``origin`` may send a request: yes with exactly
        what is allowed, or a JSON 403 saying what is not (a browser then refuses the call)."""
        method = headers["access-control-request-method"]
        requested = {
            name.strip().lower() for name in headers.get("access-control-request-headers", "").split(",")
        }
        refused_headers = sorted(requested - self._allowed_headers - {""})
        if origin not in self._origins:
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
