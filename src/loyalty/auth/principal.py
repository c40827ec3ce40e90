"""The authenticated caller of a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from loyalty.auth.permissions import Access, Operation, Role, access, may_see


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """A signed-in staff member, with the role read from the database (not from the token)."""

    user_id: uuid.UUID
    email: str
    role: Role

    @property
    def actor_id(self) -> str:
        return str(self.user_id)

    def access(self, operation: Operation) -> Access:
        return access(self.role, operation)

    def may_see(self, target_role: Role) -> bool:
        return may_see(self.role, target_role)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as recorded in the activity log."""

    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks (``None`` when no valid token came) and from where."""

    principal: StaffPrincipal | None
    origin: Origin
