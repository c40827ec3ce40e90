"""Where one `make bench` scenario's time goes: `loyalty serve` under cProfile while wrk loads it.

    uv run python bench/profile_scenario.py a [--seconds 8] [--users 10000] [--top 30] [--cpu]
    uv run python bench/profile_scenario.py a --against <worktree>/src [--rounds 4] [--seconds 5]

Seeds a PostgreSQL database (LOYALTY_PROFILE_DATABASE_URL, default .../loyalty_profile) as `make bench`
does, serves it with the production app (uvicorn, uvloop, httptools) on core 0 under cProfile, warms it
up, profiles --seconds of wrk load from core 1 (32 connections) and prints the functions that took the
most time per request: by their own time, then by their time with what they called. cProfile slows
Python about twofold, so the figures are for comparing two commits, not absolute. Its clock is the
wall's, so time the worker waits (for PostgreSQL, or for a core the machine gives another process) is
counted too; with --cpu it is the process's CPU time, which a busy machine disturbs less.

With --against, nothing is profiled: two servers, one importing ``loyalty`` from that source folder
(a worktree of the commit to compare with) and one from this checkout, are loaded in turn (A B B A ...)
for --rounds rounds, and each run gives its req/s and the worker's CPU time per request (from
/proc/<pid>/stat), the figure that the machine's other load disturbs least.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from http_bench import OWNER_EMAIL, OWNER_PASSWORD, Server, prepare_database, run_wrk, server_env, write_lua
from scenarios import SCENARIOS
from serving import free_port

DATABASE_URL = os.environ.get(
    "LOYALTY_PROFILE_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_profile"
)
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }"


def serve(output: Path | None, port: int, cpu: bool) -> None:
    """The served app; profiling starts on SIGUSR1, and the profile is written once SIGTERM stopped it
    (uvicorn raises the signal again, for the handler set here, after its graceful shutdown). Without
    ``output``, the app is served unprofiled."""
    import uvicorn

    from loyalty.app import create_served_app

    profile = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    server = uvicorn.Server(
        uvicorn.Config(
            create_served_app(),
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_config=None,
            proxy_headers=False,  # as `loyalty serve` runs it
        )
    )
    if output is None:
        server.run()
        return
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())

    def write(*_: object) -> None:
        profile.disable()
        profile.dump_stats(output)

    signal.signal(signal.SIGTERM, write)
    server.run()


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(
    servers: dict[str, Server], url_path: str, script: Path, seconds: int, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """Each server loaded ``rounds`` times, in the order A B B A A B ...: req/s and CPU µs a request."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    names = list(servers)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            server = servers[name]
            before = cpu_seconds(server.process.pid)
            load = run_wrk(f"{server.base_url}{url_path}", script, seconds, pinned=True)
            used = cpu_seconds(server.process.pid) - before
            runs[name].append((load.rps, used / (load.rps * seconds) * 1e6))
            print(f"  {name}: {load.rps:,.0f} req/s, {runs[name][-1][1]:.0f} µs of CPU a request", flush=True)
    return runs


def report(profile: Path, requests: int, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    total = stats.total_tt  # type: ignore[attr-defined]
    out.write(f"{requests:,} requests profiled, {total / requests * 1e6:.0f} µs of profiled time each\n")
    for order in ("tottime", "cumulative"):
        out.write(f"\n## by {order}\n")
        stats.sort_stats(order).print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=[scenario.key for scenario in SCENARIOS])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--cpu", action="store_true", help="profile CPU time instead of the wall's")
    parser.add_argument("--against", type=Path, help="compare with loyalty imported from this folder")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--save", type=Path, help="keep the profile (pstats) in this file")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--unprofiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(None if args.unprofiled else args.serve, args.port, args.cpu)
        return
    scenario = next(scenario for scenario in SCENARIOS if scenario.key == args.scenario)
    with tempfile.TemporaryDirectory(prefix="loyalty-profile-") as temporary:
        folder = Path(temporary)
        env = server_env(DATABASE_URL, folder / "data", LOYALTY_LOG_LEVEL="WARNING")
        _, (user_ids, account_ids, _) = prepare_database(env, DATABASE_URL, args.users)
        profile = folder / "profile.out"
        command = ["taskset", "-c", "0", sys.executable, __file__, args.scenario, "--serve", str(profile)]
        if args.cpu:
            command.append("--cpu")
        servers: dict[str, Server] = {}
        try:
            if args.against:
                against = {**env, "PYTHONPATH": str(args.against.resolve())}
                for name, server_env_ in ((f"A {args.against}", against), ("B this checkout", env)):
                    port = free_port()
                    servers[name] = Server(
                        name, [*command, "--unprofiled", "--port", str(port)], server_env_, port,
                        folder / f"serve-{len(servers)}.log",
                    )  # fmt: skip
            else:
                port = free_port()
                servers["ours"] = Server(
                    "ours", [*command, "--port", str(port)], env, port, folder / "serve.log"
                )
            for server in servers.values():
                server.wait_ready()
            first = next(iter(servers.values()))
            answer = httpx.post(
                f"{first.base_url}/graphql",
                json={"query": SIGN_IN, "variables": {"e": OWNER_EMAIL, "p": OWNER_PASSWORD}},
            )
            token = answer.json()["data"]["signIn"]["accessToken"]
            ids_file = None
            if scenario.picks:
                ids_file = folder / "ids.txt"
                ids_file.write_text("\n".join(user_ids if scenario.picks == "users" else account_ids) + "\n")
            script = write_lua(folder / "s.lua", scenario.title, scenario.body(), token, ids_file)
            for server in servers.values():
                run_wrk(f"{server.base_url}/graphql", script, 2, pinned=True)  # warm-up
            if args.against:
                runs = compare(servers, "/graphql", script, args.seconds, args.rounds)
            else:
                server = servers["ours"]
                server.process.send_signal(signal.SIGUSR1)
                load = run_wrk(f"{server.base_url}/graphql", script, args.seconds, pinned=True)
        finally:
            for server in servers.values():
                server.stop()
        if args.against:
            print(f"({scenario.key}) {scenario.title}, {args.rounds} rounds of {args.seconds} s, median:")
            for name, figures in runs.items():
                rps, cpu = (statistics.median(column) for column in zip(*figures, strict=True))
                print(f"  {name}: {rps:,.0f} req/s, {cpu:.0f} µs of CPU a request")
            return
        clock = "CPU" if args.cpu else "profiled"
        print(f"({scenario.key}) {scenario.title}: {load.rps:,.0f} req/s under the profiler ({clock} time)")
        print(report(profile, round(load.rps * args.seconds), args.top))
        if args.save:
            shutil.copyfile(profile, args.save)


if __name__ == "__main__":
    main()
