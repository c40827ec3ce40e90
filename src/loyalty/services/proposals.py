"""Proposing a change for approval: the "request" cells of the permission matrix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from loyalty.auth.permissions import ApprovalKind, checker_roles
from loyalty.datasources import approvals, users
from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.database import Database
from loyalty.services.audit import Attempt
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
        password_hash: str | None = None,
    ) -> ApprovalRecord:
        """Store a PENDING request and tell every eligible checker, in one transaction."""
        maker = attempt.principal
        record = ApprovalRecord(
            id=uuid.uuid4(),
            kind=kind.value,
            status="PENDING",
            target_id=target_id,
            change=change,
            password_hash=password_hash,
            maker_id=maker.actor_id,
            maker_email=maker.actor_email,
            checker_id=None,
            comment=None,
            created_at=datetime.now(UTC),
            decided_at=None,
        )
        async with self._db.transaction() as conn:
            await approvals.insert_request(conn, record)
            checkers = await users.staff_emails(conn, checker_roles(kind))
            await self._notifier.enqueue(
                conn,
                event=f"approval.requested:{record.id}",
                recipients=[email for user_id, email in checkers if str(user_id) != maker.actor_id],
                template="approval_requested",
                context={
                    "request_id": str(record.id),
                    "kind": kind.value,
                    "maker_email": maker.actor_email,
                    "target_id": target_id,
                    "change": change,
                },
            )
            attempt.action = "approval.request"
            await attempt.succeeded(
                conn,
                target_id=target_id,
                details={"approvalRequestId": str(record.id), "kind": kind.value, "change": change},
            )
        return record
