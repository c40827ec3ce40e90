"""When repeated sign-in failures lock an email, and until when."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.datasources.sign_in_attempts import PastAttempt
from loyalty.services.sessions import UNKNOWN_ADDRESS_FAILURES, email_locked_until, locked_until

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


# --- per address ---------------------------------------------------------------------------------


def failed(source: str, *offsets: float) -> list[PastAttempt]:
    return [PastAttempt(source, at, succeeded=False) for at in minutes(*offsets)]


def test_five_failures_from_an_address_lock_the_email_for_that_address_only() -> None:
    attempts = failed("attacker", 0, 1, 2, 3, 4)

    assert email_locked_until(attempts, source="attacker", known_sources=set()) == START + timedelta(
        minutes=19
    )
    assert email_locked_until(attempts, source="elsewhere", known_sources=set()) is None


def test_succeeded_attempts_are_not_failures() -> None:
    attempts = [PastAttempt("owner", at, succeeded=True) for at in minutes(0, 1, 2, 3, 4)]

    assert email_locked_until(attempts, source="owner", known_sources=set()) is None


def test_many_unknown_addresses_lock_the_email_for_unknown_addresses_but_not_known_ones() -> None:
    attempts = [a for n in range(UNKNOWN_ADDRESS_FAILURES // 4) for a in failed(f"bot{n}", 0, 1, 2, 3)]

    assert email_locked_until(attempts, source="new", known_sources={"owner"}) == START + timedelta(
        minutes=18
    )
    assert email_locked_until(attempts, source="owner", known_sources={"owner"}) is None


def test_one_short_of_the_shared_budget_locks_no_unknown_address() -> None:
    attempts = [a for n in range(UNKNOWN_ADDRESS_FAILURES - 1) for a in failed(f"bot{n}", n * 0.1)]

    assert email_locked_until(attempts, source="new", known_sources=set()) is None


def test_a_known_addresss_failures_do_not_spend_the_unknown_addresses_budget() -> None:
    attempts = failed("owner", *range(4)) + failed("bot", *range(4)) * (UNKNOWN_ADDRESS_FAILURES // 4 - 1)
    attempts += failed("owner", *range(4))

    assert email_locked_until(attempts, source="new", known_sources={"owner"}) is None
