"""Requests under way per client address, capped: a burst from one address is refused at its door.

A budget counts what a caller has spent, so it can only refuse once enough was spent: forty
simultaneous sign-ins from one address were each read, parsed and counted before the last of them
learned it was over budget, and that queue of work (1-2 ms of Python each, on the one event loop)
was what kept the 429s at the end of the burst, and the signed-in staff waiting beside them, over
50 ms. Counting the requests an address has under way costs nothing and is known before any of that
work: past the cap, the request is answered 429 at once, as nginx's ``limit_conn`` would.

The cap is for requests without a valid token, keyed by the address they come from (behind trusted
proxies, the client's). Signed-in callers already spend a budget of their own and wait in a queue
of their own, and a partner's calls may legitimately come many at a time from one address.
"""

from __future__ import annotations


class InFlight:
    """How many requests each key has under way, and whether one more may start."""

    __slots__ = ("_limit", "_under_way")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._under_way: dict[str, int] = {}

    def __len__(self) -> int:
        """Keys with requests under way (idle keys are forgotten)."""
        return len(self._under_way)

    def try_enter(self, key: str) -> bool:
        """Count a request for ``key`` as started; False, counting nothing, when it has the cap under way."""
        count = self._under_way.get(key, 0)
        if count >= self._limit:
            return False
        self._under_way[key] = count + 1
        return True

    def leave(self, key: str) -> None:
        """End a request that :meth:`try_enter` started."""
        count = self._under_way[key] - 1
        if count:
            self._under_way[key] = count
        else:
            del self._under_way[key]
