"""Storage failures the services turn into answers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError


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


# What asyncpg raises: the database's refusals, and the client's failures (a connection it cannot use).
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def as_sqlalchemy_error(statement: str, args: Sequence[Any], error: Exception) -> DBAPIError:
    """A raw asyncpg failure as SQLAlchemy raises it, so callers handle one kind whatever ran the SQL.
    A failure on the client's side is an ``InterfaceError``: the connection's state is not known."""
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(statement, list(args), error)
    if isinstance(error, asyncpg.PostgresError):
        return DBAPIError(statement, list(args), error)
    return InterfaceError(statement, list(args), error)
