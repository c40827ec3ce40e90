"""Shapes the schema reads: connections and mutation payloads, filled from service results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from loyalty.datasources.approvals import ApprovalRecord
from loyalty.datasources.records import LedgerRecord, PointsAccountRecord, UserRecord
from loyalty.services.errors import ServiceError
from loyalty.services.pagination import Page

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True, slots=True)
class Connection(Generic[T]):
    edges: Sequence[Edge[T]]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[T]) -> Connection[T]:
        edges = [Edge(cursor, node) for cursor, node in zip(page.cursors, page.items, strict=True)]
        end_cursor = page.cursors[-1] if page.cursors else None
        return cls(edges=edges, page_info=PageInfo(page.has_next_page, end_cursor))


@dataclass(frozen=True, slots=True)
class UserErrorData:
    code: str
    message: str
    field: str | None


def user_errors(error: ServiceError) -> list[UserErrorData]:
    return [UserErrorData(problem.code.value, problem.message, problem.field) for problem in error.problems]


@dataclass(slots=True)
class UserPayload:
    user: UserRecord | None = None
    approval_request: ApprovalRecord | None = None
    errors: list[UserErrorData] = field(default_factory=list)


@dataclass(slots=True)
class DeleteUserPayload:
    deleted_user_id: str | None = None
    approval_request: ApprovalRecord | None = None
    errors: list[UserErrorData] = field(default_factory=list)


@dataclass(slots=True)
class AdjustPointsPayload:
    account: PointsAccountRecord | None = None
    transaction: LedgerRecord | None = None
    approval_request: ApprovalRecord | None = None
    errors: list[UserErrorData] = field(default_factory=list)


@dataclass(slots=True)
class SignInPayload:
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    user: UserRecord | None = None
    errors: list[UserErrorData] = field(default_factory=list)


@dataclass(slots=True)
class SignOutPayload:
    ok: bool


@dataclass(slots=True)
class RetentionPayload:
    log_retention_days: int | None = None
    errors: list[UserErrorData] = field(default_factory=list)


@dataclass(slots=True)
class ApprovalPayload:
    approval_request: ApprovalRecord | None = None
    errors: list[UserErrorData] = field(default_factory=list)
