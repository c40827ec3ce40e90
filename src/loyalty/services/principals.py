"""Turns a bearer token into the staff member behind it, re-reading their role at most every N seconds."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from loyalty.auth.principal import StaffPrincipal
from loyalty.auth.tokens import InvalidToken, TokenIssuer
from loyalty.datasources import users
from loyalty.datasources.database import Database
from loyalty.services.errors import Unauthenticated
from loyalty.services.validation import parse_id


class PrincipalDirectory:
    """Authenticates access tokens.

    The role in force is the one in the database, not the one at sign-in: a deleted or demoted
    staff member loses access once their cached entry expires (``cache_seconds``, at most 60),
    and at once on the instance that made the change.
    """

    def __init__(self, db: Database, tokens: TokenIssuer, *, cache_seconds: float, max_entries: int = 10_000):
        self._db = db
        self._tokens = tokens
        self._ttl = cache_seconds
        self._max_entries = max_entries
        self._cache: OrderedDict[uuid.UUID, tuple[float, StaffPrincipal | None]] = OrderedDict()

    async def authenticate(self, bearer_token: str) -> StaffPrincipal:
        try:
            claims = self._tokens.verify_access_token(bearer_token)
        except InvalidToken as error:
            raise Unauthenticated("The access token is invalid or expired.") from error
        user_id = parse_id(claims.subject)
        principal = await self._lookup(user_id) if user_id else None
        if principal is None:
            raise Unauthenticated("The access token no longer grants access.")
        return principal

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a cached role after this instance changed or deleted the user."""
        self._cache.pop(user_id, None)

    async def _lookup(self, user_id: uuid.UUID) -> StaffPrincipal | None:
        now = time.monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._db.read() as conn:
            user = await users.fetch_user(conn, user_id)
        principal = StaffPrincipal(user.id, user.email, user.role) if user and user.role.is_staff else None
        self._cache[user_id] = (now + self._ttl, principal)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return principal
