"""Security headers on every response, and the content security policy of the console's pages."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API answers JSON: nothing in it may load, run or be framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# One year; not includeSubDomains, since the operator's other hosts are not ours to pin to HTTPS.
HSTS = "max-age=31536000"
# The console and GraphiQL are one build served from here (web/console.py): every script, style, font
# and image comes from this server, so 'self' is all either page needs. No inline script and no eval
# (the build holds only <script type="module" src>); no inline style (the build links its CSS, and
# GraphiQL 4's CodeMirror sets styles through the DOM, which CSP allows; Monaco, in GraphiQL 5, writes
# <style> elements, which is why the console bundles GraphiQL 4). Images also as data: URLs (an empty
# favicon; an image cannot run code or reach a server); GraphiQL's embedded data: fonts are dropped at
# build, so fonts come from here only.
# Forms post only here, no <base> redirects relative addresses, and no page frames these.
CONSOLE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


RawHeaders = list[tuple[bytes, bytes]]


class SecurityHeaders:
    """The headers every response needs; a response may set its own policy and caching (the console's
    pages their policy, the published keys their caching), else it gets the API's: a JSON policy and
    ``no-store``, since GraphQL and token responses hold personal data and secrets."""

    def __init__(self, *, https: bool) -> None:
        self._always = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        if https:  # browsers ignore it over plain HTTP, and it would pin a development host to HTTPS
            self._always.append((b"strict-transport-security", HSTS.encode()))
        self._defaults = [(b"content-security-policy", API_POLICY.encode()), (b"cache-control", b"no-store")]

    def added_to(self, headers: RawHeaders) -> RawHeaders:
        """``headers`` with the security headers after them."""
        present = {name.lower() for name, _ in headers}
        defaults = [(name, value) for name, value in self._defaults if name not in present]
        return headers + self._always + defaults


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, headers: SecurityHeaders) -> None:
        self.app = app
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers.added_to(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_headers)
