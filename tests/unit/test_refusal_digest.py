"""The digest of repeated refusals keeps no memory of callers that stopped."""

from __future__ import annotations

import asyncio

from loyalty.auth.principal import Origin
from loyalty.datasources.log_store import LogEntry
from loyalty.services.audit import AuditTrail, RefusalDigest

WINDOW = 0.05


def refusal(address: str) -> LogEntry:
    origin = Origin(request_id=None, source_ip=address, user_agent=None)
    return AuditTrail.entry(None, origin, action="query.users", outcome="DENIED", details={"code": "X"})


async def test_callers_that_stopped_are_forgotten_once_their_window_ends() -> None:
    written: list[LogEntry] = []

    async def write(entry: LogEntry) -> None:
        written.append(entry)

    digest = RefusalDigest(write, window_seconds=WINDOW)
    for n in range(1000):
        await digest.record(f"ip:10.0.{n // 256}.{n % 256}", refusal(f"10.0.{n // 256}.{n % 256}"))
    assert len(digest) == 1000

    await asyncio.sleep(WINDOW * 2)
    await digest.record("ip:192.0.2.1", refusal("192.0.2.1"))

    assert len(digest) == 1
    assert len(written) == 1001
