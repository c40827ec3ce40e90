"""Storage failures the services turn into answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError


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
