"""The image as it ships: built from the Dockerfile with podman, run against PostgreSQL, used over HTTP.

The base is a build argument. No registry is reachable on the machines these tests were written on, so
``scripts/container-base`` builds a stand-in for ``python:3.11-slim-bookworm`` from Debian's packages
once; ``LOYALTY_CONTAINER_BASE`` names another base (``python:3.11-slim-bookworm`` where it can be
pulled). The build reuses its layer cache: after a source change it takes well under a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_URL, _postgres_admin
from tests.test_cli_and_server import free_port

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/loyalty:test"
BASE = os.environ.get("LOYALTY_CONTAINER_BASE", "localhost/loyalty-base:bookworm")
# A proxy's CA, handed to the build's downloads as a secret (never copied into the image).
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# runc: crun fails on some kernels' cgroups; rootful podman refuses the default ulimits there.
RUN_OPTIONS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "host"]
PODMAN = ["podman", "--runtime", "runc"]
OWNER = ("owner@example.com", "an owner password in a container")
# Cheap hashing: the test is about the container, not Argon2.
ARGON2_ENV = {
    "LOYALTY_ARGON2_TIME_COST": "1",
    "LOYALTY_ARGON2_MEMORY_KIB": "8",
    "LOYALTY_ARGON2_PARALLELISM": "1",
}


def missing(reason: str) -> None:
    """Skip for a missing tool, except on CI, where the image must be tested."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def podman(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run podman; ``env`` goes into the container by name only, keeping the key off command lines."""
    names = [option for name in env or {} for option in ("--env", name)]
    command, *rest = args
    return subprocess.run(
        [*PODMAN, command, *names, *rest],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{' '.join(done.args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from the working tree (cached layers are reused)."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        missing("podman and runc are not installed (apt-get install podman runc): the image is not tested")
    if BASE.startswith("localhost/loyalty-base"):
        if shutil.which("debootstrap") is None and podman("image", "exists", BASE).returncode != 0:
            missing(f"debootstrap is needed to build the local base image {BASE}")
        subprocess.run([ROOT / "scripts" / "container-base", BASE], check=True, timeout=900)
    secret = ["--secret", f"id=ca,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
    started = time.monotonic()
    build = subprocess.run(
        ["podman", "build", "--runtime", "runc", "--format", "docker", *RUN_OPTIONS, *secret,
         "--build-arg", f"BASE={BASE}", "--tag", IMAGE, str(ROOT)],
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert build.returncode == 0, f"podman build failed:\n{(build.stdout + build.stderr)[-5000:]}"
    print(f"podman build: {time.monotonic() - started:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated by the image itself."""
    try:
        asyncio.run(_postgres_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        missing(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    name = f"loyalty_container_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def settings(image: str, database_url: str, signing_key_pem: str) -> dict[str, str]:
    """The server's environment, on a database migrated and given its owner by one-off containers."""
    env = {"LOYALTY_DATABASE_URL": database_url, "LOYALTY_JWT_PRIVATE_KEY": signing_key_pem, **ARGON2_ENV}
    one_off = ["run", "--rm", "--no-healthcheck", *RUN_OPTIONS, image]
    assert "latest schema" in succeeded(podman(*one_off, "migrate", env=env))
    owner = {"LOYALTY_ADMIN_EMAIL": OWNER[0], "LOYALTY_ADMIN_PASSWORD": OWNER[1]}
    assert "Created the first owner" in succeeded(podman(*one_off, "create-owner", env=env | owner))
    return env


class Container:
    """``loyalty serve`` in a detached container on a free port of the host's network."""

    def __init__(self, image: str, settings: dict[str, str]) -> None:
        self.name = f"loyalty-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**settings, "LOYALTY_PORT": str(self.port)}
        succeeded(podman("run", "--detach", "--name", self.name, *RUN_OPTIONS, image, env=env))

    def state(self) -> dict[str, object]:
        return json.loads(succeeded(podman("inspect", "--format", "{{json .State}}", self.name)))

    def logs(self) -> str:
        done = podman("logs", self.name)
        return done.stdout + done.stderr

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.state()["Running"]:
                pytest.fail(f"the container exited:\n{self.logs()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"no answer on /healthz within {timeout:.0f} s:\n{self.logs()[-3000:]}")

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name)


@pytest.fixture(scope="module")
def server(image: str, settings: dict[str, str]) -> Iterator[Container]:
    container = Container(image, settings)
    try:
        container.wait_healthy()
        yield container
    finally:
        container.remove()


def graphql(client: httpx.Client, query: str, token: str | None = None, **variables: object) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    answer = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


def test_the_image_checks_its_health_on_healthz(image: str, server: Container) -> None:
    declared = json.loads(succeeded(podman("image", "inspect", image)))[0]["Healthcheck"]
    check = podman("healthcheck", "run", server.name)

    assert any("/healthz" in part for part in declared["Test"])
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_server_runs_as_a_user_that_is_not_root(server: Container) -> None:
    status = succeeded(podman("exec", server.name, "cat", "/proc/1/status"))
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))

    assert "0" not in uids
    assert succeeded(podman("exec", server.name, "cat", "/proc/1/cmdline")).split("\0")[1:3] == [
        "/app/.venv/bin/loyalty",
        "serve",
    ]


def test_staff_sign_in_and_adjust_points_through_the_container(server: Container) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        token = graphql(
            client,
            "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }",
            e=OWNER[0],
            p=OWNER[1],
        )["signIn"]["accessToken"]
        enrolled = graphql(
            client,
            """mutation { enrollUser(input: {email: "ada@example.com", firstName: "Ada",
                 lastName: "Lovelace", initialPoints: 500}) { user { pointsAccounts { id } } errors { code } } }""",
            token,
        )["enrollUser"]
        account = enrolled["user"]["pointsAccounts"][0]["id"]
        adjusted = graphql(
            client,
            """mutation($a: ID!) { adjustPoints(input: {accountId: $a, action: DEDUCT, amount: 120,
                 reason: "through the container"}) { account { balance } errors { code } } }""",
            token,
            a=account,
        )["adjustPoints"]

    assert enrolled["errors"] == []
    assert adjusted == {"account": {"balance": 380}, "errors": []}


def test_the_console_built_in_the_image_is_served(server: Container) -> None:
    page = httpx.get(f"{server.url}/", headers={"accept": "text/html"}, timeout=5)

    assert page.status_code == 200
    assert "/assets/" in page.text


def test_podman_stop_shuts_the_server_down_gracefully_with_exit_code_0(
    image: str, settings: dict[str, str]
) -> None:
    container = Container(image, settings)
    try:
        container.wait_healthy()
        succeeded(podman("stop", "--time", "30", container.name, timeout=60))
        state = container.state()
        logs = container.logs()
    finally:
        container.remove()

    assert state["ExitCode"] == 0, logs[-3000:]
    assert "Application shutdown complete." in logs
