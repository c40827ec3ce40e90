"""Resolvers for staff accounts: invitations, passwords, resets, signing out everywhere, permissions."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.auth.permissions import Access, Operation, grants
from loyalty.datasources.password_links import LinkRecord
from loyalty.datasources.records import UserRecord
from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import SignInPayload, SignOutPayload, UserErrorData, UserPayload, user_errors
from loyalty.resolvers.sessions import session_payload
from loyalty.services.errors import ServiceError


@dataclass(frozen=True, slots=True)
class PermissionGrant:
    permission: Operation
    access: Access


@dataclass(slots=True)
class RequestPasswordResetPayload:
    ok: bool
    errors: list[UserErrorData]


def permissions(user: UserRecord) -> list[PermissionGrant]:
    """What ``user``'s role may do, from the one matrix (``loyalty.auth.permissions``)."""
    return [PermissionGrant(operation, cell) for operation, cell in grants(user.role)]


def password_set(user: UserRecord) -> bool | None:
    return user.password_set if user.role.is_staff else None


async def password_link(ctx: Context, token: str) -> LinkRecord | None:
    return await ctx.services.accounts.describe_link(token)


@changes_data
async def accept_invitation(ctx: Context, token: str, password: str) -> SignInPayload:
    return await session_payload(ctx, ctx.services.accounts.accept_invitation(ctx.caller(), token, password))


@changes_data
async def reset_password(ctx: Context, token: str, password: str) -> SignInPayload:
    return await session_payload(ctx, ctx.services.accounts.reset_password(ctx.caller(), token, password))


@changes_data
async def change_password(ctx: Context, current_password: str, new_password: str) -> SignInPayload:
    changing = ctx.services.accounts.change_password(ctx.caller(), current_password, new_password)
    return await session_payload(ctx, changing)


@changes_data
async def request_password_reset(ctx: Context, email: str) -> RequestPasswordResetPayload:
    await ctx.services.accounts.request_password_reset(ctx.caller(), email)
    return RequestPasswordResetPayload(ok=True, errors=[])


@changes_data
async def sign_out_everywhere(ctx: Context) -> SignOutPayload:
    await ctx.services.accounts.sign_out_everywhere(ctx.caller())
    return SignOutPayload(ok=True)


@changes_data
async def force_password_reset(ctx: Context, user_id: str) -> UserPayload:
    try:
        return UserPayload(user=await ctx.services.accounts.force_password_reset(ctx.caller(), user_id))
    except ServiceError as error:
        return UserPayload(errors=user_errors(error))


@changes_data
async def resend_invitation(ctx: Context, user_id: str) -> UserPayload:
    try:
        return UserPayload(user=await ctx.services.accounts.resend_invitation(ctx.caller(), user_id))
    except ServiceError as error:
        return UserPayload(errors=user_errors(error))
