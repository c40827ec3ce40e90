"""Proposing a change for approval: the "request" cells of the permission matrix."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import ApprovalKind, checker_roles
from loyalty.datasources import approvals, users
from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.database import Database
from loyalty.datasources.errors import DuplicateKey
from loyalty.services.audit import Attempt
from loyalty.services.errors import ErrorCode, ServiceError
from loyalty.services.notifications import Notifier


class Proposals:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self._db = db
        self._notifier = notifier

    async def propose(
        self,
        attempt: Attempt,
        *,
        kind: ApprovalKind,
        target_id: str,
        change: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> ApprovalRecord:
        """Store a PENDING request and tell every eligible checker, in one transaction. A retry with
        the maker's ``idempotency_key`` returns the first request (the unique key settles races)."""
        maker = attempt.principal
        attempt.action = "approval.request"
        record = ApprovalRecord(
            id=uuid.uuid4(),
            kind=kind.value,
            status="PENDING",
            target_id=target_id,
            change=change,
            maker_id=maker.actor_id,
            maker_email=maker.actor_email,
            checker_id=None,
            comment=None,
            created_at=datetime.now(UTC),
            decided_at=None,
            idempotency_key=idempotency_key,
            request_digest=_digest(kind, target_id, change) if idempotency_key is not None else None,
        )
        try:
            async with self._db.transaction() as conn:
                await approvals.insert_request(conn, record)
                await self._tell_checkers(conn, record)
                await attempt.succeeded(
                    conn,
                    target_id=target_id,
                    details={"approvalRequestId": str(record.id), "kind": kind.value, "change": change},
                )
        except DuplicateKey:
            if idempotency_key is None:
                raise
            earlier = await self._earlier(record, idempotency_key)
            await attempt.succeeded_alone(details={"replayed": True, "approvalRequestId": str(earlier.id)})
            return earlier
        return record

    async def _tell_checkers(self, conn: AsyncConnection, record: ApprovalRecord) -> None:
        kind = ApprovalKind(record.kind)
        checkers = await users.staff_emails(conn, checker_roles(kind))
        await self._notifier.enqueue(
            conn,
            event=f"approval.requested:{record.id}",
            recipients=[email for user_id, email in checkers if str(user_id) != record.maker_id],
            template="approval_requested",
            context={
                "request_id": str(record.id),
                "kind": record.kind,
                "maker_email": record.maker_email,
                "target_id": record.target_id,
                "change": record.change,
            },
        )

    async def _earlier(self, record: ApprovalRecord, key: str) -> ApprovalRecord:
        """The request the maker first made with ``key``; IDEMPOTENCY_MISMATCH if it proposed otherwise."""
        async with self._db.read() as conn:
            earlier = await approvals.fetch_request_by_key(conn, record.maker_id, key)
        if earlier is None:  # only a unique violation on the key brings us here, and requests stay
            raise LookupError(f"approval request keyed {key!r} is gone")
        if earlier.request_digest != record.request_digest:
            raise ServiceError.of(
                ErrorCode.IDEMPOTENCY_MISMATCH,
                "this idempotency key was used with a different request",
                "input.idempotencyKey",
            )
        return earlier


def _digest(kind: ApprovalKind, target_id: str, change: dict[str, Any]) -> str:
    """A fingerprint of what was proposed, to tell a faithful retry from a reused key."""
    body = json.dumps([kind.value, target_id.lower(), change], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()
