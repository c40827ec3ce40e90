"""The DynamoDB log store's pure parts: BatchWriteItem chunks and the item an entry becomes.

moto accepts a BatchWriteItem of any size, real DynamoDB refuses more than 25 items: the limit is held here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from loyalty.datasources.log_dynamo import (
    MAX_BATCH_WRITE_ITEMS,
    batch_chunks,
    entry_item,
    item_entry,
    months_newest_first,
    plan_read,
    sort_key,
    unique_entries,
)
from loyalty.datasources.log_store import LogEntry, LogQuery

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
ENTRY_ID = uuid.UUID("0b7e1b9c-5f1a-4a43-9e1d-2f6f1f0c3a11")


def _entry(**changes: object) -> LogEntry:
    fields: dict[str, object] = {
        "id": ENTRY_ID,
        "timestamp": WHEN,
        "action": "user.enroll",
        "outcome": "SUCCESS",
    }
    fields.update(changes)
    return LogEntry(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [0, 1, 24, 25, 26, 50, 60])
def test_chunks_never_exceed_25_items_and_keep_every_item_once_in_order(count: int) -> None:
    items = list(range(count))

    chunks = batch_chunks(items)

    assert all(1 <= len(chunk) <= MAX_BATCH_WRITE_ITEMS for chunk in chunks)
    assert [item for chunk in chunks for item in chunk] == items
    assert len(chunks) == -(-count // MAX_BATCH_WRITE_ITEMS)


def test_chunk_sizes_for_60_items_are_25_25_10() -> None:
    assert [len(chunk) for chunk in batch_chunks(list(range(60)))] == [25, 25, 10]


def test_the_25_item_limit_is_dynamodbs() -> None:
    assert MAX_BATCH_WRITE_ITEMS == 25


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        batch_chunks([1], size=0)


def test_an_entry_repeated_in_one_batch_is_sent_once() -> None:
    first, second = _entry(), _entry(id=uuid.uuid4())

    assert unique_entries([first, second, first, second, first]) == [first, second]


def test_item_keys_are_the_utc_month_and_a_fixed_width_timestamp_then_the_id() -> None:
    item = entry_item(_entry(), retention_days=30)

    assert item["pk"] == "MONTH#2026-03"
    assert item["sk"] == "2026-03-04T05:06:07.890123Z#0b7e1b9c-5f1a-4a43-9e1d-2f6f1f0c3a11"


def test_keys_use_the_utc_month_of_an_offset_timestamp() -> None:
    local = datetime(2026, 4, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 2026-03-31T23:00Z

    item = entry_item(_entry(timestamp=local), retention_days=30)

    assert item["pk"] == "MONTH#2026-03"
    assert item["sk"].startswith("2026-03-31T23:00:00.000000Z#")


def test_sort_keys_order_like_timestamp_then_id() -> None:
    early, late = uuid.UUID(int=1), uuid.UUID(int=2**127)
    positions = [
        (WHEN, late),
        (WHEN, early),
        (WHEN + timedelta(microseconds=1), early),
        (WHEN.replace(year=999), late),
    ]

    by_sort_key = sorted(positions, key=lambda position: sort_key(*position))

    assert by_sort_key == sorted(positions)


def test_expires_at_is_the_timestamp_plus_the_retention_in_epoch_seconds() -> None:
    item = entry_item(_entry(), retention_days=90)

    assert item["expires_at"] == int(WHEN.timestamp()) + 90 * 86_400


def test_a_minimal_entry_has_no_sparse_index_attributes_but_action() -> None:
    item = entry_item(_entry(), retention_days=30)

    assert item["action"] == "user.enroll"
    for absent in ("actor_id", "target_id", "problem_outcome", "details", "actor_email", "source_ip"):
        assert absent not in item


def test_index_attributes_are_present_when_set() -> None:
    item = entry_item(_entry(actor_id="a-1", target_id="t-1"), retention_days=30)

    assert (item["actor_id"], item["target_id"], item["action"]) == ("a-1", "t-1", "user.enroll")


def test_empty_index_values_are_left_out_because_dynamodb_refuses_empty_keys() -> None:
    item = entry_item(_entry(actor_id="", target_id=""), retention_days=30)

    assert "actor_id" not in item
    assert "target_id" not in item


@pytest.mark.parametrize("outcome", ["DENIED", "FAILED"])
def test_problem_outcomes_are_indexed(outcome: str) -> None:
    item = entry_item(_entry(outcome=outcome), retention_days=30)

    assert item["problem_outcome"] == outcome
    assert item["outcome"] == outcome


def test_success_is_not_in_the_problem_index() -> None:
    assert "problem_outcome" not in entry_item(_entry(outcome="SUCCESS"), retention_days=30)


def test_search_text_is_lower_cased_action_email_and_target_on_separate_lines() -> None:
    item = entry_item(
        _entry(action="Points.Adjust", actor_email="Ann@Example.COM", target_id="U-42"), retention_days=1
    )

    assert item["search_text"] == "points.adjust\nann@example.com\nu-42"


def test_details_are_a_json_string() -> None:
    item = entry_item(_entry(details={"delta": 1.5, "reason": "promo"}), retention_days=1)

    assert item["details"] == '{"delta":1.5,"reason":"promo"}'


def test_an_item_reads_back_as_the_entry_it_stores() -> None:
    entry = _entry(
        outcome="DENIED",
        actor_id="a-1",
        actor_email="ann@example.com",
        actor_role="MANAGER",
        target_type="User",
        target_id="t-1",
        details={"delta": 1.5, "nested": {"list": [1, "two", None]}},
        source_ip="203.0.113.9",
        user_agent="curl/8",
        request_id="req-1",
    )

    assert item_entry(entry_item(entry, retention_days=30)) == entry


def test_months_run_newest_first_across_a_year_boundary() -> None:
    months = months_newest_first(datetime(2026, 2, 1, tzinfo=UTC), datetime(2025, 11, 30, tzinfo=UTC))

    assert months == ["MONTH#2026-02", "MONTH#2026-01", "MONTH#2025-12", "MONTH#2025-11"]


SINCE = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        pytest.param(
            {"actor_id": "a", "target_id": "t", "action": "x", "outcome": "DENIED"},
            "by_actor",
            id="actor-first",
        ),
        pytest.param({"target_id": "t", "action": "x", "outcome": "DENIED"}, "by_target", id="then-target"),
        pytest.param({"action": "x", "outcome": "FAILED"}, "by_action", id="then-action"),
        pytest.param({"outcome": "DENIED", "search": "ann"}, "by_problem", id="then-problem"),
        pytest.param({"outcome": "SUCCESS"}, None, id="success-is-a-filter"),
        pytest.param({"search": "ann"}, None, id="search-is-a-filter"),
    ],
)
def test_a_read_uses_the_most_selective_index(filters: dict[str, str], index: str | None) -> None:
    read = plan_read(LogQuery(since=SINCE, **filters), after=None, now=WHEN)

    assert read is not None
    assert read.index == index


def test_filters_not_served_by_the_index_become_a_filter_expression() -> None:
    read = plan_read(
        LogQuery(since=SINCE, actor_id="a", outcome="SUCCESS", search="Ann"), after=None, now=WHEN
    )

    assert read is not None
    assert read.filters == ["#outcome = :outcome", "contains(#search_text, :search_text)"]
    assert read.values == {":outcome": "SUCCESS", ":search_text": "ann"}


def test_an_unfiltered_read_walks_the_months_from_now_back_to_since() -> None:
    read = plan_read(LogQuery(since=SINCE), after=None, now=WHEN)

    assert read is not None
    assert read.partitions == ["MONTH#2026-03", "MONTH#2026-02", "MONTH#2026-01"]


def test_a_cursor_starts_the_walk_at_its_own_month_and_is_skipped() -> None:
    position = (datetime(2026, 2, 3, tzinfo=UTC), ENTRY_ID)

    read = plan_read(LogQuery(since=SINCE), after=position, now=WHEN)

    assert read is not None
    assert read.partitions == ["MONTH#2026-02", "MONTH#2026-01"]
    assert read.high == read.skip_sk == sort_key(*position)


def test_a_read_needs_since() -> None:
    with pytest.raises(ValueError, match="since"):
        plan_read(LogQuery(), after=None, now=WHEN)
