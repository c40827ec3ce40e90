"""The activity log in DynamoDB: every read is a Query, never a Scan.

Table design
------------
- Base table: ``pk`` = ``"MONTH#yyyy-mm"`` (the UTC month of the entry), ``sk`` = the fixed-width
  timestamp ``"yyyy-mm-ddTHH:MM:SS.ffffffZ"`` + ``"#"`` + the entry id. String order of ``sk`` is the
  log's order (timestamp, then id), so a newest-first read is a Query with ``ScanIndexForward=False``,
  a key condition ``sk BETWEEN`` the ``since``/``until`` bounds, and a cursor ``(timestamp, id)`` is
  just an ``sk``. An unfiltered read walks the month buckets from the month of ``until`` (or now)
  back to the month of ``since``, paging within and across buckets until ``limit`` entries are found.
  A read always carries ``since``: the caller clamps it to the retention window, which also bounds
  how many buckets a read may touch.
- Sparse GSIs, all with sort key ``sk`` and projecting every attribute; an item carries the index's
  key only when it has the value, so each index holds only the entries it can answer for:
  ``by_actor`` (``actor_id``), ``by_target`` (``target_id``), ``by_action`` (``action``) and
  ``by_problem`` (``problem_outcome``, set only for outcome DENIED or FAILED). A read uses the most
  selective index its filters allow (actor > target > action > problem outcome > month buckets) and
  applies the other filters as a FilterExpression; outcome SUCCESS is always such a filter.
- Free-text search is the one filter no key serves: ``contains(search_text, :s)`` where
  ``search_text`` is the lower-cased action, actor email and target id joined by newlines (no field
  holds one, so a match never straddles two fields), within the ``since`` window.
- Retention: ``expires_at`` (epoch seconds = timestamp + retention days) is the table's TTL attribute,
  so DynamoDB expires entries itself and ``purge_before`` has nothing to do. An entry keeps the
  retention it was written with; reads never show older entries because ``since`` is clamped.
- ``details`` is stored as a JSON string (no Decimal-for-float surprises); timestamps come back as
  aware UTC datetimes.
- Writes: BatchWriteItem in chunks of at most 25 puts, retrying UnprocessedItems with exponential
  backoff. An item's key is derived from its entry, so shipping an entry twice overwrites it with
  itself: it is stored once.
- Load: one partition per month takes every write; fine for a back office's activity log (DynamoDB
  allows about 1,000 writes per second per partition), to be sharded if that ever changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aioboto3
import orjson
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from loyalty.datasources.log_store import LogEntry, LogPosition, LogQuery

MAX_BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem call
PROBLEM_OUTCOMES = frozenset({"DENIED", "FAILED"})
SEARCH_SEPARATOR = "\n"

_INDEXED_ATTRIBUTES = ("actor_id", "target_id", "action", "problem_outcome")
_INDEX_BY_ATTRIBUTE = {
    "actor_id": "by_actor",
    "target_id": "by_target",
    "action": "by_action",
    "problem_outcome": "by_problem",
}
_PLAIN_ATTRIBUTES = (
    "outcome",
    "actor_email",
    "actor_role",
    "target_type",
    "source_ip",
    "user_agent",
    "request_id",
)
_SK_AFTER_EVERY_ID = "#~"  # "~" sorts after every character of a UUID string
_FILTERED_PAGE_SIZE = 200  # items read per Query page when a filter may drop most of them
_WRITE_ATTEMPTS = 8
_FIRST_BACKOFF_SECONDS = 0.05
_MAX_BACKOFF_SECONDS = 2.0
_TABLE_WAIT_SECONDS = 300.0

T = TypeVar("T")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
# One session per process: each new one loads botocore's service and endpoint data again (~0.1 s).
_session = aioboto3.Session()


TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes the item after it


def table_definition() -> dict[str, Any]:
    """The table's CreateTable arguments but its name: keys, sparse GSIs, billing mode.

    One definition for :meth:`DynamoLogStore.create_table` and the AWS CDK stack in ``deploy/``,
    so the deployed table cannot drift from what the reads expect.
    """
    key_attributes = ("pk", "sk", *_INDEXED_ATTRIBUTES)
    return {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in key_attributes],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": attribute, "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for attribute, index in _INDEX_BY_ATTRIBUTE.items()
        ],
    }


class LogWriteIncomplete(Exception):
    """DynamoDB kept refusing part of a batch (throttling); the caller should ship it again later."""


# --- items: pure functions, unit-tested --------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sk_timestamp(moment: datetime) -> str:
    """``yyyy-mm-ddTHH:MM:SS.ffffffZ`` in UTC: fixed width, so string order is time order."""
    m = _utc(moment)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T"
        f"{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"
    )


def sort_key(moment: datetime, entry_id: uuid.UUID) -> str:
    return f"{sk_timestamp(moment)}#{entry_id}"


def month_key(moment: datetime) -> str:
    m = _utc(moment)
    return f"MONTH#{m.year:04d}-{m.month:02d}"


def search_text(*, action: str, actor_email: str | None, target_id: str | None) -> str:
    return SEARCH_SEPARATOR.join(part or "" for part in (action, actor_email, target_id)).lower()


def entry_item(entry: LogEntry, *, retention_days: int) -> dict[str, Any]:
    """The item storing ``entry``, as plain Python values (strings and one int).

    Index keys (``actor_id``, ``target_id``, ``action``, ``problem_outcome``) are present only when
    set: DynamoDB refuses empty strings as keys, and absent keys keep the GSIs sparse.
    """
    item: dict[str, Any] = {
        "pk": month_key(entry.timestamp),
        "sk": sort_key(entry.timestamp, entry.id),
        TTL_ATTRIBUTE: int(_utc(entry.timestamp).timestamp()) + retention_days * 86_400,
        "search_text": search_text(
            action=entry.action, actor_email=entry.actor_email, target_id=entry.target_id
        ),
    }
    indexed = {
        "actor_id": entry.actor_id,
        "target_id": entry.target_id,
        "action": entry.action,
        "problem_outcome": entry.outcome if entry.outcome in PROBLEM_OUTCOMES else None,
    }
    item.update({name: value for name, value in indexed.items() if value})
    for name in _PLAIN_ATTRIBUTES:
        value = getattr(entry, name)
        if value is not None:
            item[name] = value
    if entry.details is not None:
        item["details"] = orjson.dumps(entry.details).decode()
    return item


def item_entry(item: dict[str, Any]) -> LogEntry:
    """The entry an item (plain Python values, as ``entry_item`` makes them) stores."""
    stamp, _, entry_id = item["sk"].partition("#")
    details = item.get("details")
    return LogEntry(
        id=uuid.UUID(entry_id),
        timestamp=datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        action=item.get("action", ""),
        outcome=item.get("outcome", ""),
        actor_id=item.get("actor_id"),
        actor_email=item.get("actor_email"),
        actor_role=item.get("actor_role"),
        target_type=item.get("target_type"),
        target_id=item.get("target_id"),
        details=None if details is None else orjson.loads(details),
        source_ip=item.get("source_ip"),
        user_agent=item.get("user_agent"),
        request_id=item.get("request_id"),
    )


def batch_chunks(items: Sequence[T], size: int = MAX_BATCH_WRITE_ITEMS) -> list[list[T]]:
    """``items`` in order, cut into consecutive chunks of at most ``size``."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def unique_entries(entries: Iterable[LogEntry]) -> list[LogEntry]:
    """First occurrence of each id, in order: one BatchWriteItem must not name a key twice."""
    seen: dict[uuid.UUID, LogEntry] = {}
    for entry in entries:
        seen.setdefault(entry.id, entry)
    return list(seen.values())


def months_newest_first(newest: datetime, oldest: datetime) -> list[str]:
    """Month partition keys from the month of ``newest`` back to the month of ``oldest``."""
    year, month = _utc(newest).year, _utc(newest).month
    stop = (_utc(oldest).year, _utc(oldest).month)
    keys: list[str] = []
    while (year, month) >= stop:
        keys.append(f"MONTH#{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys


# --- reads -------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReadPlan:
    """How one LogQuery is answered: which index and partitions, which sk range, which filter."""

    index: str | None  # None: the base table's month buckets
    partitions: list[str]  # values of the partition key, newest first
    partition_attribute: str
    low: str
    high: str
    skip_sk: str | None  # the cursor's own item, inclusive in BETWEEN but not wanted
    filters: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    def add_filter(self, expression: str, name: str, value: str) -> None:
        self.filters.append(expression)
        self.names[f"#{name}"] = name
        self.values[f":{name}"] = value


def plan_read(query: LogQuery, *, after: LogPosition | None, now: datetime) -> ReadPlan | None:
    """The Query calls that answer ``query`` (None when nothing can match)."""
    if query.since is None:
        raise ValueError("a DynamoDB log read needs `since` (clamp it to the retention window)")
    newest = _utc(query.until) if query.until is not None else None
    high = sk_timestamp(newest) + _SK_AFTER_EVERY_ID if newest is not None else "~"
    skip_sk = None
    if after is not None:
        skip_sk = sort_key(after[0], after[1])
        if skip_sk < high:
            high = skip_sk
            newest = _utc(after[0])
    low = sk_timestamp(query.since) + "#"
    search = query.search.lower() if query.search else None
    if low > high or (search is not None and SEARCH_SEPARATOR in search):
        return None

    keys = {
        "actor_id": query.actor_id,
        "target_id": query.target_id,
        "action": query.action,
        "problem_outcome": query.outcome if query.outcome in PROBLEM_OUTCOMES else None,
    }
    chosen = next((name for name in _INDEXED_ATTRIBUTES if keys[name]), None)
    read = ReadPlan(
        index=_INDEX_BY_ATTRIBUTE[chosen] if chosen else None,
        partitions=[keys[chosen] or ""] if chosen else months_newest_first(newest or now, query.since),
        partition_attribute=chosen or "pk",
        low=low,
        high=high,
        skip_sk=skip_sk,
    )
    for name in ("actor_id", "target_id", "action"):
        value = keys[name]
        if value and name != chosen:
            read.add_filter(f"#{name} = :{name}", name, value)
    if query.outcome and chosen != "problem_outcome":
        read.add_filter("#outcome = :outcome", "outcome", query.outcome)
    if search:
        read.add_filter("contains(#search_text, :search_text)", "search_text", search)
    return read


# --- the store ---------------------------------------------------------------------------------


class DynamoLogStore:
    """``LogStore`` over one DynamoDB table; see the module docstring for its design."""

    def __init__(self, *, table_name: str, endpoint_url: str | None = None, region: str = "us-east-1"):
        self.table_name = table_name
        self.endpoint_url = endpoint_url
        self.region = region
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    async def _dynamodb(self) -> Any:
        """One client for the store's life, opened on first use."""
        async with self._client_lock:
            if self._client is None:
                credentials: dict[str, str] = {}
                if self.endpoint_url and await _session.get_credentials() is None:
                    # A local server takes any key; the credential chain is for real AWS.
                    credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
                client = _session.client(
                    "dynamodb",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    # Fail within seconds when DynamoDB is away: the outbox shipper retries later,
                    # and throttled batch items are retried by write_batch itself.
                    config=Config(
                        connect_timeout=3,
                        read_timeout=10,
                        retries={"max_attempts": 2, "mode": "standard"},
                    ),
                    **credentials,
                )
                self._client = await self._stack.enter_async_context(client)
            return self._client

    async def close(self) -> None:
        async with self._client_lock:
            await self._stack.aclose()
            self._client = None

    # --- the table --------------------------------------------------------------------------

    async def create_table(self) -> bool:
        """Create the table, its GSIs and its TTL; False when the table already existed.

        TTL is (re-)enabled either way, so a creation interrupted before that step heals.
        """
        client = await self._dynamodb()
        try:
            await client.create_table(TableName=self.table_name, **table_definition())
            created = True
        except ClientError as error:
            if _error_code(error) != "ResourceInUseException":
                raise
            created = False
        await self._wait_until_active()
        await self._enable_ttl()
        return created

    async def ensure_ready(self) -> None:
        if not await self._table_exists():
            await self.create_table()

    async def _table_exists(self) -> bool:
        client = await self._dynamodb()
        try:
            await client.describe_table(TableName=self.table_name)
        except ClientError as error:
            if _error_code(error) == "ResourceNotFoundException":
                return False
            raise
        return True

    async def _wait_until_active(self) -> None:
        """Real DynamoDB creates tables (and their GSIs) asynchronously; TTL needs ACTIVE."""
        client = await self._dynamodb()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _TABLE_WAIT_SECONDS
        while True:
            table = (await client.describe_table(TableName=self.table_name))["Table"]
            statuses = [table["TableStatus"]]
            statuses += [index["IndexStatus"] for index in table.get("GlobalSecondaryIndexes", [])]
            if all(status == "ACTIVE" for status in statuses):
                return
            if loop.time() > deadline:
                raise TimeoutError(f"DynamoDB table {self.table_name} is not ACTIVE: {statuses}")
            await asyncio.sleep(1.0)

    async def _enable_ttl(self) -> None:
        client = await self._dynamodb()
        described = await client.describe_time_to_live(TableName=self.table_name)
        if described["TimeToLiveDescription"].get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        await client.update_time_to_live(
            TableName=self.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

    # --- writes -----------------------------------------------------------------------------

    async def write_batch(self, entries: Sequence[LogEntry], *, retention_days: int) -> None:
        items = [entry_item(entry, retention_days=retention_days) for entry in unique_entries(entries)]
        for chunk in batch_chunks(items):
            await self._write_chunk(
                [{"PutRequest": {"Item": _to_wire(item)}} for item in chunk],
            )

    async def _write_chunk(self, requests: list[dict[str, Any]]) -> None:
        client = await self._dynamodb()
        delay = _FIRST_BACKOFF_SECONDS
        for attempt in range(_WRITE_ATTEMPTS):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_SECONDS)
            answer = await client.batch_write_item(RequestItems={self.table_name: requests})
            requests = answer.get("UnprocessedItems", {}).get(self.table_name, [])
            if not requests:
                return
        raise LogWriteIncomplete(
            f"{len(requests)} log items still unprocessed after {_WRITE_ATTEMPTS} attempts"
        )

    # --- reads ------------------------------------------------------------------------------

    async def query(self, query: LogQuery, *, limit: int, after: LogPosition | None) -> list[LogEntry]:
        read = plan_read(query, after=after, now=datetime.now(UTC))
        if read is None or limit <= 0:
            return []
        client = await self._dynamodb()
        names = {"#p": read.partition_attribute, "#sk": "sk", **read.names}
        base: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#p = :p AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": names,
            "ScanIndexForward": False,
        }
        if read.index is not None:
            base["IndexName"] = read.index
        if read.filters:
            base["FilterExpression"] = " AND ".join(read.filters)
        entries: list[LogEntry] = []
        for partition in read.partitions:
            values = {":p": partition, ":low": read.low, ":high": read.high, **read.values}
            params = {**base, "ExpressionAttributeValues": _to_wire(values)}
            start_key: dict[str, Any] | None = None
            while True:
                # Limit counts items read before the filter: read more when a filter may drop most.
                page = limit - len(entries) + 1  # +1: the cursor's own item may come back
                if read.filters:
                    page = max(page, _FILTERED_PAGE_SIZE)
                extra = {"ExclusiveStartKey": start_key} if start_key else {}
                answer = await client.query(**params, Limit=page, **extra)
                for wire_item in answer.get("Items", []):
                    item = _from_wire(wire_item)
                    if item["sk"] == read.skip_sk:
                        continue
                    entries.append(item_entry(item))
                    if len(entries) == limit:
                        return entries
                start_key = answer.get("LastEvaluatedKey")
                if not start_key:
                    break
        return entries

    async def purge_before(self, cutoff: datetime) -> int:
        """Nothing to do: the TTL on ``expires_at`` expires entries, and reads clamp ``since``."""
        return 0


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _to_wire(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _from_wire(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
