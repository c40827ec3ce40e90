"""What the request telemetry costs per request: the access log line (JSON, written), the request
metrics and the context every log line reads, around an app that does nothing, without a socket.

    uv run python bench/telemetry_overhead.py [--requests 20000]

Prints microseconds per request with and without :class:`~loyalty.web.telemetry.TelemetryMiddleware`
(and with tracing on, spans exported to a receiver on loopback), to hold against a real request's cost (the
simplest known query answers in ~500 µs of one core, README "Performance").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from starlette.types import Receive, Scope, Send

from loyalty.observability.logs import configure_logging
from loyalty.observability.tracing import Tracing
from loyalty.web.request_id import RequestIdMiddleware
from loyalty.web.telemetry import TelemetryMiddleware


async def nothing(_scope: Scope, _receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def sink(_message: dict) -> None:
    pass


async def per_request(app: object, requests: int) -> float:
    """Microseconds per request through ``app``, the best of three runs."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(requests):
            scope = {
                "type": "http", "method": "POST", "path": "/graphql", "query_string": b"",
                "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 5000),
            }  # fmt: skip
            await app(scope, receive, sink)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - started) / requests * 1e6)
    return best


class _Receiver(BaseHTTPRequestHandler):
    """Takes OTLP/HTTP exports and throws them away."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


async def main(requests: int) -> None:
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230 - opened once, before the timing
        configure_logging("json", "INFO")
        logging.getLogger().handlers[-1].setStream(devnull)  # type: ignore[attr-defined]
        bare = RequestIdMiddleware(nothing)
        observed = RequestIdMiddleware(TelemetryMiddleware(nothing, routes=["/graphql"]))
        base = await per_request(bare, requests)
        with_telemetry = await per_request(observed, requests)
        print(f"request id only:                         {base:7.1f} µs/request")
        print(f"+ access log, metrics, context:          {with_telemetry:7.1f} µs/request "
              f"(+{with_telemetry - base:.1f})")  # fmt: skip
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.server_address[1]}"
        tracing = Tracing.from_environment()
        assert tracing is not None
        traced = RequestIdMiddleware(TelemetryMiddleware(nothing, routes=["/graphql"], tracing=tracing))
        with_tracing = await per_request(traced, requests)
        print(f"+ a server span per request (tracing on): {with_tracing:7.1f} µs/request "
              f"(+{with_tracing - base:.1f})")  # fmt: skip
        tracing.shutdown()
        os.environ.update(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
        sampled = Tracing.from_environment()
        assert sampled is not None
        traced = RequestIdMiddleware(TelemetryMiddleware(nothing, routes=["/graphql"], tracing=sampled))
        with_sampling = await per_request(traced, requests)
        print(f"+ tracing on, 1 request in 10 sampled:    {with_sampling:7.1f} µs/request "
              f"(+{with_sampling - base:.1f})")  # fmt: skip
        sampled.shutdown()
        receiver.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().requests))
