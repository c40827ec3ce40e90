"""The benchmark scripts keep working as the code changes (run tiny here; their figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_script(name: str, *args: str) -> str:
    """What the script printed, once it exited 0."""
    result = subprocess.run(
        [sys.executable, str(BENCH / name), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_log_shipping_benchmark_runs_and_prints_its_figures() -> None:
    output = run_script("log_shipping.py", "--entries", "30", "--mutations", "20")

    assert "entries/s" in output
    assert "added by the activity log" in output


def test_the_attack_benchmark_runs_every_attack_and_prints_its_table() -> None:
    output = run_script("attacks.py", "--quick")

    assert "| attack | answer: median / max |" in output
    assert "`/oauth/token` with a wrong secret" in output
