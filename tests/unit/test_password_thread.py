"""The password-hashing thread yields the CPU to the event loop."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from loyalty.auth.passwords import NICENESS, PasswordHashing

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread priorities here")


def test_checks_run_at_a_lower_priority_than_the_event_loop() -> None:
    hashing = PasswordHashing(time_cost=1, memory_kib=8, parallelism=1)

    async def check() -> tuple[bool, int]:
        def niceness_of_this_thread() -> int:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        loop = asyncio.get_running_loop()
        matched = await hashing.verify(await hashing.hash("a password"), "a password")
        return matched, await loop.run_in_executor(hashing._thread, niceness_of_this_thread)

    matched, thread_niceness = asyncio.run(check())
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert matched
    assert thread_niceness == min(own + NICENESS, 19)
