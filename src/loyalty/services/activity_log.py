"""Reading the activity log, its retention, and shipping entries from the outbox to the log store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Access, Operation
from loyalty.auth.principal import Caller, Principal
from loyalty.datasources import log_outbox, settings
from loyalty.datasources.database import Database
from loyalty.datasources.log_store import LogEntry, LogQuery, LogStore
from loyalty.observability.metrics import count_ship_failure
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import ErrorCode, Forbidden, ServiceError
from loyalty.services.pagination import Page, check_page_size, decode_time_cursor, encode_time_cursor

logger = logging.getLogger("loyalty.activity_log")

DEFAULT_RETENTION_DAYS = 365
MAX_RETENTION_DAYS = 3650
# Free-text search filters entries rather than using an index: it looks this far back from `until`.
SEARCH_WINDOW = timedelta(days=31)
_RETENTION = "log_retention_days"
# How long a worker trusts the retention it read (it is read on every logs query and shipped batch).
RETENTION_CACHE_SECONDS = 10.0


def _require_reader(principal: Principal) -> None:
    if principal.access(Operation.READ_LOGS) is not Access.ALLOW:
        raise Forbidden()


async def _stored_retention(conn: AsyncConnection) -> int:
    value = await settings.read(conn, _RETENTION)
    return int(value) if value else DEFAULT_RETENTION_DAYS


def _text(value: str | None, limit: int = 255) -> str | None:
    """A filter value, trimmed; ``None`` when blank."""
    value = (value or "").strip()[:limit]
    return value or None


class ActivityLog:
    def __init__(
        self,
        db: Database,
        store: LogStore,
        audit: AuditTrail,
        *,
        retention_cache_seconds: float = RETENTION_CACHE_SECONDS,
    ) -> None:
        self._db = db
        self._store = store
        self._audit = audit
        self._retention_ttl = retention_cache_seconds
        self._retention: tuple[float, int] | None = None  # (trusted until, days)
        self._retention_changes = 0  # a read that began before a change must not cache what it read

    async def close(self) -> None:
        await self._store.close()

    async def retention_days(self) -> int:
        """The retention in force, read at most once per ``retention_cache_seconds``: a change made in
        this process applies at once, one made by another worker within that time."""
        now = time.monotonic()
        cached = self._retention
        if cached is not None and cached[0] > now:
            return cached[1]
        changes = self._retention_changes
        async with self._db.read() as conn:
            days = await _stored_retention(conn)
        if changes == self._retention_changes:
            self._retention = (now + self._retention_ttl, days)
        return days

    async def read_retention(self, principal: Principal) -> int:
        _require_reader(principal)
        return await self.retention_days()

    async def set_retention(self, caller: Caller, days: int) -> int:
        async with self._audit.attempt(caller, "log.set_retention", target_type="settings") as attempt:
            if attempt.principal.access(Operation.SET_LOG_RETENTION) is not Access.ALLOW:
                raise Forbidden()
            if not 1 <= days <= MAX_RETENTION_DAYS:
                raise ServiceError.of(
                    ErrorCode.VALIDATION, f"must be between 1 and {MAX_RETENTION_DAYS}", "days"
                )
            async with self._db.transaction() as conn:
                before = await _stored_retention(conn)
                await settings.write(conn, _RETENTION, str(days))
                await attempt.succeeded(
                    conn, target_id=_RETENTION, details={"before": {"days": before}, "after": {"days": days}}
                )
            self._retention_changes += 1
            self._retention = (time.monotonic() + self._retention_ttl, days)
        return days

    async def read(
        self, principal: Principal, log_filter: LogQuery, *, first: int, after: str | None
    ) -> Page[LogEntry]:
        _require_reader(principal)
        check_page_size(first)
        position = decode_time_cursor(after) if after is not None else None
        now = datetime.now(UTC)
        until = min(log_filter.until or now, now)
        since = now - timedelta(days=await self.retention_days())
        search = _text(log_filter.search)
        if log_filter.since is not None:
            since = max(since, log_filter.since)
        if since > until:
            return Page(items=[], cursors=[], has_next_page=False)
        if search:
            since = max(since, until - SEARCH_WINDOW)
        query = LogQuery(
            actor_id=_text(log_filter.actor_id),
            target_id=_text(log_filter.target_id),
            action=_text(log_filter.action, 64),
            outcome=log_filter.outcome,
            since=since,
            until=until,
            search=search.lower() if search else None,
        )
        entries = await self._store.query(query, limit=first + 1, after=position)
        items = entries[:first]
        cursors = [encode_time_cursor(entry.timestamp, entry.id) for entry in items]
        return Page(items=items, cursors=cursors, has_next_page=len(entries) > first)


class OutboxShipper:
    """Moves log entries from the outbox to the log store, in batches, until the outbox is empty.

    Woken when entries are recorded and every ``idle_seconds`` besides. While the store is down it
    retries with exponential backoff; the entries wait safely in the outbox. Writing is idempotent
    (keyed by entry id), so a batch shipped twice after a crash between writing and removing it is
    stored once.
    """

    def __init__(
        self,
        db: Database,
        store: LogStore,
        activity_log: ActivityLog,
        *,
        batch_size: int = 100,
        idle_seconds: float = 5.0,
        max_backoff_seconds: float = 30.0,
        purge_every_seconds: float = 3600.0,
        create_store: bool = False,
    ) -> None:
        self._db = db
        self._store = store
        self._activity_log = activity_log
        self._batch_size = batch_size
        self._idle = idle_seconds
        self._max_backoff = max_backoff_seconds
        self._purge_every = purge_every_seconds
        self._create_store = create_store  # for a local DynamoDB, which forgets its tables on restart
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self._wake.set()

    async def ship_batch(self) -> int:
        """Ship the oldest waiting entries; how many were shipped (0 when the outbox is empty)."""
        async with self._db.read() as conn:
            batch = await log_outbox.oldest(conn, self._batch_size)
        if not batch:
            return 0
        retention = await self._activity_log.retention_days()
        await self._store.write_batch([entry for _, entry in batch], retention_days=retention)
        async with self._db.transaction() as conn:
            await log_outbox.remove(conn, [seq for seq, _ in batch])
        return len(batch)

    async def drain(self) -> int:
        """Ship until the outbox is empty; the number shipped. Raises if the store fails."""
        shipped = 0
        while count := await self.ship_batch():
            shipped += count
        return shipped

    async def purge_expired(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=await self._activity_log.retention_days())
        return await self._store.purge_before(cutoff)

    def start(self) -> None:
        """Run in the background; the first round (creating a local table, shipping leftovers) is at once."""
        if self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self._run(), name="log-outbox-shipper")

    async def stop(self) -> None:
        """Stop the background task, shipping what it can first (entries left wait in the outbox)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=5)

    async def _run(self) -> None:
        backoff = 0.0
        next_purge = 0.0
        store_ready = not self._create_store
        loop = asyncio.get_running_loop()
        while True:
            if backoff:
                await asyncio.sleep(backoff)  # wake-ups do not cut a backoff short
            else:
                # Not wait_for: on Python 3.11 it swallows a cancellation that comes as the event is
                # set, which is how shutdown goes (the audit's last summaries wake the shipper as
                # stop() cancels it), and stop() then waited for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle):
                        await self._wake.wait()
            self._wake.clear()
            try:
                if not store_ready:
                    await self._store.ensure_ready()
                    store_ready = True
                await self.drain()
                if loop.time() >= next_purge:
                    await self.purge_expired()
                    next_purge = loop.time() + self._purge_every
                backoff = 0.0
            except Exception as error:  # noqa: BLE001 - the store is down or refusing: wait and retry
                store_ready = not self._create_store
                backoff = min(max(backoff * 2, 0.5), self._max_backoff)
                logger.warning("shipping log entries failed (%s); retrying in %.1f s", error, backoff)
                count_ship_failure()
