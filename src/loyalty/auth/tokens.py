"""Access tokens (RS256 JWTs) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, RSAKey

from loyalty.auth.signing_keys import ALGORITHM, KeySet, SigningKeys
from loyalty.lru import Lru

AUDIENCE = "loyalty-api"
LEEWAY_SECONDS = 30
# A staff access token's claim: the user's sessions epoch when it was issued. Signing out everywhere
# moves the epoch on, and a token of an earlier epoch stops granting access.
SESSIONS_EPOCH_CLAIM = "sessions_epoch"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not meant for us."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    claims: dict[str, Any]
    expires: float


def load_signing_key(configured: str | None, data_dir: Path) -> RSAKey:
    """The key that signs now, from ``LOYALTY_JWT_PRIVATE_KEY`` (PEM text or a path), else the data
    directory's key file (generated on first use); see :mod:`loyalty.auth.signing_keys`."""
    return SigningKeys.load(configured, data_dir).current().signer(datetime.now(UTC)).key


class TokenIssuer:
    """Signs and verifies this server's access tokens."""

    def __init__(
        self,
        keys: SigningKeys | RSAKey,
        *,
        issuer: str,
        access_ttl_seconds: int,
        verified_cache_size: int = 4096,
    ) -> None:
        if isinstance(keys, RSAKey):
            keys = SigningKeys(text=keys.as_pem(private=True).decode())
        self._keys = keys
        self._key_set = keys.current()
        self._issuer = issuer
        self._ttl = access_ttl_seconds
        self._claims_registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            exp={"essential": True},
        )
        # Tokens whose signature and claims were checked, until they expire: checking an RS256
        # signature costs ~60 µs, a request's whole budget is a few hundred.
        self.verified_tokens: Lru[str, tuple[float, AccessClaims]] = Lru(verified_cache_size)

    def _current_keys(self) -> KeySet:
        keys = self._keys.current()
        if keys is not self._key_set:
            # A retired key's tokens must stop working now, not when their cache entries expire.
            self._key_set = keys
            self.verified_tokens = Lru(self.verified_tokens.maxsize)
        return keys

    @property
    def access_ttl_seconds(self) -> int:
        return self._ttl

    def jwks(self) -> dict[str, Any]:
        return self._current_keys().jwks()

    def issue_access_token(self, subject: str, *, extra: dict[str, Any] | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
            **(extra or {}),
        }
        signer = self._current_keys().signer(datetime.now(UTC))
        return jwt.encode({"alg": ALGORITHM, "kid": signer.kid, "typ": "JWT"}, claims, signer.key)

    def verify_access_token(self, token: str) -> AccessClaims:
        keys = self._current_keys()
        cached = self.verified_tokens.get(token)
        if cached is not None:
            expires, claims = cached
            if time.time() < expires:
                return claims
            self.verified_tokens.pop(token)
        claims = self._verify(token, keys)
        self.verified_tokens.put(token, (claims.expires + LEEWAY_SECONDS, claims))
        return claims

    def _verify(self, token: str, keys: KeySet) -> AccessClaims:
        try:
            decoded = jwt.decode(token, lambda token: _verifying_key(keys, token), algorithms=[ALGORITHM])
            self._claims_registry.validate(decoded.claims)
            expires = float(decoded.claims["exp"])
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidToken(str(error)) from error
        if decoded.claims.get("token_use") != "access":
            raise InvalidToken("not an access token")
        return AccessClaims(subject=str(decoded.claims["sub"]), claims=decoded.claims, expires=expires)


def _verifying_key(keys: KeySet, token: GuestProtocol) -> RSAKey:
    """The key of the set that the token's ``kid`` names: any key being rotated in or out verifies."""
    kid = token.headers().get("kid")
    key = keys.verifier(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("unknown key id")
    return key.key


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """What is stored for a refresh token or a client secret: its SHA-256, so a database leak yields
    nothing usable. (A slow hash buys nothing for 256 random bits, and costs every request.)"""
    return hashlib.sha256(secret.encode()).hexdigest()
