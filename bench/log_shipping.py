"""How fast the activity log ships, and what logging adds to a mutation. Prints figures; asserts nothing.

    uv run python bench/log_shipping.py [--entries 3000] [--mutations 400] [--database-url URL]

1. Shipping: fills the outbox with N entries, then times the shipper draining it into (a) the SQL log
   store and (b) DynamoDB (moto's standalone server on loopback, started here), in entries per second.
2. Mutation latency: the same adjustPoints through the service layer with the activity log on, and
   with a recorder that drops entries (the floor), interleaved in blocks in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.auth.permissions import Role
from loyalty.auth.principal import Caller, Origin, StaffPrincipal
from loyalty.config import Settings
from loyalty.datasources import log_outbox
from loyalty.datasources.log_dynamo import DynamoLogStore
from loyalty.datasources.log_sql import SqlLogStore
from loyalty.datasources.log_store import LogEntry
from loyalty.datasources.migrations import upgrade_to_head
from loyalty.services.activity_log import OutboxShipper
from loyalty.services.audit import AuditTrail
from loyalty.services.container import Services
from loyalty.services.notifications import build_notifications
from loyalty.services.points import Adjustment, PointsAction, PointsService
from loyalty.services.proposals import Proposals
from serving import free_port


class DroppingAuditTrail(AuditTrail):
    """The floor: an audit trail that records nothing."""

    async def record(self, conn: AsyncConnection, entry: LogEntry) -> None:
        return None

    async def record_alone(self, entry: LogEntry) -> None:
        return None


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url, timeout=0.5)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("moto_server did not start")


def entry(number: int) -> LogEntry:
    return LogEntry(
        id=uuid.uuid4(),
        timestamp=datetime.now(UTC),
        action="points.adjust",
        outcome="SUCCESS",
        actor_id=str(uuid.uuid4()),
        actor_email=f"staff{number % 50}@example.com",
        actor_role="MANAGER",
        target_type="points_account",
        target_id=str(uuid.uuid4()),
        details={"amount": number, "before": {"balance": number}, "after": {"balance": number * 2}},
        source_ip="203.0.113.7",
        user_agent="bench",
        request_id=uuid.uuid4().hex,
    )


async def fill_outbox(services: Services, count: int) -> None:
    async with services.db.transaction() as conn:
        for number in range(count):
            await log_outbox.add(conn, entry(number))


async def time_drain(services: Services, shipper: OutboxShipper, count: int) -> float:
    await fill_outbox(services, count)
    started = time.perf_counter()
    shipped = await shipper.drain()
    elapsed = time.perf_counter() - started
    assert shipped == count, (shipped, count)
    return count / elapsed


async def mutation_latencies(
    services: Services, points: PointsService, caller: Caller, account_id: str, count: int
) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        await points.adjust(caller, Adjustment(account_id, PointsAction.ADD, 1, None, None))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    mean, p50 = statistics.mean(ordered), statistics.median(ordered)
    return f"mean {mean:6.2f} ms  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    settings = Settings(
        database_url=url, data_dir=folder, argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1
    )
    services = Services.build(settings)
    moto, endpoint = start_moto()
    try:
        print(f"database: {services.db.url.get_backend_name()}; DynamoDB: moto_server at {endpoint}")
        print(f"\n1. Shipping {args.entries} entries from the outbox")
        sql_shipper = OutboxShipper(services.db, SqlLogStore(services.db), services.activity_log)
        dynamo_store = DynamoLogStore(table_name="bench-log", endpoint_url=endpoint)
        await dynamo_store.create_table()
        dynamo_shipper = OutboxShipper(services.db, dynamo_store, services.activity_log)
        await time_drain(services, dynamo_shipper, 100)  # warm the client and the table
        sql_rate = await time_drain(services, sql_shipper, args.entries)
        dynamo_rate = await time_drain(services, dynamo_shipper, args.entries)
        print(f"   SQL log store:          {sql_rate:8.0f} entries/s")
        print(f"   DynamoDB (moto_server): {dynamo_rate:8.0f} entries/s")
        await dynamo_store.close()

        print(f"\n2. adjustPoints ADD through the service layer, {args.mutations} calls each, interleaved")
        owner = await services.users.bootstrap_owner(email="bench@example.com", password="bench password 1")
        assert owner is not None
        caller = Caller(StaffPrincipal(owner.id, owner.email, Role.OWNER), Origin(request_id="bench"))
        async with services.db.read() as conn:
            from loyalty.datasources.points import accounts_by_user

            account_id = str((await accounts_by_user(conn, [owner.id]))[owner.id][0].id)
        logging_on = services.points
        notifier, _ = build_notifications(settings, services.db)
        dropping = DroppingAuditTrail(services.db)
        logging_off = PointsService(services.db, dropping, Proposals(services.db, notifier), notifier)
        on: list[float] = []
        off: list[float] = []
        block = max(args.mutations // 10, 1)
        await mutation_latencies(services, logging_on, caller, account_id, 50)  # warm up
        for _ in range(10):
            on += await mutation_latencies(services, logging_on, caller, account_id, block)
            off += await mutation_latencies(services, logging_off, caller, account_id, block)
        print(f"   logging on:  {summary(on)}")
        print(f"   logging off: {summary(off)}")
        added = statistics.mean(on) - statistics.mean(off)
        print(f"   added by the activity log: {added:+.2f} ms a mutation (mean)")
    finally:
        moto.terminate()
        moto.wait()
        await services.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument("--mutations", type=int, default=400)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    asyncio.run(main(parser.parse_args()))
