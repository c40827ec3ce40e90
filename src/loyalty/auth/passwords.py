"""Argon2id password hashing, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordHashing:
    """Hashes and checks passwords one at a time per worker, on a thread of its own.

    Five checks at once (a burst of guesses) starved the event loop, and an innocent request's 99th
    percentile went to ~400 ms; in a queue of one, sign-ins wait their turn instead. The default cost
    is OWASP's (19 MiB, 2 passes, 1 lane: ~20 ms of one core): RFC 9106's 64 MiB, 3 passes and 4
    lanes took both cores of a small machine for ~100 ms per check. Hashes made at another cost are
    upgraded when their owner next signs in (:meth:`outdated`).
    """

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
        # Verified when the email is unknown, so a miss costs as much as a hit.
        self._decoy = self._hasher.hash("decoy password, never matches")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._verify, password_hash or self._decoy, password
        )

    def outdated(self, password_hash: str) -> bool:
        """Whether the hash was made at another cost than today's (hash the password again)."""
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
