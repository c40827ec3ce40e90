"""Rate limits per caller: a budget such as ``300/minute``, kept in process or shared through Redis.

The strategy is the moving window of :mod:`limits`. Against a fixed window it costs one stored
timestamp per allowed request (a list of at most ``budget`` entries per caller, trimmed atomically by
a Lua script in Redis) and buys two things a public API wants: no caller ever gets more than its
budget in any period-long span (a fixed window lets twice the budget through across a window
boundary), and Retry-After is exact, the moment the oldest request in the window ages out, rather
than the end of an arbitrary window. Refused requests are not recorded, so a client hammering while
refused does not push its own retry time further away. In Redis the timestamps come from the
servers' clocks, so server instances should keep their clocks in sync (NTP); skew shifts Retry-After
by as much.

A request spends its cost (see :mod:`loyalty.schema.limits`: the objects its answer may hold, plus a
fixed weight per request), so the budget is a budget of work: ``30000/minute`` is thirty thousand cost
units a minute. ``hit(key)`` spends 1, for budgets that count attempts (sign-ins, token requests).
In Redis, :mod:`limits` stores one list entry per unit spent (trimmed to the budget), so a caller
costs Redis at most ``budget`` entries.

In process the same moving window is kept by :class:`InProcessWindows`: a deque of (time, cost) per
caller with their running sum, without the lock and thread hop per request of :mod:`limits`' memory
storage. Spending within a hundredth of the period is kept as one entry, stamped with its latest
time, so a caller costs at most ~100 entries whatever its rate (a caller with a budget large enough
for 2,000 requests a second held 120,000, ~10 MB), and Retry-After is at most a hundredth of the
period late, never early.

Rate limiting must never take the API down: when Redis fails or does not answer within ``timeout``,
the request is allowed, a warning is logged (at most one per ``warn_every`` seconds), and Redis is
left alone for a second so that a silent Redis does not add ``timeout`` to every request. The
in-process count has nothing to fail or wait for, so neither the timeout nor the pause applies to it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING

from limits.errors import StorageError

from loyalty.config import parse_budget

if TYPE_CHECKING:
    import coredis
    from limits.aio.strategies import MovingWindowRateLimiter

logger = logging.getLogger("loyalty.rate_limit")

_REDIS_SCHEMES = {"redis": "async+redis", "rediss": "async+rediss", "unix": "async+redis+unix"}
_PAUSE_AFTER_FAILURE = 1.0  # seconds during which a failed Redis is not asked again
SLOTS_PER_PERIOD = 100  # in process, spending within period/100 is one entry of a caller's window


def _limits_redis_uri(redis_url: str) -> str:
    """``redis://host:port/db`` as :mod:`limits` names its asyncio Redis storage (on coredis)."""
    scheme, _, rest = redis_url.partition("://")
    if scheme not in _REDIS_SCHEMES or not rest:
        raise ValueError(
            f"The Redis URL {redis_url!r} is not redis://host:port/db, rediss://host:port/db or unix:///path."
        )
    return f"{_REDIS_SCHEMES[scheme]}://{rest}"


class InProcessWindows:
    """The moving window in process: for each caller, what its allowed requests spent in the last period."""

    def __init__(self, amount: int, period_seconds: float) -> None:
        self._amount = amount
        self._period = period_seconds
        self._slot = period_seconds / SLOTS_PER_PERIOD
        self._spent: dict[str, _Window] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._spent)

    def hit(self, key: str, cost: int = 1) -> float | None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        window = self._spent.get(key)
        if window is None:
            window = self._spent[key] = _Window()
        window.expire(now - self._period)
        if window.total + cost <= self._amount:
            window.add(now, cost, self._slot)
            return None
        return float(max(1, math.ceil(window.fits_at(self._amount - cost, now, self._period) - now)))

    def exhausted(self, key: str, cost: int) -> float | None:
        """Whether ``cost`` would not fit now, without spending it: None if it fits, else seconds to wait."""
        window = self._spent.get(key)
        if window is None:
            return None
        now = time.monotonic()
        window.expire(now - self._period)
        if window.total + cost <= self._amount:
            return None
        return float(max(1, math.ceil(window.fits_at(self._amount - cost, now, self._period) - now)))

    def _sweep(self, now: float) -> None:
        """Forget callers with nothing left in their window, so idle callers cost no memory."""
        horizon = now - self._period
        for key in [key for key, window in self._spent.items() if window.idle_since(horizon)]:
            del self._spent[key]
        self._next_sweep = now + self._period


class _Window:
    """One caller's spending in the window: (time, cost) oldest first, and their sum."""

    __slots__ = ("spent", "total")

    def __init__(self) -> None:
        self.spent: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, now: float, cost: int, slot: float) -> None:
        """Spend ``cost`` now: with the newest entry if it is less than ``slot`` old, moved to now."""
        if self.spent and now - self.spent[-1][0] < slot:
            self.spent[-1] = (now, self.spent[-1][1] + cost)
        else:
            self.spent.append((now, cost))
        self.total += cost

    def expire(self, horizon: float) -> None:
        while self.spent and self.spent[0][0] <= horizon:
            self.total -= self.spent.popleft()[1]

    def idle_since(self, horizon: float) -> bool:
        return not self.spent or self.spent[-1][0] <= horizon

    def fits_at(self, room: int, now: float, period: float) -> float:
        """When the total will be down to ``room`` as spending ages out (a period from now if never)."""
        total = self.total
        for at, cost in self.spent:
            total -= cost
            if total <= room:
                return at + period
        return now + period


def _redis_window(
    redis_url: str, namespace: str, timeout: float
) -> tuple[coredis.ConnectionPool, MovingWindowRateLimiter]:
    """The moving window kept in Redis, on a pool of our own (so that close() can release its
    connections); the timeouts bound each step. coredis is imported here, only when Redis is
    configured: importing it costs ~0.4 s of start-up (it type-checks itself with beartype)."""
    import coredis
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter
    from limits.storage import storage_from_string

    uri = _limits_redis_uri(redis_url)
    pool = coredis.ConnectionPool.from_url(redis_url, connect_timeout=timeout, stream_timeout=timeout)
    storage = storage_from_string(
        uri,
        connection_pool=pool,  # type: ignore[arg-type]  # documented, passed to coredis
        key_prefix=namespace,
        wrap_exceptions=True,
    )
    assert isinstance(storage, RedisStorage)
    return pool, MovingWindowRateLimiter(storage)


class RateLimiter:
    """Counts each caller's requests against one budget; :meth:`hit` says whether one more may pass."""

    def __init__(
        self,
        budget: str,
        *,
        redis_url: str | None = None,
        namespace: str = "loyalty",
        timeout: float = 0.5,
        warn_every: float = 60.0,
    ) -> None:
        self.budget = parse_budget(budget)
        self._timeout = timeout
        self._warn_every = warn_every
        self._pool: coredis.ConnectionPool | None = None
        self._in_process: InProcessWindows | None = None
        if redis_url is None:
            self._in_process = InProcessWindows(self.budget.amount, self.budget.get_expiry())
        else:
            self._pool, self._strategy = _redis_window(redis_url, namespace, timeout)
        self._paused_until = 0.0
        self._next_warning = 0.0
        self._unchecked = 0

    async def hit(self, key: str, cost: int = 1) -> float | None:
        """Spend ``cost`` of ``key``'s budget: None within budget, else whole seconds until it may retry."""
        if self._in_process is not None:
            # In process there is nothing to fail or wait for; a timeout would only let a busy server's
            # callers through unchecked.
            return self._in_process.hit(key, cost)
        if time.monotonic() < self._paused_until:
            self._unchecked += 1
            return None
        try:
            async with asyncio.timeout(self._timeout):
                return await self._count(key, cost)
        except (StorageError, OSError, TimeoutError) as error:
            self._storage_failed(error)
            return None

    def exhausted(self, key: str, cost: int) -> float | None:
        """Whether even ``cost`` is past ``key``'s budget, known without a round trip: a caller that spent
        it all is refused before its document is read. In process only; with Redis, :meth:`hit` decides."""
        return self._in_process.exhausted(key, cost) if self._in_process is not None else None

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.disconnect()

    async def _count(self, key: str, cost: int) -> float | None:
        if await self._strategy.hit(self.budget, key, cost=cost):
            return None
        stats = await self._strategy.get_window_stats(self.budget, key)
        return float(max(1, math.ceil(stats.reset_time - time.time())))

    def _storage_failed(self, error: Exception) -> None:
        now = time.monotonic()
        self._paused_until = now + _PAUSE_AFTER_FAILURE
        self._unchecked += 1
        if now < self._next_warning:
            return
        self._next_warning = now + self._warn_every
        if isinstance(error, StorageError):
            cause = repr(error.storage_error)
        elif isinstance(error, TimeoutError):
            cause = f"no answer within {self._timeout} s"
        else:
            cause = repr(error)
        logger.warning(
            "rate limit storage failed (%s); %d request(s) allowed unchecked since the last warning",
            cause,
            self._unchecked,
        )
        self._unchecked = 0
