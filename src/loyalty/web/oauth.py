"""``POST /oauth/token``: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), served by authlib.

authlib's server is synchronous and framework-neutral; the client is looked up (asynchronously)
before authlib runs, and authlib's ``query_client`` hands out that record. Client authentication:
HTTP Basic or ``client_id``/``client_secret`` in the form body. Errors are RFC 6749 §5.2 JSON
(``invalid_client`` with 401, ``invalid_scope``, ``unsupported_grant_type``, ...).

Two budgets bound the endpoint: every request spends from its address's before any work (and comes
out of its address's bucket, web/bursts.py, which refuses a burst that the per-minute budget would
let through at once), and a request that authenticates its client spends from that client's as
well. Only an authenticated request spends a client's budget, so nobody who lacks its secret can use
it up and keep the partner from its tokens. Over either budget the answer is 429 with Retry-After
and an RFC 6749 §5.2 body, ``slow_down`` (the code RFC 8628 registered for a client polling too fast).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from starlette import types as asgi

from loyalty.auth.permissions import Scope
from loyalty.auth.principal import Caller, Origin
from loyalty.auth.tokens import secret_digest
from loyalty.datasources.partner_clients import PartnerClientRecord
from loyalty.observability.context import current_request
from loyalty.observability.metrics import Refusal, count_refusal
from loyalty.services.container import Services
from loyalty.web.bursts import Bursts
from loyalty.web.errors import JSONResponse
from loyalty.web.incoming import Answer, BodyTooLarge, Incoming
from loyalty.web.origin import Network
from loyalty.web.rate_limit import RateLimiter

TOKEN_PATH = "/oauth/token"
_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class _Client(ClientMixin):
    def __init__(self, record: PartnerClientRecord) -> None:
        self.record = record

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(secret_digest(client_secret), self.record.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in _AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _PartnerGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(_AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        """A client gets the scopes it asks for, if it holds them all; all it holds if it asks none."""
        held = set(self.request.client.record.scopes)
        requested = scope_to_list(self.request.payload.scope) or sorted(held)
        if not set(requested) <= held:
            raise InvalidScopeError()
        self.request.payload.data["scope"] = " ".join(sorted(requested))


class _FormRequest(OAuth2Request):
    def __init__(self, uri: str, form: dict[str, str], headers: Any) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class _TokenServer(AuthorizationServer):
    """One request's authorization server: it knows the one client the request names."""

    def __init__(self, client: _Client | None, services: Services) -> None:
        super().__init__(scopes_supported=[scope.value for scope in Scope])
        self._client = client
        self.register_grant(_PartnerGrant)
        self.register_token_generator("default", self._generate)
        self._services = services

    def query_client(self, client_id: str) -> _Client | None:
        if self._client is not None and hmac.compare_digest(client_id, self._client.get_client_id()):
            return self._client
        return None

    def _generate(self, *, client: _Client, scope: str, **_: Any) -> dict[str, Any]:
        return self._services.partners.issue_token(client.record, scope_to_list(scope))

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs; there is nothing to store."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals are used."""


class TokenEndpoint:
    METHODS = frozenset({"POST"})

    def __init__(
        self,
        services: Services,
        *,
        token_url: str,
        max_body_bytes: int,
        address_budget: RateLimiter,
        client_budget: RateLimiter,
        address_bursts: Bursts | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self._services = services
        self._token_url = token_url
        self._max_body_bytes = max_body_bytes
        self._address_budget = address_budget
        self._client_budget = client_budget
        self._address_bursts = address_bursts
        self._trusted_proxies = tuple(trusted_proxies)

    def passes_on(self, incoming: Incoming) -> bool:
        """Every request here is the endpoint's own (DirectRoutes answers them before Starlette)."""
        return False

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        """The endpoint as Starlette's route calls it, inside the middlewares."""
        await (await self.answer(Incoming(scope, receive))).send(send)

    async def answer(self, incoming: Incoming) -> Answer:
        origin = incoming.origin(self._trusted_proxies)
        address = f"ip:{origin.source_ip}"
        retry_after = self._address_bursts.take(address) if self._address_bursts is not None else None
        if retry_after is None:
            retry_after = await self._address_budget.hit(address)
        if retry_after is not None:
            return await self._slow_down(origin, retry_after)
        try:
            form = _form(await incoming.body(self._max_body_bytes))
        except BodyTooLarge:
            return _oauth_error(413, "invalid_request", "The body is too large.")
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The body is not UTF-8 form data.")
        except ValueError:
            return _oauth_error(400, "invalid_request", "A parameter is sent more than once.")
        if not form.get("grant_type"):
            return _oauth_error(400, "invalid_request", "grant_type is required.")
        headers = {name.title(): value for name, value in incoming.headers.items()}
        try:
            basic_id, basic_secret = extract_basic_authorization(headers)
        except ValueError:  # a scheme with nothing after it ("Basic "), which authlib fails to split
            return _oauth_error(401, "invalid_client", "The Authorization header holds no credentials.")
        if basic_id and ("client_id" in form or "client_secret" in form):
            return _oauth_error(
                400, "invalid_request", "Authenticate the client one way only (RFC 6749 §2.3)."
            )
        if any("\x00" in value for value in (*form.values(), basic_id or "", basic_secret or "")):
            # PostgreSQL stores no NUL: the client's lookup and its log entry would fail.
            return _oauth_error(400, "invalid_request", "Parameters may not hold NUL characters.")
        claimed_id = basic_id or form.get("client_id")
        record = await self._services.partners.find_active_client(claimed_id) if claimed_id else None
        secret = basic_secret if basic_id else form.get("client_secret")
        if record is not None and secret and _Client(record).check_client_secret(secret):
            telemetry = current_request()
            if telemetry is not None:
                telemetry.principal = f"client:{record.client_id}"
            retry_after = await self._client_budget.hit(record.client_id)
            if retry_after is not None:
                return await self._slow_down(origin, retry_after)
        server = _TokenServer(_Client(record) if record else None, self._services)
        try:
            status, payload, response_headers = server.create_token_response(
                _FormRequest(self._token_url, form, headers)
            )
        except InsecureTransportError:
            return _oauth_error(400, "invalid_request", "The token endpoint is served over HTTPS only.")
        error = payload.get("error") if isinstance(payload, dict) else None
        await self._services.partners.record_token_request(
            origin, client=record, claimed_id=claimed_id, error=error
        )
        return Answer.of(JSONResponse(payload, status_code=status, headers=dict(response_headers)))

    async def _slow_down(self, origin: Origin, retry_after: float) -> Answer:
        count_refusal(Refusal.TOKEN_RATE_LIMITED)
        await self._services.audit.record_rate_limited(
            Caller(None, origin), action="auth.client_token_limited"
        )
        message = f"Too many token requests; retry in {retry_after:.0f} s."
        return _oauth_error(429, "slow_down", message, retry_after=int(retry_after))


def _oauth_error(status: int, error: str, description: str, *, retry_after: int | None = None) -> Answer:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Answer.of(
        JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)
    )


def _form(body: bytes) -> dict[str, str]:
    """The form parameters; RFC 6749 §3.2 forbids sending one twice."""
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    form = dict(pairs)
    if len(form) != len(pairs):
        raise ValueError("a parameter is repeated")
    return form
