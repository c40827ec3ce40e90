"""What is known of the request being handled, for every log line, metric and span it produces.

One mutable object per request in a context variable: the HTTP layer opens it, the layers below fill
in what they learn (the principal, the operation, a refusal), and the access log reads it at the end.
Mutating one object, rather than setting context variables deep down, lets the outer middleware see
what the endpoint learnt, and tasks started during the request share it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

ANONYMOUS = "anonymous"


@dataclass(slots=True)
class RequestTelemetry:
    request_id: str
    principal: str = ANONYMOUS  # a staff user id, "client:<id>", or anonymous
    operation: str | None = None  # the GraphQL operation's name, as the client gave it (clipped)
    operation_label: str = ""  # the same, bounded for metrics (see metrics.OperationLabels)
    outcome: str | None = None  # ok, user_error, graphql_error, refused; None: from the status


_current: ContextVar[RequestTelemetry | None] = ContextVar("loyalty_request", default=None)


def current_request() -> RequestTelemetry | None:
    """The request being handled in this context, if any."""
    return _current.get()


@contextmanager
def request_scope(request_id: str) -> Iterator[RequestTelemetry]:
    """Describe a new request for as long as the block runs (the HTTP layer, once per request)."""
    telemetry, token = enter_request(request_id)
    try:
        yield telemetry
    finally:
        leave_request(token)


def enter_request(request_id: str) -> tuple[RequestTelemetry, Token[RequestTelemetry | None]]:
    """``request_scope`` opened, for a caller that keeps the token to close it with ``leave_request``
    (a context manager of its own, cheaper than a generator's for every request)."""
    telemetry = RequestTelemetry(request_id)
    return telemetry, _current.set(telemetry)


def leave_request(token: Token[RequestTelemetry | None]) -> None:
    _current.reset(token)
