"""Resolvers for approval requests."""

from __future__ import annotations

from loyalty.datasources.approvals import ApprovalRecord
from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import ApprovalPayload, Connection, user_errors
from loyalty.services.approvals import may_cancel_now, may_decide_now
from loyalty.services.errors import ServiceError


def viewer_can_decide(ctx: Context, record: ApprovalRecord) -> bool:
    return may_decide_now(ctx.principal, record)


def viewer_can_cancel(ctx: Context, record: ApprovalRecord) -> bool:
    return may_cancel_now(ctx.principal, record)


async def approval_requests(
    ctx: Context, *, status: str | None, first: int, after: str | None
) -> Connection[ApprovalRecord]:
    page = await ctx.services.approvals.list(ctx.signed_in(), status=status, first=first, after=after)
    return Connection.of(page)


@changes_data
async def approve_request(ctx: Context, request_id: str, comment: str | None) -> ApprovalPayload:
    try:
        return ApprovalPayload(
            approval_request=await ctx.services.approvals.approve(ctx.caller(), request_id, comment)
        )
    except ServiceError as error:
        return ApprovalPayload(errors=user_errors(error))


@changes_data
async def reject_request(ctx: Context, request_id: str, comment: str | None) -> ApprovalPayload:
    try:
        return ApprovalPayload(
            approval_request=await ctx.services.approvals.reject(ctx.caller(), request_id, comment)
        )
    except ServiceError as error:
        return ApprovalPayload(errors=user_errors(error))


@changes_data
async def cancel_request(ctx: Context, request_id: str) -> ApprovalPayload:
    try:
        return ApprovalPayload(approval_request=await ctx.services.approvals.cancel(ctx.caller(), request_id))
    except ServiceError as error:
        return ApprovalPayload(errors=user_errors(error))
