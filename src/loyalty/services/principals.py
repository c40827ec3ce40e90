"""Turns a bearer token into the staff member or partner client behind it.

The permissions in force are the ones in the database, not the ones at sign-in: a deleted or demoted
staff member, or a disabled client, loses access once the cached entry expires (``cache_seconds``,
at most 60), and at once on the instance that made the change.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from loyalty.auth.permissions import Scope
from loyalty.auth.principal import PartnerPrincipal, Principal, StaffPrincipal
from loyalty.auth.tokens import InvalidToken, TokenIssuer
from loyalty.datasources import partner_clients, users
from loyalty.datasources.database import Database
from loyalty.services.errors import Unauthenticated
from loyalty.services.validation import parse_id

K = TypeVar("K")
V = TypeVar("V")


class _TtlCache(OrderedDict[K, tuple[float, V]]):
    """A bounded map whose entries are trusted for ``ttl`` seconds."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        super().__init__()
        self.ttl = ttl
        self.max_entries = max_entries

    async def get_or_load(self, key: K, load: Callable[[K], Awaitable[V]]) -> V:
        now = time.monotonic()
        cached = self.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        value = await load(key)
        self[key] = (now + self.ttl, value)
        self.move_to_end(key)
        while len(self) > self.max_entries:
            self.popitem(last=False)
        return value


class PrincipalDirectory:
    def __init__(self, db: Database, tokens: TokenIssuer, *, cache_seconds: float, max_entries: int = 10_000):
        self._db = db
        self._tokens = tokens
        self._staff: _TtlCache[uuid.UUID, StaffPrincipal | None] = _TtlCache(cache_seconds, max_entries)
        self._clients: _TtlCache[str, PartnerPrincipal | None] = _TtlCache(cache_seconds, max_entries)

    async def authenticate(self, bearer_token: str) -> Principal:
        try:
            claims = self._tokens.verify_access_token(bearer_token).claims
        except InvalidToken as error:
            raise Unauthenticated("The access token is invalid or expired.") from error
        client_id = claims.get("client_id")
        if isinstance(client_id, str):
            client = await self._clients.get_or_load(client_id, self._load_client)
            if client is None:
                raise Unauthenticated("The access token no longer grants access.")
            granted = set(str(claims.get("scope", "")).split())
            # The token's scopes, as far as the client still holds them.
            return PartnerPrincipal(
                client.client_id, client.name, frozenset(s for s in client.scopes if s in granted)
            )
        user_id = parse_id(str(claims["sub"]))
        principal = await self._staff.get_or_load(user_id, self._load_staff) if user_id else None
        if principal is None:
            raise Unauthenticated("The access token no longer grants access.")
        return principal

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a cached role after this instance changed or deleted the user."""
        self._staff.pop(user_id, None)

    def forget_client(self, client_id: str) -> None:
        self._clients.pop(client_id, None)

    async def _load_staff(self, user_id: uuid.UUID) -> StaffPrincipal | None:
        async with self._db.read() as conn:
            user = await users.fetch_user(conn, user_id)
        return StaffPrincipal(user.id, user.email, user.role) if user and user.role.is_staff else None

    async def _load_client(self, client_id: str) -> PartnerPrincipal | None:
        async with self._db.read() as conn:
            record = await partner_clients.fetch_client(conn, client_id)
        if record is None or record.disabled_at is not None:
            return None
        return PartnerPrincipal(record.client_id, record.name, frozenset(Scope(s) for s in record.scopes))
