"""Resolvers for points accounts and their ledger."""

from __future__ import annotations

from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.records import LedgerRecord, PointsAccountRecord, UserRecord
from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import AdjustPointsPayload, Connection, user_errors
from loyalty.services.errors import Forbidden, ServiceError
from loyalty.services.points import Adjustment, LedgerPageKey

_BALANCES_NEED_POINTS_READ = "Reading balances needs the points:read scope."


async def points_account(ctx: Context, account_id: str) -> PointsAccountRecord | None:
    return await ctx.services.points.get_account(ctx.signed_in(), account_id)


async def account_owner(ctx: Context, account: PointsAccountRecord) -> UserRecord:
    owner = await ctx.loaders.user.load(account.user_id)
    # An account is only ever reached through an owner the caller may see, and owners are
    # soft-deleted, never removed; a miss here means the owner was deleted mid-request.
    if owner is None:
        raise LookupError(f"owner of points account {account.id} is gone")
    if not ctx.signed_in().may_see(owner.role) and not ctx.signed_in().is_user(owner.id):
        raise Forbidden("Reading users needs the users:read scope.")
    return owner


def payload_account(ctx: Context, payload: AdjustPointsPayload) -> PointsAccountRecord | None:
    """The changed account, by the rule of ``pointsAccount``: its balance and ledger (other callers'
    idempotency keys, staff ids) need points:read, whatever the token may change."""
    if payload.account is not None and not ctx.signed_in().may_look_up_balances():
        raise Forbidden(_BALANCES_NEED_POINTS_READ)
    return payload.account


def balance_after(ctx: Context, row: LedgerRecord) -> int:
    """A ledger row's balance is the balance: a partner's own row shows it only with points:read."""
    if not ctx.signed_in().may_look_up_balances():
        raise Forbidden(_BALANCES_NEED_POINTS_READ)
    return row.balance_after


async def transactions(
    ctx: Context, account: PointsAccountRecord, *, first: int, after: str | None
) -> Connection[LedgerRecord]:
    page = await ctx.loaders.ledger_page.load(LedgerPageKey.of(account.id, first, after))
    return Connection.of(page)


@changes_data
async def open_points_account(ctx: Context, user_id: str, program: str) -> AdjustPointsPayload:
    try:
        result = await ctx.services.points.open_account(ctx.caller(), user_id, program)
    except ServiceError as error:
        return AdjustPointsPayload(errors=user_errors(error))
    if isinstance(result, ApprovalRecord):
        return AdjustPointsPayload(approval_request=result)
    return AdjustPointsPayload(account=result)


@changes_data
async def adjust_points(ctx: Context, adjustment: Adjustment) -> AdjustPointsPayload:
    try:
        result = await ctx.services.points.adjust(ctx.caller(), adjustment)
    except ServiceError as error:
        return AdjustPointsPayload(errors=user_errors(error))
    if isinstance(result, ApprovalRecord):
        return AdjustPointsPayload(approval_request=result)
    return AdjustPointsPayload(account=result.account, transaction=result.transaction)
