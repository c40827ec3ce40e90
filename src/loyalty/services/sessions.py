"""Signing in and out, and rotating refresh tokens.

Guessing passwords is bounded, and the bound cannot be turned against the email's owner:

- Every attempt is reserved (a row naming the email and the address it came from) before its
  password is checked, in a transaction that takes turns per email and per address, so the counts
  below are exact under any concurrency. Success forgives its address's failures on that email.
- An address may make ``address_attempts`` attempts in ``FAILURE_WINDOW``, on any emails.
- ``MAX_FAILURES`` failures on an email from one address within ``FAILURE_WINDOW`` lock that email
  for that address for ``LOCK_DURATION``: the guesser locks itself out, nobody else.
- Addresses the email has not signed in from share a larger budget: ``UNKNOWN_ADDRESS_FAILURES``
  failures among them lock the email for every address it has not signed in from (so many guessing
  addresses still get few guesses), while an address it signed in from within ``KNOWN_ADDRESS_FOR``
  (the owner's office, their laptop) still signs in.

Every refusal before the password is checked answers ACCOUNT_LOCKED, known email or not (all counts
are kept per string the caller sent), so no answer tells whether an email exists; a refused attempt
is not counted, so hammering does not push the end of a lock further away.

Within one worker, attempts on one email also take turns in memory, a refusal found in the
database is remembered for ``REFUSAL_MEMO``, and an attempt from an address that already has
``MAX_FAILURES`` attempts on the email under way here is refused at once (those are failures in the
database until they succeed): a burst on one email is refused without reaching the database or
holding a connection (see :class:`RecentRefusals`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.principal import Caller, Origin, StaffPrincipal
from loyalty.auth.tokens import SESSIONS_EPOCH_CLAIM, TokenIssuer, new_refresh_token, secret_digest
from loyalty.datasources import refresh_tokens, sign_in_attempts, users
from loyalty.datasources.database import Database
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.records import UserRecord
from loyalty.datasources.sign_in_attempts import PastAttempt
from loyalty.observability.metrics import Refusal, count_refusal
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, ServiceError

MAX_FAILURES = 5
UNKNOWN_ADDRESS_FAILURES = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
KNOWN_ADDRESS_FOR = timedelta(days=90)
REFUSAL_MEMO = 1.0  # seconds
# An attempt under way counts here for at most this long (a caller that never finishes one, say a
# cancelled request, does not hold its place for longer). Checking a password takes milliseconds.
UNDER_WAY_FOR = 30.0  # seconds
_UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRecord


@dataclass(frozen=True, slots=True)
class PasswordAttempt:
    """An attempt to check a password, counted before the check; ``refused`` says why it may not be made."""

    key: str
    source: str
    now: datetime
    refused: str | None = None
    seq: int | None = None
    user: UserRecord | None = None
    password_hash: str | None = None


def locked_until(failures: Iterable[datetime], max_failures: int = MAX_FAILURES) -> datetime | None:
    """When a lock from these failures (any order) ends, or ``None`` if they never formed one.

    A lock starts at the failure that makes ``max_failures`` within ``FAILURE_WINDOW``.
    """
    ordered = sorted(failures)
    ends = [
        ordered[i] + LOCK_DURATION
        for i in range(max_failures - 1, len(ordered))
        if ordered[i] - ordered[i - max_failures + 1] <= FAILURE_WINDOW
    ]
    return max(ends, default=None)


def email_locked_until(
    attempts: Sequence[PastAttempt], *, source: str, known_sources: set[str]
) -> datetime | None:
    """When the email these ``attempts`` were made on opens again for ``source`` (see the module)."""
    failures = [attempt for attempt in attempts if not attempt.succeeded]
    ends = [locked_until(a.attempted_at for a in failures if a.source_key == source)]
    if source not in known_sources:
        strangers = (a.attempted_at for a in failures if a.source_key not in known_sources)
        ends.append(locked_until(strangers, UNKNOWN_ADDRESS_FAILURES))
    return max((end for end in ends if end is not None), default=None)


def email_key(email: str) -> str:
    """What attempts on an email are counted under: the string the caller sent, normalized."""
    return email.strip().lower()[:254]


def source_key(origin: Origin) -> str:
    """What attempts from an address are counted under."""
    return (origin.source_ip or _UNKNOWN_SOURCE)[:64]


def _invalid_credentials() -> ServiceError:
    return ServiceError.of(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")


def account_locked() -> ServiceError:
    count_refusal(Refusal.SIGN_IN_LOCKED)
    return ServiceError.of(ErrorCode.ACCOUNT_LOCKED, "too many sign-in attempts; try again later")


def _invalid_token() -> ServiceError:
    return ServiceError.of(ErrorCode.INVALID_TOKEN, "the refresh token is invalid or expired", "refreshToken")


def _staff(user: UserRecord) -> StaffPrincipal:
    return StaffPrincipal(user.id, user.email, user.role)


class RecentRefusals:
    """This worker's memory of refused (email, address) pairs, and the turns attempts on one email take.

    Each refused attempt used to run its own serialized transaction of five statements: 40 parallel
    guesses on one email took 250-550 ms to be refused on SQLite, and on PostgreSQL each waited on the
    advisory lock holding a pooled connection. Taking turns here first, an attempt that finds its pair
    refused a moment ago is refused at once. A refusal is remembered for ``REFUSAL_MEMO`` only, not until
    the lock ends: a lock may count attempts still being checked, and one of them succeeding forgives
    the others.

    It also counts the attempts on each (email, address) pair that it has under way, from their arrival
    to the end of their check: while ``MAX_FAILURES`` are, the database would refuse the next one (they
    are failures there until one succeeds), so it is refused without waiting for a turn. The count is
    this worker's only and may be short (an attempt stops counting after ``UNDER_WAY_FOR``), never long.
    """

    def __init__(self) -> None:
        self._refused: dict[tuple[str, str], tuple[float, str]] = {}
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}
        # Per (email, address): when each attempt under way stops counting (see ``UNDER_WAY_FOR``).
        self._under_way: dict[tuple[str, str], list[float]] = {}

    def under_way(self, email_key: str, source: str) -> int:
        """How many attempts on the pair this worker has under way: waiting, reserved or being checked."""
        return len(self._live((email_key, source)))

    def started(self, email_key: str, source: str) -> None:
        if len(self._under_way) >= 10_000:  # bounded: forget what has expired
            for pair in list(self._under_way):
                self._live(pair)
        self._under_way.setdefault((email_key, source), []).append(time.monotonic() + UNDER_WAY_FOR)

    def ended(self, email_key: str, source: str) -> None:
        """An attempt on the pair is over (refused, or checked). Counting one too few is safe (the
        database decides then), so an attempt that expired may end a later one's count."""
        live = self._live((email_key, source))
        if live:
            live.pop(0)
            if not live:
                del self._under_way[(email_key, source)]

    def _live(self, pair: tuple[str, str]) -> list[float]:
        now = time.monotonic()
        live = [deadline for deadline in self._under_way.get(pair, ()) if deadline > now]
        if live:
            self._under_way[pair] = live
        else:
            self._under_way.pop(pair, None)
        return live

    @asynccontextmanager
    async def turn(self, email_key: str) -> AsyncIterator[None]:
        """Wait for the other attempts of this worker on ``email_key``."""
        lock, waiting = self._turns.get(email_key, (asyncio.Lock(), 0))
        self._turns[email_key] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._turns[email_key]
            if waiting == 1:
                del self._turns[email_key]
            else:
                self._turns[email_key] = (lock, waiting - 1)

    def refused(self, email_key: str, source: str) -> str | None:
        """Why an attempt on the pair was refused a moment ago, or ``None``."""
        memo = self._refused.get((email_key, source))
        if memo is None:
            return None
        if memo[0] <= time.monotonic():
            del self._refused[(email_key, source)]
            return None
        return memo[1]

    def remember(self, email_key: str, source: str, reason: str) -> None:
        now = time.monotonic()
        if len(self._refused) >= 10_000:  # bounded: forget what has expired, else everything
            self._refused = {pair: memo for pair, memo in self._refused.items() if memo[0] > now}
            if len(self._refused) >= 10_000:
                self._refused.clear()
        self._refused[(email_key, source)] = (now + REFUSAL_MEMO, reason)

    def forget(self, email_key: str, source: str) -> None:
        self._refused.pop((email_key, source), None)


class SessionService:
    def __init__(
        self,
        db: Database,
        hashing: PasswordHashing,
        tokens: TokenIssuer,
        audit: AuditTrail,
        *,
        refresh_token_days: int,
        address_attempts: int = 50,
    ) -> None:
        """``address_attempts``: the sign-in attempts one address may make in ``FAILURE_WINDOW``."""
        self._db = db
        self._hashing = hashing
        self._tokens = tokens
        self._audit = audit
        self._refresh_ttl = timedelta(days=refresh_token_days)
        self._address_attempts = address_attempts
        self._recent = RecentRefusals()

    async def sign_in(self, email: str, password: str, origin: Origin) -> Session:
        """A new session, or INVALID_CREDENTIALS / ACCOUNT_LOCKED alike for known and unknown emails."""

        def failure(reason: ErrorCode) -> LogEntry:
            return self._audit.entry(
                None, origin, action="auth.sign_in_failed", outcome="FAILED", actor_email=attempt.key,
                details={"reason": reason.value},
            )  # fmt: skip

        attempt = await self.reserve_attempt(email, origin)
        if attempt.refused is not None:
            # Repeats are summarized, so a flood of refused attempts cannot flood the log.
            await self._audit.record_repeated(
                failure(ErrorCode.ACCOUNT_LOCKED), key=(attempt.source, attempt.key, attempt.refused)
            )
            raise account_locked()
        user = await self.password_matches(attempt, password)
        if user is None:
            await self._audit.record_alone(failure(ErrorCode.INVALID_CREDENTIALS))
            raise _invalid_credentials()
        outdated = attempt.password_hash is not None and self._hashing.outdated(attempt.password_hash)
        upgraded = await self._hashing.hash(password) if outdated else None
        async with self._db.transaction() as conn:
            await self.attempt_succeeded(conn, attempt)
            if upgraded is not None:
                await users.set_password_hash(conn, user.id, upgraded, end_sessions=False)
            session = await self.open_session(conn, user, now=attempt.now)
            entry = self._audit.entry(
                _staff(user), origin, action="auth.sign_in", outcome="SUCCESS", target_type="user",
                target_id=str(user.id),
            )  # fmt: skip
            await self._audit.record(conn, entry)
        self._audit.committed()
        return session

    async def reserve_attempt(self, email: str, origin: Origin) -> PasswordAttempt:
        """Count an attempt to check ``email``'s password before it is checked (see the module), or
        say why it may not be made now (``refused``; nothing is counted then)."""
        key = email_key(email)
        source = source_key(origin)
        now = datetime.now(UTC)
        refused = self._recent.refused(key, source)
        if refused is None and self._recent.under_way(key, source) >= MAX_FAILURES:
            refused = "locked"  # those attempts are failures in the database until one succeeds
        if refused is not None:
            return PasswordAttempt(key, source, now, refused=refused)
        self._recent.started(key, source)  # until refused below, or checked (password_matches)
        try:
            async with self._recent.turn(key):
                attempt = await self._reserve(email, key, source, now)
        except BaseException:
            self._recent.ended(key, source)
            raise
        if attempt.refused is not None:
            self._recent.ended(key, source)
        return attempt

    async def _reserve(self, email: str, key: str, source: str, now: datetime) -> PasswordAttempt:
        """The attempt counted in the database, or refused there (remembered for ``REFUSAL_MEMO``)."""
        refused = self._recent.refused(key, source)
        if refused is not None:
            return PasswordAttempt(key, source, now, refused=refused)
        async with self._db.transaction() as conn:
            await sign_in_attempts.serialize(conn, email_key=key, source_key=source)
            refused = await self._refused(conn, key, source, now)
            if refused is None:
                seq = await sign_in_attempts.reserve(conn, email_key=key, source_key=source, now=now)
                user = await users.fetch_user_by_email(conn, key) if len(email) <= 254 else None
                password_hash = await users.fetch_password_hash(conn, user.id) if user else None
        if refused is not None:
            self._recent.remember(key, source, refused)
            return PasswordAttempt(key, source, now, refused=refused)
        return PasswordAttempt(key, source, now, seq=seq, user=user, password_hash=password_hash)

    async def password_matches(self, attempt: PasswordAttempt, password: str) -> UserRecord | None:
        """The staff member whose password this is, or ``None``; as slow for an unknown email."""
        try:
            if not await self._hashing.verify(attempt.password_hash, password[:1024]):
                return None
        finally:
            self._recent.ended(attempt.key, attempt.source)
        user = attempt.user
        return user if user is not None and user.role.is_staff else None

    async def attempt_succeeded(self, conn: AsyncConnection, attempt: PasswordAttempt) -> None:
        """Record, in ``conn``'s transaction, that the reserved attempt succeeded."""
        assert attempt.seq is not None, "a refused attempt cannot succeed"
        await sign_in_attempts.serialize(conn, email_key=attempt.key, source_key=attempt.source)
        await sign_in_attempts.mark_succeeded(
            conn, seq=attempt.seq, email_key=attempt.key, source_key=attempt.source, now=attempt.now
        )
        self._recent.forget(attempt.key, attempt.source)  # its address's failures are forgiven

    async def open_session(self, conn: AsyncConnection, user: UserRecord, *, now: datetime) -> Session:
        """A new session (a new refresh token family) for ``user``, in ``conn``'s transaction."""
        refresh_token = await self._store_refresh_token(conn, user.id, family_id=uuid.uuid4(), now=now)
        return self._session(user, refresh_token)

    async def _refused(self, conn: AsyncConnection, key: str, source: str, now: datetime) -> str | None:
        """Why an attempt on ``key`` from ``source`` may not be made now, or ``None`` (see the module)."""
        await sign_in_attempts.purge(
            conn,
            attempts_before=now - FAILURE_WINDOW - LOCK_DURATION,
            addresses_before=now - KNOWN_ADDRESS_FOR,
        )
        if await sign_in_attempts.count_from(conn, source_key=source, since=now - FAILURE_WINDOW) >= (
            self._address_attempts
        ):
            return "address_budget"
        attempts = await sign_in_attempts.attempts_on(
            conn, email_key=key, since=now - FAILURE_WINDOW - LOCK_DURATION
        )
        known = await sign_in_attempts.known_sources(conn, email_key=key, since=now - KNOWN_ADDRESS_FOR)
        until = email_locked_until(attempts, source=source, known_sources=known)
        return "locked" if until is not None and until > now else None

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
            access_token=self._tokens.issue_access_token(
                str(user.id), extra={SESSIONS_EPOCH_CLAIM: user.sessions_epoch}
            ),
            refresh_token=refresh_token,
            expires_in=self._tokens.access_ttl_seconds,
            user=user,
        )
