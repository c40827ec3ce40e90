"""What the benchmark scripts share: a free loopback port, and a server started and waited for."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx


class HarnessError(Exception):
    """The benchmark could not measure (as opposed to a target missed)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_healthz(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/healthz", timeout=1)


def wait_healthy(
    name: str,
    process: subprocess.Popen[bytes],
    base_url: str,
    log: Path,
    timeout: float = 60,
    probe: Callable[[str], httpx.Response] = answers_healthz,
) -> None:
    """Wait until ``process`` answers ``probe`` (``/healthz``) with 200; HarnessError with the end of
    its log if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
        try:
            if probe(base_url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise HarnessError(f"{name} was not ready in {timeout:.0f} s:\n{log_tail(log)}")


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]
