"""How fast `loyalty serve` starts and how much memory a worker holds (issue 13: ready in 2 s, 120 MB).

    uv run python bench/startup.py [--starts 5] [--seconds 30] [--database-url URL] [--no-postgres]

Prints, for one worker as `loyalty serve` runs it (uvicorn, uvloop, httptools):
- `import loyalty.app` in a fresh interpreter: the median wall time of --starts runs, and the heaviest
  packages `python -X importtime` reports (cumulative, as first imported);
- on SQLite (a temporary data directory) and on PostgreSQL (a database of its own, created and dropped):
  the median time from the process's start to its first 200 from /healthz over --starts starts, and
  its resident memory (VmRSS) then;
- after --seconds of `user(id)` requests with the owner's access token (wrk, 32 connections; 30 s
  make about 20,000 requests here), the worker's peak memory (VmHWM) and its resident memory.
The machine is shared: compare figures from one run, before and after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from serving import HarnessError, free_port, log_tail, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = (
    os.environ.get("LOYALTY_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test").rsplit(
        "/", 1
    )[0]
    + "/loyalty_startup"
)
OWNER_EMAIL = "owner@startup.example.com"
OWNER_PASSWORD = "startup owner password, not a secret"
CONCURRENCY = 32
SIGN_IN = (
    "mutation S($email: String!, $password: String!) "
    "{ signIn(email: $email, password: $password) { accessToken user { id } } }"
)
USER = "query U($id: ID!) { user(id: $id) { email role pointsAccounts { balance } } }"
IMPORTTIME_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True, slots=True)
class Started:
    ready_s: float
    rss_mb: float


# --- import -----------------------------------------------------------------------------------------


def import_seconds(starts: int) -> float:
    """Median wall time of ``python -c 'import loyalty.app'``."""
    times = []
    for _ in range(starts):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import loyalty.app"], check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def heaviest_imports(count: int) -> list[tuple[str, float]]:
    """The top-level packages whose first import cost the most (ms, cumulative, as -X importtime says)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import loyalty.app"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    costs: dict[str, float] = {}
    for match in IMPORTTIME_LINE.finditer(result.stderr):
        cumulative_us, name = int(match.group(1)), match.group(3)
        if "." not in name and name != "loyalty":
            costs[name] = costs.get(name, 0.0) + cumulative_us / 1000
    return sorted(costs.items(), key=lambda item: -item[1])[:count]


# --- servers ----------------------------------------------------------------------------------------


def loyalty(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "loyalty"), *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"loyalty {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise HarnessError(f"no {field} for process {pid}")


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """`loyalty serve` on a free port: the process, its base URL and the seconds until /healthz answered."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        started = time.monotonic()
        process = subprocess.Popen(
            [str(BIN / "loyalty"), "serve", "--port", str(port)],
            env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_healthy("loyalty serve", process, base_url, log)
        yield process, base_url, time.monotonic() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def starts(env: dict[str, str], folder: Path, count: int) -> Started:
    """The median time to ready over ``count`` starts, and the resident memory once ready."""
    ready, rss = [], []
    for _ in range(count):
        with serving(env, folder / "serve.log") as (process, _url, seconds):
            ready.append(seconds)
            rss.append(memory_mb(process.pid, "VmRSS"))
    return Started(statistics.median(ready), statistics.median(rss))


WRK_SCRIPT = """-- user(id) of the owner, with its token; an answer not 200 or holding an error is reported
wrk.method, wrk.body = "POST", [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"

function response(status, _, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    io.write("Failed: " .. status .. " " .. body:sub(1, 500) .. "\\n")
  end
end
"""


def sign_in(base_url: str) -> tuple[str, str]:
    """The owner's access token and id."""
    variables = {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    answer = httpx.post(
        f"{base_url}/graphql", json={"query": SIGN_IN, "variables": variables}, timeout=30
    ).json()
    payload = (answer.get("data") or {}).get("signIn") or {}
    if not payload.get("accessToken"):
        raise HarnessError(f"the owner could not sign in: {answer}")
    return payload["accessToken"], payload["user"]["id"]


def load(base_url: str, seconds: int, script: Path) -> int:
    """``user(id)`` queries of the owner for ``seconds`` (wrk, one thread, CONCURRENCY connections): how
    many were answered."""
    token, owner_id = sign_in(base_url)
    body = json.dumps({"query": USER, "variables": {"id": owner_id}})
    script.write_text(WRK_SCRIPT.format(body=body, token=token))
    command = [
        "wrk",
        "-t1",
        f"-c{CONCURRENCY}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"{base_url}/graphql",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    answered = re.search(r"(\d+) requests in", output)
    if result.returncode != 0 or answered is None or re.search(r"Failed:|Non-2xx|Socket errors", output):
        raise HarnessError(f"{' '.join(command)} failed:\n{output}")
    return int(answered[1])


def under_load(env: dict[str, str], folder: Path, seconds: int) -> tuple[float, float, int]:
    """Peak and resident memory (MB) after ``seconds`` of requests, and how many were answered."""
    log = folder / "load.log"
    with serving(env, log) as (process, base_url, _seconds):
        try:
            requests = load(base_url, seconds, folder / "load.lua")
        except HarnessError as error:
            raise HarnessError(f"{error}\nthe server's log ends:\n{log_tail(log)}") from None
        return memory_mb(process.pid, "VmHWM"), memory_mb(process.pid, "VmRSS"), requests


# --- databases --------------------------------------------------------------------------------------


def _dsn(url: str, database: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + f"/{database}"


async def recreate(url: str, *, drop_only: bool = False) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_dsn(url, "postgres"), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def measure(name: str, env: dict[str, str], folder: Path, args: argparse.Namespace) -> None:
    loyalty(env, "migrate")
    loyalty(env, "create-owner")
    started = starts(env, folder, args.starts)
    peak, rss, requests = under_load(env, folder, args.seconds)
    print(
        f"{name:<10} ready after {started.ready_s:.2f} s (median of {args.starts}), RSS then "
        f"{started.rss_mb:.0f} MB; after {requests:,} user(id) requests in {args.seconds} s: "
        f"peak (VmHWM) {peak:.0f} MB, RSS {rss:.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--starts", type=int, default=5, help="starts of the server to take the median of (5)"
    )
    parser.add_argument("--seconds", type=int, default=30, help="of load before reading VmHWM (30)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL (created, dropped)")
    parser.add_argument("--no-postgres", action="store_true", help="measure on SQLite only")
    args = parser.parse_args()

    print(f"import loyalty.app: {import_seconds(args.starts):.2f} s (median of {args.starts})")
    heaviest = ", ".join(f"{name} {ms:.0f}" for name, ms in heaviest_imports(12))
    print(f"  heaviest packages (ms, -X importtime): {heaviest}", flush=True)
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")}
    with tempfile.TemporaryDirectory(prefix="loyalty-startup-") as temporary:
        folder = Path(temporary)
        base_env.update(
            LOYALTY_DATA_DIR=str(folder / "data"),
            LOYALTY_RATE_LIMIT="1000000000/minute",
            LOYALTY_ACCESS_TOKEN_SECONDS="3600",
            LOYALTY_ADMIN_EMAIL=OWNER_EMAIL,
            LOYALTY_ADMIN_PASSWORD=OWNER_PASSWORD,
            LOYALTY_LOG_FORMAT="text",
        )
        measure("SQLite", base_env, folder, args)
        if not args.no_postgres:
            try:
                asyncio.run(recreate(args.database_url))
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                raise HarnessError(f"PostgreSQL is not reachable at {args.database_url}: {error}") from error
            try:
                measure("PostgreSQL", {**base_env, "LOYALTY_DATABASE_URL": args.database_url}, folder, args)
            finally:
                asyncio.run(recreate(args.database_url, drop_only=True))


if __name__ == "__main__":
    try:
        main()
    except HarnessError as error:
        sys.exit(str(error))
