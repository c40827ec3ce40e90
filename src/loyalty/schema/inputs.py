"""Input types of the API."""

from __future__ import annotations

import strawberry

from loyalty.schema.enums import LogOutcome, PointsAction, Role
from loyalty.schema.scalars import DateTime, Long


@strawberry.input(description="Narrows a list of users.")
class UserFilter:
    search: str | None = strawberry.field(default=None, description="Part of a name or an email, any case.")
    role: Role | None = None


@strawberry.input
class EnrollUserInput:
    email: str
    first_name: str
    last_name: str
    role: Role = Role.USER
    password: str | None = strawberry.field(
        default=None,
        description="Refused when given: staff choose their own password through the invitation.",
        deprecation_reason="Staff set their own password through the invitation; any value is refused.",
    )
    initial_points: Long | None = strawberry.field(
        default=Long(0), description="Credited as the first ledger row."
    )


@strawberry.input(description="Fields left out stay as they are; an explicit null is refused.")
class UpdateUserInput:
    email: str | None = strawberry.UNSET
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    role: Role | None = strawberry.UNSET


@strawberry.input
class AdjustPointsInput:
    account_id: strawberry.ID
    action: PointsAction
    amount: Long
    reason: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key returns the first result; required for partners."
    )


@strawberry.input(description="Narrows the activity log; every filter given must hold.")
class LogFilter:
    actor_id: str | None = None
    target_id: str | None = None
    action: str | None = None
    outcome: LogOutcome | None = None
    since: DateTime | None = strawberry.field(default=None, description="Inclusive.")
    until: DateTime | None = strawberry.field(default=None, description="Inclusive.")
    search: str | None = strawberry.field(
        default=None,
        description="Part of the action, the actor's email or the target id, any case; looks 31 days back.",
    )
