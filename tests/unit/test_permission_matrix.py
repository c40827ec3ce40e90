"""The permission matrix in ``loyalty.auth.permissions`` is the table of the product specification.

The table below is copied from the specification (section "Permissions"), cell text and all, so a
reader can hold the two side by side. Each cell becomes one test.
"""

from __future__ import annotations

import pytest

from loyalty.auth.permissions import Access, Operation, Role, access, may_see

SPEC_COLUMNS = (Role.OWNER, Role.MANAGER, Role.ENGINEER, Role.PRODUCT_MANAGER, Role.USER)

# fmt: off
# | permission                            | OWNER | MANAGER                | ENGINEER | PRODUCT_MANAGER              | USER |
SPEC_TABLE: dict[str, tuple[str, str, str, str, str]] = {
    "read users and balances":             ("all", "all",                  "all",     "customers (role USER) only", "–"),
    "enrol users":                         ("yes", "yes",                  "request", "request",                    "–"),
    "update users":                        ("yes", "yes",                  "request", "–",                          "–"),
    "delete users":                        ("yes", "– (request)",          "–",       "–",                          "–"),
    "adjust points, open an account":      ("yes", "yes",                  "request", "–",                          "–"),
    "approve / reject requests":           ("yes", "yes, but not deletes", "–",       "–",                          "–"),
    "read the activity log":               ("yes", "yes",                  "yes",     "–",                          "–"),
    "change staff roles to or from OWNER": ("yes", "–",                    "–",       "–",                          "–"),
    "set log retention":                   ("yes", "–",                    "–",       "–",                          "–"),
    # Not a row of the table: the specification's "Authentication" says "an owner may force a reset".
    "force a staff member's password reset": ("yes", "–",                  "–",       "–",                          "–"),
}
# fmt: on

CELL_MEANING: dict[str, Access] = {
    "all": Access.ALLOW,
    "yes": Access.ALLOW,
    "customers (role USER) only": Access.CUSTOMERS_ONLY,
    "request": Access.REQUEST,
    "–": Access.DENY,
    "-": Access.DENY,
    # Deletes are decided by an OWNER only; that is settled where requests are decided, not here.
    "yes, but not deletes": Access.ALLOW,
    # A MANAGER may not delete directly but may propose the delete: DELETE_USER approval requests
    # exist and are decided by an OWNER, and a MANAGER is the only non-owner who could make one.
    "– (request)": Access.REQUEST,
}

CELLS = [
    pytest.param(role, permission, text, id=f"{role}-{permission}")
    for permission, row in SPEC_TABLE.items()
    for role, text in zip(SPEC_COLUMNS, row, strict=True)
]


def test_every_operation_of_the_code_is_a_row_of_the_specification() -> None:
    assert {operation.value for operation in Operation} == set(SPEC_TABLE)


def test_every_role_is_a_column_of_the_specification() -> None:
    assert set(Role) == set(SPEC_COLUMNS)


@pytest.mark.parametrize(("role", "permission", "cell"), CELLS)
def test_access_is_the_specification_cell(role: Role, permission: str, cell: str) -> None:
    assert access(role, Operation(permission)) is CELL_MEANING[cell]


# Who may read a user of which role: "read users and balances" applied to one user.
# fmt: off
#                       reader                 target: OWNER  MANAGER ENGINEER PRODUCT_MANAGER USER
SEES: dict[Role, tuple[bool, bool, bool, bool, bool]] = {
    Role.OWNER:           (True,  True,  True,  True,  True),
    Role.MANAGER:         (True,  True,  True,  True,  True),
    Role.ENGINEER:        (True,  True,  True,  True,  True),
    Role.PRODUCT_MANAGER: (False, False, False, False, True),
    Role.USER:            (False, False, False, False, False),
}
# fmt: on

SIGHTINGS = [
    pytest.param(reader, target, seen, id=f"{reader}-{'sees' if seen else 'cannot-see'}-{target}")
    for reader, row in SEES.items()
    for target, seen in zip(SPEC_COLUMNS, row, strict=True)
]


@pytest.mark.parametrize(("reader", "target", "seen"), SIGHTINGS)
def test_may_see_follows_the_read_users_row(reader: Role, target: Role, seen: bool) -> None:
    assert may_see(reader, target) is seen


@pytest.mark.parametrize("role", list(Role))
def test_only_customers_are_not_staff(role: Role) -> None:
    assert role.is_staff is (role is not Role.USER)
