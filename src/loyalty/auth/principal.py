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
