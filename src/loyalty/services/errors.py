"""Error codes and the exceptions the services raise.

Expected failures (:class:`ServiceError`) become ``UserError`` entries in a mutation's payload;
refusals (:class:`RequestRefused`) become GraphQL errors with ``extensions.code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    INVALID_TOKEN = "INVALID_TOKEN"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    SELF_APPROVAL = "SELF_APPROVAL"
    SELF_ACTION = "SELF_ACTION"
    LAST_OWNER = "LAST_OWNER"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_LINK = "INVALID_LINK"


@dataclass(frozen=True, slots=True)
class Problem:
    code: ErrorCode
    message: str
    field: str | None = None


class ServiceError(Exception):
    """An expected failure: nothing was changed, and the caller is told why."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = list(problems)

    @classmethod
    def of(cls, code: ErrorCode, message: str, field: str | None = None) -> ServiceError:
        return cls(Problem(code, message, field))


class RequestRefused(Exception):
    """The request as a whole is refused; ``code`` goes to the GraphQL error's extensions."""

    code = "BAD_USER_INPUT"
    recorded = False  # set once the activity log holds the refusal


class Unauthenticated(RequestRefused):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Sign in to do this.") -> None:
        super().__init__(message)


class Forbidden(RequestRefused):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)


class BadUserInput(RequestRefused):
    code = "BAD_USER_INPUT"
