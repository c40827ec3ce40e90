"""Access tokens from an external OpenID Connect issuer (Amazon Cognito in production)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, KeySetSerialization

from loyalty.auth.tokens import InvalidToken

if TYPE_CHECKING:
    import httpx

LEEWAY_SECONDS = 30
# Asymmetric algorithms only, each with the key type it needs: "none" and HS* are absent, so a
# token can never get a public key used as an HMAC secret.
KEY_TYPE_FOR_ALGORITHM = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "ES256": "EC",
    "ES384": "EC",
}
TOKEN_USES = frozenset({"access", "id"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_GROUP_SEPARATORS = re.compile(r"[\s,]+")

logger = logging.getLogger("loyalty.auth.oidc")


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    subject: str
    email: str | None  # only an address the issuer has verified
    groups: tuple[str, ...]
    claims: dict[str, Any]


class _KeysUnavailable(Exception):
    """The issuer's keys could not be fetched or read."""


class OidcVerifier:
    """Verifies tokens signed by an external OpenID Connect issuer against its published JWKS.

    The key set is cached for ``cache_seconds``. A token naming an unknown ``kid`` (the issuer rotated
    its keys) triggers one refetch, at most once per ``min_refetch_seconds`` so that tokens with made-up
    key ids cannot make us hammer the issuer. If a refetch fails, the keys already held stay in use.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        role_claim: str = "cognito:groups",
        jwks_url: str | None = None,
        cache_seconds: float = 3600,
        min_refetch_seconds: float = 30,
        timeout_seconds: float = 5,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._role_claim = role_claim
        self._jwks_url = jwks_url
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._http = _http_client(timeout_seconds)
        self._lock = asyncio.Lock()
        self._keys: dict[str, Key] = {}
        self._fetched_at = float("-inf")
        self._fresh_until = float("-inf")
        self._fetch_error: str | None = None
        self._claims_registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            sub={"essential": True},
            exp={"essential": True},
        )

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def role_claim(self) -> str:
        return self._role_claim

    async def verify(self, token: str) -> ExternalIdentity:
        algorithm, kid = _algorithm_and_kid(token)
        key = await self._key_for(kid, algorithm)
        try:
            decoded = jwt.decode(token, key, algorithms=[algorithm])
            self._claims_registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidToken(str(error)) from error
        claims = decoded.claims
        self._check_audience(claims)
        token_use = claims.get("token_use")
        if token_use is not None and not (isinstance(token_use, str) and token_use in TOKEN_USES):
            raise InvalidToken(f"token_use {token_use!r} is not accepted")
        return ExternalIdentity(
            subject=claims["sub"],
            email=_verified_email(claims),
            groups=_groups(claims.get(self._role_claim)),
            claims=claims,
        )

    async def close(self) -> None:
        await self._http.aclose()

    def _check_audience(self, claims: dict[str, Any]) -> None:
        audience = claims.get("aud")
        if audience is not None:
            audiences = [audience] if isinstance(audience, str) else audience
            if not isinstance(audiences, list) or self._audience not in audiences:
                raise InvalidToken("the token is meant for another audience")
        # Cognito access tokens carry no "aud"; their "client_id" names the app client instead.
        elif claims.get("client_id") != self._audience:
            raise InvalidToken("the token is meant for another client")

    async def _key_for(self, kid: str, algorithm: str) -> Key:
        keys = await self._current_keys()
        if kid not in keys:
            keys = await self._keys_refetched_for(kid)
        key = keys.get(kid)
        if key is None and self._fetch_error:
            raise InvalidToken(f"the issuer's keys are unavailable: {self._fetch_error}")
        if key is None:
            raise InvalidToken(f"unknown key id {kid!r}")
        if key.key_type != KEY_TYPE_FOR_ALGORITHM[algorithm]:
            raise InvalidToken(f"key {kid!r} is not a {algorithm} key")
        if key.alg is not None and key.alg != algorithm:
            raise InvalidToken(f"key {kid!r} is for {key.alg}, not {algorithm}")
        if key.get("use") not in (None, "sig"):
            raise InvalidToken(f"key {kid!r} is not a signing key")
        return key

    async def _current_keys(self) -> dict[str, Key]:
        if time.monotonic() >= self._fresh_until:
            async with self._lock:
                # Whoever waited on the lock finds the keys the first caller fetched.
                if time.monotonic() >= self._fresh_until:
                    await self._fetch()
        return self._keys

    async def _keys_refetched_for(self, kid: str) -> dict[str, Key]:
        async with self._lock:
            recently = time.monotonic() - self._fetched_at < self._min_refetch_seconds
            if kid not in self._keys and not recently:
                await self._fetch()
        return self._keys

    async def _fetch(self) -> None:
        """Replace the keys; on failure keep the ones held, and try again after ``min_refetch_seconds``."""
        self._fetched_at = time.monotonic()
        try:
            self._keys = await self._download_keys()
        except _KeysUnavailable as error:
            self._fetch_error = str(error)
            self._fresh_until = self._fetched_at + self._min_refetch_seconds
            logger.warning("cannot fetch the keys of OIDC issuer %s: %s", self._issuer, error)
        else:
            self._fetch_error = None
            self._fresh_until = self._fetched_at + self._cache_seconds

    async def _download_keys(self) -> dict[str, Key]:
        if self._jwks_url is None:
            self._jwks_url = await self._discover_jwks_url()
        document = await self._get_json(self._jwks_url)
        try:
            key_set = KeySet.import_key_set(cast(KeySetSerialization, document))
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise _KeysUnavailable(f"{self._jwks_url} holds no usable key set: {error}") from error
        return {cast(str, key.kid): key for key in key_set}

    async def _discover_jwks_url(self) -> str:
        url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
        document = await self._get_json(url)
        if document.get("issuer") != self._issuer:
            raise _KeysUnavailable(f"{url} names issuer {document.get('issuer')!r}, not {self._issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise _KeysUnavailable(f"{url} names no jwks_uri")
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        import httpx

        try:
            response = await self._http.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
            raise _KeysUnavailable(f"GET {url} failed: {error!r}") from error
        if not isinstance(document, dict):
            raise _KeysUnavailable(f"{url} is not a JSON object")
        return document


def _http_client(timeout_seconds: float) -> httpx.AsyncClient:
    """httpx is imported only when an external issuer is configured: with click, pygments and rich,
    which it imports for its command line when they are installed, it costs ~0.25 s of start-up."""
    import httpx

    return httpx.AsyncClient(timeout=timeout_seconds)


def _algorithm_and_kid(token: str) -> tuple[str, str]:
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidToken(f"malformed token: {error}") from error
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in KEY_TYPE_FOR_ALGORITHM:
        raise InvalidToken(f"algorithm {algorithm!r} is not accepted")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token names no key id")
    return algorithm, kid


def _groups(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(group for group in _GROUP_SEPARATORS.split(value) if group)
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return tuple(value)
    raise InvalidToken("the role claim is neither a string nor a list of strings")


def _verified_email(claims: dict[str, Any]) -> str | None:
    """The token's email when the issuer vouches for it (Cognito's ID tokens say "true"). Never one
    spelled by a username: a pool with free-form usernames lets anyone be called owner@example.com."""
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":  # not 1, which equals True
        return None
    value = claims.get("email")
    return value if isinstance(value, str) and _EMAIL.fullmatch(value) else None
