"""Approval requests: proposed changes waiting for a checker."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.datasources.errors import unique_violations_as_duplicates
from loyalty.datasources.tables import approval_requests

_COLUMNS = tuple(approval_requests.c)


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    id: uuid.UUID
    kind: str
    status: str
    target_id: str
    change: dict[str, Any]
    maker_id: str
    maker_email: str | None
    checker_id: str | None
    comment: str | None
    created_at: datetime
    decided_at: datetime | None
    idempotency_key: str | None = None
    request_digest: str | None = None


def _record(row: sa.Row[Any]) -> ApprovalRecord:
    return ApprovalRecord(**row._mapping)


async def insert_request(conn: AsyncConnection, record: ApprovalRecord) -> None:
    """Store a request; ``DuplicateKey`` when its maker used its idempotency key already."""
    values = {column.name: getattr(record, column.name) for column in _COLUMNS}
    with unique_violations_as_duplicates():
        await conn.execute(approval_requests.insert().values(**values))


async def fetch_request(conn: AsyncConnection, request_id: uuid.UUID) -> ApprovalRecord | None:
    row = (await conn.execute(sa.select(*_COLUMNS).where(approval_requests.c.id == request_id))).first()
    return _record(row) if row else None


async def fetch_request_by_key(conn: AsyncConnection, maker_id: str, key: str) -> ApprovalRecord | None:
    c = approval_requests.c
    row = (
        await conn.execute(sa.select(*_COLUMNS).where(c.maker_id == maker_id, c.idempotency_key == key))
    ).first()
    return _record(row) if row else None


async def decide(
    conn: AsyncConnection,
    request_id: uuid.UUID,
    *,
    status: str,
    checker_id: str,
    comment: str | None,
    now: datetime,
) -> ApprovalRecord | None:
    """Move a PENDING request to ``status``; ``None`` when it was decided already (one winner per race)."""
    statement = (
        approval_requests.update()
        .where(approval_requests.c.id == request_id, approval_requests.c.status == "PENDING")
        .values(status=status, checker_id=checker_id, comment=comment, decided_at=now)
        .returning(*_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    return _record(row) if row else None


async def list_requests(
    conn: AsyncConnection,
    *,
    actor_id: str,
    decidable_kinds: Sequence[str],
    status: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ApprovalRecord]:
    """Requests the actor made, and those of others whose kind the actor may decide; newest first."""
    c = approval_requests.c
    visible = sa.or_(c.maker_id == actor_id, c.kind.in_(list(decidable_kinds)))
    conditions = [visible]
    if status is not None:
        conditions.append(c.status == status)
    if after is not None:
        conditions.append(sa.tuple_(c.created_at, c.id) < sa.tuple_(*after))
    query = sa.select(*_COLUMNS).where(*conditions).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
    return [_record(row) for row in await conn.execute(query)]
