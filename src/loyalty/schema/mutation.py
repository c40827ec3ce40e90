"""The root Mutation type. Expected failures come back in each payload's ``errors``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from loyalty.resolvers import accounts as account_resolvers
from loyalty.resolvers import activity_log as log_resolvers
from loyalty.resolvers import approvals as approval_resolvers
from loyalty.resolvers import points as points_resolvers
from loyalty.resolvers import sessions as sessions_resolvers
from loyalty.resolvers import users as users_resolvers
from loyalty.schema.inputs import AdjustPointsInput, EnrollUserInput, UpdateUserInput
from loyalty.schema.types import (
    AdjustPointsPayload,
    ApprovalPayload,
    DeleteUserPayload,
    RequestPasswordResetPayload,
    RetentionPayload,
    SignInPayload,
    SignOutPayload,
    UserPayload,
)
from loyalty.services.points import Adjustment
from loyalty.services.users import Enrolment


# The resolvers return records and payload dataclasses, which the declared types read by attribute
# (see ``loyalty.schema.types``): hence ``type: ignore[return-value]`` on the returns below.
@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Sign in with email and password; returns an access and a refresh token."
    )
    async def sign_in(self, info: Info, email: str, password: str) -> SignInPayload:
        return await sessions_resolvers.sign_in(info.context, email, password)  # type: ignore[return-value]

    @strawberry.mutation(description="Trade a refresh token for new tokens; the old one stops working.")
    async def refresh_token(self, info: Info, refresh_token: str) -> SignInPayload:
        return await sessions_resolvers.refresh_token(info.context, refresh_token)  # type: ignore[return-value]

    @strawberry.mutation(description="End the session the refresh token belongs to.")
    async def sign_out(self, info: Info, refresh_token: str) -> SignOutPayload:
        return await sessions_resolvers.sign_out(info.context, refresh_token)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Set your password from an invitation link's token and sign in. INVALID_LINK when the "
        "link is unknown, used or expired; WEAK_PASSWORD under 12 characters or a common password."
    )
    async def accept_invitation(self, info: Info, token: str, password: str) -> SignInPayload:
        return await account_resolvers.accept_invitation(info.context, token, password)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Email a one-time reset link (valid 1 hour) if the email is a staff member's. The "
        "answer is the same whether or not it is, and emails per address and per email are limited."
    )
    async def request_password_reset(self, info: Info, email: str) -> RequestPasswordResetPayload:
        return await account_resolvers.request_password_reset(info.context, email)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Set a new password from a reset link's token and sign in; every other session ends."
    )
    async def reset_password(self, info: Info, token: str, password: str) -> SignInPayload:
        return await account_resolvers.reset_password(info.context, token, password)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Change your password (the current one required; a wrong one counts as a failed "
        "sign-in). Every other session ends; returns a fresh one."
    )
    async def change_password(self, info: Info, current_password: str, new_password: str) -> SignInPayload:
        return await account_resolvers.change_password(  # type: ignore[return-value]
            info.context, current_password, new_password
        )

    @strawberry.mutation(
        description="End every session you have: refresh tokens at once, access tokens within a minute."
    )
    async def sign_out_everywhere(self, info: Info) -> SignOutPayload:
        return await account_resolvers.sign_out_everywhere(info.context)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Clear a staff member's password, end their sessions and email them a reset link. "
        "OWNER only; not yourself (change your password instead)."
    )
    async def force_password_reset(self, info: Info, user_id: strawberry.ID) -> UserPayload:
        return await account_resolvers.force_password_reset(info.context, user_id)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Send a new invitation to a staff member who has no password yet; the older link "
        "stops working."
    )
    async def resend_invitation(self, info: Info, user_id: strawberry.ID) -> UserPayload:
        return await account_resolvers.resend_invitation(info.context, user_id)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Enrol a customer or a staff member, with a points account in the default program."
    )
    async def enroll_user(self, info: Info, input: EnrollUserInput) -> UserPayload:
        enrolment = Enrolment(
            email=input.email,
            first_name=input.first_name,
            last_name=input.last_name,
            role=input.role,
            password=input.password,
            initial_points=input.initial_points,
        )
        return await users_resolvers.enroll_user(info.context, enrolment)  # type: ignore[return-value]

    @strawberry.mutation(description="Change a user's email, names or role.")
    async def update_user(self, info: Info, id: strawberry.ID, input: UpdateUserInput) -> UserPayload:
        changes = {
            name: value
            for name, value in (
                ("email", input.email),
                ("firstName", input.first_name),
                ("lastName", input.last_name),
                ("role", input.role),
            )
            if value is not strawberry.UNSET
        }
        return await users_resolvers.update_user(info.context, id, changes)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Delete a user (softly: their history stays, their email is free again)."
    )
    async def delete_user(self, info: Info, id: strawberry.ID) -> DeleteUserPayload:
        return await users_resolvers.delete_user(info.context, id)  # type: ignore[return-value]

    @strawberry.mutation(description="Open an account for a user in another program.")
    async def open_points_account(
        self, info: Info, user_id: strawberry.ID, program: str
    ) -> AdjustPointsPayload:
        return await points_resolvers.open_points_account(info.context, user_id, program)  # type: ignore[return-value]

    @strawberry.mutation(description="Add, deduct or override points, with one ledger row.")
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> AdjustPointsPayload:
        adjustment = Adjustment(
            account_id=input.account_id,
            action=input.action,
            amount=input.amount,
            reason=input.reason,
            idempotency_key=input.idempotency_key,
        )
        return await points_resolvers.adjust_points(info.context, adjustment)  # type: ignore[return-value]

    @strawberry.mutation(description="Keep log entries this many days (1 to 3650). OWNER only.")
    async def set_log_retention(self, info: Info, days: int) -> RetentionPayload:
        return await log_resolvers.set_log_retention(info.context, days)  # type: ignore[return-value]

    @strawberry.mutation(description="Apply a pending request and mark it APPROVED (not your own).")
    async def approve_request(
        self, info: Info, id: strawberry.ID, comment: str | None = None
    ) -> ApprovalPayload:
        return await approval_resolvers.approve_request(info.context, id, comment)  # type: ignore[return-value]

    @strawberry.mutation(description="Refuse a pending request.")
    async def reject_request(
        self, info: Info, id: strawberry.ID, comment: str | None = None
    ) -> ApprovalPayload:
        return await approval_resolvers.reject_request(info.context, id, comment)  # type: ignore[return-value]

    @strawberry.mutation(description="Withdraw a pending request you made.")
    async def cancel_request(self, info: Info, id: strawberry.ID) -> ApprovalPayload:
        return await approval_resolvers.cancel_request(info.context, id)  # type: ignore[return-value]
