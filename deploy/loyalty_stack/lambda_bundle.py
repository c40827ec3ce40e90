"""The email Lambda's code: the ``loyalty`` package and its locked run-time dependencies, as a folder.

Built without Docker: ``uv export`` lists the locked dependencies and ``uv pip install --target``
fetches the manylinux wheels for the Lambda's Python and architecture (no compiler, no container).
A build is kept under ``deploy/.build/`` keyed by a hash of ``uv.lock``, the package's files and the
entry module, so synthesizing again with nothing changed reuses it in milliseconds.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_ROOT = REPO / "deploy" / ".build"
ENTRY = REPO / "deploy" / "lambda_entry" / "loyalty_lambda_secrets.py"
PACKAGE = REPO / "src" / "loyalty"
HANDLER = "loyalty_lambda_secrets.handler"
PYTHON_VERSION = "3.12"
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels run there.
PLATFORM = "x86_64-manylinux_2_28"
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "console_dist")  # the console is the server's


def _package_files() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and "console_dist" not in path.parts
    )


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{PYTHON_VERSION} {PLATFORM}".encode())
    for path in [REPO / "uv.lock", ENTRY, *_package_files()]:
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def email_lambda_code() -> Path:
    """A folder holding the handler module, ``loyalty`` and its dependencies (built if missing)."""
    target = BUILD_ROOT / f"email-lambda-{_fingerprint()}"
    if target.is_dir():
        return target
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_ROOT) as scratch:
        staging = Path(scratch) / "code"
        requirements = Path(scratch) / "requirements.txt"
        # --color never: the CDK CLI runs the app with FORCE_COLOR set, which uv would obey.
        subprocess.run(
            [
                "uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes",
                "--quiet", "--color", "never", "--output-file", str(requirements),
            ],
            cwd=REPO,
            check=True,
        )  # fmt: skip
        subprocess.run(
            [
                "uv", "pip", "install", "--quiet", "--color", "never", "--target", str(staging),
                "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM,
                "--only-binary", ":all:", "-r", str(requirements),
            ],
            cwd=REPO,
            check=True,
        )  # fmt: skip
        shutil.copytree(PACKAGE, staging / "loyalty", ignore=_SKIPPED)
        shutil.copy2(ENTRY, staging / ENTRY.name)
        try:
            staging.rename(target)  # atomic: a half-built folder never carries the final name
        except OSError:
            if not target.is_dir():  # not another synth finishing the same build first
                raise
    for stale in BUILD_ROOT.glob("email-lambda-*"):
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    return target
