"""The activity log's writing side: one entry per action attempted, written by one function.

A change records its entry inside its own transaction, so a rolled-back change leaves no entry
claiming success. A denial or a failure is recorded in a short transaction of its own, after the
change (if any) rolled back. With the SQL log store (the same database) the entry goes straight into
``log_entries``; with another store it waits in the outbox for the shipper.

Refusals are what an anonymous caller can produce at will, so they are summarized rather than
written one by one (:class:`RefusalDigest`): a caller's first refusal of a kind is written at once,
its repeats within the window are only counted, and the count is written as one summary entry when
the window closes, or at shutdown. A process that dies loses the counts of its open windows (at most
one window's worth per caller), never a first refusal.

Entries recorded on their own are committed together with those recorded beside them
(:class:`GroupCommit`): forty refusals at once are a few transactions, not forty in a row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.principal import Caller, Origin, Principal
from loyalty.datasources import log_outbox, log_sql
from loyalty.datasources.database import Database, InTransaction
from loyalty.datasources.log_store import LogEntry
from loyalty.services.errors import RequestRefused, ServiceError, Unauthenticated

logger = logging.getLogger("loyalty.audit")

_MAX_TEXT = 255


def _clip(value: str | None, limit: int = _MAX_TEXT) -> str | None:
    return value[:limit] if value is not None else None


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    DENIED = "DENIED"
    FAILED = "FAILED"


class Attempt:
    """One action in progress. The service calls :meth:`succeeded` inside the change's transaction."""

    def __init__(
        self, trail: AuditTrail, caller: Caller, action: str, target_type: str, target_id: str | None
    ):
        self._trail = trail
        self.caller = caller
        self.action = action
        self.target_type = target_type
        self.target_id = target_id
        self.recorded = False
        # Who acted, when it is learnt during the action rather than from a token (refreshing a session).
        self.actor: Principal | None = caller.actor

    @property
    def principal(self) -> Principal:
        """The signed-in staff member; refusing the action (and so recording it) when there is none."""
        if self.caller.principal is None:
            raise Unauthenticated()
        return self.caller.principal

    async def succeeded(
        self, conn: InTransaction, *, target_id: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        if target_id is not None:
            self.target_id = target_id
        await self._trail.record(conn, self.as_entry("SUCCESS", details))
        self.recorded = True

    async def succeeded_alone(self, *, details: dict[str, Any] | None = None) -> None:
        """Record success of an action that changed nothing (an idempotent replay)."""
        await self._trail.record_alone(self.as_entry("SUCCESS", details))
        self.recorded = True

    def as_entry(self, outcome: str, details: dict[str, Any] | None) -> LogEntry:
        return self._trail.entry(
            self.actor,
            self.caller.origin,
            action=self.action,
            outcome=outcome,
            target_type=self.target_type,
            target_id=self.target_id,
            details=details,
        )


@dataclasses.dataclass(slots=True)
class _Window:
    opened: float  # time.monotonic() of the first refusal, which was written at once
    first: LogEntry
    latest: LogEntry | None = None
    repeats: int = 0
    timer: asyncio.TimerHandle | None = None


class RefusalDigest:
    """One entry per caller and kind of refusal per window: the first at once, then a count.

    The summary repeats the latest refusal's entry (its action, actor, origin, details) with
    ``repeats`` (refusals after the first) and ``first_at`` (the first one's time) in its details.
    A window holding repeats closes on a timer; one without is forgotten in a sweep once it ends,
    so callers that stopped cost no memory.
    """

    def __init__(self, write: Callable[[LogEntry], Awaitable[None]], *, window_seconds: float) -> None:
        self._write = write
        self._window = window_seconds
        self._open: dict[Hashable, _Window] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._open)

    async def record(self, key: Hashable, entry: LogEntry) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        window = self._open.get(key)
        if window is not None and now - window.opened < self._window:
            window.repeats += 1
            window.latest = entry
            if window.timer is None:
                delay = window.opened + self._window - now
                window.timer = asyncio.get_running_loop().call_later(delay, self._close_later, key)
            return
        # The new window is open before anything is awaited, so a concurrent repeat counts in it.
        summary = self._summary(self._open.pop(key, None))
        self._open[key] = _Window(opened=now, first=entry)
        if summary is not None:
            await self._write(summary)
        await self._write(entry)

    async def flush(self) -> None:
        """Write the summaries of every open window (at shutdown)."""
        await asyncio.gather(*self._closing, return_exceptions=True)
        windows, self._open = list(self._open.values()), {}
        for window in windows:
            summary = self._summary(window)
            if summary is not None:
                await self._write(summary)

    def _sweep(self, now: float) -> None:
        ended = [
            key
            for key, window in self._open.items()
            if window.timer is None and now - window.opened >= self._window
        ]
        for key in ended:
            del self._open[key]
        self._next_sweep = now + self._window

    def _close_later(self, key: Hashable) -> None:
        summary = self._summary(self._open.pop(key, None))
        if summary is not None:
            task = asyncio.get_running_loop().create_task(self._write_closing(summary))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _write_closing(self, summary: LogEntry) -> None:
        """Write a summary on the window's timer; a failure is told in the server log (the count is lost)."""
        try:
            await self._write(summary)
        except Exception:
            logger.exception("a summary of repeated refusals could not be written: %s", summary.details)

    @staticmethod
    def _summary(window: _Window | None) -> LogEntry | None:
        """The entry summing up ``window``'s repeats, if it had any; its timer is stopped."""
        if window is None or window.latest is None:
            return None
        if window.timer is not None:
            window.timer.cancel()
        details = {
            **(window.latest.details or {}),
            "repeats": window.repeats,
            "first_at": window.first.timestamp.isoformat(),
        }
        return dataclasses.replace(
            window.latest, id=uuid.uuid4(), timestamp=datetime.now(UTC), details=details
        )


class GroupCommit:
    """Writes entries in transactions of their own, each with every entry that came while the last
    one was being written (group commit).

    On SQLite every write waits for the one writer connection, so a burst of denials, each in its own
    transaction, answered one after the other. A caller still returns only once its entry is committed
    (or with the error that stopped the batch holding it); the batches run in a task, so no caller
    waits for entries that came after its own.
    """

    def __init__(self, db: Database, add: Callable[[AsyncConnection, LogEntry], Awaitable[None]]) -> None:
        self._db = db
        self._add = add
        self._waiting: list[tuple[LogEntry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, entry: LogEntry) -> None:
        committed = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, committed))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches())
        await committed

    async def _write_batches(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    async with self._db.transaction() as conn:
                        for entry, _ in batch:
                            await self._add(conn, entry)
                except Exception as error:  # noqa: BLE001 - each caller of the batch is told
                    for _, committed in batch:
                        if not committed.done():
                            committed.set_exception(error)
                else:
                    for _, committed in batch:
                        if not committed.done():
                            committed.set_result(None)
        finally:
            self._writer = None


def _caller_key(caller: Caller) -> str:
    return caller.actor.actor_id if caller.actor else f"ip:{caller.origin.source_ip}"


class AuditTrail:
    def __init__(
        self, db: Database, *, into_log_entries: bool = False, refusal_window_seconds: float = 60.0
    ) -> None:
        """``into_log_entries``: the log store is the ``log_entries`` table of ``db``; else the outbox.

        ``refusal_window_seconds``: the window within which a caller's repeated refusals are counted.
        """
        self._refusals = RefusalDigest(self.record_alone, window_seconds=refusal_window_seconds)
        # Both are prepared statements: an entry goes in any transaction, a raw one's too.
        self._add: Callable[[InTransaction, LogEntry], Awaitable[None]] = (
            log_sql.add_entry if into_log_entries else log_outbox.add
        )
        self._alone = GroupCommit(db, self._add)
        # Called after entries are committed to the outbox (the shipper's wake-up).
        self.on_recorded: Callable[[], None] = lambda: None

    @staticmethod
    def entry(
        principal: Principal | None,
        origin: Origin,
        *,
        action: str,
        outcome: str,
        target_type: str | None = None,
        target_id: str | None = None,
        details: dict[str, Any] | None = None,
        actor_email: str | None = None,
    ) -> LogEntry:
        """The one place a log entry is assembled."""
        return LogEntry(
            id=uuid.uuid4(),
            timestamp=datetime.now(UTC),
            action=action,
            outcome=outcome,
            actor_id=principal.actor_id if principal else None,
            actor_email=_clip(principal.actor_email if principal else actor_email, 320),
            actor_role=principal.actor_role if principal else None,
            target_type=target_type,
            target_id=_clip(target_id),
            details=details,
            source_ip=_clip(origin.source_ip, 64),
            user_agent=_clip(origin.user_agent, 512),
            request_id=_clip(origin.request_id, 128),
        )

    async def record(self, conn: InTransaction, entry: LogEntry) -> None:
        """Record ``entry`` as part of the caller's transaction."""
        await self._add(conn, entry)

    async def record_alone(self, entry: LogEntry) -> None:
        """Record ``entry`` in a transaction of its own (denials and failures), or one it shares with
        entries recorded at the same time (:class:`GroupCommit`)."""
        await self._alone.write(entry)
        self.committed()

    def committed(self) -> None:
        """Wake the shipper, if entries wait for it."""
        self.on_recorded()

    async def record_repeated(self, entry: LogEntry, *, key: Hashable) -> None:
        """Record a refusal that its caller may repeat at will: repeats of ``key`` are summarized."""
        await self._refusals.record((entry.action, key), entry)

    async def flush(self) -> None:
        """Write the summaries of refusals still being counted (at shutdown)."""
        await self._refusals.flush()

    async def record_refused_read(
        self, caller: Caller, fields: Sequence[str], refusals: Sequence[RequestRefused]
    ) -> None:
        """Record a request whose reads were refused: one entry, named by the first refused field.

        Reads that succeed are not logged; denials always are, however many aliases one request
        repeats them under (``fields`` are schema field names, not aliases).
        """
        first = refusals[0]
        distinct = sorted(set(fields))
        entry = self.entry(
            caller.actor,
            caller.origin,
            action=f"query.{fields[0]}",
            outcome="DENIED",
            details={"reason": str(first), "code": first.code, "fields": distinct[:20]},
        )
        await self.record_repeated(entry, key=(_caller_key(caller), first.code))
        for refusal in refusals:
            refusal.recorded = True

    async def record_rate_limited(self, caller: Caller, *, action: str = "request.rate_limited") -> None:
        """Record a request refused for going over its caller's budget (repeats summarized)."""
        entry = self.entry(
            caller.actor, caller.origin, action=action, outcome="DENIED",
            details={"code": "RATE_LIMITED"},
        )  # fmt: skip
        await self.record_repeated(entry, key=_caller_key(caller))

    def attempt(
        self, caller: Caller, action: str, *, target_type: str, target_id: str | None = None
    ) -> AttemptBlock:
        """Run one action and make sure it leaves exactly one entry, whatever its outcome."""
        return AttemptBlock(self, Attempt(self, caller, action, target_type, target_id))


class AttemptBlock:
    """The block of :meth:`AuditTrail.attempt`: a refusal or failure leaving it is recorded on its own
    and raised on; a success must have been recorded within it. (A class, not a generator: it wraps
    every change.)"""

    __slots__ = ("_attempt", "_trail")

    def __init__(self, trail: AuditTrail, attempt: Attempt) -> None:
        self._trail = trail
        self._attempt = attempt

    async def __aenter__(self) -> Attempt:
        return self._attempt

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        attempt = self._attempt
        if error is None:
            if not attempt.recorded:
                raise RuntimeError(f"{attempt.action} finished without recording its success")
            self._trail.committed()
        elif isinstance(error, RequestRefused):
            outcome = "FAILED" if error.code == "BAD_USER_INPUT" else "DENIED"
            await self._trail.record_alone(
                attempt.as_entry(outcome, {"reason": str(error), "code": error.code})
            )
            error.recorded = True
        elif isinstance(error, ServiceError):
            problems = [
                {"code": p.code.value, "field": p.field, "message": p.message} for p in error.problems
            ]
            await self._trail.record_alone(attempt.as_entry("FAILED", {"errors": problems}))
        elif isinstance(error, Exception):
            await self._trail.record_alone(attempt.as_entry("FAILED", {"errors": [{"code": "INTERNAL"}]}))
        # The error, if any, goes on.
