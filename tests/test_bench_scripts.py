"""The benchmark scripts keep working as the code changes (run tiny here; their figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_log_shipping_benchmark_runs_and_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "log_shipping.py"), "--entries", "30", "--mutations", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "entries/s" in result.stdout
    assert "added by the activity log" in result.stdout


def test_the_attack_benchmark_runs_every_attack_and_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "attacks.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "| attack | answer: median / max |" in result.stdout
    assert "`/oauth/token` with a wrong secret" in result.stdout
