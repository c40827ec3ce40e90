"""The console's refresh token, kept in a cookie its scripts cannot read (README: The console's sessions).

A client opts in with the header ``Loyalty-Refresh-Cookie: 1``; partners and scripts, which send no
such header, keep receiving refresh tokens in the body as before.

The cookie is HttpOnly (no script, so no injected script, reads it), SameSite=Strict (no other site's
page makes the browser send it), scoped to ``/auth`` (it travels only to the refresh and sign-out
endpoints, never with GraphQL requests) and Secure, except for plain HTTP to a loopback host, where a
developer's ``make run`` has no TLS.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "loyalty_refresh"
COOKIE_PATH = "/auth"
OPT_IN_HEADER = "Loyalty-Refresh-Cookie"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def opts_in(header_value: str | None) -> bool:
    """Whether a request whose ``Loyalty-Refresh-Cookie`` header is ``header_value`` keeps its refresh
    token in the cookie (the console does)."""
    return header_value == "1"


def asks_for_cookie(request: Request) -> bool:
    return opts_in(request.headers.get(OPT_IN_HEADER))


def _secure(request: Request) -> bool:
    return not (request.url.scheme == "http" and request.url.hostname in LOOPBACK_HOSTS)


class RefreshCookie:
    """Reads, sets and clears the refresh token's cookie; it lives as long as the token."""

    def __init__(self, *, max_age_seconds: int) -> None:
        self._max_age = max_age_seconds

    def read(self, request: Request) -> str | None:
        return request.cookies.get(COOKIE_NAME) or None

    def set(self, response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=self._max_age,
            path=COOKIE_PATH,
            secure=_secure(request),
            httponly=True,
            samesite="strict",
        )

    def header(self, request: Request, token: str) -> tuple[bytes, bytes]:
        """The ``Set-Cookie`` header that keeps ``token``, for an answer that is not a Starlette response."""
        carrier = Response()
        self.set(carrier, request, token)
        return next(header for header in carrier.raw_headers if header[0] == b"set-cookie")

    def clear(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            COOKIE_NAME, path=COOKIE_PATH, secure=_secure(request), httponly=True, samesite="strict"
        )
