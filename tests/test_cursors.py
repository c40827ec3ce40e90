"""A page's cursors: made for each row in one function, they are the cursors ``encode_cursor`` makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from asyncpg.pgproto.pgproto import UUID as PgUUID
from hypothesis import given
from hypothesis import strategies as st

from loyalty.services.pagination import decode_time_cursor, encode_cursor, encode_time_cursor

MOMENTS = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


@given(MOMENTS, st.uuids())
def test_a_time_cursor_is_the_cursor_of_the_moment_and_the_id(moment: datetime, key: uuid.UUID) -> None:
    for an_id in (key, PgUUID(str(key))):  # asyncpg reads ids as its own UUID class
        cursor = encode_time_cursor(moment, an_id)

        assert cursor == encode_cursor(moment.isoformat(), str(key))
        assert decode_time_cursor(cursor) == (moment.astimezone(UTC), key)
