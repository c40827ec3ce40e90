"""Storage failures the services turn into answers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError


class DuplicateKey(Exception):
    """A write hit a unique constraint. The transaction is spoiled and must be rolled back."""


@contextmanager
def unique_violations_as_duplicates() -> Iterator[None]:
    try:
        yield
    except IntegrityError as error:
        if getattr(error.orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(error.orig):
            raise DuplicateKey(str(error.orig)) from error
        raise


def as_sqlalchemy_error(statement: str, args: Sequence[Any], error: asyncpg.PostgresError) -> DBAPIError:
    """A raw asyncpg failure as SQLAlchemy raises it, so callers handle one kind whatever ran the SQL."""
    kind = IntegrityError if isinstance(error, asyncpg.IntegrityConstraintViolationError) else DBAPIError
    return kind(statement, list(args), error)
