"""The command line as a new user runs it, and the server over a real socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY  # the cost in extensions, whatever it is

import httpx
import pytest

from loyalty.cli import main
from loyalty.services.container import Services

PASSWORD = "a fine owner password"


def run_cli(*args: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``loyalty ARGS`` in this process, with exactly ``env`` as the LOYALTY_* settings."""
    for key in os.environ:
        if key.startswith("LOYALTY_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    main(list(args))


def cli_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    return {
        "LOYALTY_DATA_DIR": str(data_dir),
        "LOYALTY_ARGON2_TIME_COST": "1",
        "LOYALTY_ARGON2_MEMORY_KIB": "8",
        "LOYALTY_ARGON2_PARALLELISM": "1",
        **overrides,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_first_run_migrates_and_prints_a_generated_owner_password_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = cli_env(tmp_path)

    run_cli("migrate", env=env, monkeypatch=monkeypatch)
    migrated = capsys.readouterr().out
    run_cli("create-owner", env=env, monkeypatch=monkeypatch)
    created = capsys.readouterr().out
    run_cli("create-owner", env=env, monkeypatch=monkeypatch)
    again = capsys.readouterr().out

    assert "latest schema" in migrated
    assert (tmp_path / "loyalty.db").exists()
    assert "Created the first owner owner@example.com with the password " in created
    assert "An owner exists already" in again
    assert "password" not in again


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("LOYALTY_PORT", "eighty"),
        ("LOYALTY_DATABASE_URL", "mysql://x"),
        ("LOYALTY_PUBLIC_URL", "example.com"),
    ],
)
def test_a_bad_setting_stops_the_start_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_cli("migrate", env=cli_env(tmp_path, **{setting: value}), monkeypatch=monkeypatch)

    assert str(stopped.value).startswith("Configuration error")
    assert setting in str(stopped.value)


def test_schema_prints_the_sdl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli("schema", env=cli_env(tmp_path), monkeypatch=monkeypatch)

    sdl = capsys.readouterr().out
    assert "type Query {" in sdl
    assert "adjustPoints(input: AdjustPointsInput!): AdjustPointsPayload!" in sdl


@pytest.fixture
def server(
    services: Services, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """``loyalty serve`` on a free loopback port, after ``migrate`` and ``create-owner``."""
    port = free_port()
    env = cli_env(
        tmp_path,
        LOYALTY_DATABASE_URL=database_url,
        LOYALTY_PORT=str(port),
        LOYALTY_ADMIN_EMAIL="boss@example.com",
        LOYALTY_ADMIN_PASSWORD=PASSWORD,
    )
    run_cli("migrate", env=env, monkeypatch=monkeypatch)
    run_cli("create-owner", env=env, monkeypatch=monkeypatch)
    process = subprocess.Popen(
        [sys.executable, "-m", "loyalty.cli", "serve"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base_url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_served_api_answers_over_a_real_socket(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        signed_in = client.post(
            "/graphql",
            json={
                "query": "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }",
                "variables": {"e": "boss@example.com", "p": PASSWORD},
            },
        ).json()
        token = signed_in["data"]["signIn"]["accessToken"]
        me = client.post(
            "/graphql", json={"query": "{ me { email role } }"}, headers={"authorization": f"Bearer {token}"}
        )
        graphiql = client.get("/graphql", headers={"accept": "text/html"})

    assert me.json() == {"data": {"me": {"email": "boss@example.com", "role": "OWNER"}}, "extensions": ANY}
    assert me.headers["x-request-id"]
    assert graphiql.status_code == 200
    assert "graphiql" in graphiql.text.lower()
