"""Where one `make bench` scenario's time goes: `loyalty serve` under cProfile while wrk loads it.

    uv run python bench/profile_scenario.py a [--seconds 8] [--users 10000] [--top 30]

Seeds a PostgreSQL database (LOYALTY_PROFILE_DATABASE_URL, default .../loyalty_profile) as `make bench`
does, serves it with the production app (uvicorn, uvloop, httptools) on core 0 under cProfile, warms it
up, profiles --seconds of wrk load from core 1 (32 connections) and prints the functions that took the
most time per request: by their own time, then by their time with what they called. cProfile slows
Python about twofold, so the figures are for comparing two commits, not absolute.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import signal
import sys
import tempfile
from pathlib import Path

import httpx

from http_bench import OWNER_EMAIL, OWNER_PASSWORD, Server, prepare_database, run_wrk, server_env, write_lua
from scenarios import SCENARIOS
from serving import free_port

DATABASE_URL = os.environ.get(
    "LOYALTY_PROFILE_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_profile"
)
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }"


def serve(output: Path, port: int) -> None:
    """The served app; profiling starts on SIGUSR1, and the profile is written once SIGTERM stopped it
    (uvicorn raises the signal again, for the handler set here, after its graceful shutdown)."""
    import uvicorn

    from loyalty.app import create_served_app

    profile = cProfile.Profile()
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
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())

    def write(*_: object) -> None:
        profile.disable()
        profile.dump_stats(output)

    signal.signal(signal.SIGTERM, write)
    server.run()


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
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    scenario = next(scenario for scenario in SCENARIOS if scenario.key == args.scenario)
    with tempfile.TemporaryDirectory(prefix="loyalty-profile-") as temporary:
        folder = Path(temporary)
        env = server_env(DATABASE_URL, folder / "data", LOYALTY_LOG_LEVEL="WARNING")
        _, (user_ids, account_ids, _) = prepare_database(env, DATABASE_URL, args.users)
        port, profile = free_port(), folder / "profile.out"
        command = ["taskset", "-c", "0", sys.executable, __file__, args.scenario, "--serve", str(profile)]
        server = Server("ours", [*command, "--port", str(port)], env, port, folder / "serve.log")
        try:
            server.wait_ready()
            answer = httpx.post(
                f"{server.base_url}/graphql",
                json={"query": SIGN_IN, "variables": {"e": OWNER_EMAIL, "p": OWNER_PASSWORD}},
            )
            token = answer.json()["data"]["signIn"]["accessToken"]
            ids_file = None
            if scenario.picks:
                ids_file = folder / "ids.txt"
                ids_file.write_text("\n".join(user_ids if scenario.picks == "users" else account_ids) + "\n")
            script = write_lua(folder / "s.lua", scenario.title, scenario.body(), token, ids_file)
            url = f"{server.base_url}/graphql"
            run_wrk(url, script, 2, pinned=True)  # warm-up
            server.process.send_signal(signal.SIGUSR1)
            load = run_wrk(url, script, args.seconds, pinned=True)
        finally:
            server.stop()
        print(f"({scenario.key}) {scenario.title}: {load.rps:,.0f} req/s under the profiler")
        print(report(profile, round(load.rps * args.seconds), args.top))


if __name__ == "__main__":
    main()
