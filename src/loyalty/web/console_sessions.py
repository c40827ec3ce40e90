"""``POST /auth/refresh`` and ``POST /auth/sign-out``: the console's session, kept in its cookie.

The cookie goes with any request to ``/auth`` from this site, so the endpoints take only requests a
page of this server (or of an allowed origin) can make: with the header ``Loyalty-Refresh-Cookie: 1``,
which another site's form or simple request cannot send (a custom header needs a CORS preflight,
which only allowed origins pass), and with an ``Origin``, when there is one, of this server or
``LOYALTY_CORS_ORIGINS``. Each request spends from its address's GraphQL budget, as the
``refreshToken`` mutation does. Answers are JSON: ``{"error": ..., "error_description": ...}`` for
refusals, as ``/oauth/token``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from loyalty.auth.principal import Caller, Origin
from loyalty.schema.limits import REQUEST_WEIGHT
from loyalty.services.container import Services
from loyalty.services.errors import ServiceError
from loyalty.web.errors import JSONResponse
from loyalty.web.media_types import unsupported_body
from loyalty.web.origin import Network, request_origin
from loyalty.web.rate_limit import RateLimiter
from loyalty.web.session_cookie import OPT_IN_HEADER, RefreshCookie, asks_for_cookie


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _refusal(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class ConsoleSessions:
    def __init__(
        self,
        services: Services,
        cookie: RefreshCookie,
        *,
        own_urls: Iterable[str],
        allowed_origins: Iterable[str],
        budget: RateLimiter,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        """``own_urls``: where this server is reached (the issuer, the console's URL); the address a
        request was sent to counts as well."""
        self._services = services
        self._cookie = cookie
        self._origins = frozenset(_origin_of(url) for url in own_urls) | frozenset(allowed_origins)
        self._budget = budget
        self._trusted_proxies = tuple(trusted_proxies)

    async def refresh(self, request: Request) -> Response:
        """A new access token for the cookie's refresh token, which is rotated; 401 and the cookie
        cleared when it is missing, expired, revoked or used before (which revokes its session)."""
        origin = request_origin(request, self._trusted_proxies)
        refused = await self._refused(request, origin)
        if refused is not None:
            return refused
        token = self._cookie.read(request)
        if token is None:
            response = _refusal(401, "invalid_token", "There is no session cookie; sign in.")
            self._cookie.clear(response, request)
            return response
        try:
            session = await self._services.sessions.refresh(token, origin)
        except ServiceError as error:
            response = _refusal(401, "invalid_token", f"The session cannot be refreshed: {error}; sign in.")
            self._cookie.clear(response, request)
            return response
        response = JSONResponse({"accessToken": session.access_token, "expiresIn": session.expires_in})
        self._cookie.set(response, request, session.refresh_token)
        return response

    async def sign_out(self, request: Request) -> Response:
        """Revokes the cookie's session, if any, and clears the cookie: 204 either way."""
        origin = request_origin(request, self._trusted_proxies)
        refused = await self._refused(request, origin)
        if refused is not None:
            return refused
        token = self._cookie.read(request)
        if token is not None:
            await self._services.sessions.sign_out(token, origin)
        response = Response(status_code=204)
        self._cookie.clear(response, request)
        return response

    async def _refused(self, request: Request, caller: Origin) -> Response | None:
        """Why a request may not use the cookie (another site's, a body that is not JSON, over its
        address's budget), or None."""
        if not asks_for_cookie(request):
            return _refusal(403, "missing_header", f"Send the header '{OPT_IN_HEADER}: 1'.")
        page = request.headers.get("origin")
        if page is not None and page.lower() not in self._origins | {_origin_of(str(request.url))}:
            return _refusal(403, "origin_refused", f"Pages of {page!r} may not use this session.")
        content_type = request.headers.get("content-type")
        if content_type is not None and (problem := unsupported_body(content_type)) is not None:
            return _refusal(415, "unsupported_media_type", f"{problem} (or send no body).")
        retry_after = await self._budget.hit(f"ip:{caller.source_ip}", cost=REQUEST_WEIGHT)
        if retry_after is not None:
            await self._services.audit.record_rate_limited(Caller(None, caller))
            response = _refusal(429, "slow_down", f"Too many requests; retry in {retry_after:.0f} s.")
            response.headers["Retry-After"] = str(int(retry_after))
            return response
        return None
