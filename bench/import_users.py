"""How fast ``loyalty import-users`` imports a CSV file. Prints figures; asserts nothing.

    uv run python bench/import_users.py [--rows 100000] [--funded 0.5] [--database-url URL]

Generates a CSV of N customers (a share of them with an opening balance, 1 % of rows invalid),
creates a fresh PostgreSQL database (dropped at the end) and migrates it, then runs the command as
an operator would (a subprocess, so start-up counts) and prints rows per second. A second run of the
same file shows what a re-run costs: every row skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from loyalty.datasources.migrations import upgrade_to_head

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def write_csv(path: Path, rows: int, funded: float) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "first_name", "last_name", "role", "points"])
        for index in range(rows):
            email = f"customer-{index}@example.com" if index % 100 != 99 else f"not-an-email-{index}"
            points = str(index % 5000) if (index % 1000) < funded * 1000 else ""
            writer.writerow([email, f"First{index}", f"Last{index}", "USER", points])


async def admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def timed_import(csv_path: Path, url: str, data_dir: Path) -> tuple[float, str]:
    environment = {**os.environ, "LOYALTY_DATABASE_URL": url, "LOYALTY_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "import-users", str(csv_path), "--show", "0"],
        env=environment,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 2):  # 2: some rows rejected, as generated
        sys.exit(f"import-users failed:\n{result.stderr}")
    return elapsed, result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--funded", type=float, default=0.5, help="share of rows with an opening balance")
    parser.add_argument("--database-url", default=os.environ.get("LOYALTY_TEST_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    name = f"loyalty_bench_{uuid.uuid4().hex[:10]}"
    url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(admin(args.database_url, f'CREATE DATABASE "{name}"'))
    try:
        upgrade_to_head(url)
        with tempfile.TemporaryDirectory(prefix="loyalty-import-") as folder:
            csv_path = Path(folder) / "users.csv"
            write_csv(csv_path, args.rows, args.funded)
            size = csv_path.stat().st_size / 1e6
            print(f"{args.rows:,} rows ({size:.1f} MB), {args.funded:.0%} with points, PostgreSQL {name}")
            for label in ("first run", "re-run (all skipped)"):
                elapsed, summary = timed_import(csv_path, url, Path(folder))
                print(f"{label:22} {elapsed:6.2f} s  {args.rows / elapsed:9,.0f} rows/s  {summary}")
    finally:
        asyncio.run(admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
