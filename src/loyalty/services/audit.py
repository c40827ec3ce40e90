"""The activity log's writing side: one entry per action attempted, written by one function.

A change records its entry inside its own transaction, so a rolled-back change leaves no entry
claiming success. A denial or a failure is recorded in a short transaction of its own, after the
change (if any) rolled back. With the SQL log store (the same database) the entry goes straight into
``log_entries``; with another store it waits in the outbox for the shipper.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.principal import Caller, Origin, Principal
from loyalty.datasources import log_outbox, log_sql
from loyalty.datasources.database import Database
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
        self.actor: Principal | None = caller.principal

    @property
    def principal(self) -> Principal:
        """The signed-in staff member; refusing the action (and so recording it) when there is none."""
        if self.caller.principal is None:
            raise Unauthenticated()
        return self.caller.principal

    async def succeeded(
        self, conn: AsyncConnection, *, target_id: str | None = None, details: dict[str, Any] | None = None
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


class AuditTrail:
    def __init__(self, db: Database, *, into_log_entries: bool = False) -> None:
        """``into_log_entries``: the log store is the ``log_entries`` table of ``db``; else the outbox."""
        self._db = db
        self._add: Callable[[AsyncConnection, LogEntry], Awaitable[None]] = (
            log_sql.add_entry if into_log_entries else log_outbox.add
        )
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

    async def record(self, conn: AsyncConnection, entry: LogEntry) -> None:
        """Record ``entry`` as part of the caller's transaction."""
        await self._add(conn, entry)

    async def record_alone(self, entry: LogEntry) -> None:
        """Record ``entry`` in a transaction of its own (denials and failures)."""
        async with self._db.transaction() as conn:
            await self._add(conn, entry)
        self.committed()

    def committed(self) -> None:
        """Wake the shipper, if entries wait for it."""
        self.on_recorded()

    async def record_refused_read(self, caller: Caller, field: str, refusal: RequestRefused) -> None:
        """Record a read that was refused (reads that succeed are not logged; denials always are)."""
        if refusal.recorded:
            return
        entry = self.entry(
            caller.principal,
            caller.origin,
            action=f"query.{field}",
            outcome="DENIED",
            details={"reason": str(refusal), "code": refusal.code},
        )
        await self.record_alone(entry)
        refusal.recorded = True

    async def record_rate_limited(self, caller: Caller) -> None:
        """Record a request refused for going over its caller's budget."""
        entry = self.entry(
            caller.principal, caller.origin, action="request.rate_limited", outcome="DENIED",
            details={"code": "RATE_LIMITED"},
        )  # fmt: skip
        await self.record_alone(entry)

    @asynccontextmanager
    async def attempt(
        self, caller: Caller, action: str, *, target_type: str, target_id: str | None = None
    ) -> AsyncIterator[Attempt]:
        """Run one action and make sure it leaves exactly one entry, whatever its outcome."""
        attempt = Attempt(self, caller, action, target_type, target_id)
        try:
            yield attempt
        except RequestRefused as refusal:
            outcome = "FAILED" if refusal.code == "BAD_USER_INPUT" else "DENIED"
            await self.record_alone(attempt.as_entry(outcome, {"reason": str(refusal), "code": refusal.code}))
            refusal.recorded = True
            raise
        except ServiceError as error:
            problems = [
                {"code": p.code.value, "field": p.field, "message": p.message} for p in error.problems
            ]
            await self.record_alone(attempt.as_entry("FAILED", {"errors": problems}))
            raise
        except Exception:
            await self.record_alone(attempt.as_entry("FAILED", {"errors": [{"code": "INTERNAL"}]}))
            raise
        if not attempt.recorded:
            raise RuntimeError(f"{action} finished without recording its success")
        self.committed()
