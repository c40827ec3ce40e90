"""Security headers on every response, and the content security policy of the GraphiQL page."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API answers JSON: nothing in it may load, run or be framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# One year; not includeSubDomains, since the operator's other hosts are not ours to pin to HTTPS.
HSTS = "max-age=31536000"
# GraphiQL's scripts and styles come from this CDN (with subresource integrity) until issue 11 bundles them.
GRAPHIQL_CDN = "https://unpkg.com"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def explorer_policy(html: str) -> str:
    """A policy under which the GraphiQL page works: its CDN, its own inline script (by hash, so no
    other inline script runs), requests to this server only, no framing.

    Inline styles are allowed: GraphiQL's editor sets them as it lays out, and a style cannot run code.
    Google Fonts, which GraphiQL's stylesheet imports, are not: the page falls back to the system's
    fonts rather than tell Google who opened it."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {GRAPHIQL_CDN} {hashes}",
            f"style-src {GRAPHIQL_CDN} 'unsafe-inline'",
            f"font-src {GRAPHIQL_CDN} data:",
            "img-src data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    """Adds the headers every response needs; a response may set its own policy and caching
    (the GraphiQL page its policy, the published keys their caching), else it gets the API's:
    a JSON policy and ``no-store``, since GraphQL and token responses hold personal data and secrets."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self._always = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        if https:  # browsers ignore it over plain HTTP, and it would pin a development host to HTTPS
            self._always.append((b"strict-transport-security", HSTS.encode()))
        self._defaults = [(b"content-security-policy", API_POLICY.encode()), (b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += self._always
                headers += [(name, value) for name, value in self._defaults if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
