"""The contract's custom scalars: DateTime (UTC with an offset) and Long (64-bit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

DateTime = NewType("DateTime", datetime)
Long = NewType("Long", int)

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _serialize_datetime(value: datetime) -> str:
    # Compiled walks write this out in line (``loyalty.schema.plans._INLINE_COERCIONS``): change both.
    return value.astimezone(UTC).isoformat()


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise ValueError("DateTime must be an ISO 8601 date and time with a UTC offset")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime must carry a UTC offset (Z or +00:00); naive times are refused")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("DateTime is out of range") from error


def _parse_datetime_literal(node: ValueNode, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise ValueError("DateTime must be a string")
    return _parse_datetime(node.value)


def _parse_long(value: Any) -> int:
    # JSON numbers past 2^53 arrive as floats that no longer say which integer was sent.
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Long must be an integer")
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError("Long must fit in 64 bits")
    return value


def _parse_long_literal(node: ValueNode, _variables: Any = None) -> int:
    if not isinstance(node, IntValueNode):
        raise ValueError("Long must be an integer")
    return _parse_long(int(node.value))


# Keyed by the NewTypes the schema's annotations use (objects, not classes, to the checker).
SCALARS: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="An ISO 8601 timestamp, always in UTC with an explicit offset; naive input is refused.",
        serialize=_serialize_datetime,
        parse_value=_parse_datetime,
        parse_literal=_parse_datetime_literal,
    ),
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit signed integer, serialized as a JSON number (points quantities).",
        serialize=int,
        parse_value=_parse_long,
        parse_literal=_parse_long_literal,
    ),
}
