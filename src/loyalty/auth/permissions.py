"""The permission matrix of the product, in one table.

Every check in the service layer asks :func:`access` for a (role, operation) cell; nothing else
in the code base decides what a role may do.
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Role(StrEnum):
    OWNER = "OWNER"
    MANAGER = "MANAGER"
    ENGINEER = "ENGINEER"
    PRODUCT_MANAGER = "PRODUCT_MANAGER"
    USER = "USER"

    @property
    def is_staff(self) -> bool:
        return self is not Role.USER


class Operation(StrEnum):
    READ_USERS = "read users and balances"
    ENROLL_USERS = "enrol users"
    UPDATE_USERS = "update users"
    DELETE_USERS = "delete users"
    ADJUST_POINTS = "adjust points, open an account"
    DECIDE_REQUESTS = "approve / reject requests"
    READ_LOGS = "read the activity log"
    MANAGE_OWNERS = "change staff roles to or from OWNER"
    SET_LOG_RETENTION = "set log retention"
    FORCE_PASSWORD_RESET = "force a staff member's password reset"


class Access(Enum):
    ALLOW = "yes"
    CUSTOMERS_ONLY = "customers (role USER) only"
    REQUEST = "request"  # proposes an approval request instead of applying the change
    DENY = "-"


_A, _C, _R, _D = Access.ALLOW, Access.CUSTOMERS_ONLY, Access.REQUEST, Access.DENY

# fmt: off
#                                    OWNER MANAGER ENGINEER PRODUCT_MANAGER USER
_MATRIX: dict[Operation, tuple[Access, Access, Access, Access, Access]] = {
    Operation.READ_USERS:             (_A,   _A,     _A,      _C,             _D),
    Operation.ENROLL_USERS:           (_A,   _A,     _R,      _R,             _D),
    Operation.UPDATE_USERS:           (_A,   _A,     _R,      _D,             _D),
    Operation.DELETE_USERS:           (_A,   _R,     _D,      _D,             _D),
    Operation.ADJUST_POINTS:          (_A,   _A,     _R,      _D,             _D),
    Operation.DECIDE_REQUESTS:        (_A,   _A,     _D,      _D,             _D),
    Operation.READ_LOGS:              (_A,   _A,     _A,      _D,             _D),
    Operation.MANAGE_OWNERS:          (_A,   _D,     _D,      _D,             _D),
    Operation.SET_LOG_RETENTION:      (_A,   _D,     _D,      _D,             _D),
    Operation.FORCE_PASSWORD_RESET:   (_A,   _D,     _D,      _D,             _D),
}
# fmt: on

_COLUMNS = (Role.OWNER, Role.MANAGER, Role.ENGINEER, Role.PRODUCT_MANAGER, Role.USER)


def access(role: Role, operation: Operation) -> Access:
    """The matrix cell for ``role`` doing ``operation``."""
    return _MATRIX[operation][_COLUMNS.index(role)]


def grants(role: Role) -> list[tuple[Operation, Access]]:
    """Every operation ``role`` may do in some way, with how (what a client offers; DENY left out)."""
    return [
        (operation, cell) for operation in Operation if (cell := access(role, operation)) is not Access.DENY
    ]


def may_see(role: Role, target_role: Role) -> bool:
    """Whether a caller of ``role`` may read a user whose role is ``target_role``."""
    cell = access(role, Operation.READ_USERS)
    return cell is Access.ALLOW or (cell is Access.CUSTOMERS_ONLY and target_role is Role.USER)


class Scope(StrEnum):
    """What a partner client may do; partners hold scopes instead of roles."""

    USERS_READ = "users:read"
    POINTS_READ = "points:read"
    POINTS_CREDIT = "points:credit"
    POINTS_DEBIT = "points:debit"


# The points actions a scope allows a partner (OVERRIDE is for staff only).
SCOPE_FOR_POINTS_ACTION = {"ADD": Scope.POINTS_CREDIT, "DEDUCT": Scope.POINTS_DEBIT}


class ApprovalKind(StrEnum):
    ENROLL_USER = "ENROLL_USER"
    UPDATE_USER = "UPDATE_USER"
    DELETE_USER = "DELETE_USER"
    OPEN_ACCOUNT = "OPEN_ACCOUNT"
    ADJUST_POINTS = "ADJUST_POINTS"


# The operation an approval request would perform: its checker must be allowed to perform it directly.
APPROVAL_OPERATION = {
    ApprovalKind.ENROLL_USER: Operation.ENROLL_USERS,
    ApprovalKind.UPDATE_USER: Operation.UPDATE_USERS,
    ApprovalKind.DELETE_USER: Operation.DELETE_USERS,
    ApprovalKind.OPEN_ACCOUNT: Operation.ADJUST_POINTS,
    ApprovalKind.ADJUST_POINTS: Operation.ADJUST_POINTS,
}


def may_decide(role: Role, kind: ApprovalKind) -> bool:
    """Whether ``role`` decides requests of ``kind`` (OWNER for deletes, OWNER or MANAGER otherwise)."""
    return (
        access(role, Operation.DECIDE_REQUESTS) is Access.ALLOW
        and access(role, APPROVAL_OPERATION[kind]) is Access.ALLOW
    )


def checker_roles(kind: ApprovalKind) -> list[Role]:
    return [role for role in _COLUMNS if may_decide(role, kind)]
