"""Resolvers for users: reading, enrolling, editing and deleting."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from loyalty.auth.permissions import Role
from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.records import PointsAccountRecord, UserRecord
from loyalty.resolvers.context import Context, changes_data
from loyalty.resolvers.results import Connection, DeleteUserPayload, UserPayload, user_errors
from loyalty.services.errors import Forbidden, ServiceError
from loyalty.services.users import Enrolment, KeepAccounts

# ``with_accounts``: the selection reads the users' accounts (``pointsAccounts`` or ``totalPoints``),
# which then come in the statement that reads the users, into the request's ``accounts_of_user``.


async def me(ctx: Context, *, with_accounts: bool = False) -> UserRecord | None:
    principal = ctx.staff()
    user = await ctx.services.users.get(
        principal, str(principal.user_id), _accounts_keeper(ctx, with_accounts)
    )
    # The role in force, which an external issuer's claim may set (LOYALTY_OIDC_ROLE_FROM_CLAIM).
    return dataclasses.replace(user, role=principal.role) if user else None


async def user(ctx: Context, user_id: str, *, with_accounts: bool = False) -> UserRecord | None:
    return await ctx.services.users.get(ctx.signed_in(), user_id, _accounts_keeper(ctx, with_accounts))


async def user_by_email(ctx: Context, email: str, *, with_accounts: bool = False) -> UserRecord | None:
    return await ctx.services.users.get_by_email(ctx.signed_in(), email, _accounts_keeper(ctx, with_accounts))


def _accounts_keeper(ctx: Context, with_accounts: bool) -> KeepAccounts | None:
    return ctx.loaders.accounts_of_user.prime if with_accounts else None


@dataclass(frozen=True, slots=True)
class UserListing(Connection[UserRecord]):
    """A page of users with the filter that made it, for ``totalCount`` to count only when asked."""

    search: str | None = None
    role: Role | None = None


async def users(
    ctx: Context,
    *,
    search: str | None,
    role: Role | None,
    first: int,
    after: str | None,
    with_accounts: bool = False,
) -> UserListing:
    page = await ctx.services.users.list(
        ctx.signed_in(),
        search=search,
        role=role,
        first=first,
        after=after,
        keep_accounts=_accounts_keeper(ctx, with_accounts),
    )
    connection = Connection.of(page)
    return UserListing(connection.edges, connection.page_info, search=search, role=role)


async def total_count(ctx: Context, listing: UserListing) -> int:
    return await ctx.services.users.count(ctx.signed_in(), search=listing.search, role=listing.role)


def points_accounts(
    ctx: Context, owner: UserRecord
) -> list[PointsAccountRecord] | Awaitable[list[PointsAccountRecord]]:
    """The accounts themselves when they came with their user, else the DataLoader's future itself, not a
    coroutine around it: either way a page of users has its accounts without a task per user."""
    if not ctx.may_read_balance(owner.role):
        raise Forbidden("Reading balances needs the points:read scope.")
    return ctx.loaders.accounts_of_user.load_now(owner.id)


async def total_points(ctx: Context, owner: UserRecord) -> int:
    accounts = points_accounts(ctx, owner)
    if inspect.isawaitable(accounts):
        accounts = await accounts
    return sum(account.balance for account in accounts)


@changes_data
async def enroll_user(ctx: Context, enrolment: Enrolment) -> UserPayload:
    return await _user_payload(ctx.services.users.enroll(ctx.caller(), enrolment))


@changes_data
async def update_user(ctx: Context, user_id: str, changes: Mapping[str, Any]) -> UserPayload:
    return await _user_payload(ctx.services.users.update(ctx.caller(), user_id, changes))


async def _user_payload(change: Awaitable[UserRecord | ApprovalRecord]) -> UserPayload:
    """The payload of a change to a user: the user, the approval request it became, or its errors."""
    try:
        result = await change
    except ServiceError as error:
        return UserPayload(errors=user_errors(error))
    if isinstance(result, ApprovalRecord):
        return UserPayload(approval_request=result)
    return UserPayload(user=result)


@changes_data
async def delete_user(ctx: Context, user_id: str) -> DeleteUserPayload:
    try:
        deleted = await ctx.services.users.delete(ctx.caller(), user_id)
    except ServiceError as error:
        return DeleteUserPayload(errors=user_errors(error))
    if isinstance(deleted, ApprovalRecord):
        return DeleteUserPayload(approval_request=deleted)
    return DeleteUserPayload(deleted_user_id=str(deleted))
