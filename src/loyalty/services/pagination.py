"""Opaque cursors and pages for Relay-style connections."""

from __future__ import annotations

import base64
import binascii
import uuid
from binascii import b2a_base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from loyalty.services.errors import BadUserInput

MAX_PAGE_SIZE = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    cursors: Sequence[str]
    has_next_page: bool


def check_page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"first must be between 1 and {MAX_PAGE_SIZE}")
    return first


# Standard base64 to ``base64.urlsafe_b64encode``'s alphabet.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def encode_time_cursor(moment: datetime, key: uuid.UUID) -> str:
    """A cursor for lists ordered by a timestamp, then an id: ``encode_cursor(moment.isoformat(),
    str(key))``, made in one function for each row of a page (it was a tenth of a page of 50)."""
    text = f"{moment.isoformat()}|{key}".encode()
    return b2a_base64(text, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


def decode_time_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    moment_text, key_text = decode_cursor(cursor, 2)
    try:
        moment = datetime.fromisoformat(moment_text)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment.astimezone(UTC), uuid.UUID(key_text)
    except (ValueError, OverflowError):
        raise BadUserInput("after is not a cursor this server gave out") from None


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The parts of a cursor made by :func:`encode_cursor`; a bad cursor is the caller's error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split("|")
    except (binascii.Error, UnicodeError, ValueError):
        values = []
    if len(values) != parts:
        raise BadUserInput("after is not a cursor this server gave out")
    return values
