"""Signing in and out, and rotating refresh tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.principal import Caller, Origin, StaffPrincipal
from loyalty.auth.tokens import TokenIssuer, new_refresh_token, secret_digest
from loyalty.datasources import refresh_tokens, sign_in_failures, users
from loyalty.datasources.database import Database
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.records import UserRecord
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, ServiceError

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRecord


def locked_until(failures: Sequence[datetime]) -> datetime | None:
    """When a lock from these failures (any order) ends, or ``None`` if they never formed one.

    A lock starts at the failure that makes ``MAX_FAILURES`` within ``FAILURE_WINDOW``.
    """
    ordered = sorted(failures)
    ends = [
        ordered[i] + LOCK_DURATION
        for i in range(MAX_FAILURES - 1, len(ordered))
        if ordered[i] - ordered[i - MAX_FAILURES + 1] <= FAILURE_WINDOW
    ]
    return max(ends, default=None)


def _email_key(email: str) -> str:
    return email.strip().lower()[:254]


def _invalid_credentials() -> ServiceError:
    return ServiceError.of(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")


def _invalid_token() -> ServiceError:
    return ServiceError.of(ErrorCode.INVALID_TOKEN, "the refresh token is invalid or expired", "refreshToken")


def _staff(user: UserRecord) -> StaffPrincipal:
    return StaffPrincipal(user.id, user.email, user.role)


class SessionService:
    def __init__(
        self,
        db: Database,
        hashing: PasswordHashing,
        tokens: TokenIssuer,
        audit: AuditTrail,
        *,
        refresh_token_days: int,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._tokens = tokens
        self._audit = audit
        self._refresh_ttl = timedelta(days=refresh_token_days)

    async def sign_in(self, email: str, password: str, origin: Origin) -> Session:
        """A new session, or INVALID_CREDENTIALS / ACCOUNT_LOCKED alike for known and unknown emails."""
        key = _email_key(email)
        now = datetime.now(UTC)
        async with self._db.read() as conn:
            recent = await sign_in_failures.failures_since(
                conn, email_key=key, since=now - FAILURE_WINDOW - LOCK_DURATION
            )
            user = await users.fetch_user_by_email(conn, key) if len(email) <= 254 else None
            password_hash = await users.fetch_password_hash(conn, user.id) if user else None

        def failure(reason: ErrorCode) -> LogEntry:
            return self._audit.entry(
                None, origin, action="auth.sign_in_failed", outcome="FAILED", actor_email=key,
                details={"reason": reason.value},
            )  # fmt: skip

        until = locked_until(recent)
        if until is not None and until > now:
            await self._audit.record_alone(failure(ErrorCode.ACCOUNT_LOCKED))
            raise ServiceError.of(ErrorCode.ACCOUNT_LOCKED, "too many failed sign-ins; try again later")
        if (
            not await self._hashing.verify(password_hash, password[:1024])
            or user is None
            or not user.role.is_staff
        ):
            async with self._db.transaction() as conn:
                await sign_in_failures.purge_before(conn, cutoff=now - FAILURE_WINDOW - LOCK_DURATION)
                await sign_in_failures.record_failure(conn, email_key=key, now=now)
                await self._audit.record(conn, failure(ErrorCode.INVALID_CREDENTIALS))
            self._audit.committed()
            raise _invalid_credentials()
        async with self._db.transaction() as conn:
            if recent:
                await sign_in_failures.clear_failures(conn, email_key=key)
            refresh_token = await self._store_refresh_token(conn, user.id, family_id=uuid.uuid4(), now=now)
            entry = self._audit.entry(
                _staff(user), origin, action="auth.sign_in", outcome="SUCCESS", target_type="user",
                target_id=str(user.id),
            )  # fmt: skip
            await self._audit.record(conn, entry)
        self._audit.committed()
        return self._session(user, refresh_token)

    async def refresh(self, refresh_token: str, origin: Origin) -> Session:
        """Rotate a refresh token. Presenting a used one again revokes its whole family."""
        async with self._audit.attempt(Caller(None, origin), "auth.refresh", target_type="user") as attempt:
            now = datetime.now(UTC)
            replayed = False
            async with self._db.transaction() as conn:
                stored = await refresh_tokens.fetch_refresh_token(conn, secret_digest(refresh_token))
                if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
                    raise _invalid_token()
                user = await users.fetch_user(conn, stored.user_id)
                if user is None or not user.role.is_staff:
                    raise _invalid_token()
                attempt.actor = _staff(user)
                if stored.used_at is not None or not await refresh_tokens.mark_used(conn, stored.id, now=now):
                    await refresh_tokens.revoke_family(conn, stored.family_id, now=now)
                    replayed = True
                else:
                    new_token = await self._store_refresh_token(
                        conn, user.id, family_id=stored.family_id, now=now
                    )
                    await attempt.succeeded(conn, target_id=str(user.id))
            if replayed:  # raised after the revocation is committed
                raise ServiceError.of(
                    ErrorCode.INVALID_TOKEN,
                    "this refresh token was used before; its session is revoked",
                    "refreshToken",
                )
        return self._session(user, new_token)

    async def sign_out(self, refresh_token: str, origin: Origin) -> None:
        """Revoke the session the token belongs to. Unknown tokens are ignored: there is nothing to end."""
        attempt_sign_out = self._audit.attempt(Caller(None, origin), "auth.sign_out", target_type="user")
        async with attempt_sign_out as attempt, self._db.transaction() as conn:
            stored = await refresh_tokens.fetch_refresh_token(conn, secret_digest(refresh_token))
            if stored is not None:
                await refresh_tokens.revoke_family(conn, stored.family_id, now=datetime.now(UTC))
                user = await users.fetch_user(conn, stored.user_id)
                attempt.actor = _staff(user) if user else None
            await attempt.succeeded(conn, target_id=str(stored.user_id) if stored else None)

    async def _store_refresh_token(
        self, conn: AsyncConnection, user_id: uuid.UUID, *, family_id: uuid.UUID, now: datetime
    ) -> str:
        token = new_refresh_token()
        await refresh_tokens.insert_refresh_token(
            conn,
            family_id=family_id,
            user_id=user_id,
            token_digest=secret_digest(token),
            now=now,
            expires_at=now + self._refresh_ttl,
        )
        return token

    def _session(self, user: UserRecord, refresh_token: str) -> Session:
        return Session(
            access_token=self._tokens.issue_access_token(str(user.id)),
            refresh_token=refresh_token,
            expires_in=self._tokens.access_ttl_seconds,
            user=user,
        )
