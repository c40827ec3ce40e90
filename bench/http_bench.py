"""`make bench`: our server against the floor (bench/floor.py) and PostGraphile 4 (bench/peer.py) over
HTTP, scenario by scenario.

    uv run python bench/http_bench.py [--duration 10] [--warmup 3] [--users 100000] [--results PATH]

Seeds a fresh PostgreSQL database (LOYALTY_BENCH_DATABASE_URL, default .../loyalty_bench) with
--users customers, each with a points account, and as many activity log entries; starts our server as
production runs it (`loyalty serve`: uvicorn, uvloop, httptools, one worker pinned to core 0, started
alone to time how long it takes to be ready), the floor (one uvicorn worker, same pinning) and
PostGraphile (NODE_ENV=production, same pinning; its answers checked once against ours); loads each with
wrk pinned to core 1, 32 connections, the floor, PostGraphile and then ours for each scenario. Then ours
and the floor with two workers on both cores (wrk unpinned). Prints the table and writes it, with the
machine, each server's peak memory and the targets, to bench/RESULTS.md. Exits 0 when a target is missed
(it is a measurement), 1 when the harness itself fails (a request errs, a server does not start, an
answer differs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import asyncpg
import httpx

import floor
import peer
from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from scenarios import (
    PICK,
    SCENARIOS,
    Scenario,
    StatementLog,
    answer,
    comparable,
    in_process,
    logging_statements,
)
from serving import HarnessError, answers_healthz, free_port, log_tail, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATABASE_URL = os.environ.get("LOYALTY_BENCH_DATABASE_URL", floor.DEFAULT_DATABASE_URL)
OWNER_EMAIL = "owner@bench.example.com"
OWNER_PASSWORD = "bench owner password, not a secret"
CONNECTIONS = 32

# The targets of issue #13 (one worker pinned to one core): ours/PostGraphile, or ours/floor where
# PostGraphile's mutation does the work in one PostgreSQL function call.
TARGET_PEER_RATIO = {"a": 0.8, "c": 1.0, "d": 0.8}
TARGET_FLOOR_RATIO = {"b": 0.7}
TARGET_STATEMENTS = {"c": 3}
TARGET_P99_OVER_P50 = 3.0
TARGET_RSS_MB = 120.0
TARGET_READY_S = 2.0


@dataclass(frozen=True, slots=True)
class Load:
    """What wrk measured."""

    rps: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class InProcess:
    """One request of a scenario through each app in this process."""

    ours_statements: int
    floor_statements: int
    same_json: bool


@dataclass(frozen=True, slots=True)
class Picks:
    """The seeded ids a request may name, and the owner (the caller PostGraphile's adjustPoints logs)."""

    users: list[str]
    accounts: list[str]
    owner: str

    def of(self, kind: str) -> list[str]:
        return self.users if kind == "users" else self.accounts


@dataclass(frozen=True, slots=True)
class Scripts:
    """The wrk script of each scenario, for ours and the floor (the same body) and for PostGraphile."""

    ours: dict[str, Path]
    peer: dict[str, Path]


@dataclass(slots=True)
class Round:
    """One configuration (1 or 2 workers): its loads per scenario, the servers' peak memory and how long
    ours took to be ready. PostGraphile is measured with one worker only (empty ``peer`` otherwise)."""

    workers: int
    wrk_pinning: str
    ours: dict[str, Load] = field(default_factory=dict)
    floor: dict[str, Load] = field(default_factory=dict)
    peer: dict[str, Load] = field(default_factory=dict)
    ours_rss_mb: float = 0.0
    floor_rss_mb: float = 0.0
    peer_rss_mb: float = 0.0
    ours_ready_s: float = 0.0


# --- the database ----------------------------------------------------------------------------------


def _dsn(url: str, database: str | None = None) -> str:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    return dsn if database is None else dsn.rsplit("/", 1)[0] + f"/{database}"


async def recreate_database(url: str) -> str:
    """Drop and create the bench database; the server's version."""
    name = url.rsplit("/", 1)[1]
    try:
        conn = await asyncpg.connect(_dsn(url, "postgres"), timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise HarnessError(f"PostgreSQL is not reachable at {url.split('@')[-1]}: {error}") from error
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


SEED = """
INSERT INTO users (id, email, first_name, last_name, role, enrolled_at, updated_at)
SELECT md5('u' || g)::uuid, 'user' || g || '@example.com', 'First' || g, 'Last' || g, 'USER',
       now() - g * interval '1 second', now()
FROM generate_series(1, $1::int) g;

INSERT INTO points_accounts (id, user_id, program, balance, ledger_seq, created_at)
SELECT md5('a' || g)::uuid, md5('u' || g)::uuid, 'default', 100, nextval('points_transactions_seq_seq'), now()
FROM generate_series(1, $1::int) g;

INSERT INTO points_transactions (seq, id, account_id, kind, amount, balance_after, actor_id, created_at)
SELECT ledger_seq, gen_random_uuid(), id, 'ADD', 100, 100, 'seed', created_at
FROM points_accounts WHERE ledger_seq IS NOT NULL;

INSERT INTO log_entries (id, timestamp, action, outcome, actor_id, actor_email, actor_role, target_type,
                         target_id, details, source_ip, user_agent, request_id)
SELECT md5('l' || g)::uuid, now() - g * interval '1 second',
       (ARRAY['points.adjust', 'user.enroll', 'user.update', 'auth.sign_in'])[1 + g % 4],
       CASE WHEN g % 10 = 0 THEN 'DENIED' ELSE 'SUCCESS' END,
       owner.id::text, owner.email, 'OWNER', 'points_account', md5('a' || g)::uuid::text,
       json_build_object('amount', 1), '127.0.0.1', 'seed', md5('r' || g)
FROM generate_series(1, $1::int) g, (SELECT id, email FROM users WHERE role = 'OWNER') owner;
"""


async def seed(url: str, users: int) -> tuple[list[str], list[str], str]:
    """``users`` customers with an account of 100 points and its ledger row, and ``users`` log entries
    of the last days; the ids of the customers, of their accounts and of the owner."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        async with conn.transaction():  # the accounts' deferred foreign key needs their ledger rows
            for statement in filter(str.strip, SEED.split(";")):
                await conn.execute(statement, *((users,) if "$1" in statement else ()))
        await conn.execute("ANALYZE")
        user_ids = [str(row[0]) for row in await conn.fetch("SELECT id FROM users WHERE role = 'USER'")]
        account_ids = [
            str(row[0])
            for row in await conn.fetch(
                "SELECT a.id FROM points_accounts a JOIN users u ON u.id = a.user_id WHERE u.role = 'USER'"
            )
        ]
        owner_id = str(await conn.fetchval("SELECT id FROM users WHERE role = 'OWNER'"))
        return user_ids, account_ids, owner_id
    finally:
        await conn.close()


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Our server's environment under the bench: this one without its LOYALTY_ settings, and the
    bench's (a budget it never meets, hour-long tokens, the SQL log store, the owner to seed)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATABASE_URL=database_url,
        LOYALTY_DATA_DIR=str(data_dir),
        LOYALTY_RATE_LIMIT="1000000000/minute",
        LOYALTY_ACCESS_TOKEN_SECONDS="3600",
        LOYALTY_LOG_STORE="sql",
        LOYALTY_ADMIN_EMAIL=OWNER_EMAIL,
        LOYALTY_ADMIN_PASSWORD=OWNER_PASSWORD,
        **extra,
    )
    return env


def prepare_database(
    env: dict[str, str], database_url: str, users: int
) -> tuple[str, tuple[list[str], list[str], str]]:
    """The database created afresh, migrated, with the owner (whose signing key goes to the data
    directory) and ``users`` seeded: the server's version, and what :func:`seed` returns."""
    postgres_version = asyncio.run(recreate_database(database_url))
    loyalty_command(env, "migrate")
    loyalty_command(env, "create-owner")
    return postgres_version, asyncio.run(seed(database_url, users))


def loyalty_command(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "loyalty"), *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"loyalty {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


# --- servers ---------------------------------------------------------------------------------------


class Server:
    """A server process (pinned with taskset), its log in a file, stopped on exit."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], port: int, log: Path,
        probe: Callable[[str], httpx.Response] = answers_healthz,
    ) -> None:  # fmt: skip
        self.name, self.log, self.probe = name, log, probe
        self.base_url = f"http://127.0.0.1:{port}"
        self.started = time.monotonic()
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from its start until it answered /healthz or its ``probe`` (checked every 0.1 s)."""
        wait_healthy(self.name, self.process, self.base_url, self.log, timeout, self.probe)
        return time.monotonic() - self.started

    def peak_rss_mb(self) -> float:
        """VmHWM of the worker: the process itself, or its largest child when uvicorn supervises workers."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return max(_vm_hwm_mb(int(child)) for child in children) if children else _vm_hwm_mb(pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self) -> str:
        return log_tail(self.log)


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise HarnessError(f"no VmHWM for process {pid}")


def peer_command(port: int) -> list[str]:
    """PostGraphile on the core of our single worker."""
    return ["taskset", "-c", "0", *peer.command(DATABASE_URL, port)]


def server_commands(workers: int, ours_port: int, floor_port: int) -> tuple[list[str], list[str]]:
    cores = "0" if workers == 1 else "0,1"
    ours = ["taskset", "-c", cores, str(BIN / "loyalty"), "serve", "--port", str(ours_port)]
    floor_command = [
        "taskset", "-c", cores, str(BIN / "uvicorn"), "bench.floor:app", "--loop", "uvloop", "--http",
        "httptools", "--no-access-log", "--port", str(floor_port),
    ]  # fmt: skip
    if workers > 1:
        ours += ["--workers", str(workers)]
        floor_command += ["--workers", str(workers)]
    return ours, floor_command


# --- load ------------------------------------------------------------------------------------------

LUA = """-- {title}: POST {body_kind}, as our console would send it
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}}
local head, tail = [==[{head}]==], [==[{tail}]==]
local ids = {{}}
{load_ids}
local fixed = nil
failed, first_failure = 0, nil
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time())
  if #ids == 0 then fixed = wrk.format("POST", nil, headers, head) end
end

function request()
  if fixed then return fixed end
  return wrk.format("POST", nil, headers, head .. ids[math.random(#ids)] .. tail)
end

-- A request errs if it is not answered 200 or its JSON holds an error (a GraphQL error or a
-- mutation's user error).
function response(status, _, body)
  if status ~= 200 or body:find('"errors":[{{', 1, true) then
    failed = failed + 1
    if first_failure == nil then first_failure = status .. " " .. body:sub(1, 500) end
  end
end

function done()
  local total, example = 0, nil
  for _, thread in ipairs(threads) do
    total = total + thread:get("failed")
    example = example or thread:get("first_failure")
  end
  io.write(string.format("GraphQL errors: %d\\n", total))
  if example then io.write("First failure: " .. example .. "\\n") end
end
"""


def write_lua(path: Path, title: str, body: bytes, token: str, ids_file: Path | None) -> Path:
    """The wrk script sending ``body``, PICK replaced by a random line of ``ids_file``."""
    head, _, tail = body.decode().partition(PICK)
    script = LUA.format(
        title=title,
        body_kind="bodies naming a random id" if ids_file else "one body",
        token=token,
        head=head,
        tail=tail,
        load_ids=f'for line in io.lines("{ids_file}") do ids[#ids + 1] = line end' if ids_file else "",
    )
    path.write_text(script)
    return path


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _percentile_ms(output: str, percent: int) -> float:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        raise HarnessError(f"no {percent}th percentile in wrk's output:\n{output}")
    return float(found[1]) * _UNITS_MS[found[2]]


def wrk_command(url: str, script: Path, seconds: int, pinned: bool) -> list[str]:
    wrk = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
    ]
    wrk.append(url)
    return ["taskset", "-c", "1", *wrk] if pinned else wrk


def run_wrk(url: str, script: Path, seconds: int, pinned: bool) -> Load:
    """One wrk run; a request that errs (not 200, an error in its JSON, a socket error) fails the harness."""
    command = wrk_command(url, script, seconds, pinned)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    problems = []
    if result.returncode != 0:
        problems.append(f"wrk exited with {result.returncode}")
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        problems.append(f"{non_2xx[1]} non-2xx responses")
    if sockets := re.search(r"Socket errors: (.*)", output):
        problems.append(f"socket errors: {sockets[1]}")
    errors = re.search(r"GraphQL errors: (\d+)", output)
    if errors is None or int(errors[1]):
        problems.append(f"{errors[1] if errors else 'uncounted'} answers with errors")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if problems or rps is None:
        raise HarnessError(f"{' '.join(command)}: {'; '.join(problems) or 'unreadable output'}\n{output}")
    return Load(float(rps[1]), _percentile_ms(output, 50), _percentile_ms(output, 99))


def post(server: Server, path: str, body: bytes, token: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return httpx.post(f"{server.base_url}{path}", content=body, headers=headers, timeout=30)


def check_answers(scenario: Scenario, ours: Server, floor_server: Server, picked: str, token: str) -> None:
    """One request of the scenario to each server before loading it: the harness stops on an error."""
    for server, path in ((ours, "/graphql"), (floor_server, scenario.floor_path)):
        response = post(server, path, scenario.body(picked), token)
        if response.status_code != 200 or '"errors":[{' in response.text:
            raise HarnessError(
                f"({scenario.key}) {server.name} answered {response.status_code}: {response.text}"
            )


def check_peer(ours: Server, postgraphile: Server, token: str, picks: Picks) -> None:
    """Each scenario once to ours and to PostGraphile, before any load: the same data, or HarnessError.
    The reads first, so that no adjustment's log entry falls between two answers of (d); the
    adjustments on two accounts untouched so far (of the seeded balance)."""
    for scenario in sorted(SCENARIOS, key=lambda scenario: scenario.picks == "accounts"):
        ours_pick, peer_pick = {
            "users": (picks.users[-1], picks.users[-1]),
            "accounts": (picks.accounts[-1], picks.accounts[-2]),
        }.get(scenario.picks or "", (PICK, PICK))
        peer_body = peer.PEER_SCENARIOS[scenario.key].body(peer_pick, picks.owner)
        answers = [
            post(ours, "/graphql", scenario.body(ours_pick), token),
            post(postgraphile, "/graphql", peer_body, token),
        ]
        for server, response in zip((ours, postgraphile), answers, strict=True):
            if response.status_code != 200:
                raise HarnessError(
                    f"({scenario.key}) {server.name} answered {response.status_code}: {response.text}"
                )
        peer.check_same_data(scenario.key, answers[0].json(), answers[1].json())


# --- in process: the token, statements and answers ------------------------------------------------

SIGN_IN = (
    "mutation S($email: String!, $password: String!) "
    "{ signIn(email: $email, password: $password) { accessToken } }"
)


async def in_process_checks(
    settings: Settings, user_ids: list[str], account_ids: list[str]
) -> tuple[str, dict[str, InProcess]]:
    """The owner's access token (signIn), and for each scenario one request through our app and one
    through the floor in this process: the SQL statements each ran and whether they answered alike
    (adjusting two accounts of the same balance). Our app runs without its lifespan, so that no
    background worker adds statements."""
    services = Services.build(settings)
    ours_log, floor_log = StatementLog(), StatementLog()
    results = {}
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, services=services)),
                base_url="http://ours",
            ) as ours,
            in_process(floor.create_app(settings.resolved_database_url, statement_hook=floor_log)) as theirs,
        ):
            variables = {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
            signed_in = (await ours.post("/graphql", json={"query": SIGN_IN, "variables": variables})).json()
            token = (signed_in.get("data") or {}).get("signIn", {}).get("accessToken")
            if not token:
                raise HarnessError(f"the owner could not sign in: {signed_in}")
            for scenario in SCENARIOS:
                ours_pick, floor_pick = {
                    "users": (user_ids[0], user_ids[0]),
                    "accounts": (account_ids[0], account_ids[1]),
                }.get(scenario.picks or "", (PICK, PICK))
                with logging_statements(services.db, ours_log):
                    ours_answer, ours_statements = await answer(
                        ours, "/graphql", scenario.body(ours_pick), token, ours_log
                    )
                floor_answer, floor_statements = await answer(
                    theirs, scenario.floor_path, scenario.body(floor_pick), token, floor_log
                )
                results[scenario.key] = InProcess(
                    len(ours_statements),
                    len(floor_statements),
                    comparable(ours_answer) == comparable(floor_answer),
                )
    finally:
        await services.close()
    return token, results


# --- a round: one number of workers -----------------------------------------------------------------


def run_round(
    workers: int, env: dict[str, str], folder: Path, scripts: Scripts, picks: Picks, token: str,
    args: argparse.Namespace,
) -> Round:  # fmt: skip
    """Start ours (alone, timed until ready), the floor and, with one worker, PostGraphile; load each
    scenario (the floor, PostGraphile, then ours); stop them."""
    pinned = workers == 1
    result = Round(workers, "core 1" if pinned else "unpinned")
    ours_port, floor_port, peer_port = free_port(), free_port(), free_port()
    ours_command, floor_command = server_commands(workers, ours_port, floor_port)
    with ExitStack() as stack:
        ours = Server("our server", ours_command, env, ours_port, folder / f"ours-{workers}.log")
        stack.callback(ours.stop)
        result.ours_ready_s = ours.wait_ready()
        theirs = Server("the floor", floor_command, env, floor_port, folder / f"floor-{workers}.log")
        stack.callback(theirs.stop)
        postgraphile = None
        if pinned:
            postgraphile = Server(
                "PostGraphile", peer_command(peer_port), {**env, "NODE_ENV": "production"}, peer_port,
                folder / "postgraphile.log", peer.answers,
            )  # fmt: skip
            stack.callback(postgraphile.stop)
            postgraphile.wait_ready()
            check_peer(ours, postgraphile, token, picks)
        theirs.wait_ready()
        for scenario in SCENARIOS:
            picked = random.choice(picks.of(scenario.picks)) if scenario.picks else PICK
            check_answers(scenario, ours, theirs, picked, token)
            runs = [(theirs, scenario.floor_path, result.floor, scripts.ours[scenario.key])]
            if postgraphile is not None:
                runs.append((postgraphile, "/graphql", result.peer, scripts.peer[scenario.key]))
            runs.append((ours, "/graphql", result.ours, scripts.ours[scenario.key]))
            for server, path, loads, script in runs:
                url = f"{server.base_url}{path}"
                try:
                    run_wrk(url, script, args.warmup, pinned)
                    loads[scenario.key] = load = run_wrk(url, script, args.duration, pinned)
                except HarnessError as error:
                    raise HarnessError(f"{error}\n{server.name}'s log ends:\n{server.log_tail()}") from None
                print(
                    f"  {workers} worker(s) ({scenario.key}) {server.name:<12} {load.rps:>9,.0f} req/s  "
                    f"p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms",
                    flush=True,
                )
        result.ours_rss_mb = ours.peak_rss_mb()
        result.floor_rss_mb = theirs.peak_rss_mb()
        if postgraphile is not None:
            result.peer_rss_mb = postgraphile.peak_rss_mb()
    return result


# --- the report -------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def p99_ok(load: Load) -> bool:
    return load.p99_ms <= TARGET_P99_OVER_P50 * load.p50_ms


def _ratio(result: Round, key: str, against: dict[str, Load]) -> float:
    return result.ours[key].rps / against[key].rps


def table(result: Round, checks: dict[str, InProcess]) -> list[str]:
    """One row a scenario: ours, the floor and (one worker) PostGraphile, and the ratios of ours."""
    with_peer = bool(result.peer)
    head = ["scenario", "ours req/s", "ours p50", "ours p99", "floor req/s", "floor p99"]
    if with_peer:
        head += ["PostGraphile req/s", "PostGraphile p99", "ours / PostGraphile"]
    head += ["ours / floor", "SQL statements (ours / floor)", "same JSON as the floor", "ours p99 / p50"]
    rows = []
    for scenario in SCENARIOS:
        key = scenario.key
        ours, theirs, check = result.ours[key], result.floor[key], checks[key]
        cells = [f"({key}) {scenario.title}", *_figures(ours, p50=True), *_figures(theirs)]
        if with_peer:
            cells += [*_figures(result.peer[key]), f"{_ratio(result, key, result.peer):.2f}"]
        cells += [
            f"{_ratio(result, key, result.floor):.2f}",
            f"{check.ours_statements} / {check.floor_statements}",
            "yes" if check.same_json else "NO",
            f"{ours.p99_ms / ours.p50_ms:.1f}x",
        ]
        rows.append(cells)
    alignment = ["---", *(["--:"] * (len(head) - 4)), ":-:", ":-:", "--:"]
    peer_memory = f", PostGraphile {result.peer_rss_mb:.0f} MB" if with_peer else ""
    return [
        *(f"| {' | '.join(cells)} |" for cells in (head, alignment, *rows)),
        "",
        f"Peak RSS (VmHWM) of a worker: ours {result.ours_rss_mb:.0f} MB, the floor "
        f"{result.floor_rss_mb:.0f} MB{peer_memory}. `loyalty serve` answered /healthz "
        f"{result.ours_ready_s:.1f} s after its start.",
    ]


def _figures(load: Load, p50: bool = False) -> list[str]:
    return [f"{load.rps:,.0f}", *([f"{load.p50_ms:.2f} ms"] if p50 else []), f"{load.p99_ms:.2f} ms"]


def targets(result: Round, checks: dict[str, InProcess]) -> list[str]:
    lines = []
    for key, target in TARGET_PEER_RATIO.items():
        ratio = _ratio(result, key, result.peer)
        lines.append(f"- ({key}) ours/PostGraphile >= {target:.2f}: {ratio:.2f} {verdict(ratio >= target)}")
    for key, target in TARGET_FLOOR_RATIO.items():
        ratio = _ratio(result, key, result.floor)
        lines.append(f"- ({key}) ours/floor >= {target:.2f}: {ratio:.2f} {verdict(ratio >= target)}")
    for key, most in TARGET_STATEMENTS.items():
        count = checks[key].ours_statements
        lines.append(f"- ({key}) SQL statements per request <= {most}: {count} {verdict(count <= most)}")
    spread = ", ".join(f"({key}) {load.p99_ms / load.p50_ms:.1f}x" for key, load in result.ours.items())
    lines.append(
        f"- p99 <= {TARGET_P99_OVER_P50:g} x p50, ours, every scenario: {spread} "
        f"{verdict(all(p99_ok(load) for load in result.ours.values()))}"
    )
    lines.append(
        f"- our worker's peak RSS <= {TARGET_RSS_MB:.0f} MB: {result.ours_rss_mb:.0f} MB "
        f"{verdict(result.ours_rss_mb <= TARGET_RSS_MB)}"
    )
    lines.append(
        f"- `loyalty serve` ready <= {TARGET_READY_S:g} s after its start: {result.ours_ready_s:.1f} s "
        f"{verdict(result.ours_ready_s <= TARGET_READY_S)}"
    )
    return lines


def machine(postgres_version: str) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    versions = ", ".join(
        f"{package} {metadata.version(package)}"
        for package in ("uvicorn", "starlette", "strawberry-graphql", "sqlalchemy", "asyncpg", "orjson")
    )
    return (
        f"{cpu}, {os.cpu_count()} cores; Linux {platform.release()}; Python {platform.python_version()}; "
        f"PostgreSQL {postgres_version}; {versions}"
    )


def commit() -> str:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return described.stdout.strip() or "unknown"


def report(
    rounds: list[Round], checks: dict[str, InProcess], postgres_version: str, args: argparse.Namespace,
    commands: list[str],
) -> str:  # fmt: skip
    one, two = rounds
    lines = [
        "# make bench: our server against the floor and PostGraphile",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit {commit()}.",
        "",
        f"Machine: {machine(postgres_version)}.",
        "",
        f"Data: {args.users:,} customers with one points account each, {args.users:,} activity log entries "
        f"(PostgreSQL, LOYALTY_LOG_STORE=sql). wrk: 1 thread, {CONNECTIONS} connections, "
        f"{args.duration} s after a {args.warmup} s warm-up, the floor, PostGraphile, then ours for each "
        "scenario. Every request carries the owner's access token.",
        "",
        "The floor (bench/floor.py) is Starlette + asyncpg + orjson running the SQL statements our "
        "server runs for each scenario and returning the same JSON; SQL statements and that comparison "
        "come from one request of each scenario through both apps in process. PostGraphile "
        f"{peer.version()} (bench/postgraphile, Node {peer.node_version()}) serves the same tables, "
        "asked for the same data in its own names (bench/peer.py; its answers checked once against "
        "ours over HTTP), its adjustPoints a PostgreSQL function doing what ours does "
        "(bench/postgraphile/adjust_points.sql). Ratios: ours req/s over theirs.",
        "",
        "## One worker (servers on core 0, wrk on core 1)",
        "",
        *table(one, checks),
        "",
        "## Targets (one worker)",
        "",
        *targets(one, checks),
        "",
        f"## Two workers (servers on cores 0-1, wrk {two.wrk_pinning})",
        "",
        *table(two, checks),
        "",
        "## Scenarios",
        "",
        *(
            f"- ({scenario.key}) `{scenario.query}`; "
            f"PostGraphile: `{peer.PEER_SCENARIOS[scenario.key].query}`"
            for scenario in SCENARIOS
        ),
        "  - (a) names a random customer, (b) a random customer's account with action ADD, amount 1.",
        "",
        "## Commands",
        "",
        "```",
        *commands,
        "```",
        "",
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        raise HarnessError(f"{' and '.join(missing)} not found: apt-get install -y wrk util-linux")
    if len(os.sched_getaffinity(0)) < 2:
        raise HarnessError("two CPU cores are needed: the servers on core 0, wrk on core 1")


@contextmanager
def timed(what: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"{what}...", flush=True)
    yield
    print(f"{what}: {time.monotonic() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measurement (10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each (3)")
    parser.add_argument("--users", type=int, default=100_000, help="customers and log entries seeded")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md", help="(overwritten)")
    args = parser.parse_args()

    require_tools()
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as temporary:
        folder = Path(temporary)
        env = server_env(DATABASE_URL, folder / "data", LOYALTY_BENCH_DATABASE_URL=DATABASE_URL)
        with timed(f"Database {DATABASE_URL.rsplit('/', 1)[1]}: create, migrate, seed {args.users:,} users"):
            postgres_version, seeded = prepare_database(env, DATABASE_URL, args.users)
            user_ids, account_ids, owner_id = seeded
            asyncio.run(peer.create_function(DATABASE_URL))
        settings = Settings(
            database_url=DATABASE_URL,
            data_dir=folder / "data",
            rate_limit="1000000000/minute",
            access_token_seconds=3600,
            log_store="sql",
        )
        with timed("In process: sign in, count statements, compare answers"):
            token, checks = asyncio.run(in_process_checks(settings, user_ids, account_ids))
        for key, check in checks.items():
            if not check.same_json:
                print(
                    f"WARNING: ({key}) the floor does not answer as our server does: its ratio means little"
                )
        picks = Picks(user_ids, account_ids, owner_id)
        scripts = Scripts({}, {})
        for scenario in SCENARIOS:
            ids_file = None
            if scenario.picks:
                ids_file = folder / f"{scenario.picks}.txt"
                ids_file.write_text("\n".join(picks.of(scenario.picks)) + "\n")
            title = f"({scenario.key}) {scenario.title}"
            scripts.ours[scenario.key] = write_lua(
                folder / f"{scenario.key}.lua", title, scenario.body(), token, ids_file
            )
            peer_body = peer.PEER_SCENARIOS[scenario.key].body(actor_id=owner_id)
            scripts.peer[scenario.key] = write_lua(
                folder / f"{scenario.key}-postgraphile.lua",
                f"{title}, PostGraphile",
                peer_body,
                token,
                ids_file,
            )
        rounds = []
        for workers in (1, 2):
            with timed(f"Load, {workers} worker(s)"):
                rounds.append(run_round(workers, env, folder, scripts, picks, token, args))

    settings_env = " ".join(
        f"{key}={value}" for key, value in env.items() if key.startswith("LOYALTY_") and "ADMIN" not in key
    )
    commands = [f"# with {settings_env.replace(str(folder), '<temporary>')}"]
    for workers in (1, 2):
        ours_command, floor_command = server_commands(workers, 8000, 8001)
        commands += [" ".join(ours_command), " ".join(floor_command)]
        if workers == 1:
            commands.append("NODE_ENV=production " + " ".join(peer_command(8002)))
    commands = [command.replace(f"{ROOT}/", "") for command in commands]
    commands.append(
        " ".join(wrk_command("http://127.0.0.1:8000/graphql", Path("<scenario>.lua"), args.duration, True))
    )
    commands.append("(two workers: the same wrk, not pinned)")
    text = report(rounds, checks, postgres_version, args, commands)
    print()
    print(text)
    args.results.write_text(text)
    print(f"Wrote {args.results}.")


if __name__ == "__main__":
    try:
        main()
    except HarnessError as error:
        sys.exit(f"make bench failed: {error}")
