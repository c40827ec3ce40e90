"""The contract's custom scalars: DateTime is always UTC with an explicit offset, Long is 64-bit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from graphql import BooleanValueNode, FloatValueNode, IntValueNode, StringValueNode, ValueNode

from loyalty.schema.scalars import (
    LONG_MAX,
    LONG_MIN,
    _parse_datetime,
    _parse_datetime_literal,
    _parse_long,
    _parse_long_literal,
    _serialize_datetime,
)

# --- DateTime: parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:15:30Z", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T10:15:30+00:00", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T10:15:30-00:00", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T10:15:30.123456Z", datetime(2024, 3, 1, 10, 15, 30, 123456, tzinfo=UTC)),
    ],
)
def test_a_utc_datetime_is_parsed_as_utc(text: str, expected: datetime) -> None:
    parsed = _parse_datetime(text)

    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T12:15:30+02:00", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T05:15:30-05:00", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T15:45:30+05:30", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T01:00:00+02:00", datetime(2024, 2, 29, 23, 0, tzinfo=UTC)),
    ],
)
def test_a_datetime_with_another_offset_is_converted_to_utc(text: str, expected: datetime) -> None:
    parsed = _parse_datetime(text)

    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert (parsed.year, parsed.month, parsed.day, parsed.hour) == (
        expected.year,
        expected.month,
        expected.day,
        expected.hour,
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2024-03-01T10:15:30", id="naive"),
        pytest.param("2024-03-01T10:15", id="naive without seconds"),
        pytest.param("2024-03-01T10:15:30.5", id="naive with a fraction"),
    ],
)
def test_a_naive_datetime_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        _parse_datetime(text)


@pytest.mark.parametrize("text", ["2024-03-01", "20240301", "2024-03-01Z", "2024-03-01+00:00"])
def test_a_date_only_value_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the message depends on the form
        _parse_datetime(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("yesterday", id="a word"),
        pytest.param("Tuesday", id="a word holding a T"),
        pytest.param("T10:15:30Z", id="time only"),
        pytest.param("2024-02-30T10:00:00Z", id="no such day"),
        pytest.param("2024-03-01T24:00:00Z", id="hour 24"),
        pytest.param("2024-03-01T10:00:00+25:00", id="offset past a day"),
        pytest.param("2024-03-01 10:15:30+00:00", id="space instead of T"),
        pytest.param("2024-03-01T10:15:30+00:00[UTC]", id="zone suffix"),
        pytest.param("1709288130", id="epoch seconds as text"),
    ],
)
def test_a_string_that_is_not_an_iso_datetime_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the message depends on the form
        _parse_datetime(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1709288130, id="epoch seconds"),
        pytest.param(1709288130.5, id="float"),
        pytest.param(None, id="None"),
        pytest.param(True, id="bool"),
        pytest.param(["2024-03-01T10:15:30Z"], id="list"),
        pytest.param({"at": "2024-03-01T10:15:30Z"}, id="dict"),
    ],
)
def test_a_datetime_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        _parse_datetime(value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0001-01-01T00:30:00+01:00", id="before year 1 in UTC"),
        pytest.param("9999-12-31T23:30:00-01:00", id="after year 9999 in UTC"),
    ],
)
def test_a_datetime_that_leaves_the_calendar_in_utc_is_refused_as_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the point is the type: callers catch ValueError
        _parse_datetime(text)


# --- DateTime: literals in a document --------------------------------------------------------------


def test_a_datetime_literal_string_is_parsed_as_utc() -> None:
    parsed = _parse_datetime_literal(StringValueNode(value="2024-03-01T12:15:30+02:00"))

    assert parsed == datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "node",
    [
        pytest.param(StringValueNode(value="2024-03-01T10:15:30"), id="naive string"),
        pytest.param(StringValueNode(value="2024-03-01"), id="date-only string"),
        pytest.param(IntValueNode(value="1709288130"), id="int"),
        pytest.param(FloatValueNode(value="1709288130.5"), id="float"),
        pytest.param(BooleanValueNode(value=True), id="boolean"),
    ],
)
def test_a_datetime_literal_that_is_not_an_offset_datetime_string_is_refused(node: ValueNode) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the message depends on the form
        _parse_datetime_literal(node)


# --- DateTime: serialization -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC), "2024-03-01T10:15:30+00:00"),
        (datetime(2024, 3, 1, 12, 15, 30, tzinfo=timezone(timedelta(hours=2))), "2024-03-01T10:15:30+00:00"),
        (datetime(2024, 2, 29, 19, 0, tzinfo=timezone(timedelta(hours=-5))), "2024-03-01T00:00:00+00:00"),
        (datetime(2024, 3, 1, 10, 15, 30, 120000, tzinfo=UTC), "2024-03-01T10:15:30.120000+00:00"),
    ],
)
def test_a_datetime_is_serialized_in_utc_with_an_explicit_offset(value: datetime, expected: str) -> None:
    assert _serialize_datetime(value) == expected


def test_a_serialized_datetime_parses_back_to_the_same_instant() -> None:
    instant = datetime(2024, 3, 1, 12, 15, 30, 5, tzinfo=timezone(timedelta(hours=9)))

    assert _parse_datetime(_serialize_datetime(instant)) == instant


# --- Long ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, -1, 1_000_000_000, 10**12, LONG_MAX, LONG_MIN, 2**53 + 1])
def test_an_integer_in_64_bits_is_a_long(value: int) -> None:
    parsed = _parse_long(value)

    assert parsed == value
    assert type(parsed) is int


def test_the_64_bit_bounds_are_those_of_a_signed_long() -> None:
    assert (LONG_MIN, LONG_MAX) == (-(2**63), 2**63 - 1)


def test_an_integral_float_is_read_as_its_integer_like_graphql_int() -> None:
    # JSON has one number type; 100.0 means 100, as graphql-core's Int reads it.
    parsed = _parse_long(100.0)

    assert parsed == 100
    assert type(parsed) is int


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_long(value: bool) -> None:
    with pytest.raises(ValueError, match="integer"):
        _parse_long(value)


@pytest.mark.parametrize("value", [1.5, -0.25, 1e-9, 1e15 + 0.5])
def test_a_fractional_float_is_not_a_long(value: float) -> None:
    with pytest.raises(ValueError, match="integer"):
        _parse_long(value)


@pytest.mark.parametrize("value", ["100", "", None, [1], {"value": 1}, b"1"])
def test_a_value_that_is_not_a_number_is_not_a_long(value: object) -> None:
    with pytest.raises(ValueError, match="integer"):
        _parse_long(value)


@pytest.mark.parametrize("value", [LONG_MAX + 1, LONG_MIN - 1, 2**64, -(2**64), 10**30])
def test_an_integer_outside_64_bits_is_not_a_long(value: int) -> None:
    with pytest.raises(ValueError, match="64 bits"):
        _parse_long(value)


@pytest.mark.parametrize("value", [2.0**63, -(2.0**64), 1e30])
def test_an_integral_float_outside_64_bits_is_not_a_long(value: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the message is the implementer's
        _parse_long(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="-inf"),
        pytest.param(float("nan"), id="nan"),
    ],
)
def test_a_non_finite_float_is_refused_as_a_value_error(value: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the point is the type: callers catch ValueError
        _parse_long(value)


def test_a_float_too_large_to_hold_an_exact_integer_is_not_a_long() -> None:
    # -(2^63) - 1 does not fit a Long, but as a float (how JSON parsers hand it over) it rounds to
    # -(2^63), which does: a float past 2^53 no longer says which integer the client meant.
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the message is the implementer's
        _parse_long(float(-(2**63) - 1))


# --- Long: literals in a document ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-1", str(LONG_MAX), str(LONG_MIN)])
def test_an_int_literal_in_64_bits_is_a_long(text: str) -> None:
    assert _parse_long_literal(IntValueNode(value=text)) == int(text)


@pytest.mark.parametrize("text", [str(LONG_MAX + 1), str(LONG_MIN - 1), "1" + "0" * 30])
def test_an_int_literal_outside_64_bits_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="64 bits"):
        _parse_long_literal(IntValueNode(value=text))


@pytest.mark.parametrize(
    "node",
    [
        pytest.param(FloatValueNode(value="1.0"), id="integral float"),
        pytest.param(FloatValueNode(value="1.5"), id="fractional float"),
        pytest.param(StringValueNode(value="100"), id="string"),
        pytest.param(BooleanValueNode(value=True), id="boolean"),
    ],
)
def test_a_literal_that_is_not_an_int_is_refused(node: ValueNode) -> None:
    with pytest.raises(ValueError, match="integer"):
        _parse_long_literal(node)
