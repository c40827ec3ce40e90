"""What the fuzzers (test_fuzz_*.py) demand of every response, and how long they may search.

The budget is fixed and the search derandomized, so ``make test`` runs the same examples every time
in a bounded time; ``LOYALTY_FUZZ_SCALE=20`` runs twenty times as many for a longer local search.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from loyalty.config import Settings

# A stack trace, a file of ours or a library's, the database drivers' names, SQL text.
LEAKS = re.compile(
    r"Traceback|File \"|site-packages|src/loyalty|\.py\b|(?i:sqlalchemy|asyncpg|aiosqlite|psycopg)"
    r"|\[SQL:|\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b"
    r"|OperationalError|IntegrityError|ProgrammingError|DataError"
)
TEXT = st.text(max_size=30)
# Any JSON value, integers past 64 bits too: what a client may send where something else is expected.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=10,
)
JSON_MEDIA_TYPES = ("application/json", "application/graphql-response+json")


def budget(examples: int) -> settings:
    """``examples`` per test (each test runs once per backend), times ``LOYALTY_FUZZ_SCALE``.

    The seeded data comes from function-scoped fixtures shared by all the examples of one test on
    purpose: the examples are meant to meet those rows, and the changes earlier ones make.
    """
    return settings(
        max_examples=examples * int(os.environ.get("LOYALTY_FUZZ_SCALE", "1")),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def without_budgets(settings: Settings) -> Settings:
    """``settings`` with budgets no run spends: a fuzzer sends hundreds of requests from one address,
    and 429s would stop them at the door before they meet the code behind it."""
    unlimited = "1000000000/minute"
    return settings.model_copy(
        update={
            "rate_limit": unlimited,
            "oauth_address_rate_limit": unlimited,
            "oauth_client_rate_limit": unlimited,
        }
    )


def codes_in(value: Any) -> list[str]:
    """Every ``code`` anywhere in a JSON body: GraphQL errors' extensions and payloads' user errors."""
    if isinstance(value, dict):
        found = [value["code"]] if isinstance(value.get("code"), str) else []
        return found + [code for item in value.values() for code in codes_in(item)]
    if isinstance(value, list):
        return [code for item in value for code in codes_in(item)]
    return []


def _echoable(response: httpx.Response) -> str:
    """What the request said: an error message may quote it (hypothesis draws words like
    "sqlalchemy.url" from the code it runs, and a message then names that unknown field)."""
    request = response.request
    said = [unquote(str(request.url)), request.content.decode(errors="replace"), *request.headers.values()]
    return "\n".join(said)


def assert_harmless(response: httpx.Response, *, sent: str) -> Any:
    """Checks a response gives nothing away and did not fail inside; returns its JSON body (or None).

    ``sent`` describes the request, for the failure message. A body is JSON except the pages of
    GraphiQL and the console (HTML, for a browser's GET), a HEAD's (none) and a redirect's (none, to
    an address of ours).
    """
    where = f"{sent}\n-> {response.status_code} {response.text[:800]}"
    assert response.status_code < 500, where
    leaks = [
        leak.group() for leak in LEAKS.finditer(response.text) if leak.group() not in _echoable(response)
    ]
    assert not leaks, f"the body leaks {leaks}: {where}"
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if response.request.method == "HEAD" or 300 <= response.status_code < 400:
        location = response.headers.get("location", "")
        assert location.startswith(("/", "http://testserver/")) or not location, where
        return None
    if media_type == "text/html":
        assert response.request.method == "GET", where
        assert "text/html" in response.request.headers.get("accept", ""), where
        return None
    assert media_type in JSON_MEDIA_TYPES, where
    body = response.json()
    assert "INTERNAL" not in codes_in(body), where
    return body
