"""Logs, metrics and traces as an operator sees them: the server on a real socket, its /metrics
scraped over HTTP, its log lines parsed as JSON, its spans received by an OTLP/HTTP server."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.cli import main
from loyalty.config import Settings
from loyalty.datasources import email_outbox
from loyalty.observability.logs import JsonFormatter, RequestContextFilter
from loyalty.observability.metrics import OperationLabels
from loyalty.services.container import Services
from tests.conftest import Api, Staff

ME = "query Me { me { id } }"
WRONG_SIGN_IN = (
    'mutation SignIn { signIn(email: "nobody@example.com", password: "wrong") { errors { code } } }'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    client: httpx.AsyncClient  # to the API
    metrics_url: str
    services: Services

    async def graphql(self, query: str, *, token: str | None = None, **headers: str) -> httpx.Response:
        if token:
            headers["authorization"] = f"Bearer {token}"
        return await self.client.post("/graphql", json={"query": query}, headers=headers)

    async def scrape(self, token: str | None = None) -> Samples:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient() as scraper:  # async: the scrape reads the outboxes on this loop
            response = await scraper.get(self.metrics_url, headers=headers)
        assert response.status_code == 200, response.text
        return Samples(response.text)


class Samples:
    """A scrape, parsed as Prometheus parses it."""

    def __init__(self, text: str) -> None:
        self._values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return self._values.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self._values}


@asynccontextmanager
async def serving(settings: Settings, **overrides: Any) -> AsyncIterator[Served]:
    """The app under uvicorn on a free loopback port (its lifespan run), metrics on another."""
    settings = settings.model_copy(update={"metrics_port": free_port(), **overrides})
    services = Services.build(settings)
    app = create_app(settings, services=services)
    app.router.routes.insert(0, Route("/test/logs", _logs_a_line))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Served(client, f"http://127.0.0.1:{settings.metrics_port}/metrics", services)
    finally:
        server.should_exit = True
        await task


async def _logs_a_line(_request: Request) -> Response:
    logging.getLogger("loyalty.test").warning("something worth telling")
    return PlainTextResponse("logged")


async def staff(services: Services, role: Role = Role.OWNER) -> Staff:
    return await Api(httpx.AsyncClient(), services).user(role)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The lines the root logger writes during the test, formatted as the server writes them, parsed."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- metrics --------------------------------------------------------------------------------------


async def test_a_request_is_counted_under_its_operation_and_outcome(
    settings: Settings, services: Services
) -> None:
    owner = await staff(services)
    async with serving(settings) as served:
        before = await served.scrape()
        response = await served.graphql(ME, token=owner.token)
        after = await served.scrape()

    assert response.json()["data"]["me"]["id"] == owner.id
    labels = {"route": "/graphql", "operation": "Me", "outcome": "ok"}
    counted = "loyalty_http_requests_total"
    assert after(counted, **labels, status_class="2xx") - before(counted, **labels, status_class="2xx") == 1
    timed = "loyalty_http_request_duration_seconds_count"
    assert after(timed, **labels) - before(timed, **labels) == 1


async def test_an_expected_failure_is_counted_as_a_user_error(settings: Settings, services: Services) -> None:
    async with serving(settings) as served:
        before = await served.scrape()
        response = await served.graphql(WRONG_SIGN_IN)
        after = await served.scrape()

    assert response.json()["data"]["signIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    labels = {"route": "/graphql", "operation": "SignIn", "outcome": "user_error", "status_class": "2xx"}
    assert (
        after("loyalty_http_requests_total", **labels) - before("loyalty_http_requests_total", **labels) == 1
    )


async def test_a_document_over_the_limits_is_counted_as_a_refusal_under_other(
    settings: Settings, services: Services
) -> None:
    deep = "query Deep { me { " + "pointsAccounts { user { " * 10 + "id" + " } }" * 10 + " } }"
    async with serving(settings) as served:
        before = await served.scrape()
        response = await served.graphql(deep)
        after = await served.scrape()

    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    reason = {"reason": "query_too_complex"}
    assert after("loyalty_refusals_total", **reason) - before("loyalty_refusals_total", **reason) == 1
    # A name the client chose for a document that never validated is not a label of its own.
    labels = {"route": "/graphql", "operation": "other", "outcome": "refused", "status_class": "2xx"}
    assert (
        after("loyalty_http_requests_total", **labels) - before("loyalty_http_requests_total", **labels) == 1
    )
    assert after("loyalty_http_requests_total", route="/graphql", operation="Deep", outcome="refused",
                 status_class="2xx") == 0  # fmt: skip


async def test_requests_over_the_budget_are_counted_as_rate_limited(
    settings: Settings, services: Services
) -> None:
    owner = await staff(services)
    async with serving(settings, rate_limit="30/minute") as served:
        before = await served.scrape()
        statuses = [(await served.graphql(ME, token=owner.token)).status_code for _ in range(4)]
        after = await served.scrape()

    refused = statuses.count(429)
    assert refused >= 2, statuses  # each request spends 11 of 30
    reason = {"reason": "rate_limited"}
    assert after("loyalty_refusals_total", **reason) - before("loyalty_refusals_total", **reason) == refused
    labels = {"route": "/graphql", "operation": "other", "outcome": "refused", "status_class": "4xx"}
    assert (
        after("loyalty_http_requests_total", **labels) - before("loyalty_http_requests_total", **labels)
        == refused
    )


async def test_a_locked_sign_in_is_counted_as_a_refusal(settings: Settings, services: Services) -> None:
    async with serving(settings) as served:
        before = await served.scrape()
        codes = [
            (await served.graphql(WRONG_SIGN_IN)).json()["data"]["signIn"]["errors"][0]["code"]
            for _ in range(7)
        ]
        after = await served.scrape()

    locked = codes.count("ACCOUNT_LOCKED")
    assert locked >= 1, codes
    reason = {"reason": "sign_in_locked"}
    assert after("loyalty_refusals_total", **reason) - before("loyalty_refusals_total", **reason) == locked


async def test_the_email_outbox_depth_and_oldest_age_are_read_when_scraped(
    settings: Settings, services: Services
) -> None:
    async with serving(settings, email_worker_in_process=False) as served:
        empty = await served.scrape()
        async with services.db.transaction() as conn:
            await email_outbox.add(
                conn, event=f"test-{uuid.uuid4()}", recipients=["a@example.com", "b@example.com"],
                subject="s", text_body="t", html_body="<p>t</p>", now=datetime.now(UTC) - timedelta(minutes=5),
            )  # fmt: skip
        queued = await served.scrape()

    assert empty("loyalty_storage_up") == 1
    assert empty("loyalty_outbox_depth", outbox="emails") == 0
    assert queued("loyalty_outbox_depth", outbox="emails") == 2
    assert 300 <= queued("loyalty_outbox_oldest_age_seconds", outbox="emails") < 400


async def test_a_failing_sender_is_counted(settings: Settings, services: Services) -> None:
    closed = free_port()  # nothing listens there: every send fails at once
    async with serving(
        settings, email_sender="smtp", smtp_host="127.0.0.1", smtp_port=closed, email_retry_base_seconds=60
    ) as served:
        before = await served.scrape()
        async with services.db.transaction() as conn:
            await email_outbox.add(
                conn, event=f"test-{uuid.uuid4()}", recipients=["a@example.com"],
                subject="s", text_body="t", html_body="<p>t</p>", now=datetime.now(UTC),
            )  # fmt: skip
        served.services.email_worker.notify()
        retries = before("loyalty_email_send_failures_total", kind="retry")
        after = await _scrape_until(
            served, lambda s: s("loyalty_email_send_failures_total", kind="retry") > retries
        )

    assert after("loyalty_email_send_failures_total", kind="retry") == retries + 1


async def test_a_failing_shipper_is_counted_and_the_log_outbox_grows(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)
    closed = f"http://127.0.0.1:{free_port()}"  # a DynamoDB that is down
    async with serving(settings, log_store="dynamodb", dynamodb_endpoint=closed) as served:
        before = await served.scrape()
        refused = await served.graphql("{ users { totalCount } }")  # anonymous: a denial, logged
        after = await _scrape_until(
            served, lambda s: s("loyalty_log_ship_failures_total") > before("loyalty_log_ship_failures_total")
        )

    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert after("loyalty_outbox_depth", outbox="log_entries") >= 1
    assert after("loyalty_log_ship_failures_total") > before("loyalty_log_ship_failures_total")


async def test_database_pool_use_is_reported(settings: Settings, services: Services) -> None:
    async with serving(settings) as served:
        samples = await served.scrape()

    pools = {"writer", "reader"} if settings.resolved_database_url.startswith("sqlite") else {"sqlalchemy"}
    for pool in pools:
        assert samples("loyalty_db_pool_size", pool=pool) >= 1
        assert samples("loyalty_db_pool_checked_out", pool=pool) >= 0
    assert "loyalty_db_pool_checked_out" in samples.names()


async def test_metrics_answer_only_with_the_token_when_one_is_set(
    settings: Settings, services: Services
) -> None:
    async with serving(settings, metrics_token=SecretStr("a-metrics-token")) as served:
        async with httpx.AsyncClient() as scraper:
            anonymous = await scraper.get(served.metrics_url)
            wrong = await scraper.get(served.metrics_url, headers={"authorization": "Bearer nope"})
        allowed = await served.scrape(token="a-metrics-token")

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert "loyalty_refusals_total" in allowed.names()


def test_metrics_beyond_the_loopback_interface_need_a_token() -> None:
    with pytest.raises(ValidationError, match="LOYALTY_METRICS_TOKEN"):
        Settings(metrics_port=9464, metrics_host="0.0.0.0")

    assert Settings(metrics_port=9464, metrics_host="0.0.0.0", metrics_token="t").metrics_port == 9464
    assert Settings().metrics_port is None  # off unless asked for


def test_serve_refuses_several_workers_with_a_metrics_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("LOYALTY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOYALTY_METRICS_PORT", str(free_port()))

    with pytest.raises(SystemExit, match="one process's metrics"):
        main(["serve", "--workers", "2"])


def test_operation_names_past_the_cap_are_counted_as_other() -> None:
    labels = OperationLabels(["Listed"], cap=2)

    assert labels.label("Listed", validated=False) == "Listed"  # a persisted operation's name
    assert labels.label("First", validated=True) == "First"
    assert labels.label("Unvalidated", validated=False) == "other"
    assert labels.label("Second", validated=True) == "Second"
    assert labels.label("Third", validated=True) == "other"  # past the cap
    assert labels.label("First", validated=True) == "First"  # admitted ones stay
    assert labels.label(None, validated=True) == "anonymous"
    assert labels.label("x" * 65, validated=True) == "other"


async def _scrape_until(served: Served, condition: Any) -> Samples:
    """Scrape until ``condition`` holds (background work: the sender, the shipper), for 30 s at most."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        samples = await served.scrape()
        if condition(samples) or asyncio.get_running_loop().time() > deadline:
            return samples
        await asyncio.sleep(0.2)


# --- logs -----------------------------------------------------------------------------------------


async def test_the_access_log_line_names_the_request_its_caller_and_its_operation(
    settings: Settings, services: Services, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    owner = await staff(services)
    async with serving(settings) as served:
        response = await served.graphql(ME, token=owner.token, **{"x-request-id": "req-observed-1"})

    [line] = [line for line in log_lines() if line["logger"] == "loyalty.access"]
    assert line["message"] == f"POST /graphql 200 {line['duration_ms']:.1f} ms"
    assert line["level"] == "INFO"
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert {key: line[key] for key in ("method", "path", "status", "bytes", "client_ip")} == {
        "method": "POST", "path": "/graphql", "status": 200, "bytes": len(response.content),
        "client_ip": "127.0.0.1",
    }  # fmt: skip
    assert line["duration_ms"] > 0
    assert (line["request_id"], line["principal"], line["operation"]) == ("req-observed-1", owner.id, "Me")


async def test_the_access_log_keeps_the_query_string_out(
    settings: Settings, services: Services, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    async with serving(settings) as served:
        response = await served.client.get(
            "/graphql",
            params={"query": "query Secretive { __typename }"},
            headers={"accept": "application/json"},
        )

    [line] = [line for line in log_lines() if line["logger"] == "loyalty.access"]
    assert response.status_code == 200
    assert line["path"] == "/graphql"
    assert "Secretive { __typename" not in orjson.dumps(line).decode()
    assert line["operation"] == "Secretive"
    assert line["principal"] == "anonymous"


async def test_a_line_logged_while_a_request_is_handled_carries_its_request_id(
    settings: Settings, services: Services, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    async with serving(settings) as served:
        response = await served.client.get("/test/logs")

    [line] = [line for line in log_lines() if line["logger"] == "loyalty.test"]
    assert line["message"] == "something worth telling"
    assert line["level"] == "WARNING"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["principal"] == "anonymous"


# --- traces ---------------------------------------------------------------------------------------


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on loopback: POST /v1/traces with a protobuf body, kept decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path == "/v1/traces" and self.headers["content-type"] == "application/x-protobuf":
                    message = ExportTraceServiceRequest()
                    message.ParseFromString(body)
                    received.append(message)
                    self.send_response(200)
                else:
                    self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def spans(self) -> list[Any]:
        return [
            span
            for request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    try:
        yield receiver
    finally:
        receiver.close()


def _attributes(span: Any) -> dict[str, Any]:
    return {item.key: getattr(item.value, item.value.WhichOneof("value")) for item in span.attributes}


async def test_each_request_and_its_operation_arrive_as_spans(
    settings: Settings, services: Services, otlp_receiver: OtlpReceiver
) -> None:
    owner = await staff(services)
    trace_id = uuid.uuid4().hex
    async with serving(settings) as served:
        for _ in range(2):  # the second runs as a known operation, from its compiled plan
            await served.graphql(ME, token=owner.token, traceparent=f"00-{trace_id}-{'1' * 16}-01")
    # The app's shutdown exported what was left.

    spans = otlp_receiver.spans()
    requests = [span for span in spans if span.name == "POST /graphql"]
    operations = [span for span in spans if span.name == "query Me"]
    assert len(requests) == len(operations) == 2
    for request, operation in zip(requests, operations, strict=True):
        assert request.trace_id.hex() == trace_id  # the caller's trace, continued
        assert request.parent_span_id.hex() == "1" * 16
        assert _attributes(request)["http.response.status_code"] == 200
        assert _attributes(request)["loyalty.principal"] == owner.id
        assert operation.parent_span_id == request.span_id
        assert _attributes(operation)["graphql.operation.name"] == "Me"
    assert {_attributes(operation)["loyalty.known_operation"] for operation in operations} >= {"compiled"}
    statements = [event for span in spans for event in span.events if event.name == "db.statement"]
    assert statements, "the database statements are events of the spans"
