"""The activity log is never lost: with DynamoDB down the API keeps working, and the entries arrive later."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources import log_outbox
from loyalty.datasources.log_dynamo import DynamoLogStore
from loyalty.datasources.log_store import LogQuery
from loyalty.services.activity_log import OutboxShipper
from loyalty.services.container import Services
from tests.conftest import Api
from tests.dynamodb_server import LocalDynamoDB
from tests.test_points import ADJUST

LOGS = """
query($after: String) {
  logs(filter: {action: "points.adjust"}, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { id outcome targetId } }
  }
}"""


@pytest.fixture
def local_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalDynamoDB]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with LocalDynamoDB() as server:
        yield server


@pytest.fixture
async def dynamo_api(
    services: Services, settings: Settings, local_dynamodb: LocalDynamoDB
) -> AsyncIterator[Api]:
    """The API with its activity log in DynamoDB (on the database the ``services`` fixture emptied)."""
    dynamo_settings = settings.model_copy(
        update={
            "log_store": "dynamodb",
            "dynamodb_endpoint": local_dynamodb.url,
            "dynamodb_table": f"log-{uuid.uuid4().hex[:8]}",
        }
    )
    dynamo_services = Services.build(dynamo_settings)
    app = create_app(dynamo_settings, services=dynamo_services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Api(client, dynamo_services)
    await dynamo_services.close()


def store_of(api: Api) -> DynamoLogStore:
    store = api.services.shipper._store
    assert isinstance(store, DynamoLogStore)
    return store


async def waiting_in_outbox(api: Api) -> int:
    async with api.services.db.read() as conn:
        return await log_outbox.waiting(conn)


async def outbox_emptied(api: Api) -> None:
    while await waiting_in_outbox(api):  # noqa: ASYNC110 - the outbox is a table, there is no event to wait on
        await asyncio.sleep(0.2)


async def all_logged_adjustments(api: Api, token: str) -> list[dict]:
    entries: list[dict] = []
    after = None
    while True:
        page = (await api.data(LOGS, {"after": after}, token=token))["logs"]
        entries += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return entries
        after = page["pageInfo"]["endCursor"]


async def test_with_dynamodb_down_changes_succeed_and_every_entry_arrives_once_it_is_back(
    dynamo_api: Api, local_dynamodb: LocalDynamoDB
) -> None:
    api = dynamo_api
    owner = await api.user(Role.OWNER)
    ada = await api.user(Role.USER)
    local_dynamodb.stop()

    # 200 changes while the log store is unreachable
    add_one = {"input": {"accountId": ada.account_id, "action": "ADD", "amount": 1}}
    for _ in range(10):
        results = await asyncio.gather(*(api.data(ADJUST, add_one, token=owner.token) for _ in range(20)))
        assert all(result["adjustPoints"]["errors"] == [] for result in results)
    assert await waiting_in_outbox(api) == 200

    # the shipper keeps trying, with backoff, and keeps every entry meanwhile
    shipper = OutboxShipper(
        api.services.db, store_of(api), api.services.activity_log, idle_seconds=0.1, max_backoff_seconds=0.2,
        create_store=True,
    )  # fmt: skip
    shipper.start()
    try:
        await asyncio.sleep(1.0)
        assert await waiting_in_outbox(api) == 200

        # a fresh server, which knows no table: the shipper creates it and delivers everything
        local_dynamodb.start()
        await asyncio.wait_for(outbox_emptied(api), timeout=60)
    finally:
        await shipper.stop()

    assert await waiting_in_outbox(api) == 0
    entries = await all_logged_adjustments(api, owner.token)
    assert len(entries) == 200
    assert len({entry["id"] for entry in entries}) == 200
    assert {(entry["outcome"], entry["targetId"]) for entry in entries} == {("SUCCESS", ada.account_id)}
    balance = await api.data(
        "query($id: ID!) { pointsAccount(id: $id) { balance } }", {"id": ada.account_id}, token=owner.token
    )
    assert balance["pointsAccount"]["balance"] == 200


async def test_a_batch_shipped_twice_is_stored_once(dynamo_api: Api) -> None:
    api = dynamo_api
    store = store_of(api)
    await store.create_table()
    owner = await api.user(Role.OWNER)
    ada = await api.user(Role.USER)
    for amount in range(1, 4):
        await api.data(
            ADJUST,
            {"input": {"accountId": ada.account_id, "action": "ADD", "amount": amount}},
            token=owner.token,
        )
    async with api.services.db.read() as conn:
        batch = [entry for _, entry in await log_outbox.oldest(conn, 100)]

    # as if the shipper died after writing the batch and before removing it from the outbox
    await store.write_batch(batch, retention_days=365)
    await api.services.shipper.drain()

    since = datetime.now(UTC) - timedelta(hours=1)
    stored = await store.query(LogQuery(action="points.adjust", since=since), limit=100, after=None)
    assert sorted(entry.id for entry in stored) == sorted(entry.id for entry in batch)
    assert await waiting_in_outbox(api) == 0
