"""The authenticated caller of a request: a staff member or a partner client."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from loyalty.auth.permissions import SCOPE_FOR_POINTS_ACTION, Access, Operation, Role, Scope, access, may_see


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """A signed-in staff member, with the role read from the database (not from the token)."""

    user_id: uuid.UUID
    email: str
    role: Role

    requires_idempotency_key = False

    @property
    def actor_id(self) -> str:
        return str(self.user_id)

    @property
    def actor_email(self) -> str | None:
        return self.email

    @property
    def actor_role(self) -> str:
        return self.role.value

    def is_user(self, user_id: uuid.UUID) -> bool:
        return self.user_id == user_id

    def access(self, operation: Operation) -> Access:
        return access(self.role, operation)

    def may_look_up_users(self) -> bool:
        return self.access(Operation.READ_USERS) is not Access.DENY

    def may_look_up_balances(self) -> bool:
        return self.may_look_up_users()

    def may_see(self, target_role: Role) -> bool:
        return may_see(self.role, target_role)

    def may_read_balance(self, owner_role: Role) -> bool:
        return may_see(self.role, owner_role)

    def may_adjust(self, action: str, owner_role: Role) -> bool:
        """Whether a change of this kind may be applied at once (the matrix's "yes")."""
        return self.access(Operation.ADJUST_POINTS) is Access.ALLOW and self.may_see(owner_role)


@dataclass(frozen=True, slots=True)
class PartnerPrincipal:
    """A partner application (OAuth 2.0 client credentials), acting on customers only, within its scopes."""

    client_id: str
    name: str
    scopes: frozenset[Scope]

    requires_idempotency_key = True  # partners retry on every timeout

    @property
    def actor_id(self) -> str:
        return f"client:{self.client_id}"

    @property
    def actor_email(self) -> str | None:
        return None

    @property
    def actor_role(self) -> str:
        return "PARTNER"

    def is_user(self, user_id: uuid.UUID) -> bool:
        return False

    def access(self, operation: Operation) -> Access:
        """Partners act through scopes on single customers; no cell of the staff matrix is theirs."""
        return Access.DENY

    def may_look_up_users(self) -> bool:
        return Scope.USERS_READ in self.scopes

    def may_look_up_balances(self) -> bool:
        return Scope.POINTS_READ in self.scopes

    def may_see(self, target_role: Role) -> bool:
        return Scope.USERS_READ in self.scopes and target_role is Role.USER

    def may_read_balance(self, owner_role: Role) -> bool:
        return Scope.POINTS_READ in self.scopes and owner_role is Role.USER

    def may_adjust(self, action: str, owner_role: Role) -> bool:
        scope = SCOPE_FOR_POINTS_ACTION.get(action)
        return scope is not None and scope in self.scopes and owner_role is Role.USER


Principal = StaffPrincipal | PartnerPrincipal


@functools.lru_cache(maxsize=1024)
def readable_balance_roles(principal: Principal) -> tuple[Role, ...]:
    """The roles whose balances ``principal`` may read, in the roles' order: asked for on every read of
    a user with their accounts, and the same for the same (immutable) principal."""
    return tuple(role for role in Role if principal.may_read_balance(role))


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as recorded in the activity log."""

    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks (``None`` when no valid token came) and from where; ``refused``, who a token names
    that no longer grants access (a disabled partner client), for the activity log only."""

    principal: Principal | None
    origin: Origin
    refused: Principal | None = None

    @property
    def actor(self) -> Principal | None:
        """Who the activity log names: the caller, or whom a refused token names."""
        return self.principal or self.refused
