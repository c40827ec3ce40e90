"""Opaque cursors and page sizes of the Relay-style connections."""

from __future__ import annotations

import base64

import pytest

from loyalty.services.errors import BadUserInput, RequestRefused
from loyalty.services.pagination import MAX_PAGE_SIZE, check_page_size, decode_cursor, encode_cursor

# --- cursors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param(("42",), id="a ledger sequence number"),
        pytest.param(
            ("2024-03-01T10:15:30.123456+00:00", "0f9e8d7c-6b5a-4321-8765-0123456789ab"), id="users keyset"
        ),
        pytest.param(("", ""), id="empty parts"),
        pytest.param(("Zoë", "李", "🙂"), id="non-ASCII parts"),
        pytest.param(("a" * 1_000, "b"), id="a long part"),
    ],
)
def test_a_cursor_decodes_to_the_parts_it_was_made_of(parts: tuple[str, ...]) -> None:
    cursor = encode_cursor(*parts)

    assert decode_cursor(cursor, len(parts)) == list(parts)


def test_a_cursor_is_url_safe_text_without_padding() -> None:
    cursor = encode_cursor("2024-03-01T10:15:30+00:00", "0f9e8d7c-6b5a-4321-8765-0123456789ab")

    assert cursor.isascii()
    assert not set(cursor) & set("+/=")


def test_a_cursor_does_not_show_its_parts_in_clear() -> None:
    cursor = encode_cursor("2024-03-01T10:15:30+00:00", "0f9e8d7c-6b5a-4321-8765-0123456789ab")

    assert "2024" not in cursor
    assert "0f9e8d7c" not in cursor


def test_a_cursor_with_padding_restored_is_the_same_cursor() -> None:
    cursor = encode_cursor("7")
    padded = cursor + "=" * (-len(cursor) % 4)

    assert decode_cursor(padded, 1) == ["7"]


def test_a_cursor_with_another_number_of_parts_is_refused() -> None:
    cursor = encode_cursor("2024-03-01T10:15:30+00:00", "0f9e8d7c-6b5a-4321-8765-0123456789ab")

    with pytest.raises(BadUserInput, match="cursor"):
        decode_cursor(cursor, 1)
    with pytest.raises(BadUserInput, match="cursor"):
        decode_cursor(cursor, 3)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor!", id="words"),
        pytest.param("%%%%", id="not base64"),
        pytest.param("a", id="one base64 char"),
        pytest.param("é", id="non-ASCII"),
        pytest.param("\x00\x00\x00\x00", id="NULs"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe|\xfd").decode(), id="not UTF-8 inside"),
        pytest.param(base64.urlsafe_b64encode(b"one|two|three").decode(), id="three parts"),
        pytest.param("A" * 100_000, id="100,000 chars"),
        pytest.param("' OR 1=1 --", id="SQL"),
    ],
)
def test_garbage_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(BadUserInput, match="cursor"):
        decode_cursor(cursor, 2)


def test_a_refused_cursor_is_the_callers_error() -> None:
    with pytest.raises(RequestRefused) as refused:
        decode_cursor("garbage", 2)

    assert refused.value.code == "BAD_USER_INPUT"


# --- page sizes ------------------------------------------------------------------------------------


def test_the_largest_page_is_100() -> None:
    assert MAX_PAGE_SIZE == 100


@pytest.mark.parametrize("first", [1, 2, 20, 99, 100])
def test_a_page_size_from_1_to_100_is_accepted(first: int) -> None:
    assert check_page_size(first) == first


@pytest.mark.parametrize("first", [0, -1, 101, 1_000, 2**31 - 1, -(2**31)])
def test_a_page_size_outside_1_to_100_is_bad_user_input(first: int) -> None:
    with pytest.raises(BadUserInput, match="between 1 and 100"):
        check_page_size(first)
