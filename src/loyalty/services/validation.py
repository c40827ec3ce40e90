"""Checks on untrusted input. Each returns the cleaned value and records what is wrong."""

from __future__ import annotations

import uuid

from loyalty.auth.password_policy import password_problem
from loyalty.services.errors import ErrorCode, Problem, ServiceError

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
MAX_REASON_LENGTH = 500
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_PROGRAM_LENGTH = 64


def parse_id(value: str) -> uuid.UUID | None:
    """A UUID from an ID argument; ``None`` when malformed (which reads as not found)."""
    try:
        return uuid.UUID(value) if len(value) <= 36 and value.isascii() else None
    except (ValueError, AttributeError):
        return None


class Problems:
    """Collects every problem of one input before refusing it, so the caller fixes all at once."""

    def __init__(self) -> None:
        self._problems: list[Problem] = []

    def add(self, field: str, message: str, code: ErrorCode = ErrorCode.VALIDATION) -> None:
        self._problems.append(Problem(code, message, field))

    def raise_any(self) -> None:
        if self._problems:
            raise ServiceError(*self._problems)

    def email(self, field: str, value: str) -> str:
        from email_validator import EmailNotValidError, validate_email  # ~40 ms to import: at first use

        value = value.strip()
        if len(value) > MAX_EMAIL_LENGTH:
            self.add(field, f"must be at most {MAX_EMAIL_LENGTH} characters")
            return value
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as error:
            self.add(field, f"is not a valid email address: {error}")
            return value

    def name(self, field: str, value: str) -> str:
        value = value.strip()
        if not value:
            self.add(field, "must not be blank")
        elif len(value) > MAX_NAME_LENGTH:
            self.add(field, f"must be at most {MAX_NAME_LENGTH} characters")
        elif not value.isprintable():
            self.add(field, "must not contain control characters")
        return value

    def password(self, field: str, value: str) -> str:
        if (problem := password_problem(value)) is not None:
            self.add(field, problem, ErrorCode.WEAK_PASSWORD)
        return value

    def optional_text(self, field: str, value: str | None, *, max_length: int) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if len(value) > max_length:
            self.add(field, f"must be at most {max_length} characters")
        return value or None

    def idempotency_key(self, field: str, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            self.add(field, f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
        return value

    def program(self, field: str, value: str) -> str:
        value = value.strip()
        if not value or len(value) > MAX_PROGRAM_LENGTH:
            self.add(field, f"must be 1 to {MAX_PROGRAM_LENGTH} characters")
        elif not all(ch.isalnum() or ch in "-_." for ch in value):
            self.add(field, "may hold letters, digits, '-', '_' and '.' only")
        return value

    def not_null(self, field: str, value: object) -> bool:
        if value is None:
            self.add(field, "must not be null")
            return False
        return True
