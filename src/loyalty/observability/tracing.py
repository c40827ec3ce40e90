"""OpenTelemetry traces, exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Each app holds its own provider rather than the process-wide one (which can be set only once), so it
is flushed and shut down with the app. The exporter and sampler read the standard ``OTEL_*`` variables
(endpoint, headers, timeout, ``OTEL_TRACES_SAMPLER``); ``OTEL_SERVICE_NAME`` names the service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_MAX_STATEMENT = 1000  # characters of a SQL statement kept on its span event


class Tracing:
    """A tracer whose spans go to the OTLP/HTTP endpoint in batches, off the request path."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        # Imported here: the SDK and the exporter (protobuf, requests) take ~0.5 s to import, which
        # a server that does not trace should not spend at every start.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "loyalty")})
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self._provider.get_tracer("loyalty")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Tracing | None:
        """Tracing when an OTLP endpoint is configured, else None (and no cost per request)."""
        return cls(environ) if any(environ.get(name) for name in _ENDPOINT_VARIABLES) else None

    def shutdown(self) -> None:
        """Export what is left and stop (at the app's shutdown)."""
        self._provider.shutdown()


def record_statement(statement: str) -> None:
    """A SQL statement as an event of the current span (a database's statement hook)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event("db.statement", {"db.query.text": statement[:_MAX_STATEMENT]})
