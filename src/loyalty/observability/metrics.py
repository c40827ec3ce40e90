"""The server's Prometheus metrics, and the one recorder every refusal goes through.

Labels are bounded: routes are the app's own, outcomes and refusal reasons are enums, and operation
names, which clients choose, are admitted by :class:`OperationLabels` (the persisted operations' names,
then the names of documents that passed validation, up to a cap; anything else is ``other``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from prometheus_client import Counter, Histogram

from loyalty.observability.context import current_request


class Outcome(StrEnum):
    OK = "ok"
    USER_ERROR = "user_error"  # executed, and a payload's ``errors`` holds a UserError
    GRAPHQL_ERROR = "graphql_error"  # a GraphQL error: not parsable or valid, unauthenticated, forbidden...
    REFUSED = "refused"  # refused before its work, for one of the reasons below
    HTTP_ERROR = "http_error"  # any other 4xx or 5xx (no GraphQL involved)


class Refusal(StrEnum):
    RATE_LIMITED = "rate_limited"
    QUERY_TOO_COMPLEX = "query_too_complex"
    PERSISTED_NOT_IN_LIST = "persisted_not_in_list"
    SIGN_IN_LOCKED = "sign_in_locked"
    TOKEN_RATE_LIMITED = "token_rate_limited"  # /oauth/token over an address's or a client's budget
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    CORS_REFUSED = "cors_refused"


REQUESTS = Counter(
    "loyalty_http_requests",
    "HTTP requests by route, GraphQL operation (empty off /graphql), outcome and status class.",
    ["route", "operation", "outcome", "status_class"],
)
LATENCY = Histogram(
    "loyalty_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route, GraphQL operation and outcome.",
    ["route", "operation", "outcome"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REFUSALS = Counter("loyalty_refusals", "Requests refused before their work, by reason.", ["reason"])
EMAIL_SEND_FAILURES = Counter(
    "loyalty_email_send_failures",
    "Emails the sender failed to send: retry (tried again later) or failed (for good).",
    ["kind"],
)
LOG_SHIP_FAILURES = Counter(
    "loyalty_log_ship_failures", "Rounds of shipping the activity log's outbox to its store that failed."
)
for _reason in Refusal:  # every reason present from the start, so a rate of refusals starts at 0
    REFUSALS.labels(_reason.value)
for _kind in ("retry", "failed"):
    EMAIL_SEND_FAILURES.labels(_kind)


def count_refusal(reason: Refusal) -> None:
    """Count a refusal, and mark the request being handled (if any) as refused."""
    REFUSALS.labels(reason.value).inc()
    request = current_request()
    if request is not None:
        request.outcome = Outcome.REFUSED


class OperationLabels:
    """GraphQL operation names as metric labels, bounded: clients choose them."""

    OTHER = "other"
    ANONYMOUS = "anonymous"
    MAX_LENGTH = 64

    def __init__(self, preferred: Iterable[str] = (), *, cap: int = 100) -> None:
        """``preferred``: names always admitted (the persisted operations'); ``cap`` more are admitted
        as validated documents bring them, first come first served."""
        self._names = set(preferred)
        self._limit = len(self._names) + cap

    def label(self, name: str | None, *, validated: bool) -> str:
        """The label of an operation named ``name``; ``validated``: its document passed validation."""
        if name is None:
            return self.ANONYMOUS if validated else self.OTHER
        if name in self._names:
            return name
        if validated and len(name) <= self.MAX_LENGTH and len(self._names) < self._limit:
            self._names.add(name)
            return name
        return self.OTHER


def count_email_failure(*, final: bool) -> None:
    """Count an email the sender could not send: ``final`` when it will not be tried again."""
    EMAIL_SEND_FAILURES.labels("failed" if final else "retry").inc()


def count_ship_failure() -> None:
    """Count a round of shipping the activity log's outbox that failed."""
    LOG_SHIP_FAILURES.inc()
