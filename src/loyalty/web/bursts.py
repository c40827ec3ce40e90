"""A burst from one address, refused at its door: each address's requests without a token come out of a
bucket that holds a few and refills at a steady rate (nginx's ``limit_req`` with ``burst`` and ``nodelay``).

The budgets count what a caller spent, so they refuse only once enough was spent: of forty
simultaneous sign-ins from one address, each was read, parsed and counted (1-2 ms of Python on the one
event loop) before the last learned it was over budget, and that queue of work was what kept the 429s
at the end of the burst, and the signed-in staff waiting beside them, over 50 ms. Counting the requests
an address has in flight does not see such a burst: a refused sign-in runs start to end without
waiting for anything, so there is never more than one under way. Its arrival rate does see it, and is
known before any of that work: past the bucket, the request is answered 429 at once.

Only requests without a valid token are counted, by the address they come from (behind trusted proxies,
the client's). Signed-in callers spend a budget of their own and wait in a queue of their own, and a
partner's calls may legitimately come many at a time from one address.
"""

from __future__ import annotations

import math
import time


class Bursts:
    """Per key, a bucket of ``burst`` requests that refills at ``per_second``."""

    __slots__ = ("_buckets", "_burst", "_next_sweep", "_per_second")

    def __init__(self, burst: int, per_second: float) -> None:
        self._burst = burst
        self._per_second = per_second
        # key -> (requests left, when that was counted); a full bucket is forgotten.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        """Keys whose bucket is not full (the others cost no memory)."""
        return len(self._buckets)

    def take(self, key: str) -> float | None:
        """Take one request from ``key``'s bucket: None, or the whole seconds until one is back."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        left, at = self._buckets.get(key, (self._burst, now))
        left = min(self._burst, left + (now - at) * self._per_second)
        if left < 1:
            return float(max(1, math.ceil((1 - left) / self._per_second)))
        self._buckets[key] = (left - 1, now)
        return None

    def _sweep(self, now: float) -> None:
        refill = self._burst / self._per_second  # a bucket untouched that long is full
        for key in [key for key, (_, at) in self._buckets.items() if now - at >= refill]:
            del self._buckets[key]
        self._next_sweep = now + refill
