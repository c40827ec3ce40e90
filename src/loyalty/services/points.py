"""Points accounts and balance changes: the ledger is immutable and always replays to the balance."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Access, ApprovalKind, Operation, Role
from loyalty.auth.principal import Caller, Principal
from loyalty.datasources import points, users
from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.database import Database, InTransaction
from loyalty.datasources.errors import DuplicateKey
from loyalty.datasources.records import AccountHolder, LedgerRecord, PointsAccountRecord, UserRecord
from loyalty.datasources.tables import MAX_BALANCE
from loyalty.services.audit import AuditTrail
from loyalty.services.errors import BadUserInput, ErrorCode, Forbidden, ServiceError
from loyalty.services.notifications import Notifier
from loyalty.services.pagination import Page, check_page_size, decode_cursor, encode_cursor
from loyalty.services.proposals import Proposals
from loyalty.services.validation import MAX_REASON_LENGTH, Problems, parse_id

DEFAULT_PROGRAM = "default"
MAX_ADJUSTMENT = 1_000_000_000


class PointsAction(StrEnum):
    ADD = "ADD"
    DEDUCT = "DEDUCT"
    OVERRIDE = "OVERRIDE"


@dataclass(frozen=True, slots=True)
class Adjustment:
    account_id: str
    action: PointsAction
    amount: int
    reason: str | None
    idempotency_key: str | None

    def digest(self) -> str:
        """A fingerprint of what was asked, to tell a faithful retry from a reused key."""
        body = [self.account_id.lower(), self.action.value, self.amount, self.reason]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AdjustmentResult:
    account: PointsAccountRecord
    transaction: LedgerRecord


@dataclass(frozen=True, slots=True)
class LedgerPageKey:
    """A page of one account's ledger, checked before it joins a DataLoader's batch: a bad page
    size or cursor fails the field that asked for it, not every ledger loaded with it."""

    account_id: uuid.UUID
    first: int
    before_seq: int | None

    @classmethod
    def of(cls, account_id: uuid.UUID, first: int, after: str | None) -> LedgerPageKey:
        return cls(account_id, check_page_size(first), _ledger_seq(after))


class PointsService:
    def __init__(
        self,
        db: Database,
        audit: AuditTrail,
        proposals: Proposals,
        notifier: Notifier,
    ) -> None:
        self._db = db
        self._audit = audit
        self._proposals = proposals
        self._notifier = notifier

    # --- reads -------------------------------------------------------------------------------

    async def get_account(self, principal: Principal, account_id: str) -> PointsAccountRecord | None:
        if not principal.may_look_up_balances():
            raise Forbidden("Reading balances needs the points:read scope.")
        parsed = parse_id(account_id)
        if parsed is None:
            return None
        found = await points.fetch_account_with_holder(self._db, parsed)
        if found is None:
            return None
        account, holder = found
        return (
            account if principal.is_user(account.user_id) or principal.may_read_balance(holder.role) else None
        )

    async def accounts_of(self, user_ids: Sequence[uuid.UUID]) -> list[list[PointsAccountRecord]]:
        """Batch load for DataLoaders: the accounts of users the caller was already allowed to see."""
        grouped = await points.accounts_by_user(self._db, user_ids)
        return [grouped.get(user_id, []) for user_id in user_ids]

    async def ledger_pages(self, keys: Sequence[LedgerPageKey]) -> list[Page[LedgerRecord]]:
        """Batch load for DataLoaders: one query per distinct (first, after) among the keys."""
        groups: dict[tuple[int, int | None], list[uuid.UUID]] = {}
        for key in keys:
            groups.setdefault((key.first, key.before_seq), []).append(key.account_id)
        found: dict[tuple[uuid.UUID, int, int | None], list[LedgerRecord]] = {}
        for (first, before_seq), account_ids in groups.items():
            pages = await points.ledger_pages(self._db, account_ids, before_seq=before_seq, limit=first + 1)
            for account_id in account_ids:
                found[(account_id, first, before_seq)] = pages.get(account_id, [])
        result = []
        for key in keys:
            rows = found[(key.account_id, key.first, key.before_seq)]
            items = rows[: key.first]
            result.append(
                Page(
                    items=items,
                    cursors=[encode_cursor(str(row.seq)) for row in items],
                    has_next_page=len(rows) > key.first,
                )
            )
        return result

    # --- changes -----------------------------------------------------------------------------

    async def open_account(
        self, caller: Caller, user_id: str, program: str
    ) -> PointsAccountRecord | ApprovalRecord:
        async with self._audit.attempt(
            caller, "points.open_account", target_type="user", target_id=user_id
        ) as attempt:
            principal = attempt.principal
            cell = principal.access(Operation.ADJUST_POINTS)
            if cell not in (Access.ALLOW, Access.REQUEST):
                raise Forbidden()
            check = Problems()
            program = check.program("program", program)
            check.raise_any()
            if cell is Access.REQUEST:
                async with self._db.read() as conn:
                    owner = await self._visible_owner(conn, principal, user_id)
                return await self._proposals.propose(
                    attempt,
                    kind=ApprovalKind.OPEN_ACCOUNT,
                    target_id=str(owner.id),
                    change={"program": program},
                )
            async with self._db.transaction() as conn:
                account, details = await self.apply_open_account(conn, principal, user_id, program)
                await attempt.succeeded(conn, target_id=str(account.user_id), details=details)
        return account

    async def apply_open_account(
        self, conn: AsyncConnection, principal: Principal, user_id: str, program: str
    ) -> tuple[PointsAccountRecord, dict[str, Any]]:
        owner = await self._visible_owner(conn, principal, user_id)
        conflict = ServiceError.of(
            ErrorCode.CONFLICT, "this user already has an account in that program", "program"
        )
        if await points.account_exists(conn, user_id=owner.id, program=program):
            raise conflict
        try:
            account = await points.insert_account(
                conn, user_id=owner.id, program=program, now=datetime.now(UTC)
            )
        except DuplicateKey as error:
            raise conflict from error
        return account, {"after": {"accountId": str(account.id), "program": program}}

    @staticmethod
    async def _visible_owner(conn: AsyncConnection, principal: Principal, user_id: str) -> UserRecord:
        owner_id = parse_id(user_id)
        owner = await users.fetch_user(conn, owner_id) if owner_id else None
        if owner is None or not principal.may_see(owner.role):
            raise ServiceError.of(ErrorCode.NOT_FOUND, "no such user", "userId")
        return owner

    async def adjust(self, caller: Caller, adjustment: Adjustment) -> AdjustmentResult | ApprovalRecord:
        async with self._audit.attempt(
            caller, "points.adjust", target_type="points_account", target_id=adjustment.account_id
        ) as attempt:
            principal = attempt.principal
            proposing = principal.access(Operation.ADJUST_POINTS) is Access.REQUEST
            if not proposing and not principal.may_adjust(adjustment.action.value, Role.USER):
                raise Forbidden()
            check = Problems()
            reason = _check_adjustment(check, adjustment)
            key = check.idempotency_key("input.idempotencyKey", adjustment.idempotency_key)
            if key is None and principal.requires_idempotency_key:
                check.add("input.idempotencyKey", "is required for partner clients")
            check.raise_any()
            account_id = parse_id(adjustment.account_id)
            if account_id is None:
                raise ServiceError.of(ErrorCode.NOT_FOUND, "no such points account", "input.accountId")
            if proposing:
                found = await points.fetch_account_with_holder(self._db, account_id)
                if found is None or not principal.may_see(found[1].role):
                    raise ServiceError.of(ErrorCode.NOT_FOUND, "no such points account", "input.accountId")
                change = {"action": adjustment.action.value, "amount": adjustment.amount, "reason": reason}
                if key is not None:  # shown with the rest: a proposal drops nothing it was given
                    change["idempotencyKey"] = key
                return await self._proposals.propose(
                    attempt,
                    kind=ApprovalKind.ADJUST_POINTS,
                    target_id=str(account_id),
                    change=change,
                    idempotency_key=key,
                )

            if key is not None and (earlier := await self._replay(principal, key, adjustment)) is not None:
                await attempt.succeeded_alone(details=_replay_details(earlier))
                return earlier
            try:
                # Every statement of the change is a prepared one (the log entry's too): no SQLAlchemy.
                async with self._db.prepared_transaction() as conn:
                    result, details = await self.apply_adjustment(
                        conn, principal, account_id, adjustment, reason
                    )
                    await attempt.succeeded(conn, target_id=str(account_id), details=details)
                return result
            except DuplicateKey:
                # A concurrent request with the same key won the race; answer as it did.
                if key is None or (earlier := await self._replay(principal, key, adjustment)) is None:
                    raise
                await attempt.succeeded_alone(details=_replay_details(earlier))
                return earlier

    async def apply_adjustment(
        self,
        conn: InTransaction,
        principal: Principal,
        account_id: uuid.UUID,
        adjustment: Adjustment,
        reason: str | None,
    ) -> tuple[AdjustmentResult, dict[str, Any]]:
        """Move the balance in ``conn``'s transaction (directly, or when a request is approved)."""
        action, amount = adjustment.action, adjustment.amount
        found = await points.fetch_account_with_holder(conn, account_id)
        if found is None or not principal.may_adjust(action.value, found[1].role):
            raise ServiceError.of(ErrorCode.NOT_FOUND, "no such points account", "input.accountId")
        before = await points.locked_balance(conn, account_id) if action is PointsAction.OVERRIDE else None
        transaction = await points.change_balance(
            conn,
            account_id=account_id,
            kind=action.value,
            amount=amount,
            reason=reason,
            actor_id=principal.actor_id,
            idempotency_key=adjustment.idempotency_key,
            request_digest=adjustment.digest() if adjustment.idempotency_key else None,
            now=datetime.now(UTC),
        )
        if transaction is None and action is PointsAction.ADD:
            raise ServiceError.of(
                ErrorCode.LIMIT_EXCEEDED, f"the balance would pass {MAX_BALANCE}", "input.amount"
            )
        if transaction is None:  # OVERRIDE has no guard, so this is a DEDUCT
            raise ServiceError.of(
                ErrorCode.INSUFFICIENT_POINTS, "the balance is smaller than the amount", "input.amount"
            )
        if before is None:
            sign = 1 if action is PointsAction.ADD else -1
            before = transaction.balance_after - sign * amount
        account, holder = found
        updated = PointsAccountRecord(
            account.id, account.user_id, account.program, transaction.balance_after, account.created_at
        )
        if holder.role is Role.USER and self._notifier.notify_customers:  # LOYALTY_NOTIFY_CUSTOMERS
            await self._tell_customer(conn, holder, updated, transaction)
        details = {
            "action": action.value,
            "amount": amount,
            "reason": reason,
            "idempotencyKey": adjustment.idempotency_key,
            "transactionId": str(transaction.id),
            "before": {"balance": before},
            "after": {"balance": transaction.balance_after},
        }
        return AdjustmentResult(account=updated, transaction=transaction), details

    async def _tell_customer(
        self,
        conn: InTransaction,
        customer: AccountHolder,
        account: PointsAccountRecord,
        transaction: LedgerRecord,
    ) -> None:
        await self._notifier.enqueue(
            conn,
            event=f"points.changed:{transaction.id}",
            recipients=[customer.email],
            template="points_changed",
            context={
                "first_name": customer.first_name,
                "program": account.program,
                "action": transaction.kind,
                "amount": transaction.amount,
                "balance_after": transaction.balance_after,
            },
        )

    async def _replay(
        self, principal: Principal, key: str, adjustment: Adjustment
    ) -> AdjustmentResult | None:
        """The first answer for this caller's ``key``, or ``None`` if the key is new."""
        async with self._db.read() as conn:
            earlier = await points.fetch_ledger_row_by_key(
                conn, actor_id=principal.actor_id, idempotency_key=key
            )
            if earlier is None:
                return None
            if earlier.request_digest != adjustment.digest():
                raise ServiceError.of(
                    ErrorCode.IDEMPOTENCY_MISMATCH,
                    "this idempotency key was used with a different request",
                    "input.idempotencyKey",
                )
            found = await points.fetch_account_with_holder(conn, earlier.account_id)
        if found is None:
            raise ServiceError.of(ErrorCode.NOT_FOUND, "no such points account", "input.accountId")
        return AdjustmentResult(account=found[0], transaction=earlier)


def _check_adjustment(check: Problems, adjustment: Adjustment) -> str | None:
    """Check the amount against the action; the cleaned reason."""
    if adjustment.action is PointsAction.OVERRIDE:
        if adjustment.amount < 0:
            check.add("input.amount", "must be zero or more for OVERRIDE (it is the new balance)")
        elif adjustment.amount > MAX_BALANCE:
            check.add("input.amount", f"a balance is at most {MAX_BALANCE}", ErrorCode.LIMIT_EXCEEDED)
    elif not 1 <= adjustment.amount <= MAX_ADJUSTMENT:
        check.add("input.amount", f"must be between 1 and {MAX_ADJUSTMENT}")
    return check.optional_text("input.reason", adjustment.reason, max_length=MAX_REASON_LENGTH)


def _replay_details(earlier: AdjustmentResult) -> dict[str, object]:
    return {"replayed": True, "transactionId": str(earlier.transaction.id)}


def _ledger_seq(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    (seq,) = decode_cursor(cursor, 1)
    if not seq.isdigit():
        raise BadUserInput("after is not a cursor this server gave out")
    return int(seq)
