"""A served worker's memory (issue 13: at most 120 MB): what a password check allocates goes back, and
a busy caller's rate limit window stays small, and nothing is hashed at start."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.serving import free_port, wait_healthy

from loyalty.auth.passwords import PasswordHashing
from loyalty.web.rate_limit import InProcessWindows

EMAIL = "owner@example.com"
PASSWORD = "a fine owner password"
ARGON2_MEMORY_KIB = 19 * 1024  # the default: a buffer glibc would keep in the heap once freed
SIGN_IN = (
    "mutation S($email: String!, $password: String!) "
    "{ signIn(email: $email, password: $password) { accessToken } }"
)


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``loyalty serve`` on SQLite with the default Argon2 memory cost, after migrate and create-owner."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATA_DIR=str(tmp_path),
        LOYALTY_PORT=str(port),
        LOYALTY_ADMIN_EMAIL=EMAIL,
        LOYALTY_ADMIN_PASSWORD=PASSWORD,
        LOYALTY_ARGON2_TIME_COST="1",
        LOYALTY_ARGON2_MEMORY_KIB=str(ARGON2_MEMORY_KIB),
    )
    for command in ("migrate", "create-owner"):
        subprocess.run(
            [sys.executable, "-m", "loyalty.cli", command], env=env, check=True, capture_output=True
        )
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty.cli", "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy("loyalty serve", process, base_url, log)
        yield process, base_url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_sign_in_leaves_no_argon2_buffer_resident(served: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base_url = served
    before = resident_mb(process.pid)

    answer = httpx.post(
        f"{base_url}/graphql",
        json={"query": SIGN_IN, "variables": {"email": EMAIL, "password": PASSWORD}},
        timeout=30,
    ).json()

    assert answer["data"]["signIn"]["accessToken"]
    assert resident_mb(process.pid) - before < ARGON2_MEMORY_KIB / 1024 / 2


def test_a_caller_hitting_fast_holds_a_bounded_window_in_process() -> None:
    """A budget as large as the benchmark's let one caller's window hold every request of the last
    minute (~90 bytes each); spending within a hundredth of the period is now one entry."""
    windows = InProcessWindows(amount=10**9, period_seconds=60)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            assert windows.hit("partner:acme", 11) is None
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert held < 50_000


DECOY_COST_KIB = 256 * 1024
PEAK_AFTER_BUILDING = """
import resource
from loyalty.auth.passwords import PasswordHashing
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
PasswordHashing(time_cost=1, memory_kib={cost}, parallelism=1)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_password_hashing_hashes_nothing_at_start() -> None:
    """The decoy hash (for unknown emails) is made at the first miss: at start it cost a hash."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_AFTER_BUILDING.format(cost=DECOY_COST_KIB)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    assert int(result.stdout) < DECOY_COST_KIB / 4  # KiB the peak rose by


async def test_an_unknown_email_is_checked_against_the_decoy() -> None:
    hashing = PasswordHashing(time_cost=1, memory_kib=8, parallelism=1)

    assert await hashing.verify(None, "any password") is False
    assert await hashing.verify(await hashing.hash("right"), "right") is True
