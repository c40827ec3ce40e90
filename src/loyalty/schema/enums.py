"""GraphQL enums, backed by the Python enums the services use."""

from __future__ import annotations

import strawberry

from loyalty.auth import permissions
from loyalty.services import approvals, audit, points

Role = strawberry.enum(
    permissions.Role, name="Role", description="What a user is: a kind of staff, or a customer."
)
PointsAction = strawberry.enum(
    points.PointsAction,
    name="PointsAction",
    description="ADD and DEDUCT move the balance by an amount; OVERRIDE sets it.",
)
LogOutcome = strawberry.enum(audit.Outcome, name="LogOutcome", description="How an attempted action ended.")
ApprovalKind = strawberry.enum(
    permissions.ApprovalKind, name="ApprovalKind", description="What an approval request would change."
)
ApprovalStatus = strawberry.enum(approvals.ApprovalStatus, name="ApprovalStatus")
