"""Access tokens (RS256 JWTs) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from loyalty.lru import Lru

AUDIENCE = "loyalty-api"
ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
# A staff access token's claim: the user's sessions epoch when it was issued. Signing out everywhere
# moves the epoch on, and a token of an earlier epoch stops granting access.
SESSIONS_EPOCH_CLAIM = "sessions_epoch"
_KEY_FILE = "jwt-private-key.pem"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not meant for us."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    claims: dict[str, Any]
    expires: float


def load_signing_key(configured: str | None, data_dir: Path) -> RSAKey:
    """The key from ``LOYALTY_JWT_PRIVATE_KEY`` (PEM text or a path), else one kept in ``data_dir``."""
    if configured:
        pem = configured if "-----BEGIN" in configured else Path(configured).read_text()
        return _import_private_key(pem)
    path = data_dir / _KEY_FILE
    if path.exists():
        return RSAKey.import_key(path.read_bytes())
    key = RSAKey.generate_key(2048, private=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key.as_pem(private=True))
    return key


@lru_cache(maxsize=4)
def _import_private_key(pem: str) -> RSAKey:
    """Parse (and so check) a PEM key once per process: checking an RSA key costs ~90 ms."""
    key = RSAKey.import_key(pem)
    if not key.is_private:
        raise ValueError("LOYALTY_JWT_PRIVATE_KEY holds a public key; a private key is needed")
    return key


class TokenIssuer:
    """Signs and verifies this server's access tokens."""

    def __init__(
        self, key: RSAKey, *, issuer: str, access_ttl_seconds: int, verified_cache_size: int = 4096
    ) -> None:
        self._key = key
        self._kid = key.thumbprint()
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

    @property
    def access_ttl_seconds(self) -> int:
        return self._ttl

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self._kid, "use": "sig", "alg": ALGORITHM}]}

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
        return jwt.encode({"alg": ALGORITHM, "kid": self._kid, "typ": "JWT"}, claims, self._key)

    def verify_access_token(self, token: str) -> AccessClaims:
        cached = self.verified_tokens.get(token)
        if cached is not None:
            expires, claims = cached
            if time.time() < expires:
                return claims
            self.verified_tokens.pop(token)
        claims = self._verify(token)
        self.verified_tokens.put(token, (claims.expires + LEEWAY_SECONDS, claims))
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            if decoded.header.get("kid") != self._kid:
                raise InvalidToken("unknown key id")
            self._claims_registry.validate(decoded.claims)
            expires = float(decoded.claims["exp"])
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidToken(str(error)) from error
        if decoded.claims.get("token_use") != "access":
            raise InvalidToken("not an access token")
        return AccessClaims(subject=str(decoded.claims["sub"]), claims=decoded.claims, expires=expires)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """What is stored for a refresh token or a client secret: its SHA-256, so a database leak yields
    nothing usable. (A slow hash buys nothing for 256 random bits, and costs every request.)"""
    return hashlib.sha256(secret.encode()).hexdigest()
