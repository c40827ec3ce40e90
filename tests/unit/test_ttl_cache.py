"""The principals' cache: entries trusted for a while, and one load for concurrent misses of a key."""

from __future__ import annotations

import asyncio

import pytest

from loyalty.services.principals import _TtlCache


class Loader:
    """Loads a key's value once let go, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.go_on = asyncio.Event()
        self.fail = False

    async def __call__(self, key: str) -> str:
        self.calls += 1
        await self.go_on.wait()
        if self.fail:
            raise ConnectionError("the database went away")
        return f"value of {key}"


async def test_concurrent_misses_of_a_key_share_one_load_and_it_is_kept() -> None:
    cache: _TtlCache[str, str] = _TtlCache(60, 100)
    load = Loader()
    waiting = [asyncio.ensure_future(cache.get_or_load("a", load)) for _ in range(10)]
    await asyncio.sleep(0)
    load.go_on.set()

    assert await asyncio.gather(*waiting) == ["value of a"] * 10
    assert await cache.get_or_load("a", load) == "value of a"
    assert load.calls == 1


async def test_a_failed_load_fails_every_waiter_and_is_not_kept() -> None:
    cache: _TtlCache[str, str] = _TtlCache(60, 100)
    load = Loader()
    load.fail = True
    waiting = [asyncio.ensure_future(cache.get_or_load("a", load)) for _ in range(3)]
    await asyncio.sleep(0)
    load.go_on.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    load.fail = False
    assert await cache.get_or_load("a", load) == "value of a"
    assert load.calls == 2


async def test_a_cancelled_waiter_leaves_the_load_to_the_others() -> None:
    cache: _TtlCache[str, str] = _TtlCache(60, 100)
    load = Loader()
    first = asyncio.ensure_future(cache.get_or_load("a", load))
    second = asyncio.ensure_future(cache.get_or_load("a", load))
    await asyncio.sleep(0)
    first.cancel()
    load.go_on.set()

    assert await second == "value of a"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert load.calls == 1


async def test_a_key_forgotten_while_it_loads_is_loaded_again() -> None:
    cache: _TtlCache[str, str] = _TtlCache(60, 100)
    load = Loader()
    stale = asyncio.ensure_future(cache.get_or_load("a", load))
    await asyncio.sleep(0)
    cache.forget("a")  # e.g. the client was disabled meanwhile
    load.go_on.set()
    await stale

    assert await cache.get_or_load("a", load) == "value of a"
    assert load.calls == 2


async def test_an_entry_past_its_time_is_loaded_again() -> None:
    cache: _TtlCache[str, str] = _TtlCache(0, 100)
    load = Loader()
    load.go_on.set()
    await cache.get_or_load("a", load)
    await cache.get_or_load("a", load)

    assert load.calls == 2
