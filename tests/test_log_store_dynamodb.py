"""The DynamoDB log store against a real DynamoDB wire server (moto's, over HTTP on loopback).

Each test gets a table of its own, so tests never see each other's entries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError

from loyalty.datasources.log_dynamo import DynamoLogStore
from loyalty.datasources.log_store import LogEntry, LogQuery
from tests import dynamodb_server
from tests.dynamodb_server import free_port

BASE = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
SINCE = datetime(2025, 12, 1, tzinfo=UTC)
UNTIL = datetime(2026, 6, 30, tzinfo=UTC)
WINDOW = LogQuery(since=SINCE, until=UNTIL)

dynamodb_endpoint = dynamodb_server.dynamodb_endpoint  # the session's moto server, as a fixture here


def _entry(minutes: float = 0, **fields: Any) -> LogEntry:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "timestamp": BASE + timedelta(minutes=minutes),
        "action": "user.enroll",
        "outcome": "SUCCESS",
    }
    values.update(fields)
    return LogEntry(**values)


def _window(**filters: Any) -> LogQuery:
    return LogQuery(since=SINCE, until=UNTIL, **filters)


def _newest_first(entries: list[LogEntry]) -> list[LogEntry]:
    return sorted(entries, key=lambda entry: (entry.timestamp, entry.id), reverse=True)


@pytest.fixture
async def store(dynamodb_endpoint: str) -> AsyncIterator[DynamoLogStore]:
    log_store = DynamoLogStore(table_name=f"log-{uuid.uuid4().hex}", endpoint_url=dynamodb_endpoint)
    await log_store.create_table()
    yield log_store
    await log_store.close()


@pytest.fixture
def dynamodb(dynamodb_endpoint: str) -> Any:
    """A plain boto3 client on the same server, to look at the table from outside the store."""
    return boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")


async def _read_all(store: DynamoLogStore, query: LogQuery = WINDOW, limit: int = 1000) -> list[LogEntry]:
    return await store.query(query, limit=limit, after=None)


# --- the table -------------------------------------------------------------------------------


async def test_create_table_makes_the_sparse_indexes_and_enables_ttl_on_expires_at(
    store: DynamoLogStore, dynamodb: Any
) -> None:
    table = dynamodb.describe_table(TableName=store.table_name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]

    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {
        "by_actor",
        "by_target",
        "by_action",
        "by_problem",
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


async def test_create_table_says_false_when_the_table_exists(store: DynamoLogStore) -> None:
    assert await store.create_table() is False


async def test_ensure_ready_creates_a_missing_table_and_is_harmless_twice(
    dynamodb_endpoint: str,
    dynamodb: Any,
) -> None:
    store = DynamoLogStore(table_name=f"log-{uuid.uuid4().hex}", endpoint_url=dynamodb_endpoint)
    try:
        await store.ensure_ready()
        await store.ensure_ready()
        await store.write_batch([_entry()], retention_days=30)

        assert store.table_name in dynamodb.list_tables()["TableNames"]
        assert len(await _read_all(store)) == 1
    finally:
        await store.close()


async def test_purge_before_leaves_expiry_to_ttl(store: DynamoLogStore) -> None:
    await store.write_batch([_entry()], retention_days=30)

    assert await store.purge_before(BASE + timedelta(days=1)) == 0


async def test_a_write_fails_within_seconds_while_dynamodb_is_unreachable() -> None:
    nowhere = DynamoLogStore(table_name="log", endpoint_url=f"http://127.0.0.1:{free_port()}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(BotoCoreError):
            await nowhere.write_batch([_entry()], retention_days=30)
    finally:
        await nowhere.close()

    assert loop.time() - started < 5


# --- writes ------------------------------------------------------------------------------------


async def test_entries_read_back_newest_first_with_every_field_intact(store: DynamoLogStore) -> None:
    full = _entry(
        minutes=2,
        action="points.adjust",
        outcome="DENIED",
        actor_id=str(uuid.uuid4()),
        actor_email="ann@example.com",
        actor_role="MANAGER",
        target_type="User",
        target_id=str(uuid.uuid4()),
        details={"delta": -1.5, "reason": "promo", "tags": ["a", None, 3]},
        source_ip="203.0.113.9",
        user_agent="curl/8.5",
        request_id="req-42",
    )
    bare = _entry(minutes=1)
    oldest = _entry(minutes=0, details={})

    await store.write_batch([oldest, full, bare], retention_days=30)
    entries = await _read_all(store)

    assert entries == [full, bare, oldest]
    assert entries[0].timestamp.tzinfo is not None
    assert entries[0].timestamp.utcoffset() == timedelta(0)


async def test_an_entry_shipped_twice_is_stored_once(store: DynamoLogStore, dynamodb: Any) -> None:
    entry = _entry()

    await store.write_batch([entry], retention_days=30)
    await store.write_batch([entry], retention_days=30)
    await store.write_batch([entry, entry], retention_days=30)

    stored = dynamodb.query(
        TableName=store.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "MONTH#2026-03"}},
        Select="COUNT",
    )
    assert stored["Count"] == 1
    assert await _read_all(store) == [entry]


async def test_sixty_entries_in_one_batch_all_arrive(store: DynamoLogStore) -> None:
    entries = [_entry(minutes=i) for i in range(60)]

    await store.write_batch(entries, retention_days=30)

    assert await _read_all(store) == _newest_first(entries)


async def test_items_expire_retention_days_after_their_timestamp(
    store: DynamoLogStore, dynamodb: Any
) -> None:
    entry = _entry()

    await store.write_batch([entry], retention_days=7)

    item = dynamodb.query(
        TableName=store.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "MONTH#2026-03"}},
    )["Items"][0]
    assert int(item["expires_at"]["N"]) == int((entry.timestamp + timedelta(days=7)).timestamp())


# --- pagination --------------------------------------------------------------------------------


async def test_pages_follow_the_cursor_across_month_buckets(store: DynamoLogStore) -> None:
    months = [BASE - timedelta(days=days) for days in (0, 31, 62, 93)]  # March back to December
    same_instant = [_entry(timestamp=months[1]) for _ in range(3)]  # ties broken by id
    entries = [_entry(timestamp=moment + timedelta(hours=h)) for moment in months for h in range(2)]
    entries += same_instant
    await store.write_batch(entries, retention_days=365)

    pages: list[list[LogEntry]] = []
    after = None
    while True:
        page = await store.query(WINDOW, limit=3, after=after)
        if not page:
            break
        pages.append(page)
        after = (page[-1].timestamp, page[-1].id)

    assert [entry for page in pages for entry in page] == _newest_first(entries)
    assert all(len(page) == 3 for page in pages[:-1])
    assert len({entry.timestamp.month for entry in entries}) == 4


async def test_a_filtered_read_pages_with_the_cursor_through_an_index(store: DynamoLogStore) -> None:
    actor = "actor-1"
    mine = [_entry(minutes=i, actor_id=actor) for i in range(0, 40, 4)]
    others = [_entry(minutes=i, actor_id="someone-else") for i in range(1, 40, 4)]
    await store.write_batch(mine + others, retention_days=30)

    first = await store.query(_window(actor_id=actor), limit=4, after=None)
    rest = await store.query(_window(actor_id=actor), limit=100, after=(first[-1].timestamp, first[-1].id))

    assert first + rest == _newest_first(mine)
    assert len(first) == 4


async def test_a_sparse_filter_still_fills_the_page(store: DynamoLogStore) -> None:
    """Limit applies before a FilterExpression: the store must keep reading until it has enough."""
    wanted = [_entry(minutes=i * 10, outcome="SUCCESS", action="points.adjust") for i in range(5)]
    noise = [_entry(minutes=i * 10 + 1, outcome="DENIED", action="points.adjust") for i in range(250)]
    await store.write_batch(wanted + noise, retention_days=30)

    found = await store.query(_window(action="points.adjust", outcome="SUCCESS"), limit=5, after=None)

    assert found == _newest_first(wanted)


async def test_a_read_without_until_ends_now(store: DynamoLogStore) -> None:
    now = datetime.now(UTC)
    recent = [_entry(timestamp=now - timedelta(days=days)) for days in (0, 40, 80)]
    await store.write_batch(recent, retention_days=365)

    found = await _read_all(store, LogQuery(since=now - timedelta(days=100)))

    assert found == _newest_first(recent)


# --- filters -----------------------------------------------------------------------------------


def _varied_entries() -> list[LogEntry]:
    return [
        _entry(1, action="user.enroll", actor_id="ann", actor_email="Ann@Example.com", target_id="u-1"),
        _entry(2, action="points.adjust", actor_id="ann", actor_email="ann@example.com", target_id="u-2"),
        _entry(
            3,
            action="points.adjust",
            actor_id="bob",
            actor_email="bob@shop.io",
            target_id="u-1",
            outcome="DENIED",
        ),
        _entry(4, action="auth.sign_in", actor_email="eve@evil.test", outcome="FAILED"),
        _entry(
            5,
            action="user.delete",
            actor_id="bob",
            actor_email="bob@shop.io",
            target_id="U-3",
            outcome="DENIED",
        ),
        _entry(6, action="auth.sign_in", actor_id="ann", actor_email="ann@example.com"),
    ]


@pytest.fixture(scope="module")
def varied_table(dynamodb_endpoint: str) -> tuple[str, list[LogEntry]]:
    """One table of varied entries for the filter tests, which only read it (a table each is ~0.3 s)."""
    table_name, entries = f"log-{uuid.uuid4().hex}", _varied_entries()

    async def load() -> None:
        loader = DynamoLogStore(table_name=table_name, endpoint_url=dynamodb_endpoint)
        try:
            await loader.create_table()
            await loader.write_batch(entries, retention_days=30)
        finally:
            await loader.close()

    asyncio.run(load())
    return table_name, entries


@pytest.fixture
async def reader(
    varied_table: tuple[str, list[LogEntry]], dynamodb_endpoint: str
) -> AsyncIterator[DynamoLogStore]:
    log_store = DynamoLogStore(table_name=varied_table[0], endpoint_url=dynamodb_endpoint)
    yield log_store
    await log_store.close()


@pytest.fixture
def varied(varied_table: tuple[str, list[LogEntry]]) -> list[LogEntry]:
    return varied_table[1]


def _numbers(entries: list[LogEntry], varied: list[LogEntry]) -> list[int]:
    """Which of the ``varied`` entries (1-based, by minute) came back, in the order they came."""
    return [varied.index(entry) + 1 for entry in entries]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({"actor_id": "ann"}, [6, 2, 1], id="actor"),
        pytest.param({"target_id": "u-1"}, [3, 1], id="target"),
        pytest.param({"action": "points.adjust"}, [3, 2], id="action"),
        pytest.param({"outcome": "SUCCESS"}, [6, 2, 1], id="outcome-success"),
        pytest.param({"outcome": "DENIED"}, [5, 3], id="outcome-denied"),
        pytest.param({"outcome": "FAILED"}, [4], id="outcome-failed"),
        pytest.param({"search": "sign_in"}, [6, 4], id="search-action"),
        pytest.param({"search": "ANN@EXAMPLE"}, [6, 2, 1], id="search-email-any-case"),
        pytest.param({"search": "u-3"}, [5], id="search-target-any-case"),
        pytest.param({"search": "shop"}, [5, 3], id="search-email-part"),
        pytest.param({"search": "adjust\nbob"}, [], id="search-never-straddles-fields"),
        pytest.param({"actor_id": "ann", "action": "points.adjust"}, [2], id="actor-and-action"),
        pytest.param(
            {"actor_id": "bob", "outcome": "DENIED", "target_id": "u-1"}, [3], id="actor-outcome-target"
        ),
        pytest.param({"target_id": "u-1", "outcome": "SUCCESS"}, [1], id="target-and-success"),
        pytest.param({"action": "auth.sign_in", "outcome": "FAILED"}, [4], id="action-and-failed"),
        pytest.param({"outcome": "DENIED", "search": "delete"}, [5], id="denied-and-search"),
        pytest.param({"actor_id": "ann", "search": "u-2"}, [2], id="actor-and-search"),
        pytest.param({"actor_id": "nobody"}, [], id="unknown-actor"),
    ],
)
async def test_filters_select_the_matching_entries_newest_first(
    reader: DynamoLogStore, varied: list[LogEntry], filters: dict[str, str], expected: list[int]
) -> None:
    found = await _read_all(reader, _window(**filters))

    assert _numbers(found, varied) == expected


async def test_since_and_until_are_inclusive(reader: DynamoLogStore, varied: list[LogEntry]) -> None:
    query = LogQuery(since=varied[1].timestamp, until=varied[3].timestamp)

    assert _numbers(await _read_all(reader, query), varied) == [4, 3, 2]


async def test_a_time_range_applies_through_an_index_too(
    reader: DynamoLogStore, varied: list[LogEntry]
) -> None:
    query = LogQuery(actor_id="ann", since=varied[1].timestamp, until=varied[4].timestamp)

    assert _numbers(await _read_all(reader, query), varied) == [2]


async def test_an_empty_time_range_finds_nothing(reader: DynamoLogStore, varied: list[LogEntry]) -> None:
    query = LogQuery(since=varied[3].timestamp, until=varied[1].timestamp)

    assert await _read_all(reader, query) == []
