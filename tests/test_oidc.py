"""Tokens from an external OpenID Connect issuer (Cognito-like), its JWKS served for real on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

from loyalty.auth.oidc import OidcVerifier
from loyalty.auth.tokens import InvalidToken
from tests.dynamodb_server import free_port

CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"
# Cognito's issuers have a path: https://cognito-idp.<region>.amazonaws.com/<user pool id>
POOL_PATH = "/eu-west-1_TestPool"
DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"


class FakeIssuer:
    """A discovery document and a JWKS over HTTP on 127.0.0.1, counting the requests for each."""

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.failing = False
        self._requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}{POOL_PATH}"
        self.jwks_url = self.issuer + JWKS
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.failing = False
        with self._lock:
            self._requests.clear()

    def requests(self, document: str) -> int:
        with self._lock:
            return self._requests[POOL_PATH + document]

    def respond(self, path: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._requests[path] += 1
        if self.failing:
            return 503, {"message": "unavailable"}
        if path == POOL_PATH + DISCOVERY:
            return 200, {"issuer": self.issuer, "jwks_uri": self.jwks_url}
        if path == POOL_PATH + JWKS:
            return 200, {"keys": [key.as_dict(private=False) for key in self.keys]}
        return 404, {"message": "not found"}

    def token(
        self, key: Key, claims: dict[str, Any] | None = None, *, header: dict[str, Any] | None = None
    ) -> str:
        """An ID token for ann@example.com in group manager; ``header`` and ``claims`` override, None drops."""
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": "5f1d1a6e-0c53-4b2a-9f7e-2a1c3b4d5e6f",
            "aud": CLIENT_ID,
            "token_use": "id",
            "email": "ann@example.com",
            "email_verified": True,
            "cognito:groups": ["manager"],
            "iat": now,
            "exp": now + 300,
            **(claims or {}),
        }
        head = _without_nones({"alg": key.alg, "kid": key.kid, **(header or {})})
        return jwt.encode(head, _without_nones(body), key, [head["alg"]])

    def access_token(self, key: Key, claims: dict[str, Any] | None = None) -> str:
        """A Cognito access token: no aud and no email, the app client in client_id."""
        cognito = {"aud": None, "email": None, "email_verified": None, "token_use": "access"}
        return self.token(
            key, {**cognito, "client_id": CLIENT_ID, "username": "ann@example.com", **(claims or {})}
        )


def _handler_for(issuer: FakeIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, document = issuer.respond(self.path)
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass  # keep the test output quiet

    return Handler


def _without_nones(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return _rsa_key("key-1")


@pytest.fixture(scope="module")
def rotated_key() -> RSAKey:
    return _rsa_key("key-2")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIssuer]:
    issuer = FakeIssuer()
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture
def issuer(server: FakeIssuer, signing_key: RSAKey) -> FakeIssuer:
    server.reset(signing_key)
    return server


@pytest.fixture
async def make_verifier(issuer: FakeIssuer) -> AsyncIterator[Callable[..., OidcVerifier]]:
    made: list[OidcVerifier] = []

    def make(**options: Any) -> OidcVerifier:
        verifier = OidcVerifier(**{"issuer": issuer.issuer, "audience": CLIENT_ID, **options})
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.close()


@pytest.fixture
def verifier(make_verifier: Callable[..., OidcVerifier]) -> OidcVerifier:
    return make_verifier()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _forged(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(_unb64(token.split(".")[1]))
    return claims


# The good tokens


async def test_an_id_token_verifies_with_subject_email_and_groups(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    identity = await verifier.verify(issuer.token(signing_key, {"cognito:groups": ["manager", "viewer"]}))

    assert identity.subject == "5f1d1a6e-0c53-4b2a-9f7e-2a1c3b4d5e6f"
    assert identity.email == "ann@example.com"
    assert identity.groups == ("manager", "viewer")
    assert identity.claims["token_use"] == "id"


async def test_a_role_claim_given_as_a_string_is_split_on_spaces_and_commas(
    issuer: FakeIssuer, make_verifier: Callable[..., OidcVerifier], signing_key: RSAKey
) -> None:
    verifier = make_verifier(role_claim="custom:role")

    identity = await verifier.verify(issuer.token(signing_key, {"custom:role": "owner, manager viewer"}))

    assert identity.groups == ("owner", "manager", "viewer")


async def test_a_token_without_the_role_claim_has_no_groups(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    identity = await verifier.verify(issuer.token(signing_key, {"cognito:groups": None}))

    assert identity.groups == ()


async def test_an_aud_list_containing_the_audience_verifies(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    identity = await verifier.verify(issuer.token(signing_key, {"aud": ["another-api", CLIENT_ID]}))

    assert identity.subject


async def test_a_cognito_access_token_verifies_by_client_id_and_never_takes_an_email_from_username(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    # A pool with free-form usernames lets anyone be called "owner@example.com".
    identity = await verifier.verify(issuer.access_token(signing_key, {"username": "owner@example.com"}))

    assert identity.email is None
    assert identity.subject == "5f1d1a6e-0c53-4b2a-9f7e-2a1c3b4d5e6f"
    assert identity.groups == ("manager",)
    assert identity.claims["token_use"] == "access"


@pytest.mark.parametrize("verified", [None, "False", 1, "yes"])
async def test_an_email_is_reported_only_when_the_issuer_says_it_is_verified(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey, verified: object
) -> None:
    identity = await verifier.verify(issuer.token(signing_key, {"email_verified": verified}))

    assert identity.email is None


@pytest.mark.parametrize("verified", [True, "true"])  # Cognito ID tokens carry the string
async def test_a_verified_email_is_reported(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey, verified: object
) -> None:
    identity = await verifier.verify(issuer.token(signing_key, {"email_verified": verified}))

    assert identity.email == "ann@example.com"


async def test_an_unverified_email_is_not_reported(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    identity = await verifier.verify(issuer.token(signing_key, {"email_verified": False}))

    assert identity.email is None


async def test_an_es256_token_verifies(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    ec_key = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256", "use": "sig"})
    issuer.reset(signing_key, ec_key)

    identity = await verifier.verify(issuer.token(ec_key))

    assert identity.email == "ann@example.com"


# Fetching the keys


async def test_the_keys_are_found_through_the_discovery_document(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    await verifier.verify(issuer.token(signing_key))

    assert (issuer.requests(DISCOVERY), issuer.requests(JWKS)) == (1, 1)


async def test_a_configured_jwks_url_skips_discovery(
    issuer: FakeIssuer, make_verifier: Callable[..., OidcVerifier], signing_key: RSAKey
) -> None:
    verifier = make_verifier(jwks_url=issuer.jwks_url)

    await verifier.verify(issuer.token(signing_key))

    assert (issuer.requests(DISCOVERY), issuer.requests(JWKS)) == (0, 1)


async def test_the_jwks_is_fetched_once_for_many_verifications_concurrent_or_not(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    token = issuer.token(signing_key)

    await asyncio.gather(*(verifier.verify(token) for _ in range(20)))
    for _ in range(10):
        await verifier.verify(token)

    assert (issuer.requests(DISCOVERY), issuer.requests(JWKS)) == (1, 1)


async def test_after_key_rotation_an_unknown_kid_refetches_once_and_the_new_key_verifies(
    issuer: FakeIssuer, make_verifier: Callable[..., OidcVerifier], signing_key: RSAKey, rotated_key: RSAKey
) -> None:
    verifier = make_verifier(min_refetch_seconds=0)
    await verifier.verify(issuer.token(signing_key))
    issuer.reset(rotated_key)

    await verifier.verify(issuer.token(rotated_key))
    await verifier.verify(issuer.token(rotated_key))

    assert issuer.requests(JWKS) == 1


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_min_refetch_seconds(
    issuer: FakeIssuer, make_verifier: Callable[..., OidcVerifier], signing_key: RSAKey
) -> None:
    verifier = make_verifier(min_refetch_seconds=0.3)

    async def flood() -> None:
        tokens = [issuer.token(signing_key, header={"kid": uuid.uuid4().hex}) for _ in range(30)]
        outcomes = await asyncio.gather(*(verifier.verify(token) for token in tokens), return_exceptions=True)
        assert all(isinstance(outcome, InvalidToken) for outcome in outcomes)

    await verifier.verify(issuer.token(signing_key))
    await flood()  # the keys were just fetched: no refetch
    assert issuer.requests(JWKS) == 1
    await asyncio.sleep(0.35)
    await flood()
    await flood()

    assert issuer.requests(JWKS) == 2


async def test_an_unreachable_issuer_rejects_the_token(signing_key: RSAKey) -> None:
    issuer = f"http://127.0.0.1:{free_port()}{POOL_PATH}"
    verifier = OidcVerifier(issuer=issuer, audience=CLIENT_ID, timeout_seconds=1)
    token = jwt.encode({"alg": "RS256", "kid": "key-1"}, {"iss": issuer, "sub": "x"}, signing_key)

    try:
        with pytest.raises(InvalidToken, match="unavailable"):
            await verifier.verify(token)
    finally:
        await verifier.close()


async def test_a_failing_jwks_endpoint_rejects_the_token(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    issuer.failing = True

    with pytest.raises(InvalidToken, match="503"):
        await verifier.verify(issuer.token(signing_key))


async def test_while_the_issuer_is_down_the_keys_already_held_keep_verifying(
    issuer: FakeIssuer, make_verifier: Callable[..., OidcVerifier], signing_key: RSAKey
) -> None:
    verifier = make_verifier(cache_seconds=0)
    await verifier.verify(issuer.token(signing_key))
    issuer.failing = True

    identity = await verifier.verify(issuer.token(signing_key))

    assert identity.email == "ann@example.com"


# Attacks, each rejected


async def test_alg_none_is_rejected(issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey) -> None:
    claims = _claims_of(issuer.token(signing_key))
    token = _forged({"alg": "none", "kid": "key-1"}, claims, lambda _: b"")

    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_as_secret_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    public_pem = signing_key.as_pem(private=False)
    claims = _claims_of(issuer.token(signing_key))
    token = _forged(
        {"alg": "HS256", "kid": "key-1"},
        claims,
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )

    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(token)


async def test_an_algorithm_other_than_the_keys_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    fields = signing_key.as_dict(private=True)
    unrestricted = RSAKey.import_key({name: value for name, value in fields.items() if name != "alg"})
    token = issuer.token(unrestricted, header={"alg": "PS256"})

    with pytest.raises(InvalidToken, match="is for RS256"):
        await verifier.verify(token)


async def test_an_expired_token_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    now = int(time.time())

    with pytest.raises(InvalidToken, match="exp"):
        await verifier.verify(issuer.token(signing_key, {"iat": now - 600, "exp": now - 60}))


async def test_a_token_without_exp_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="exp"):
        await verifier.verify(issuer.token(signing_key, {"exp": None}))


async def test_a_token_not_yet_valid_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="not yet valid"):
        await verifier.verify(issuer.token(signing_key, {"nbf": int(time.time()) + 120}))


async def test_a_token_from_another_issuer_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="iss"):
        await verifier.verify(issuer.token(signing_key, {"iss": issuer.issuer + "-other"}))


async def test_a_token_for_another_audience_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="audience"):
        await verifier.verify(issuer.token(signing_key, {"aud": ["another-client"]}))


async def test_an_access_token_for_another_client_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="client"):
        await verifier.verify(issuer.access_token(signing_key, {"client_id": "another-client"}))


async def test_a_refresh_token_use_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="token_use"):
        await verifier.verify(issuer.access_token(signing_key, {"token_use": "refresh"}))


async def test_a_token_use_that_is_not_a_string_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="token_use"):
        await verifier.verify(issuer.access_token(signing_key, {"token_use": ["access"]}))


async def test_a_role_claim_that_is_neither_a_string_nor_a_list_of_strings_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="role claim"):
        await verifier.verify(issuer.token(signing_key, {"cognito:groups": {"owner": True}}))


async def test_a_token_without_a_kid_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    # joserfc would pick the only key of a one-key set for a token naming none; we insist on a kid.
    with pytest.raises(InvalidToken, match="no key id"):
        await verifier.verify(issuer.token(signing_key, header={"kid": None}))


async def test_an_unknown_kid_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, rotated_key: RSAKey
) -> None:
    with pytest.raises(InvalidToken, match="unknown key id 'key-2'"):
        await verifier.verify(issuer.token(rotated_key))


async def test_a_tampered_payload_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier, signing_key: RSAKey
) -> None:
    header, payload, signature = issuer.token(signing_key).split(".")
    claims = {**json.loads(_unb64(payload)), "cognito:groups": ["owner"]}
    token = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"

    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(token)


async def test_a_token_signed_by_another_key_with_the_same_kid_is_rejected(
    issuer: FakeIssuer, verifier: OidcVerifier
) -> None:
    impostor = _rsa_key("key-1")

    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(issuer.token(impostor))
