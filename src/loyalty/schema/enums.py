"""GraphQL enums, backed by the Python enums the services use."""

from __future__ import annotations

from enum import Enum

import strawberry

from loyalty.auth import permissions
from loyalty.services import approvals, audit, password_links, points

# Strawberry annotates a Python enum in place (``strawberry.enum`` returns the class it is given), so
# each name is the services' enum itself: a type to the checker, a GraphQL enum to Strawberry.
Role = permissions.Role
PointsAction = points.PointsAction
LogOutcome = audit.Outcome
ApprovalKind = permissions.ApprovalKind
ApprovalStatus = approvals.ApprovalStatus
Permission = permissions.Operation
PasswordLinkPurpose = password_links.LinkPurpose

strawberry.enum(Role, name="Role", description="What a user is: a kind of staff, or a customer.")
strawberry.enum(
    PointsAction,
    name="PointsAction",
    description="ADD and DEDUCT move the balance by an amount; OVERRIDE sets it.",
)
strawberry.enum(LogOutcome, name="LogOutcome", description="How an attempted action ended.")
strawberry.enum(ApprovalKind, name="ApprovalKind", description="What an approval request would change.")
strawberry.enum(ApprovalStatus, name="ApprovalStatus")
strawberry.enum(
    Permission,
    name="Permission",
    description="Something a role may do: a row of the permission matrix.",
)
strawberry.enum(
    PasswordLinkPurpose,
    name="PasswordLinkPurpose",
    description="INVITATION sets a new staff member's first password; RESET replaces a forgotten one.",
)


@strawberry.enum(description="How a role may do something (what it may not do is absent).")
class PermissionAccess(Enum):
    ALLOW = "ALLOW"
    CUSTOMERS_ONLY = "CUSTOMERS_ONLY"
    REQUEST = "REQUEST"
