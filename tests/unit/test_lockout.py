"""When repeated sign-in failures lock an email, and until when."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.services.sessions import locked_until

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def minutes(*offsets: float) -> list[datetime]:
    """Failure times, ``offsets`` minutes after START."""
    return [START + timedelta(minutes=offset) for offset in offsets]


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param([], id="none"),
        pytest.param(minutes(0), id="one"),
        pytest.param(minutes(0, 1, 2, 3), id="four within a minute"),
    ],
)
def test_fewer_than_five_failures_do_not_lock(failures: list[datetime]) -> None:
    assert locked_until(failures) is None


@pytest.mark.parametrize(
    ("failures", "fifth"),
    [
        pytest.param(minutes(0, 0, 0, 0, 0), 0, id="five at once"),
        pytest.param(minutes(0, 1, 2, 3, 4), 4, id="five within four minutes"),
        pytest.param(minutes(0, 5, 10, 12, 15), 15, id="five within exactly fifteen minutes"),
    ],
)
def test_five_failures_within_fifteen_minutes_lock_for_fifteen_minutes_after_the_fifth(
    failures: list[datetime], fifth: float
) -> None:
    assert locked_until(failures) == START + timedelta(minutes=fifth + 15)


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param(minutes(0, 4, 8, 12, 16), id="five over sixteen minutes"),
        pytest.param(minutes(0, 15.01, 0.5, 1, 2), id="five just over fifteen minutes"),
        pytest.param(minutes(0, 10, 20, 30, 40, 50, 60), id="seven, never five in a window"),
    ],
)
def test_five_failures_spread_over_more_than_fifteen_minutes_do_not_lock(failures: list[datetime]) -> None:
    assert locked_until(failures) is None


def test_the_lock_runs_from_the_failure_that_completes_five_in_a_window() -> None:
    failures = minutes(0, 20, 21, 22, 23, 24)

    assert locked_until(failures) == START + timedelta(minutes=24 + 15)


def test_later_failures_extend_the_lock() -> None:
    failures = minutes(0, 1, 2, 3, 4, 5, 6)

    assert locked_until(failures) == START + timedelta(minutes=6 + 15)


def test_failures_in_any_order_give_the_same_lock() -> None:
    ordered = minutes(0, 20, 21, 22, 23, 24)
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    newest_first = list(reversed(ordered))

    assert shuffled != ordered
    assert locked_until(shuffled) == locked_until(newest_first) == START + timedelta(minutes=24 + 15)
