"""Per request: the context every log line reads, one access log line, the request metrics, and a
server span when tracing is on."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from graphql import OperationDefinitionNode, parse
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.observability.context import RequestTelemetry, enter_request, leave_request
from loyalty.observability.metrics import LATENCY, REQUESTS, Outcome
from loyalty.observability.tracing import Tracing
from loyalty.web.origin import Network, client_ip

access_log = logging.getLogger("loyalty.access")


@dataclass(slots=True)
class Exchange:
    """What is known of a request's response as it goes out, for its metrics, log line and span."""

    request: RequestTelemetry
    status: int = 500  # unless a response starts (an error escaped)
    bytes: int = 0


class Telemetry:
    """Per request: the telemetry scope, the metrics, the access log line and the span; the id is the
    one :mod:`loyalty.web.request_id` chose."""

    def __init__(
        self,
        *,
        routes: Collection[str],
        trusted_proxies: Sequence[Network] = (),
        tracing: Tracing | None = None,
    ) -> None:
        self._routes = frozenset(routes)  # label values: the app's paths, anything else is "other"
        self._trusted_proxies = tuple(trusted_proxies)
        self._tracing = tracing
        # The labelled series by label values: prometheus-client looks a child up under a lock each time.
        self._series: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}

    def observe(self, scope: Scope) -> Observation:
        """Measure the request of ``scope`` while the block answers it; the block fills in the exchange
        (``with telemetry.observe(scope) as exchange:``)."""
        return Observation(self, scope)

    def _record(
        self, route: str, path: str, scope: Scope, exchange: Exchange, span: Any, started: float
    ) -> None:
        """The request's metrics, span attributes and access log line, once it is answered (or failed)."""
        request, status = exchange.request, exchange.status
        seconds = time.perf_counter() - started
        outcome = request.outcome or (Outcome.OK if status < 400 else Outcome.HTTP_ERROR)
        key = (route, request.operation_label, outcome, status // 100)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                REQUESTS.labels(route, request.operation_label, outcome, f"{status // 100}xx"),
                LATENCY.labels(route, request.operation_label, outcome),
            )
        series[0].inc()
        series[1].observe(seconds)
        if span is not None:
            _end_span(span, status, request)
        self._log(scope, path, status, seconds, exchange.bytes)

    def _span(self, scope: Scope, route: str) -> AbstractContextManager[Any]:
        if self._tracing is None:
            return nullcontext()
        # Continue the caller's trace when it sent one (W3C traceparent); most requests do not, and
        # reading the headers into the propagator's shape costs more than the check.
        caller = None
        if any(key == b"traceparent" for key, _ in scope["headers"]):
            headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
            caller = propagate.extract(headers)
        return self._tracing.tracer.start_as_current_span(
            f"{scope['method']} {route}",
            context=caller,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "url.path": scope["path"],
                "http.route": route,
                "loyalty.request_id": scope["state"]["request_id"],
            },
        )

    def _log(self, scope: Scope, path: str, status: int, seconds: float, size: int) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        peer = scope.get("client")
        forwarded = next((value for key, value in scope["headers"] if key == b"x-forwarded-for"), None)
        address = client_ip(
            peer[0] if peer else None,
            forwarded.decode("latin-1") if forwarded is not None else None,
            self._trusted_proxies,
        )
        milliseconds = round(seconds * 1000, 2)
        # Made and handled directly: Logger.info would walk the stack to find its caller (a third of
        # the line's cost) for fields the JSON line does not hold.
        record = access_log.makeRecord(
            access_log.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %d %.1f ms",  # the fields below, for a person reading text logs
            (scope["method"], path, status, milliseconds),
            None,
            extra={
                "method": scope["method"],
                "path": path,  # without the query string, which may hold a query's variables
                "status": status,
                "duration_ms": milliseconds,
                "bytes": size,
                "client_ip": address,
            },
        )
        access_log.handle(record)


class Observation:
    """``Telemetry.observe``: the request's telemetry scope and span around a block, its metrics and log
    line after it. A class rather than a generator: nested ``contextmanager`` blocks cost a few
    microseconds of every request."""

    __slots__ = (
        "_exchange",
        "_path",
        "_route",
        "_scope",
        "_span",
        "_span_block",
        "_started",
        "_telemetry",
        "_token",
    )

    def __init__(self, telemetry: Telemetry, scope: Scope) -> None:
        self._telemetry = telemetry
        self._scope = scope

    def __enter__(self) -> Exchange:
        self._started = time.perf_counter()
        scope, telemetry = self._scope, self._telemetry
        self._path = path = scope["path"]
        self._route = route = path if path in telemetry._routes else "other"
        request, self._token = enter_request(scope["state"]["request_id"])
        self._span_block = None
        self._span = None
        if telemetry._tracing is not None:
            try:
                self._span_block = block = telemetry._span(scope, route)
                self._span = block.__enter__()
            except BaseException:
                leave_request(self._token)
                raise
        self._exchange = Exchange(request)
        return self._exchange

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        try:
            try:
                self._telemetry._record(
                    self._route, self._path, self._scope, self._exchange, self._span, self._started
                )
            finally:
                if self._span_block is not None:
                    self._span_block.__exit__(kind, error, trace)
        finally:
            leave_request(self._token)


class TelemetryMiddleware:
    """Sits inside :class:`~loyalty.web.request_id.RequestIdMiddleware`, whose id it reads."""

    def __init__(self, app: ASGIApp, *, telemetry: Telemetry) -> None:
        self.app = app
        self._telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self._telemetry.observe(scope) as exchange:

            async def send_measured(message: Message) -> None:
                if message["type"] == "http.response.start":
                    exchange.status = message["status"]
                elif message["type"] == "http.response.body":
                    exchange.bytes += len(message.get("body", b""))
                await send(message)

            await self.app(scope, receive, send_measured)


def _end_span(span: Any, status: int, request: RequestTelemetry) -> None:
    span.set_attribute("http.response.status_code", status)
    span.set_attribute("loyalty.principal", request.principal)
    if request.operation is not None:
        span.set_attribute("graphql.operation.name", request.operation)
    if status >= 500:
        span.set_status(StatusCode.ERROR)


def operation_names(queries: Iterable[str]) -> set[str]:
    """The names of the operations in ``queries`` (the persisted ones: their names are always labels)."""
    names = set()
    for query in queries:
        for node in parse(query).definitions:
            if isinstance(node, OperationDefinitionNode) and node.name is not None:
                names.add(node.name.value)
    return names
