"""Deciding approval requests. Approving applies the change and marks the request APPROVED in one
transaction, re-validated against the data as it is then; a request is decided once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import ApprovalKind, may_decide
from loyalty.auth.principal import Caller, Principal, StaffPrincipal
from loyalty.datasources import approvals
from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.database import Database
from loyalty.services.audit import Attempt, AuditTrail
from loyalty.services.errors import ErrorCode, Forbidden, ServiceError
from loyalty.services.notifications import Notifier
from loyalty.services.pagination import Page, check_page_size, decode_time_cursor, encode_time_cursor
from loyalty.services.points import Adjustment, PointsAction, PointsService
from loyalty.services.principals import PrincipalDirectory
from loyalty.services.users import UserService
from loyalty.services.validation import Problems, parse_id

MAX_COMMENT_LENGTH = 1000


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


def _staff(principal: Principal) -> StaffPrincipal:
    if not isinstance(principal, StaffPrincipal):
        raise Forbidden("Approval requests are for staff.")
    return principal


def may_decide_now(principal: Principal | None, record: ApprovalRecord) -> bool:
    """Whether ``principal`` may approve or reject ``record`` now: pending, not theirs, theirs to decide."""
    return (
        isinstance(principal, StaffPrincipal)
        and record.status == ApprovalStatus.PENDING
        and record.maker_id != principal.actor_id
        and may_decide(principal.role, ApprovalKind(record.kind))
    )


def may_cancel_now(principal: Principal | None, record: ApprovalRecord) -> bool:
    """Whether ``principal`` may cancel ``record`` now: theirs, and pending."""
    return (
        isinstance(principal, StaffPrincipal)
        and record.status == ApprovalStatus.PENDING
        and record.maker_id == principal.actor_id
    )


def _may_view(principal: StaffPrincipal, record: ApprovalRecord) -> bool:
    return record.maker_id == principal.actor_id or may_decide(principal.role, ApprovalKind(record.kind))


class ApprovalService:
    def __init__(
        self,
        db: Database,
        audit: AuditTrail,
        users: UserService,
        points: PointsService,
        principals: PrincipalDirectory,
        notifier: Notifier,
    ) -> None:
        self._db = db
        self._audit = audit
        self._users = users
        self._points = points
        self._principals = principals
        self._notifier = notifier

    async def list(
        self, principal: Principal, *, status: str | None, first: int, after: str | None
    ) -> Page[ApprovalRecord]:
        """What the caller made, and what the caller may decide; newest first."""
        staff = _staff(principal)
        check_page_size(first)
        position = decode_time_cursor(after) if after is not None else None
        decidable = [kind.value for kind in ApprovalKind if may_decide(staff.role, kind)]
        async with self._db.read() as conn:
            rows = await approvals.list_requests(
                conn,
                actor_id=staff.actor_id,
                decidable_kinds=decidable,
                status=status,
                after=position,
                limit=first + 1,
            )
        items = rows[:first]
        cursors = [encode_time_cursor(record.created_at, record.id) for record in items]
        return Page(items=items, cursors=cursors, has_next_page=len(rows) > first)

    async def approve(self, caller: Caller, request_id: str, comment: str | None) -> ApprovalRecord:
        async with self._audit.attempt(
            caller, "approval.approve", target_type="approval_request", target_id=request_id
        ) as attempt:
            checker, comment = self._checker_and_comment(attempt, comment)
            async with self._db.transaction() as conn:
                record = await self._decidable(
                    conn, checker, request_id, "you cannot approve your own request"
                )
                decided = await self._decide(conn, record, "APPROVED", checker, comment)
                result = await self._apply(conn, checker, record)
                await self._tell_maker(conn, decided, checker)
                details = {"kind": record.kind, "change": record.change, "result": result}
                await attempt.succeeded(conn, target_id=str(record.id), details=details)
        if record.kind in (ApprovalKind.UPDATE_USER, ApprovalKind.DELETE_USER):
            target = parse_id(record.target_id)
            if target is not None:
                self._principals.forget(target)
        return decided

    async def reject(self, caller: Caller, request_id: str, comment: str | None) -> ApprovalRecord:
        async with self._audit.attempt(
            caller, "approval.reject", target_type="approval_request", target_id=request_id
        ) as attempt:
            checker, comment = self._checker_and_comment(attempt, comment)
            async with self._db.transaction() as conn:
                record = await self._decidable(conn, checker, request_id, "cancel your own request instead")
                decided = await self._decide(conn, record, "REJECTED", checker, comment)
                await self._tell_maker(conn, decided, checker)
                await attempt.succeeded(conn, target_id=str(record.id), details={"kind": record.kind})
        return decided

    async def cancel(self, caller: Caller, request_id: str) -> ApprovalRecord:
        async with self._audit.attempt(
            caller, "approval.cancel", target_type="approval_request", target_id=request_id
        ) as attempt:
            maker = _staff(attempt.principal)
            async with self._db.transaction() as conn:
                record = await self._pending(conn, maker, request_id)
                if record.maker_id != maker.actor_id:
                    raise Forbidden("Only the maker cancels a request.")
                decided = await self._decide(conn, record, "CANCELLED", maker, None)
                await attempt.succeeded(conn, target_id=str(record.id), details={"kind": record.kind})
        return decided

    @staticmethod
    def _checker_and_comment(attempt: Attempt, comment: str | None) -> tuple[StaffPrincipal, str | None]:
        checker = _staff(attempt.principal)
        check = Problems()
        comment = check.optional_text("comment", comment, max_length=MAX_COMMENT_LENGTH)
        check.raise_any()
        return checker, comment

    @staticmethod
    async def _pending(conn: AsyncConnection, principal: StaffPrincipal, request_id: str) -> ApprovalRecord:
        parsed = parse_id(request_id)
        record = await approvals.fetch_request(conn, parsed) if parsed else None
        if record is None or not _may_view(principal, record):
            raise ServiceError.of(ErrorCode.NOT_FOUND, "no such approval request", "id")
        if record.status != "PENDING":
            raise ServiceError.of(ErrorCode.ALREADY_DECIDED, f"the request is {record.status}", "id")
        return record

    async def _decidable(
        self, conn: AsyncConnection, checker: StaffPrincipal, request_id: str, own_request: str
    ) -> ApprovalRecord:
        """A pending request ``checker`` may decide: not their own, and a change they may make directly."""
        record = await self._pending(conn, checker, request_id)
        if record.maker_id == checker.actor_id:
            raise ServiceError.of(ErrorCode.SELF_APPROVAL, own_request, "id")
        if not may_decide(checker.role, ApprovalKind(record.kind)):
            raise Forbidden("Only someone who may make this change directly decides it.")
        return record

    @staticmethod
    async def _decide(
        conn: AsyncConnection,
        record: ApprovalRecord,
        status: str,
        decider: StaffPrincipal,
        comment: str | None,
    ) -> ApprovalRecord:
        decided = await approvals.decide(
            conn,
            record.id,
            status=status,
            checker_id=decider.actor_id,
            comment=comment,
            now=datetime.now(UTC),
        )
        if decided is None:  # another checker decided it meanwhile
            raise ServiceError.of(ErrorCode.ALREADY_DECIDED, "the request was decided meanwhile", "id")
        return decided

    async def _apply(
        self, conn: AsyncConnection, checker: StaffPrincipal, record: ApprovalRecord
    ) -> dict[str, Any]:
        """Make the proposed change, as the checker, against the data as it is now."""
        change = record.change
        kind = ApprovalKind(record.kind)
        if kind is ApprovalKind.ENROLL_USER:
            user_id = uuid.UUID(record.target_id)
            _, details = await self._users.apply_enrolment(conn, checker, change, user_id)
        elif kind is ApprovalKind.UPDATE_USER:
            _, details = await self._users.apply_update(conn, checker, record.target_id, change)
        elif kind is ApprovalKind.DELETE_USER:
            _, details = await self._users.apply_delete(conn, checker, record.target_id)
        elif kind is ApprovalKind.OPEN_ACCOUNT:
            _, details = await self._points.apply_open_account(
                conn, checker, record.target_id, change["program"]
            )
        else:
            adjustment = Adjustment(
                record.target_id, PointsAction(change["action"]), change["amount"], change["reason"], None
            )
            _, details = await self._points.apply_adjustment(
                conn, checker, uuid.UUID(record.target_id), adjustment, change["reason"]
            )
        return details

    async def _tell_maker(
        self, conn: AsyncConnection, record: ApprovalRecord, checker: StaffPrincipal
    ) -> None:
        if not record.maker_email:
            return
        await self._notifier.enqueue(
            conn,
            event=f"approval.decided:{record.id}",
            recipients=[record.maker_email],
            template="approval_decided",
            context={
                "request_id": str(record.id),
                "kind": record.kind,
                "status": record.status,
                "checker_email": checker.email,
                "comment": record.comment,
            },
        )
