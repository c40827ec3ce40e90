"""Forged, stale and misused bearer tokens, sent over HTTP to /graphql: each is UNAUTHENTICATED.

The forger holds everything an attacker might (the published public key, a real token to tamper
with, a refresh token) and, for the claim checks, even the server's private key: a token signed by
us must still be refused when it is expired, not yet valid, or meant for another issuer or audience.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from loyalty.auth.permissions import Role
from tests.conftest import TEST_PASSWORD, Api, Staff

ISSUER = "https://testserver"
AUDIENCE = "loyalty-api"
ME = "{ me { id } }"
USER = "query($id: ID!) { user(id: $id) { id } }"
SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken refreshToken errors { code } }
}"""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(orjson.dumps(value))


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Forger:
    """What a forger works with: our private key (for claim checks), its kid, our public key as PEM."""

    key: RSAKey
    kid: str
    public_pem: bytes
    other_key: RSAKey

    def claims(self, subject: str, **changes: Any) -> dict[str, Any]:
        """Claims exactly like the server's access tokens, with ``changes`` (a ``None`` drops a claim)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + 900,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def rs256(self, claims: dict[str, Any], *, key: RSAKey | None = None, kid: str | None = None) -> str:
        header = {"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key or self.key)

    def unsigned(self, claims: dict[str, Any]) -> str:
        header = {"alg": "none", "kid": self.kid, "typ": "JWT"}
        return f"{b64url_json(header)}.{b64url_json(claims)}."

    def hs256(self, claims: dict[str, Any], secret: bytes) -> str:
        signing_input = (
            f"{b64url_json({'alg': 'HS256', 'kid': self.kid, 'typ': 'JWT'})}.{b64url_json(claims)}"
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


@pytest.fixture
async def forger(api: Api, signing_key_pem: str, other_key: RSAKey) -> Forger:
    jwks = (await api.client.get("/.well-known/jwks.json")).json()
    (published,) = jwks["keys"]
    public_pem = RSAKey.import_key(published).as_pem(private=False)
    return Forger(RSAKey.import_key(signing_key_pem), published["kid"], public_pem, other_key)


async def test_a_token_forged_with_our_key_and_exact_claims_is_accepted(
    api: Api, owner: Staff, forger: Forger
) -> None:
    """The control for every refusal below: the forger's tokens differ from good ones only where meant."""
    token = forger.rs256(forger.claims(owner.id))

    assert (await api.data(ME, token=token))["me"] == {"id": owner.id}


ATTACKS: dict[str, Callable[[Forger, str], str]] = {
    "alg none": lambda f, sub: f.unsigned(f.claims(sub)),
    "HS256 keyed with our public key PEM": lambda f, sub: f.hs256(f.claims(sub), f.public_pem),
    "HS256 keyed with our public key PEM, no trailing newline": lambda f, sub: f.hs256(
        f.claims(sub), f.public_pem.strip()
    ),
    "expired": lambda f, sub: f.rs256(
        f.claims(sub, iat=int(time.time()) - 1_000, nbf=int(time.time()) - 1_000, exp=int(time.time()) - 100)
    ),
    "not yet valid": lambda f, sub: f.rs256(f.claims(sub, nbf=int(time.time()) + 300)),
    "wrong issuer": lambda f, sub: f.rs256(f.claims(sub, iss="https://evil.example")),
    "our issuer over plain http": lambda f, sub: f.rs256(f.claims(sub, iss="http://testserver")),
    "wrong audience": lambda f, sub: f.rs256(f.claims(sub, aud="another-api")),
    "no audience": lambda f, sub: f.rs256(f.claims(sub, aud=None)),
    "no expiry": lambda f, sub: f.rs256(f.claims(sub, exp=None)),
    "unknown kid": lambda f, sub: f.rs256(f.claims(sub), kid="not-our-key"),
    "another key under our kid": lambda f, sub: f.rs256(f.claims(sub), key=f.other_key),
    "another key under its own kid": lambda f, sub: f.rs256(
        f.claims(sub), key=f.other_key, kid=f.other_key.thumbprint()
    ),
    "not an access token": lambda f, sub: f.rs256(f.claims(sub, token_use="refresh")),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_forged_or_invalid_access_token_is_unauthenticated(
    api: Api, owner: Staff, forger: Forger, attack: str
) -> None:
    token = ATTACKS[attack](forger, owner.id)

    body = await api.post(ME, token=token)

    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["data"] == {"me": None}


async def partner_token(api: Api, *scopes: str) -> tuple[str, str]:
    client = await api.services.partners.create_client("Shop", scopes)
    response = await api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
    )
    assert response.status_code == 200, response.text
    return client.client_id, response.json()["access_token"]


async def test_a_partner_token_with_a_tampered_scope_is_unauthenticated(api: Api) -> None:
    customer = await api.user(Role.USER)
    _, token = await partner_token(api, "points:read")
    header, payload, signature = token.split(".")
    claims = orjson.loads(b64url_decode(payload))
    claims["scope"] = "users:read points:read points:credit points:debit"

    tampered = f"{header}.{b64url_json(claims)}.{signature}"

    assert await api.error_code(USER, {"id": customer.id}, token=tampered) == "UNAUTHENTICATED"


async def test_a_refresh_token_is_not_an_access_token(api: Api, owner: Staff) -> None:
    signed_in = (await api.data(SIGN_IN, {"email": owner.email, "password": TEST_PASSWORD}))["signIn"]
    assert signed_in["errors"] == []

    assert await api.error_code(ME, token=signed_in["refreshToken"]) == "UNAUTHENTICATED"


async def test_a_disabled_clients_token_is_unauthenticated(api: Api) -> None:
    customer = await api.user(Role.USER)
    client_id, token = await partner_token(api, "users:read")
    await api.services.partners.disable_client(client_id)

    assert await api.error_code(USER, {"id": customer.id}, token=token) == "UNAUTHENTICATED"


async def test_a_token_for_a_client_that_does_not_exist_is_unauthenticated(api: Api, forger: Forger) -> None:
    """Even signed by us: a partner token is worth what its client is worth now."""
    customer = await api.user(Role.USER)
    claims = forger.claims("client:pc_nobody", client_id="pc_nobody", scope="users:read")

    assert await api.error_code(USER, {"id": customer.id}, token=forger.rs256(claims)) == "UNAUTHENTICATED"
