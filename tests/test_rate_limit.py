"""Rate limits per caller: in process, shared by server instances through Redis, and open when Redis fails.

The Redis tests use LOYALTY_TEST_REDIS_URL (default redis://127.0.0.1:6379/0), a namespace of their
own, and delete its keys afterwards. Without Redis they skip, except under CI where they fail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator

import coredis
import pytest

from loyalty.web.rate_limit import InProcessWindows, RateLimiter, parse_budget

REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_TIMEOUT = 5.0  # generous: these tests are about sharing, not about a slow Redis


@pytest.fixture
async def in_process() -> AsyncIterator[RateLimiter]:
    limiter = RateLimiter("3/second")
    yield limiter
    await limiter.close()


@pytest.fixture
async def redis_namespace() -> AsyncIterator[str]:
    """A namespace no other run uses, on a Redis that answers; keys it starts are deleted afterwards."""
    pool = coredis.ConnectionPool.from_url(REDIS_URL, connect_timeout=1, stream_timeout=1)
    client = coredis.Redis(connection_pool=pool)
    try:
        await client.ping()
    except (coredis.exceptions.RedisError, OSError) as error:
        pool.disconnect()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error!r}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {error!r}")
    namespace = f"loyalty-test-{uuid.uuid4().hex[:12]}"
    try:
        yield namespace
    finally:
        keys = await client.keys(f"{namespace}*")
        if keys:
            await client.delete(list(keys))
        pool.disconnect()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_requests_within_the_budget_are_allowed(in_process: RateLimiter) -> None:
    assert [await in_process.hit("partner:acme") for _ in range(3)] == [None, None, None]


async def test_a_request_over_the_budget_is_refused_with_a_retry_after() -> None:
    limiter = RateLimiter("2/minute")
    try:
        await limiter.hit("staff:7")
        await limiter.hit("staff:7")

        retry_after = await limiter.hit("staff:7")

        assert retry_after is not None
        assert 0 < retry_after <= 60
        assert retry_after == int(retry_after)  # whole seconds, ready for the header
    finally:
        await limiter.close()


async def test_each_caller_has_a_budget_of_its_own(in_process: RateLimiter) -> None:
    for _ in range(3):
        await in_process.hit("partner:acme")

    assert await in_process.hit("partner:acme") is not None
    assert await in_process.hit("partner:globex") is None
    assert await in_process.hit("staff:acme") is None


async def test_the_budget_comes_back_once_the_window_has_passed(in_process: RateLimiter) -> None:
    for _ in range(3):
        await in_process.hit("partner:acme")
    retry_after = await in_process.hit("partner:acme")
    assert retry_after == 1

    await asyncio.sleep(1.05)

    assert await in_process.hit("partner:acme") is None


async def test_a_flood_of_concurrent_requests_gets_exactly_the_budget() -> None:
    limiter = RateLimiter("600/minute")
    try:
        results = await asyncio.gather(*(limiter.hit("partner:acme") for _ in range(1000)))
    finally:
        await limiter.close()

    assert results.count(None) == 600


async def test_two_server_instances_share_one_budget_through_redis(redis_namespace: str) -> None:
    first = RateLimiter("3/minute", redis_url=REDIS_URL, namespace=redis_namespace, timeout=REDIS_TIMEOUT)
    second = RateLimiter("3/minute", redis_url=REDIS_URL, namespace=redis_namespace, timeout=REDIS_TIMEOUT)
    try:
        assert await first.hit("partner:acme") is None
        assert await second.hit("partner:acme") is None
        assert await first.hit("partner:acme") is None

        retry_after = await second.hit("partner:acme")

        assert retry_after is not None
        assert 0 < retry_after <= 60
        assert await first.hit("partner:globex") is None
    finally:
        await first.close()
        await second.close()


async def test_concurrent_requests_on_two_instances_get_exactly_the_budget(redis_namespace: str) -> None:
    instances = [
        RateLimiter("10/minute", redis_url=REDIS_URL, namespace=redis_namespace, timeout=REDIS_TIMEOUT)
        for _ in range(2)
    ]
    try:
        results = await asyncio.gather(*(instances[n % 2].hit("partner:acme") for n in range(30)))
    finally:
        for instance in instances:
            await instance.close()

    assert results.count(None) == 10


async def test_namespaces_keep_budgets_apart_in_redis(redis_namespace: str) -> None:
    ours = RateLimiter("1/minute", redis_url=REDIS_URL, namespace=redis_namespace, timeout=REDIS_TIMEOUT)
    theirs = RateLimiter(
        "1/minute", redis_url=REDIS_URL, namespace=f"{redis_namespace}-other", timeout=REDIS_TIMEOUT
    )
    try:
        await ours.hit("partner:acme")
        assert await ours.hit("partner:acme") is not None

        assert await theirs.hit("partner:acme") is None
    finally:
        await ours.close()
        await theirs.close()


async def test_an_unreachable_redis_lets_requests_through_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter("1/minute", redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="loyalty.rate_limit"):
            results = [await limiter.hit("partner:acme") for _ in range(3)]
    finally:
        await limiter.close()

    assert results == [None, None, None]
    warnings = [record for record in caplog.records if record.name == "loyalty.rate_limit"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "rate limit storage failed" in warnings[0].getMessage()


async def test_a_redis_that_stays_down_is_reported_once_per_warning_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter("1/minute", redis_url=f"redis://127.0.0.1:{_closed_port()}/0", warn_every=60)
    try:
        with caplog.at_level(logging.WARNING, logger="loyalty.rate_limit"):
            assert await limiter.hit("partner:acme") is None
            await asyncio.sleep(1.05)  # past the pause after a failure: Redis is asked, and fails, again
            assert await limiter.hit("partner:acme") is None
    finally:
        await limiter.close()

    assert len([record for record in caplog.records if record.name == "loyalty.rate_limit"]) == 1


async def test_a_redis_that_does_not_answer_costs_at_most_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # takes the connection and never answers

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limiter = RateLimiter("1/minute", redis_url=f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="loyalty.rate_limit"):
            first = await limiter.hit("partner:acme")
            second = await limiter.hit("partner:acme")  # Redis is left alone for a moment: no wait
        elapsed = time.monotonic() - started
    finally:
        await limiter.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()

    assert (first, second) == (None, None)
    assert elapsed < 0.6
    assert any("no answer within 0.2 s" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "budget", ["", "lots", "300", "300/fortnight", "-1/minute", "0/minute", "10/second; 100/minute"]
)
def test_a_bad_budget_is_refused(budget: str) -> None:
    with pytest.raises(ValueError, match="rate limit budget"):
        RateLimiter(budget)


@pytest.mark.parametrize(
    ("budget", "amount"), [("300/minute", 300), ("10 per second", 10), ("50/5 minutes", 50)]
)
def test_a_budget_is_a_rate_of_limits(budget: str, amount: int) -> None:
    assert parse_budget(budget).amount == amount


def test_a_redis_url_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="is not redis://"):
        RateLimiter("3/second", redis_url="http://127.0.0.1:6379")


async def test_callers_gone_quiet_are_forgotten_in_process() -> None:
    windows = InProcessWindows(amount=2, period_seconds=0.05)
    for caller in range(100):
        assert windows.hit(f"caller-{caller}") is None
    await asyncio.sleep(0.06)

    assert windows.hit("caller-0") is None

    assert len(windows) == 1


async def test_a_request_spends_its_cost_from_the_budget() -> None:
    limiter = RateLimiter("10/minute")
    try:
        assert await limiter.hit("partner:acme", cost=6) is None
        assert await limiter.hit("partner:acme", cost=4) is None

        assert await limiter.hit("partner:acme", cost=1) is not None
        assert await limiter.hit("partner:globex", cost=10) is None
    finally:
        await limiter.close()


def test_spending_comes_back_as_it_ages_out_of_the_window() -> None:
    windows = InProcessWindows(amount=10, period_seconds=60)
    assert windows.hit("caller", 7) is None
    assert windows.hit("caller", 3) is None

    retry_after = windows.hit("caller", 5)

    assert retry_after is not None
    assert 59 <= retry_after <= 60  # when the first 7 age out
    assert windows.hit("caller", 11) == 60  # more than the budget never fits


async def test_requests_spend_their_cost_from_the_budget_in_redis(redis_namespace: str) -> None:
    limiter = RateLimiter("10/minute", redis_url=REDIS_URL, namespace=redis_namespace, timeout=REDIS_TIMEOUT)
    try:
        assert await limiter.hit("partner:acme", cost=6) is None
        assert await limiter.hit("partner:acme", cost=5) is not None
        assert await limiter.hit("partner:acme", cost=4) is None
    finally:
        await limiter.close()
