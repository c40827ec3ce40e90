"""`make bench-attacks`: the attacks of issue 10, each timed, with an innocent `me` measured beside it.

    uv run python bench/attacks.py [--repo PATH] [--database-url URL] [--cap 30] [--quick]

Starts `loyalty serve` from --repo (default: this checkout; its .venv must exist, `uv sync --frozen`)
on a free loopback port, on SQLite in a temporary data directory, or with --database-url on a
database `loyalty_attacks_<random>` created on that PostgreSQL server and dropped afterwards. Seeds an
owner, staff and customers with accounts through the API, then runs each attack, bounded by a cap
(the cheap ones again and again for 3 s, so that they overlap the measurement), while three signed-in
staff members send `{ me { id } }` a hundred times a second between them from a process of their own
(open loop: a stalled server shows as latency, not as fewer samples). With two CPUs or more the
server runs on the first and the bench on the others (taskset). Prints one table row per attack: the
time to answer the attack's requests (median, max), their statuses and codes, the innocent `me`'s
p50/p99, and what the attack cost (server CPU, RSS growth, log rows, passwords checked).

It talks to the server over HTTP and reads the database only to count rows, so it measures the code
before issue 10 (`--repo` on a worktree of commit 2799813) and after alike. Each attack runs from
addresses of its own (the server trusts loopback's X-Forwarded-For), so one attack's budget does not
refuse the next; the server is restarted after an attack that hit the cap, which it may still be
working on. Argon2 runs at its defaults (the cost is the point), except with --quick, a smoke run
with small attacks and a 2 s cap whose figures mean nothing. Exits 1 only when the harness fails.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx

from serving import HarnessError, free_port, wait_healthy
from wire import Wire, WireResponse

ROOT = Path(__file__).resolve().parent.parent
OWNER = ("owner@attacks.example.com", "owner password, not a secret 1")
VICTIM = ("victim@attacks.example.com", "victim password, not a secret 2")
GUESSED = ("guessed@attacks.example.com", "guessed password, not a secret 3")
INNOCENTS = [(f"innocent{n}@attacks.example.com", f"innocent password, not a secret {n}") for n in range(3)]
# Signed-in attackers, one per attack that needs staff, so one's spent budget does not refuse the next.
READERS = [(f"reader{n}@attacks.example.com", f"reader password, not a secret {n}") for n in range(2)]
ME = "{ me { id } }"
SIGN_IN = (
    "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken errors { code } } }"
)
# Seconds between two innocent requests (spread over the three staff members): 100 a second, light
# beside what the server serves, and enough samples for a p99 during an attack of half a second.
INNOCENT_INTERVAL = 0.01
# LOYALTY_* settings that would change what is measured are dropped from the server's environment.
CHEAP_ARGON2 = {
    "LOYALTY_ARGON2_TIME_COST": "1",
    "LOYALTY_ARGON2_MEMORY_KIB": "1024",
    "LOYALTY_ARGON2_PARALLELISM": "1",
}


@dataclass(frozen=True, slots=True)
class Scale:
    """How big each attack is: the issue's sizes, or a smoke run's."""

    cap: float
    window: float
    repeats: int
    documents: int
    user_aliases: int
    fanout_levels: int
    schema_aliases: int
    sign_in_aliases: int
    parallel_sign_in_requests: int
    parallel_guesses: int
    denied_aliases: int
    burst_refusals: int
    burst_max: int
    oauth_requests: int
    customers: int


FULL = Scale(30.0, 3.0, 340_000, 100, 2000, 8, 300, 50, 18, 40, 2000, 50, 10_000, 300, 100)
QUICK = Scale(2.0, 0.2, 2000, 3, 20, 2, 3, 3, 2, 6, 20, 2, 40, 10, 5)


# --- measuring ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What one attack's requests got back, and what it cost the server."""

    times: list[float] = field(default_factory=list)
    cut: list[float] = field(default_factory=list)  # requests still unanswered at the cap: time so far
    answers: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # label: times
    notes: list[str] = field(default_factory=list)
    capped: bool = False


@dataclass(slots=True)
class Innocent:
    """The innocent `me` requests' latencies; those still unanswered at the end count as lower bounds."""

    times: list[float] = field(default_factory=list)
    cut: list[float] = field(default_factory=list)
    failures: int = 0


def answer_label(response: httpx.Response | WireResponse) -> str:
    """`status code`: the first GraphQL error's code, else the first payload error's, else `data`."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} (not JSON)"
    if not isinstance(body, dict):
        return str(response.status_code)
    if isinstance(body.get("error"), str):  # OAuth 2.0
        return f"{response.status_code} {body['error']}"
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        return f"{response.status_code} {code or error.get('message', '')[:40]}"
    for value in (body.get("data") or {}).values():
        if isinstance(value, dict):
            for error in value.get("errors") or ():
                return f"{response.status_code} {error.get('code')}"
    return f"{response.status_code} data"


R = TypeVar("R", httpx.Response, WireResponse)


async def timed(outcome: Outcome, request: Awaitable[R]) -> R:
    """Send one attack request, recording its time and answer (or, when the cap cuts it, its time so far).

    A request sent on the wire (:mod:`wire`) is timed from its write; one sent through httpx, from the
    call (which includes httpx's own work)."""
    start = time.perf_counter()
    try:
        response = await request
    except asyncio.CancelledError:
        outcome.cut.append(time.perf_counter() - start)
        raise
    took = response.seconds if isinstance(response, WireResponse) else time.perf_counter() - start
    outcome.times.append(took)
    outcome.answers[answer_label(response)].append(outcome.times[-1])
    return response


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    rss_mb: float


def usage(pid: int) -> Usage:
    """The server process's CPU time so far (all its threads) and resident memory."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return Usage(cpu, rss_kb / 1024)


# --- the database: created, dropped, and counted ---------------------------------------------------


class Store:
    """Counts rows in the server's database (SQLite file or PostgreSQL), read-only."""

    def __init__(self, data_dir: Path, postgres_url: str | None) -> None:
        self.data_dir = data_dir
        self.server_url = postgres_url  # what the server gets as LOYALTY_DATABASE_URL; None: SQLite
        self._dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://") if postgres_url else None

    async def count(self, sql: str, *args: str) -> int | None:
        """The query's count, or None when its table is absent (a version of the code without it)."""
        if self._dsn is None:
            conn = sqlite3.connect(f"file:{self.data_dir / 'loyalty.db'}?mode=ro", uri=True, timeout=30)
            try:
                return int(conn.execute(sql, args).fetchone()[0])
            except sqlite3.OperationalError:
                return None
            finally:
                conn.close()
        numbered = sql
        for number in range(1, len(args) + 1):
            numbered = numbered.replace("?", f"${number}", 1)
        pg = await asyncpg.connect(self._dsn, timeout=10)
        try:
            return int(await pg.fetchval(numbered, *args))
        except asyncpg.UndefinedTableError:
            return None
        finally:
            await pg.close()

    async def counts(self) -> dict[str, int | None]:
        """What attacks write: log rows, and wrong passwords checked (each leaves one failed sign-in)."""
        return {
            "log": await self.count("SELECT count(*) FROM log_entries"),
            "checked": await self.count(
                "SELECT count(*) FROM log_entries WHERE action = 'auth.sign_in_failed' "
                "AND CAST(details AS TEXT) LIKE ?",
                "%INVALID_CREDENTIALS%",
            ),
        }


@contextmanager
def postgres_database(url: str | None) -> Iterator[str | None]:
    """A fresh database `loyalty_attacks_<random>` on the server of ``url``, dropped afterwards."""
    if url is None:
        yield None
        return
    server = urlsplit(url).netloc  # user@host:port; the database named in the URL is not used
    admin = f"postgresql://{server}/postgres"
    name = f"loyalty_attacks_{secrets.token_hex(6)}"

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(admin, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise HarnessError(f"PostgreSQL is not reachable at {server}: {error}") from error
    try:
        yield f"postgresql+asyncpg://{server}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the server --------------------------------------------------------------------------------------


class Server:
    """`loyalty serve` from the repository under test, started (and restarted) on one port."""

    def __init__(self, repo: Path, store: Store, *, quick: bool, cores: set[int] | None = None) -> None:
        self.loyalty = repo / ".venv" / "bin" / "loyalty"
        self.cores = cores  # the CPUs it runs on; any when None
        self.python = repo / ".venv" / "bin" / "python"
        if not self.loyalty.exists():
            raise HarnessError(f"{self.loyalty} is missing: run `uv sync --frozen` in {repo}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")}
        env |= {
            "LOYALTY_DATA_DIR": str(store.data_dir),
            "LOYALTY_TRUSTED_PROXIES": "127.0.0.1",
            "LOYALTY_PUBLIC_URL": self.url,
            "LOYALTY_ADMIN_EMAIL": OWNER[0],
            "LOYALTY_ADMIN_PASSWORD": OWNER[1],
        }
        if store.server_url:
            env["LOYALTY_DATABASE_URL"] = store.server_url
        if quick:
            env |= CHEAP_ARGON2
        self.env = env
        self.log = store.data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def prepare(self) -> str:
        """Migrate, create the owner and a partner client; the client's id.

        One interpreter runs the three commands: each `loyalty` process spends seconds importing.
        """
        script = (
            "from loyalty.cli import main; main(['migrate']); main(['create-owner']); "
            "main(['create-partner-client', '--name', 'Attacks', '--scopes', 'users:read'])"
        )
        result = subprocess.run(
            [str(self.python), "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(f"migrating and creating the owner failed:\n{result.stderr[-2000:]}")
        return next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("client_id"))

    async def invitation_token(self, email: str) -> str:
        """The token of the invitation the server emailed to ``email`` (its console sender prints it)."""
        pattern = re.compile(rf"To: {re.escape(email)}\n.*?accept-invitation#token=([\w-]+)", re.DOTALL)
        for _ in range(100):
            found = pattern.findall(self.log.read_text(errors="replace"))
            if found:
                return str(found[-1])
            await asyncio.sleep(0.1)
        raise HarnessError(f"no invitation for {email} in {self.log}")

    def start(self) -> None:
        command = [str(self.loyalty), "serve", "--port", str(self.port)]
        if self.cores:
            command = ["taskset", "-c", ",".join(map(str, sorted(self.cores))), *command]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        wait_healthy("the server", self.process, self.url, self.log)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


# --- the bench: callers, the innocent loop, each attack -------------------------------------------


def address(attack: int, n: int = 1) -> dict[str, str]:
    """A client address of its own for each attack (and each of its parallel clients)."""
    return {"X-Forwarded-For": f"10.{attack}.{n // 250}.{n % 250 + 1}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def innocent_requests(
    client: httpx.AsyncClient, tokens: list[str], stop: asyncio.Event, innocent: Innocent
) -> None:
    """`me` every INNOCENT_INTERVAL, in turn for each token, until ``stop``; unanswered ones are cut."""
    tasks: set[asyncio.Task[None]] = set()

    async def one(token: str) -> None:
        start = time.perf_counter()
        try:
            response = await client.post("/graphql", json={"query": ME}, headers=bearer(token))
        except asyncio.CancelledError:
            innocent.cut.append(time.perf_counter() - start)
            raise
        innocent.times.append(time.perf_counter() - start)
        if response.status_code != 200 or not (response.json().get("data") or {}).get("me"):
            innocent.failures += 1

    n = 0
    while not stop.is_set():
        task = asyncio.create_task(one(tokens[n % len(tokens)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INNOCENT_INTERVAL)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _innocents_main(url: str, commands: Connection) -> None:
    asyncio.run(_innocents_serve(url, commands))


async def _innocents_serve(url: str, commands: Connection) -> None:
    """Measures on "start" (with the tokens to use) until "stop", and sends the times back."""
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        while True:
            command, tokens = await loop.run_in_executor(None, commands.recv)
            if command != "start":
                return
            innocent, stop = Innocent(), asyncio.Event()
            measuring = asyncio.create_task(innocent_requests(client, tokens, stop, innocent))
            await loop.run_in_executor(None, commands.recv)  # "stop"
            stop.set()
            await measuring
            commands.send((innocent.times, innocent.cut, innocent.failures))


class Innocents:
    """The innocent staff's `me` requests, sent from a process of their own.

    Sent from the attacks' own event loop, their times held the bench's work too: a burst of 40
    requests built, sent and read in that loop delayed them as much as the server did.
    """

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._commands, theirs = context.Pipe()
        self._process = context.Process(target=_innocents_main, args=(url, theirs), daemon=True)
        self._process.start()

    def start(self, tokens: list[str]) -> None:
        self._commands.send(("start", tokens))

    def stop(self) -> Innocent:
        self._commands.send(("stop", None))
        times, cut, failures = self._commands.recv()
        return Innocent(times, cut, failures)

    def close(self) -> None:
        self._commands.send(("exit", None))
        self._process.join(5)


class Bench:
    """The clients, the seeded people's tokens, and the attacks sent through them."""

    def __init__(self, server: Server, store: Store, scale: Scale, partner_client_id: str) -> None:
        self.server = server
        self.partner_client_id = partner_client_id
        self.store = store
        self.scale = scale
        self.tag = secrets.token_hex(3)  # distinct documents and emails on every run
        self.client = httpx.AsyncClient(
            base_url=server.url, timeout=None, limits=httpx.Limits(max_connections=64)
        )
        self.wire = Wire(server.url)  # the attacks' requests, timed from their write
        self.innocents = Innocents(server.url)
        # The attackers' own Python, a core's worth in a flood, yields to the innocents' process, whose
        # staff would be on machines of their own: their `me` measures the server, not this process.
        os.nice(10)
        self.reader_tokens: list[str] = []
        self.innocent_tokens: list[str] = []
        self.customer_id = ""
        self.signed_in_at = -math.inf

    async def close(self) -> None:
        await self.client.aclose()
        await self.wire.close()
        self.innocents.close()

    async def graphql(
        self, query: str, headers: dict[str, str], variables: dict[str, Any] | None = None
    ) -> Any:
        """A setup request; waits out a 429 (the budgets are not what setup measures)."""
        for _ in range(30):
            response = await self.client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            if response.status_code != 429:
                body = response.json()
                if body.get("errors"):
                    raise HarnessError(f"{query[:80]}: {body['errors']}")
                return body["data"]
            await asyncio.sleep(float(response.headers.get("retry-after", "1")) + 0.1)
        raise HarnessError(f"{query[:80]}: still rate limited")

    async def sign_in(self, email: str, password: str, n: int) -> str:
        data = await self.graphql(
            SIGN_IN,
            address(250, n),
            {"e": email, "p": password},
        )
        if not data["signIn"]["accessToken"]:
            raise HarnessError(f"{email} cannot sign in: {data['signIn']['errors']}")
        return str(data["signIn"]["accessToken"])

    async def seed(self) -> None:
        """Staff (innocents, attackers, a victim owner, one whose password is guessed) and customers."""
        owner_token = await self.sign_in(*OWNER, 0)
        enroll = (
            "mutation($i: EnrollUserInput!) { enrollUser(input: $i) { user { id } errors { code message } } }"
        )
        staff = [(*who, "MANAGER") for who in [*INNOCENTS, *READERS, GUESSED]] + [(*VICTIM, "OWNER")]
        for email, password, role in staff:
            person = {"email": email, "firstName": "Staff", "lastName": role.title(), "role": role}
            data = await self.graphql(enroll, bearer(owner_token), {"i": person | {"password": password}})
            if data["enrollUser"]["errors"]:  # staff set their own password, through the invitation
                await self.graphql(enroll, bearer(owner_token), {"i": person})
                accept = (
                    "mutation($t: String!, $p: String!) "
                    "{ acceptInvitation(token: $t, password: $p) { errors { code } } }"
                )
                token = await self.server.invitation_token(email)
                accepted = await self.graphql(accept, {}, {"t": token, "p": password})
                if accepted["acceptInvitation"]["errors"]:
                    raise HarnessError(f"{email}: {accepted['acceptInvitation']['errors']}")
        for n in range(self.scale.customers):
            customer = {
                "email": f"customer{n}@attacks.example.com",
                "firstName": "Customer",
                "lastName": str(n),
                "initialPoints": 100,
            }
            data = await self.graphql(enroll, bearer(owner_token), {"i": customer})
            self.customer_id = data["enrollUser"]["user"]["id"]

    async def ready(self) -> None:
        """Fresh tokens when the last are 10 minutes old (they live 15), and `me` compiled before it is timed.

        Signing in only then keeps the setup's own sign-ins clear of the per-email and per-address budgets.
        """
        if time.monotonic() - self.signed_in_at > 600:
            self.innocent_tokens = [await self.sign_in(*who, n + 1) for n, who in enumerate(INNOCENTS)]
            self.reader_tokens = [await self.sign_in(*who, n + 10) for n, who in enumerate(READERS)]
            self.signed_in_at = time.monotonic()
        for token in self.innocent_tokens:
            await self.graphql(ME, bearer(token))

    def post(self, outcome: Outcome, query: str, headers: dict[str, str]) -> Awaitable[WireResponse]:
        return timed(outcome, self.wire.post_json("/graphql", {"query": query}, headers))

    # The attacks: each gets its number (for its addresses) and fills the outcome as answers come.

    async def one_megabyte(self, number: int, outcome: Outcome) -> None:
        await self.post(outcome, "{" + "me " * self.scale.repeats + "}", address(number))

    async def distinct_megabytes(self, number: int, outcome: Outcome) -> None:
        try:
            for n in range(self.scale.documents):
                await self.post(
                    outcome, f"query Q{self.tag}x{n} {{" + "me " * self.scale.repeats + "}", address(number)
                )
        finally:
            outcome.notes.append(f"{len(outcome.times)}/{self.scale.documents} answered")

    async def user_pages(self, number: int, outcome: Outcome) -> None:
        aliases = " ".join(
            f"u{n}: users(first: 100) {{ edges {{ node {{ id }} }} }}" for n in range(self.scale.user_aliases)
        )
        await self.post(outcome, "{ " + aliases + " }", address(number) | bearer(self.reader_tokens[0]))

    async def fan_out(self, number: int, outcome: Outcome) -> None:
        def level(depth: int) -> str:
            if depth == self.scale.fanout_levels:
                return "id"
            name = "pointsAccounts" if depth % 2 == 0 else "user"
            inner = level(depth + 1)
            return f"a: {name} {{ {inner} }} b: {name} {{ {inner} }}"

        query = "{ users(first: 100, filter: {role: USER}) { edges { node { " + level(0) + " } } } }"
        await self.post(outcome, query, address(number) | bearer(self.reader_tokens[1]))

    async def introspection(self, number: int, outcome: Outcome) -> None:
        selection = (
            "__schema { types { name fields { name args { name } type { name kind ofType { name } } } } }"
        )
        aliases = " ".join(f"s{n}: {selection}" for n in range(self.scale.schema_aliases))
        await self.post(outcome, "{ " + aliases + " }", address(number))

    def sign_ins(self, emails: list[str]) -> str:
        aliases = " ".join(
            f's{n}: signIn(email: "{email}", password: "wrong {n}") {{ accessToken errors {{ code }} }}'
            for n, email in enumerate(emails)
        )
        return "mutation { " + aliases + " }"

    async def aliased_sign_ins(self, number: int, outcome: Outcome) -> None:
        emails = [
            f"nobody{n}.{self.tag}.{number}@attacks.example.com" for n in range(self.scale.sign_in_aliases)
        ]
        await self.post(outcome, self.sign_ins(emails), address(number))

    async def parallel_aliased_sign_ins(self, number: int, outcome: Outcome) -> None:
        requests = [
            self.post(
                outcome,
                self.sign_ins(
                    [
                        f"nobody{n}.{r}.{self.tag}.{number}@attacks.example.com"
                        for n in range(self.scale.sign_in_aliases)
                    ]
                ),
                address(number, r),
            )
            for r in range(self.scale.parallel_sign_in_requests)
        ]
        await self.wire.ready(len(requests))
        await asyncio.gather(*requests)

    async def parallel_guesses(self, number: int, outcome: Outcome) -> None:
        email = GUESSED[0]
        requests = [
            self.post(outcome, self.sign_ins([email]).replace("wrong 0", f"wrong guess {n}"), address(number))
            for n in range(self.scale.parallel_guesses)
        ]
        await self.wire.ready(len(requests))
        await asyncio.gather(*requests)

    async def lock_out_the_owner(self, number: int, outcome: Outcome) -> None:
        await self.post(outcome, self.sign_ins([VICTIM[0]] * 6), address(number))
        await self.sign_in_elsewhere(number, outcome)

    async def lock_out_the_owner_in_turn(self, number: int, outcome: Outcome) -> None:
        for _ in range(6):
            await self.post(outcome, self.sign_ins([VICTIM[0]]), address(number))
        await self.sign_in_elsewhere(number, outcome)

    async def sign_in_elsewhere(self, number: int, outcome: Outcome) -> None:
        """The owner, from an address of their own, notes whether the attack locked them out."""
        start = time.perf_counter()
        response = await self.client.post(
            "/graphql",
            json={"query": SIGN_IN, "variables": {"e": VICTIM[0], "p": VICTIM[1]}},
            headers=address(number, 99),
        )
        took = duration(time.perf_counter() - start)
        signed_in = bool(((response.json().get("data") or {}).get("signIn") or {}).get("accessToken"))
        answer = "signed in" if signed_in else answer_label(response).split(" ", 1)[1]
        outcome.notes.append(f"the owner from elsewhere: {answer} in {took}")

    async def denied_reads(self, number: int, outcome: Outcome) -> None:
        # A nullable field, so each alias is refused on its own (a non-null one ends at the first).
        read = f'user(id: "{self.customer_id}") {{ id email }}'
        aliases = " ".join(f"d{n}: {read}" for n in range(self.scale.denied_aliases))
        await self.post(outcome, "{ " + aliases + " }", address(number))

    async def burst(self, number: int, outcome: Outcome) -> None:
        """Cheap anonymous requests from one address until enough are refused (or a bound is reached)."""
        sent = 0

        async def client() -> None:
            nonlocal sent
            while (
                sent < self.scale.burst_max
                and len(outcome.answers.get(RATE_LIMITED, ())) < self.scale.burst_refusals
            ):
                sent += 1
                await self.post(outcome, "{ __typename }", address(number))

        await asyncio.gather(*(client() for _ in range(8)))

    async def simple_requests(self, number: int, outcome: Outcome) -> None:
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            response = await timed(
                outcome,
                self.client.post(
                    "/graphql",
                    content=b'{"query": "{ __typename }"}',
                    headers=address(number) | {"Content-Type": kind},
                ),
            )
            executed = response.status_code == 200 and "data" in response.json()
            outcome.notes.append(f"{kind.split('/')[1][:10]}: {'executed' if executed else 'refused'}")

    async def oauth_flood(self, number: int, outcome: Outcome) -> None:
        client_id = self.partner_client_id
        pending = iter(range(self.scale.oauth_requests))

        async def client() -> None:
            for _ in pending:
                await timed(
                    outcome,
                    self.wire.post_form(
                        "/oauth/token",
                        {"grant_type": "client_credentials"},
                        address(number),
                        basic=(client_id, "a wrong secret"),
                    ),
                )

        await self.wire.ready(16)
        await asyncio.gather(*(client() for _ in range(16)))


RATE_LIMITED = "429 RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class Attack:
    name: str
    run: Callable[[Bench, int, Outcome], Awaitable[None]]
    extra: Callable[[dict[str, int], Outcome], str]
    # Sent again and again for Scale.window, so the innocent `me` is measured during it, not after it.
    # Attacks whose state is the point (sign-ins, budgets, the memory of distinct documents) run once.
    repeat: bool = False


def rows(delta: dict[str, int], outcome: Outcome) -> str:
    requests = len(outcome.times) + len(outcome.cut)
    return f"{delta['log']} log rows" + (f" for {requests} requests" if requests > 1 else "")


def checked(delta: dict[str, int], _: Outcome) -> str:
    return f"{delta['checked']} passwords checked"


def per_refusal(delta: dict[str, int], outcome: Outcome) -> str:
    refused = len(outcome.answers.get(RATE_LIMITED, ()))
    sent = len(outcome.times)
    ratio = f"{delta['log'] / refused:.2f}" if refused else "-"
    return f"{sent} sent, {refused} refused, {delta['log']} log rows ({ratio} per 429)"


def nothing(_delta: dict[str, int], _outcome: Outcome) -> str:
    return ""


def attacks(scale: Scale) -> list[Attack]:
    kb = (3 * scale.repeats + 2) // 1000
    return [
        Attack(
            f"1 document of {kb} kB: `me` x{scale.repeats:,}, anonymous", Bench.one_megabyte, nothing, True
        ),
        Attack(f"{scale.documents} distinct such documents, in turn", Bench.distinct_megabytes, nothing),
        Attack(
            f"{scale.user_aliases:,} aliases of `users(first:100)`, a manager",
            Bench.user_pages,
            nothing,
            True,
        ),
        Attack(
            f"fan-out x2 per level, {scale.fanout_levels} levels, under `users(first:100)`",
            Bench.fan_out,
            nothing,
            True,
        ),
        Attack(f"{scale.schema_aliases} aliased `__schema`, anonymous", Bench.introspection, nothing, True),
        Attack(f"{scale.sign_in_aliases} aliased wrong `signIn`, anonymous", Bench.aliased_sign_ins, checked),
        Attack(
            f"{scale.parallel_sign_in_requests} such requests in parallel",
            Bench.parallel_aliased_sign_ins,
            checked,
        ),
        Attack(
            f"{scale.parallel_guesses} parallel wrong sign-ins, one email", Bench.parallel_guesses, checked
        ),
        Attack("6 aliased wrong sign-ins for an owner, then the owner", Bench.lock_out_the_owner, checked),
        Attack(f"{scale.denied_aliases:,} aliased denied reads, anonymous", Bench.denied_reads, rows, True),
        Attack("a burst past the rate limit, anonymous", Bench.burst, per_refusal),
        Attack("text/plain and form-encoded POSTs", Bench.simple_requests, nothing),
        Attack(f"{scale.oauth_requests} `/oauth/token` with a wrong secret", Bench.oauth_flood, rows),
        Attack(
            "6 wrong sign-ins for an owner in turn, then the owner", Bench.lock_out_the_owner_in_turn, checked
        ),
    ]


# --- running and printing -----------------------------------------------------------------------


async def repeated(bench: Bench, number: int, attack: Attack, outcome: Outcome) -> None:
    start = time.monotonic()
    await attack.run(bench, number, outcome)
    while attack.repeat and time.monotonic() - start < bench.scale.window:
        await attack.run(bench, number, outcome)


@dataclass(frozen=True, slots=True)
class Row:
    attack: str
    answer: str
    codes: str
    innocent: str
    extra: str


async def measure(bench: Bench, number: int, attack: Attack) -> Row:
    scale, pid = bench.scale, bench.server.pid
    counts_before = await bench.store.counts()
    usage_before = usage(pid)
    outcome = Outcome()
    bench.innocents.start(bench.innocent_tokens)
    try:
        await asyncio.wait_for(repeated(bench, number, attack, outcome), scale.cap)
    except TimeoutError:
        outcome.capped = True
    innocent = await asyncio.to_thread(bench.innocents.stop)
    usage_after = usage(pid)
    if outcome.capped:  # it may still be working on what was cut: start afresh for the next attack
        bench.server.stop()
    counts_after = await bench.store.counts()
    delta = {key: (counts_after[key] or 0) - (counts_before[key] or 0) for key in counts_before}
    extra = [
        attack.extra(delta, outcome),
        *outcome.notes,
        f"CPU {usage_after.cpu_seconds - usage_before.cpu_seconds:.1f} s",
        f"RSS {usage_after.rss_mb - usage_before.rss_mb:+.0f} MB",
    ]
    return Row(
        attack.name,
        answer_times(outcome, scale.cap),
        answer_codes(outcome),
        innocent_times(innocent),
        "; ".join(e for e in extra if e),
    )


def answer_times(outcome: Outcome, cap: float) -> str:
    if not outcome.times:
        return f"> {cap:.0f} s (no answer)"
    text = f"{duration(statistics.median(outcome.times))} / {duration(max(outcome.times))}"
    return text + (
        f"; {len(outcome.cut)} cut at > {cap:.0f} s" if outcome.cut else "; capped" if outcome.capped else ""
    )


def answer_codes(outcome: Outcome) -> str:
    return (
        ", ".join(
            f"{label} x{len(times)} ({duration(statistics.median(times))})"
            for label, times in sorted(outcome.answers.items(), key=lambda item: -len(item[1]))[:3]
        )
        or "-"
    )


def innocent_times(innocent: Innocent) -> str:
    samples = innocent.times + innocent.cut
    if not samples:
        return "-"
    p99 = percentile(samples, 0.99)
    lower_bound = "> " if p99 in innocent.cut else ""
    failures = f" ({innocent.failures} failed)" if innocent.failures else ""
    return f"{duration(percentile(samples, 0.5))} / {lower_bound}{duration(p99)}{failures}"


def table(rows: list[Row]) -> str:
    lines = [
        "| attack | answer: median / max | status, code: count (median) | innocent `me` p50 / p99 | extra |",
        "|---|--:|---|--:|---|",
    ]
    lines += [f"| {r.attack} | {r.answer} | {r.codes} | {r.innocent} | {r.extra} |" for r in rows]
    return "\n".join(lines)


async def run_attacks(
    server: Server, store: Store, scale: Scale, partner_client_id: str, only: set[int] | None = None
) -> list[Row]:
    bench = Bench(server, store, scale, partner_client_id)
    try:
        await bench.seed()
        result: list[Row] = []
        for number, attack in enumerate(attacks(scale), start=1):
            if only and number not in only:
                continue
            if server.process is None:
                await asyncio.to_thread(server.start)
            await bench.ready()
            result.append(await measure(bench, number, attack))
            print(f"  {number:2}. {attack.name}: {result[-1].answer}", file=sys.stderr, flush=True)
        return result
    finally:
        await bench.close()


def revision(repo: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()[:90] or "unknown"


def pin_apart() -> set[int] | None:
    """With two CPUs or more, the server's CPUs (the first), this process and its innocents moved to
    the others, as `make bench` pins wrk: the attackers' own Python, a core's worth in a flood, would
    otherwise take turns with the server on its core, and the innocent `me` would measure that
    contention as much as the server. None, pinning nothing, on one CPU or without taskset."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None
    os.sched_setaffinity(0, cpus[1:])
    return {cpus[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose server is attacked")
    parser.add_argument("--database-url", help="a PostgreSQL server: postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--cap", type=float, help="seconds an attack may take before it is cut (default 30)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: small attacks, 2 s cap, cheap Argon2"
    )
    parser.add_argument(
        "--only", type=lambda text: {int(n) for n in text.split(",")}, help="attacks by number: 7,8"
    )
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    if args.cap:
        scale = replace(scale, cap=args.cap)
    server_cores = pin_apart()
    load = os.getloadavg()
    started = datetime.now(UTC)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="loyalty-attacks-") as folder,
            postgres_database(args.database_url) as pg,
        ):
            store = Store(Path(folder), pg)
            server = Server(args.repo.resolve(), store, quick=args.quick, cores=server_cores)
            client_id = server.prepare()
            server.start()
            try:
                result = asyncio.run(run_attacks(server, store, scale, client_id, args.only))
            finally:
                server.stop()
    except HarnessError as error:
        sys.exit(f"attacks: {error}")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\nAttacks on {revision(args.repo)} ({database}), {started:%Y-%m-%d %H:%M} UTC, "
        f"cap {scale.cap:.0f} s, {os.cpu_count()} CPUs"
        + (f" (the server on {sorted(server_cores)}, the bench on the others)" if server_cores else "")
        + f", load {load[0]:.2f} before / {os.getloadavg()[0]:.2f} after\n"
    )
    print(table(result))


if __name__ == "__main__":
    main()
