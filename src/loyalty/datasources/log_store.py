"""The activity log's storage: what an entry is, how it is queried, and the interface every store keeps."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One action attempted through the API, allowed or not. Immutable once written."""

    id: uuid.UUID
    timestamp: datetime  # aware, UTC
    action: str  # dotted: "user.enroll", "points.adjust", "auth.sign_in", ...
    outcome: str  # SUCCESS, DENIED or FAILED
    actor_id: str | None = None
    actor_email: str | None = None
    actor_role: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    details: dict[str, Any] | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of a log read. All given filters must hold; ``since``/``until`` are inclusive."""

    actor_id: str | None = None
    target_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None  # lower-case substring of action, actor email or target id


# A position in the log: entries strictly older than (timestamp, id) come next.
LogPosition = tuple[datetime, uuid.UUID]


class LogStore(Protocol):
    """Where shipped log entries live and are read from, newest first."""

    async def ensure_ready(self) -> None:
        """Create what the store needs if it is missing (tables); cheap when all is there."""

    async def write_batch(self, entries: Sequence[LogEntry], *, retention_days: int) -> None:
        """Store ``entries``. Idempotent: an entry written twice (same id) is stored once."""

    async def query(self, query: LogQuery, *, limit: int, after: LogPosition | None) -> list[LogEntry]:
        """Up to ``limit`` entries matching ``query``, newest first (timestamp, then id, descending),
        strictly after ``after`` in that order."""

    async def purge_before(self, cutoff: datetime) -> int:
        """Remove entries older than ``cutoff``; the number removed (stores with expiry may return 0)."""

    async def close(self) -> None: ...
