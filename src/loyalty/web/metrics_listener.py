"""``/metrics`` for Prometheus, on a listener of its own, never the public one.

It runs on a thread, so a scrape is answered even while the event loop is stuck (which is when the
figures matter most). What lives in the database (the outboxes) is read at scrape time on the loop,
with a timeout: a scrape that cannot get it answers the rest and says so (``loyalty_storage_up 0``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from loyalty.datasources import email_outbox, log_outbox
from loyalty.datasources.database import Database

logger = logging.getLogger("loyalty.metrics")

STORAGE_TIMEOUT_SECONDS = 2.0
_Backlog = tuple[int, datetime | None]


class StorageCollector(Collector):
    """The outboxes' depth and oldest age, read when scraped, and the database pools' use."""

    def __init__(
        self, db: Database, loop: asyncio.AbstractEventLoop, *, timeout: float = STORAGE_TIMEOUT_SECONDS
    ) -> None:
        self._db = db
        self._loop = loop
        self._timeout = timeout

    def collect(self) -> Iterable[Metric]:
        checked_out = GaugeMetricFamily(
            "loyalty_db_pool_checked_out", "Database connections in use, by pool.", labels=["pool"]
        )
        size = GaugeMetricFamily(
            "loyalty_db_pool_size",
            "Database connections a pool keeps (SQLAlchemy may overflow it).",
            labels=["pool"],
        )
        for pool, (in_use, steady) in self._db.pool_use().items():
            checked_out.add_metric([pool], in_use)
            size.add_metric([pool], steady)
        yield checked_out
        yield size
        up = GaugeMetricFamily(
            "loyalty_storage_up", "Whether this scrape could read the outboxes (1) or not (0)."
        )
        backlogs = self._read_backlogs()
        up.add_metric([], 0 if backlogs is None else 1)
        yield up
        if backlogs is None:
            return
        depth = GaugeMetricFamily("loyalty_outbox_depth", "Items waiting in an outbox.", labels=["outbox"])
        age = GaugeMetricFamily(
            "loyalty_outbox_oldest_age_seconds",
            "Age of an outbox's oldest waiting item (0 when empty).",
            labels=["outbox"],
        )
        now = datetime.now(UTC)
        for outbox, (count, oldest) in backlogs.items():
            depth.add_metric([outbox], count)
            age.add_metric([outbox], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield depth
        yield age

    def _read_backlogs(self) -> dict[str, _Backlog] | None:
        future = asyncio.run_coroutine_threadsafe(self._backlogs(), self._loop)
        try:
            return future.result(self._timeout)
        except Exception as error:  # noqa: BLE001 - a scrape answers what it can
            future.cancel()
            logger.warning("reading the outboxes for metrics failed: %s", type(error).__name__)
            return None

    async def _backlogs(self) -> dict[str, _Backlog]:
        async with self._db.read() as conn:
            return {"log_entries": await log_outbox.backlog(conn), "emails": await email_outbox.backlog(conn)}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged: one every few seconds would drown the access log."""


def _bearer_only(app: Callable[..., Iterable[bytes]], token: str) -> Callable[..., Iterable[bytes]]:
    expected = f"Bearer {token}".encode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            start_response(
                "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")]
            )
            return [b"Send the metrics token as 'Authorization: Bearer <token>'.\n"]
        return app(environ, start_response)

    return guarded


class MetricsListener:
    """Serves the process's metrics and ``storage``'s at ``http://host:port/metrics`` on a thread."""

    def __init__(self, host: str, port: int, *, storage: Collector, token: str | None = None) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(REGISTRY)  # the request metrics and the process's (CPU, memory, files)
        registry.register(storage)
        app = make_wsgi_app(registry)
        self._server = make_server(
            host, port, _bearer_only(app, token) if token else app, _Server, handler_class=_QuietHandler
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
