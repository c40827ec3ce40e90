"""Plain records read from storage and handed up through the services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from loyalty.auth.permissions import Role


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    enrolled_at: datetime
    updated_at: datetime
    password_set: bool = False
    # Access tokens issued under an earlier epoch no longer grant access (see ``users.sessions_epoch``).
    sessions_epoch: int = 0


@dataclass(frozen=True, slots=True)
class PointsAccountRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    program: str
    balance: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountHolder:
    """What changing an account needs to know of its user: the role (who may), the name and email (the
    customer's notification), read with the account rather than after it."""

    role: Role
    email: str
    first_name: str


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    seq: int
    id: uuid.UUID
    account_id: uuid.UUID
    kind: str
    amount: int
    balance_after: int
    reason: str | None
    actor_id: str
    idempotency_key: str | None
    request_digest: str | None
    created_at: datetime
