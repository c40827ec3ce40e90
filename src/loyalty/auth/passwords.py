"""Argon2id password hashing, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# How much nicer than the rest of the process the hashing thread is (Linux schedules threads, and
# applies niceness, one by one): at +10 it gets about a tenth of a core the event loop also wants.
NICENESS = 10


def _lower_priority() -> None:
    """Make the calling thread yield the CPU to the event loop (where the OS supports it)."""
    if hasattr(os, "setpriority"):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + NICENESS)


class PasswordHashing:
    """Hashes and checks passwords one at a time per worker, on a thread of its own.

    Five checks at once (a burst of guesses) starved the event loop, and an innocent request's 99th
    percentile went to ~400 ms; in a queue of one, sign-ins wait their turn instead. The default cost
    is OWASP's (19 MiB, 2 passes, 1 lane: ~20 ms of one core): RFC 9106's 64 MiB, 3 passes and 4
    lanes took both cores of a small machine for ~100 ms per check. Hashes made at another cost are
    upgraded when their owner next signs in (:meth:`outdated`).

    The thread runs at a lower CPU priority than the event loop (:data:`NICENESS`): during a burst of
    sign-ins, the refusals and every other request are answered first, and the checks take the CPU
    left over (on a busy core, about a tenth of it; all of it on an idle one).
    """

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="argon2", initializer=_lower_priority
        )

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._verify, password_hash, password
        )

    @cached_property
    def _decoy(self) -> str:
        """Verified when the email is unknown, so a miss costs as much as a hit. Made on the hashing
        thread at the first miss, not at start: at the default cost it took ~20-40 ms of start-up."""
        return self._hasher.hash("decoy password, never matches")

    def outdated(self, password_hash: str) -> bool:
        """Whether the hash was made at another cost than today's (hash the password again)."""
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
