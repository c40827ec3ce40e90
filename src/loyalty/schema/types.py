"""Object types of the API. Fields read the records the resolvers return.

A field's ``self`` is that record, not an instance of the class the field is declared on, and a
resolver returns records where a field declares a type: hence ``type: ignore[arg-type]`` where ``self``
is handed on, ``[attr-defined]`` where a record's attribute is read, ``[return-value]`` on returns.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from loyalty.resolvers import accounts as account_resolvers
from loyalty.resolvers import approvals as approval_resolvers
from loyalty.resolvers import points as points_resolvers
from loyalty.resolvers import users as users_resolvers
from loyalty.schema.enums import (
    ApprovalKind,
    ApprovalStatus,
    LogOutcome,
    PasswordLinkPurpose,
    Permission,
    PermissionAccess,
    PointsAction,
    Role,
)
from loyalty.schema.scalars import DateTime, Long


@strawberry.type(description="Where a page of a connection ends.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A staff member or a customer.")
class User:
    id: strawberry.ID
    email: str
    first_name: str
    last_name: str
    role: Role
    enrolled_at: DateTime
    updated_at: DateTime

    @strawberry.field(description="The user's points accounts, one per program, oldest first.")
    def points_accounts(self, info: Info) -> list[PointsAccount]:
        return users_resolvers.points_accounts(info.context, self)  # type: ignore[arg-type, return-value]

    @strawberry.field(description="The sum of the balances of all the user's accounts.")
    async def total_points(self, info: Info) -> Long:
        return await users_resolvers.total_points(info.context, self)  # type: ignore[arg-type, return-value]

    @strawberry.field(
        description="What this user's role may do, and how (the server's permission matrix; a client "
        "offers only these actions)."
    )
    def permissions(self) -> list[PermissionGrant]:
        return account_resolvers.permissions(self)  # type: ignore[arg-type, return-value]

    @strawberry.field(
        description="Staff: whether they have chosen a password (false while the invitation is pending). "
        "Null for customers, who have none."
    )
    def password_set(self) -> bool | None:
        return account_resolvers.password_set(self)  # type: ignore[arg-type]


@strawberry.type(description="One thing a role may do, and how.")
class PermissionGrant:
    permission: Permission

    @strawberry.field(description="ALLOW: directly; CUSTOMERS_ONLY: on customers only; REQUEST: by proposal.")
    def access(self) -> PermissionAccess:
        return PermissionAccess[self.access.name]


@strawberry.type(description="What a password link is for and whose it is (its token is not repeated).")
class PasswordLink:
    purpose: PasswordLinkPurpose
    email: str
    expires_at: DateTime


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo

    @strawberry.field
    async def total_count(self, info: Info) -> int:
        return await users_resolvers.total_count(info.context, self)  # type: ignore[arg-type]


# Resolvers of fields that keep their place among plain ones (Strawberry lists methods last); the
# first parameter is ``self`` for the known-operation plans to call them directly.
def _balance_after(self: Any, info: Info) -> Long:
    return Long(points_resolvers.balance_after(info.context, self))


def _payload_account(self: Any, info: Info) -> PointsAccount | None:
    return points_resolvers.payload_account(info.context, self)  # type: ignore[return-value]


@strawberry.type(description="One row of the points ledger. Rows are immutable.")
class PointsTransaction:
    id: strawberry.ID
    amount: Long = strawberry.field(
        description="A positive magnitude for ADD and DEDUCT; the new balance for OVERRIDE."
    )
    balance_after: Long = strawberry.field(
        resolver=_balance_after,
        description="The balance after this row (needs points:read for a partner).",
    )
    reason: str | None
    actor_id: str
    idempotency_key: str | None
    created_at: DateTime

    @strawberry.field
    def action(self) -> PointsAction:
        return PointsAction(self.kind)  # type: ignore[attr-defined]


@strawberry.type
class PointsTransactionEdge:
    cursor: str
    node: PointsTransaction


@strawberry.type
class PointsTransactionConnection:
    edges: list[PointsTransactionEdge]
    page_info: PageInfo


@strawberry.type(description="A user's balance in one loyalty program.")
class PointsAccount:
    id: strawberry.ID
    program: str
    balance: Long
    created_at: DateTime

    @strawberry.field
    async def user(self, info: Info) -> User:
        return await points_resolvers.account_owner(info.context, self)  # type: ignore[arg-type, return-value]

    @strawberry.field(description="The ledger of this account, newest first.")
    async def transactions(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> PointsTransactionConnection:
        return await points_resolvers.transactions(  # type: ignore[return-value]
            info.context,
            self,  # type: ignore[arg-type]
            first=20 if first is None else first,
            after=after,
        )


@strawberry.type(description="An expected failure of a mutation: nothing was changed.")
class UserError:
    code: str = strawberry.field(description="VALIDATION, NOT_FOUND, CONFLICT, INSUFFICIENT_POINTS, ...")
    field: str | None = strawberry.field(
        description='The input field, as the schema spells it ("input.email").'
    )
    message: str


@strawberry.type
class SignInPayload:
    access_token: str | None
    refresh_token: str | None
    expires_in: int | None
    user: User | None
    errors: list[UserError]


@strawberry.type
class SignOutPayload:
    ok: bool


@strawberry.type
class RequestPasswordResetPayload:
    ok: bool = strawberry.field(description="Always true: the answer never tells whether the email exists.")
    errors: list[UserError]


@strawberry.type(description="A change proposed by a maker, applied when a checker approves it.")
class ApprovalRequest:
    id: strawberry.ID
    target_id: strawberry.ID = strawberry.field(description="The user or points account the change is for.")
    change: JSON = strawberry.field(description="The proposed change, as its input fields.")
    maker_id: strawberry.ID
    checker_id: strawberry.ID | None = strawberry.field(description="Who decided it.")
    comment: str | None
    created_at: DateTime
    decided_at: DateTime | None

    @strawberry.field
    def kind(self) -> ApprovalKind:
        return ApprovalKind(self.kind)  # type: ignore[arg-type]

    @strawberry.field
    def status(self) -> ApprovalStatus:
        return ApprovalStatus(self.status)  # type: ignore[arg-type]

    @strawberry.field(
        description="Whether you may approve or reject it now: pending, not yours, and yours to decide."
    )
    def viewer_can_decide(self, info: Info) -> bool:
        return approval_resolvers.viewer_can_decide(info.context, self)  # type: ignore[arg-type]

    @strawberry.field(description="Whether you may cancel it now: yours, and pending.")
    def viewer_can_cancel(self, info: Info) -> bool:
        return approval_resolvers.viewer_can_cancel(info.context, self)  # type: ignore[arg-type]


@strawberry.type
class ApprovalRequestEdge:
    cursor: str
    node: ApprovalRequest


@strawberry.type
class ApprovalRequestConnection:
    edges: list[ApprovalRequestEdge]
    page_info: PageInfo


@strawberry.type
class ApprovalPayload:
    approval_request: ApprovalRequest | None
    errors: list[UserError]


@strawberry.type(description="The user, or the approval request made instead when the change needs one.")
class UserPayload:
    user: User | None
    approval_request: ApprovalRequest | None
    errors: list[UserError]


@strawberry.type
class DeleteUserPayload:
    deleted_user_id: strawberry.ID | None
    approval_request: ApprovalRequest | None
    errors: list[UserError]


@strawberry.type
class AdjustPointsPayload:
    account: PointsAccount | None = strawberry.field(
        resolver=_payload_account,
        description="The account after the change (needs points:read for a partner).",
    )
    transaction: PointsTransaction | None
    approval_request: ApprovalRequest | None
    errors: list[UserError]


_OUTCOMES = {outcome.value: outcome for outcome in LogOutcome}


@strawberry.type(description="One action attempted through the API, allowed or not.")
class LogEntry:
    id: strawberry.ID
    timestamp: DateTime
    action: str = strawberry.field(description='Dotted, e.g. "user.enroll", "points.adjust", "auth.sign_in".')
    actor_id: str | None
    actor_email: str | None
    actor_role: str | None
    target_type: str | None
    target_id: str | None
    details: JSON | None = strawberry.field(description="For a change: the fields before and after.")
    source_ip: str | None
    user_agent: str | None
    request_id: str | None

    @strawberry.field
    def outcome(self) -> LogOutcome:
        # Looked up, for each entry of a page; anything else is refused by the enum, as it was.
        try:
            return _OUTCOMES[self.outcome]  # type: ignore[index]
        except (KeyError, TypeError):
            return LogOutcome(self.outcome)  # type: ignore[arg-type]


@strawberry.type
class LogEntryEdge:
    cursor: str
    node: LogEntry


@strawberry.type
class LogEntryConnection:
    edges: list[LogEntryEdge]
    page_info: PageInfo


@strawberry.type
class RetentionPayload:
    log_retention_days: int | None
    errors: list[UserError]
