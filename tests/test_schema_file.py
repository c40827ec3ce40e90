"""The SDL in the repository is the schema the code serves, and it honours the public contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_CHECK = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_the_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()

    assert committed == build_schema().as_str() + "\n", "run `make schema` and commit schema.graphql"


def test_the_schema_holds_all_of_the_contract() -> None:
    # ../shared sits beside the repository on development machines and in CI, never in a user's clone.
    if not CONTRACT_CHECK.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CONTRACT_CHECK} is missing; CI must check the contract")
        pytest.skip(f"{CONTRACT_CHECK} is not here (a user's clone); CI checks the contract")
    result = subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(ROOT / "schema.graphql")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout
