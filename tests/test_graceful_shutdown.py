"""``loyalty serve`` on SIGTERM (``docker stop``, ECS replacing a task): work in flight finishes, the
process exits 0.

A real server process on SQLite; the slow work is real too: a sign-in whose Argon2 check takes
seconds, and an SMTP server that takes seconds to accept a message.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from loyalty.datasources import email_outbox, log_outbox
from loyalty.datasources.database import Database
from loyalty.datasources.migrations import upgrade_to_head
from tests.dynamodb_server import LocalDynamoDB
from tests.test_cli_and_server import cli_env, free_port, run_cli
from tests.test_email_delivery import Clock, Inbox, SmtpServer, approval_context, make_notifier

PASSWORD = "a fine owner password"
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }"


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    def exited(self) -> tuple[int, str]:
        """The exit code and everything the server printed, once it has exited."""
        output = self.process.communicate(timeout=60)[0].decode(errors="replace")
        return self.process.returncode, output

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        return self.exited()


Serve = Callable[[dict[str, str]], Served]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start ``loyalty serve`` with these settings and wait for /healthz; killed if a test left it."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> Served:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty.cli", "serve"],
            env={k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")} | env | {"LOYALTY_PORT": str(port)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return Served(process, port)
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"loyalty serve did not start:\n{process.communicate()[0].decode()[-3000:]}")
                time.sleep(0.1)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_request_in_flight_at_sigterm_is_answered_before_the_server_exits_0(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Argon2 at a cost that takes seconds: the sign-in is still being worked on when SIGTERM comes.
    env = cli_env(tmp_path, LOYALTY_ADMIN_PASSWORD=PASSWORD) | {
        "LOYALTY_ARGON2_TIME_COST": "40",
        "LOYALTY_ARGON2_MEMORY_KIB": str(64 * 1024),
    }
    run_cli("migrate", env=env, monkeypatch=monkeypatch)
    run_cli("create-owner", env=env, monkeypatch=monkeypatch)
    server = serve(env)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps({"query": SIGN_IN, "variables": {"e": "owner@example.com", "p": PASSWORD}})
    connection.request("POST", "/graphql", body, {"content-type": "application/json"})
    time.sleep(0.5)  # the server has read the request
    readable, _, _ = select.select([connection.sock], [], [], 0)
    assert not readable, "the sign-in was answered before SIGTERM: make its Argon2 check slower"

    server.process.send_signal(signal.SIGTERM)
    answer = connection.getresponse()
    signed_in = json.loads(answer.read())
    code, output = server.exited()

    assert answer.status == 200
    assert signed_in["data"]["signIn"]["accessToken"]
    assert code == 0, output
    assert "Application shutdown complete" in output


@dataclass
class SlowInbox(Inbox):
    """Takes two seconds to accept a message; ``receiving`` is set when one starts arriving."""

    receiving: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.receiving.set()
        await asyncio.sleep(2)
        return await super().handle_DATA(server, session, envelope)


async def test_an_email_being_sent_at_sigterm_arrives_once_and_is_marked_sent(
    serve: Serve, tmp_path: Path
) -> None:
    smtp = SmtpServer()
    smtp.inbox = inbox = SlowInbox()
    smtp.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'loyalty.db'}"
    env = cli_env(tmp_path) | {
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_EMAIL_SENDER": "smtp",
        "LOYALTY_SMTP_HOST": "127.0.0.1",
        "LOYALTY_SMTP_PORT": str(smtp.port),
        "LOYALTY_SMTP_STARTTLS": "false",
    }
    await asyncio.to_thread(upgrade_to_head, url)
    db = Database(url)
    try:
        async with db.transaction() as conn:
            await make_notifier(Clock()).enqueue(
                conn, event="e:1", recipients=["a@example.com"], template="approval_requested",
                context=approval_context(uuid.uuid4()),
            )  # fmt: skip
        server = await asyncio.to_thread(serve, env)
        assert await asyncio.to_thread(inbox.receiving.wait, 30), "the server never started sending"

        code, output = await asyncio.to_thread(server.stop)

        assert code == 0, output
        assert inbox.recipients() == ["a@example.com"]
        async with db.read() as conn:
            assert await email_outbox.counts(conn) == {"SENT": 1}
    finally:
        await db.dispose()
        smtp.stop()


def test_refusals_still_being_counted_at_sigterm_are_shipped_to_dynamodb_before_the_server_exits(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Repeated refusals are counted in memory and summed up in one entry when their window ends, or
    # at shutdown: the entry then goes to the outbox, and the shipper's last round to DynamoDB.
    env = cli_env(tmp_path) | {
        "LOYALTY_LOG_STORE": "dynamodb",
        "LOYALTY_DYNAMODB_TABLE": "log-shutdown",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    run_cli("migrate", env=env, monkeypatch=monkeypatch)
    with LocalDynamoDB() as dynamodb:
        server = serve(env | {"LOYALTY_DYNAMODB_ENDPOINT": dynamodb.url})
        for _ in range(3):
            refused = httpx.post(
                f"http://127.0.0.1:{server.port}/graphql",
                json={"query": "{ users(first: 1) { totalCount } }"},
            )
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        code, output = server.stop()
        items = dynamodb.client().scan(TableName="log-shutdown")["Items"]  # type: ignore[attr-defined]

    assert code == 0, output
    details = sorted(json.loads(item["details"]["S"]).get("repeats", 0) for item in items)
    assert details == [0, 2]  # the first refusal, then the two after it
    assert asyncio.run(waiting_in_outbox(f"sqlite+aiosqlite:///{tmp_path / 'loyalty.db'}")) == 0


async def waiting_in_outbox(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            return await log_outbox.waiting(conn)
    finally:
        await db.dispose()
