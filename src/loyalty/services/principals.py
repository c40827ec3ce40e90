"""Turns a bearer token into the staff member or partner client behind it.

The permissions in force are the ones in the database, not the ones at sign-in: a deleted or demoted
staff member, a disabled client, or a staff access token issued before its user signed out everywhere
(or changed their password) loses access once the cached entry expires (``cache_seconds``, at most
60), and at once on the instance that made the change.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson

from loyalty.auth.oidc import ExternalIdentity, OidcVerifier
from loyalty.auth.permissions import Role, Scope
from loyalty.auth.principal import Origin, PartnerPrincipal, Principal, StaffPrincipal
from loyalty.auth.tokens import SESSIONS_EPOCH_CLAIM, InvalidToken, TokenIssuer
from loyalty.datasources import partner_clients, users
from loyalty.datasources.database import Database
from loyalty.datasources.errors import DuplicateKey
from loyalty.datasources.partner_clients import PartnerClientRecord
from loyalty.datasources.records import UserRecord
from loyalty.lru import Lru
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import Unauthenticated
from loyalty.services.validation import parse_id

_STAFF_ROLES = {role.value for role in Role if role.is_staff}

K = TypeVar("K")


class ClientRefused(Unauthenticated):
    """A token we signed for a partner client that is disabled: refused, yet the activity log names
    the client (``client:<id>``), not an anonymous caller."""

    def __init__(self, client: PartnerPrincipal) -> None:
        super().__init__("The access token no longer grants access.")
        self.client = client


@dataclass(frozen=True, slots=True)
class ExternalIssuer:
    """An OpenID Connect issuer whose tokens are accepted for staff (Cognito in production)."""

    verifier: OidcVerifier
    role_from_claim: bool

    @property
    def issuer(self) -> str:
        return self.verifier.issuer


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, read without verifying it: only to pick the verifier that will."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


V = TypeVar("V")


class _TtlCache(Lru[K, tuple[float, V]]):
    """A bounded map whose entries are trusted for ``ttl`` seconds. Concurrent misses of one key share
    one load: a burst naming one client (a flood of wrong secrets) or one staff member reads it once."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        super().__init__(max_entries)
        self.ttl = ttl
        self._loading: dict[K, asyncio.Task[V]] = {}

    async def get_or_load(self, key: K, load: Callable[[K], Awaitable[V]]) -> V:
        cached = self.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(load(key))
            loading.add_done_callback(lambda done: self._loaded(key, done))
        # A waiter cancelled (its request ended) leaves the load to the others.
        return await asyncio.shield(loading)

    def _loaded(self, key: K, done: asyncio.Task[V]) -> None:
        if self._loading.get(key) is not done:  # forgotten while it loaded: not to be trusted
            return
        del self._loading[key]
        if not done.cancelled() and done.exception() is None:
            self.put(key, (time.monotonic() + self.ttl, done.result()))

    def forget(self, key: K) -> None:
        """Drop the entry, and any load under way (its result is not kept)."""
        self.pop(key)
        self._loading.pop(key, None)


class PrincipalDirectory:
    def __init__(
        self,
        db: Database,
        tokens: TokenIssuer,
        audit: AuditTrail,
        *,
        cache_seconds: float,
        external: ExternalIssuer | None = None,
        max_entries: int = 10_000,
    ):
        self._db = db
        self._tokens = tokens
        self._audit = audit
        self._external = external
        # A staff member's principal and sessions epoch (see ``SESSIONS_EPOCH_CLAIM``).
        self._staff: _TtlCache[uuid.UUID, tuple[StaffPrincipal, int] | None] = _TtlCache(
            cache_seconds, max_entries
        )
        # A partner client's record and principal while it is active (None: unknown or disabled).
        self._clients: _TtlCache[str, tuple[PartnerClientRecord, PartnerPrincipal] | None] = _TtlCache(
            cache_seconds, max_entries
        )

    async def authenticate(self, bearer_token: str, origin: Origin | None = None) -> Principal:
        """Who the token names; ``origin`` (where the request came from) is logged with a new link."""
        try:
            if self._external is not None and unverified_issuer(bearer_token) == self._external.issuer:
                identity = await self._external.verifier.verify(bearer_token)
                return await self._external_staff(identity, origin or Origin())
            verified = self._tokens.verify_access_token(bearer_token)
        except InvalidToken as error:
            raise Unauthenticated("The access token is invalid or expired.") from error
        claims = verified.claims
        client_id = claims.get("client_id")
        if isinstance(client_id, str):
            active = await self._active(client_id)
            if active is None:
                raise ClientRefused(PartnerPrincipal(client_id, "", frozenset()))
            client = active[1]
            granted = set(str(claims.get("scope", "")).split())
            # The token's scopes, as far as the client still holds them.
            return PartnerPrincipal(
                client.client_id, client.name, frozenset(s for s in client.scopes if s in granted)
            )
        user_id = parse_id(verified.subject)
        staff = await self._staff.get_or_load(user_id, self._load_staff) if user_id else None
        # A token without the claim was issued before any "sign out everywhere": epoch 0.
        epoch = claims.get(SESSIONS_EPOCH_CLAIM, 0)
        if user_id is not None and staff is not None and epoch > staff[1]:
            # Issued after this instance cached the user (signed out everywhere, or reset, elsewhere):
            # the cache is behind, not the token.
            self._staff.forget(user_id)
            staff = await self._staff.get_or_load(user_id, self._load_staff)
        if staff is None or epoch != staff[1]:
            raise Unauthenticated("The access token no longer grants access.")
        return staff[0]

    async def _external_staff(self, identity: ExternalIdentity, origin: Origin) -> StaffPrincipal:
        """The staff member an external identity is: the user row linked to it (issuer and sub)."""
        assert self._external is not None
        user = await self._linked_user(self._external.issuer, identity, origin)
        if user is None:
            raise Unauthenticated("No staff member matches this identity.")
        role = user.role
        if self._external.role_from_claim:
            named = [Role(group.upper()) for group in identity.groups if group.upper() in _STAFF_ROLES]
            if not named:
                raise Unauthenticated(
                    f"The token's {self._external.verifier.role_claim} names no staff role."
                )
            role = min(named, key=list(Role).index)  # the strongest role named
        if not role.is_staff:
            raise Unauthenticated("The access token no longer grants access.")
        return StaffPrincipal(user.id, user.email, role)

    async def _linked_user(
        self, issuer: str, identity: ExternalIdentity, origin: Origin
    ) -> UserRecord | None:
        """The user linked to the identity; else the one with its verified email, linked now (once: a
        user linked to another identity is not taken over by whoever shows the same email) and logged
        as ``auth.identity_link``, a change to the user."""
        async with self._db.read() as conn:
            user = await users.fetch_user_by_external_identity(conn, issuer, identity.subject)
        if user is not None or identity.email is None:
            return user
        try:
            async with self._db.transaction() as conn:
                user = await users.link_external_identity(
                    conn, email=identity.email, issuer=issuer, subject=identity.subject
                )
                if user is not None:
                    entry = self._audit.entry(
                        StaffPrincipal(user.id, user.email, user.role), origin, action="auth.identity_link",
                        outcome="SUCCESS", target_type="user", target_id=str(user.id),
                        details={"after": {"issuer": issuer, "subject": identity.subject}},
                    )  # fmt: skip
                    await self._audit.record(conn, entry)
            self._audit.committed()
            return user
        except DuplicateKey:  # a concurrent request linked it first
            async with self._db.read() as conn:
                return await users.fetch_user_by_external_identity(conn, issuer, identity.subject)

    async def close(self) -> None:
        if self._external is not None:
            await self._external.verifier.close()

    async def active_client(self, client_id: str) -> PartnerClientRecord | None:
        """The partner client while it is active (cached as principals are); None if unknown or disabled."""
        active = await self._active(client_id)
        return active[0] if active is not None else None

    async def _active(self, client_id: str) -> tuple[PartnerClientRecord, PartnerPrincipal] | None:
        if not client_id or len(client_id) > 64:
            return None
        return await self._clients.get_or_load(client_id, self._load_client)

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a cached role after this instance changed or deleted the user."""
        self._staff.forget(user_id)

    def forget_client(self, client_id: str) -> None:
        self._clients.forget(client_id)

    async def _load_staff(self, user_id: uuid.UUID) -> tuple[StaffPrincipal, int] | None:
        user = await users.fetch_user(self._db, user_id)
        if user is None or not user.role.is_staff:
            return None
        return StaffPrincipal(user.id, user.email, user.role), user.sessions_epoch

    async def _load_client(self, client_id: str) -> tuple[PartnerClientRecord, PartnerPrincipal] | None:
        record = await partner_clients.fetch_client(self._db, client_id)
        if record is None or record.disabled_at is not None:
            return None
        scopes = frozenset(Scope(s) for s in record.scopes)
        return record, PartnerPrincipal(record.client_id, record.name, scopes)
