"""Email leaves through the outbox and reaches a real SMTP server (aiosmtpd on loopback) exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from loyalty import lambda_email
from loyalty.config import Settings
from loyalty.datasources import email_outbox
from loyalty.datasources.database import Database
from loyalty.datasources.email_outbox import QueuedEmail
from loyalty.datasources.email_senders import ConsoleSender, Email, SmtpSender
from loyalty.datasources.migrations import upgrade_to_head
from loyalty.services.container import Services
from loyalty.services.notifications import EmailTemplates, EmailWorker, Notifier, build_notifications
from tests.test_cli_and_server import free_port, run_cli

CONSOLE = "https://console.example.test"
SENDER = "Loyalty <no-reply@loyalty.test>"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it accepts; RCPT TO a ``refused-*`` address gets a 550."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("refused-"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        return [str(message["To"]) for message in self.messages]


class SmtpServer:
    """A real SMTP server on a free loopback port; ``stop()`` then ``start()`` keeps the port and the inbox."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, ready_timeout=5)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def sender(self) -> SmtpSender:
        return SmtpSender("127.0.0.1", self.port, starttls=False, timeout=5)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class Clock:
    """The worker's time, moved on by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_worker(services: Services, smtp: SmtpServer, clock: Clock, **options: Any) -> EmailWorker:
    options = {"backoff_base_seconds": 10.0, "idle_seconds": 0.05, "settle_seconds": 0.01, **options}
    return EmailWorker(services.db, smtp.sender(), from_address=SENDER, clock=clock, **options)


def make_notifier(clock: Clock, worker: EmailWorker | None = None, **options: Any) -> Notifier:
    wake = worker.notify if worker else lambda: None
    return Notifier(EmailTemplates(CONSOLE), on_queued=wake, clock=clock, **options)


def approval_context(request_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "kind": "ADJUST_POINTS",
        "maker_email": "maker@example.com",
        "target_id": "3f1d0c2e-0000-4000-8000-000000000001",
        "change": {"action": "ADD", "amount": 250},
        **overrides,
    }


async def queue(
    services: Services,
    notifier: Notifier,
    *,
    event: str,
    recipients: list[str],
    template: str = "approval_requested",
    context: dict[str, Any] | None = None,
) -> None:
    async with services.db.transaction() as conn:
        await notifier.enqueue(
            conn,
            event=event,
            recipients=recipients,
            template=template,
            context=context if context is not None else approval_context(uuid.uuid4()),
        )


async def outbox(services: Services) -> list[QueuedEmail]:
    async with services.db.read() as conn:
        rows = await conn.execute(email_outbox.email_outbox.select())
        return [QueuedEmail(**row._asdict()) for row in rows]


async def eventually(condition: Any, *, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110 - the state is in a table or another thread
            await asyncio.sleep(0.02)


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


async def test_a_queued_message_arrives_with_text_html_and_the_console_link(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock)
    request_id = uuid.uuid4()
    await queue(
        services,
        make_notifier(clock),
        event=f"approval_requested:{request_id}",
        recipients=["Checker@Example.com"],
        context=approval_context(request_id),
    )

    assert await worker.send_due() == 1

    [message] = smtp.inbox.messages
    link = f"{CONSOLE}/approvals/{request_id}"
    assert message["To"] == "checker@example.com"
    assert message["From"] == SENDER
    assert message["Subject"] == "Approval needed: adjust points (requested by maker@example.com)"
    assert message.is_multipart()
    assert link in body(message, "plain")
    assert f'href="{link}"' in body(message, "html")
    [row] = await outbox(services)
    assert message["Message-ID"] == f"<{row.id}@loyalty.test>"
    assert (row.status, row.attempts, row.sent_at) == ("SENT", 1, clock.now)
    assert (row.text_body, row.html_body) == ("", "")  # a one-time link in it is not kept once sent


async def test_an_event_queued_twice_for_a_recipient_is_sent_once(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock)
    notifier = make_notifier(clock)
    request_id = uuid.uuid4()
    event = f"approval_requested:{request_id}"

    await queue(
        services, notifier, event=event, recipients=["a@example.com", "b@example.com", "A@example.com"]
    )
    await queue(services, notifier, event=event, recipients=["b@example.com", "c@example.com"])
    await worker.send_due()
    await queue(services, notifier, event=event, recipients=["a@example.com"])  # after it was sent
    await worker.send_due()

    assert sorted(smtp.inbox.recipients()) == ["a@example.com", "b@example.com", "c@example.com"]
    assert len(await outbox(services)) == 3


async def test_a_change_that_rolls_back_sends_nothing(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock)

    async def failing_change() -> None:
        async with services.db.transaction() as conn:
            await make_notifier(clock).enqueue(
                conn,
                event="approval_requested:rolled-back",
                recipients=["a@example.com"],
                template="approval_requested",
                context=approval_context(uuid.uuid4()),
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()

    assert await worker.send_due() == 0
    assert await outbox(services) == []


async def test_the_running_worker_sends_a_message_as_soon_as_its_transaction_commits(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock, idle_seconds=60)
    worker.start()
    try:
        await asyncio.sleep(0.1)  # the first round finds nothing; the next poll is a minute away
        await queue(services, make_notifier(clock, worker), event="e:1", recipients=["a@example.com"])

        async def arrived() -> bool:
            return len(smtp.inbox.messages) == 1

        await eventually(arrived, within=5)
    finally:
        await worker.stop()


async def test_with_the_smtp_server_down_messages_wait_and_each_arrives_once_when_it_is_back(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock, backoff_base_seconds=10)
    notifier = make_notifier(clock)
    for number in range(30):
        await queue(services, notifier, event=f"e:{number}", recipients=[f"user{number}@example.com"])
    smtp.stop()

    # every message is tried (a batch that fails ends the round; the next round takes the rest)
    assert await worker.send_due() == 0
    assert await worker.send_due() == 0
    rows = await outbox(services)
    assert {(row.status, row.attempts) for row in rows} == {("PENDING", 1)}
    assert {row.next_attempt_at for row in rows} == {clock.now + timedelta(seconds=10)}
    assert all("SMTPConnectError" in (row.last_error or "") for row in rows)

    # not due yet: nothing is tried
    assert await worker.send_due() == 0
    assert {row.attempts for row in await outbox(services)} == {1}

    # the backoff doubles
    clock.advance(10)
    await worker.send_due()
    await worker.send_due()
    rows = await outbox(services)
    assert {(row.status, row.attempts) for row in rows} == {("PENDING", 2)}
    assert {row.next_attempt_at for row in rows} == {clock.now + timedelta(seconds=20)}

    # the server is back: two workers racing over the outbox deliver each message once
    smtp.start()
    clock.advance(20)
    workers = [worker, make_worker(services, smtp, clock, batch_size=7)]
    for each in workers:
        each.start()
    try:

        async def all_sent() -> bool:
            return {row.status for row in await outbox(services)} == {"SENT"}

        await eventually(all_sent)
        await asyncio.sleep(0.2)  # time for a duplicate to show up, if there were one
    finally:
        for each in workers:
            await each.stop()

    assert sorted(smtp.inbox.recipients()) == sorted(f"user{number}@example.com" for number in range(30))
    assert {row.attempts for row in await outbox(services)} == {3}


async def test_after_max_attempts_a_message_is_failed_listed_and_sent_when_requeued(
    services: Services,
    smtp: SmtpServer,
    clock: Clock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    worker = make_worker(services, smtp, clock, max_attempts=2, backoff_base_seconds=1)
    await queue(services, make_notifier(clock), event="e:1", recipients=["ops@example.com"])
    smtp.stop()
    await worker.send_due()
    clock.advance(1)
    await worker.send_due()
    clock.advance(3600)
    assert await worker.send_due() == 0  # FAILED is final until an operator steps in

    [row] = await outbox(services)
    assert (row.status, row.attempts) == ("FAILED", 2)
    env = {"LOYALTY_DATABASE_URL": str(settings.database_url), "LOYALTY_DATA_DIR": str(tmp_path)}
    await asyncio.to_thread(run_cli, "email-failed", env=env, monkeypatch=monkeypatch)
    listed = capsys.readouterr().out
    assert str(row.id) in listed
    assert "ops@example.com" in listed
    assert row.subject in listed
    assert "attempts: 2" in listed
    assert "SMTPConnectError" in listed

    smtp.start()
    await asyncio.to_thread(run_cli, "email-retry", str(row.id), env=env, monkeypatch=monkeypatch)
    assert "Re-queued 1 message(s)" in capsys.readouterr().out
    assert await worker.send_due() == 1

    assert smtp.inbox.recipients() == ["ops@example.com"]
    await asyncio.to_thread(run_cli, "email-failed", env=env, monkeypatch=monkeypatch)
    assert "No failed messages." in capsys.readouterr().out


async def test_email_retry_all_requeues_every_failed_message(
    services: Services, smtp: SmtpServer, clock: Clock, settings: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    worker = make_worker(services, smtp, clock, max_attempts=1)
    notifier = make_notifier(clock)
    for number in range(3):
        await queue(services, notifier, event=f"e:{number}", recipients=[f"user{number}@example.com"])
    smtp.stop()
    await worker.send_due()
    assert {row.status for row in await outbox(services)} == {"FAILED"}

    smtp.start()
    env = {"LOYALTY_DATABASE_URL": str(settings.database_url), "LOYALTY_DATA_DIR": str(tmp_path)}
    await asyncio.to_thread(run_cli, "email-retry", "--all", env=env, monkeypatch=monkeypatch)

    assert "Re-queued 3 message(s)" in capsys.readouterr().out
    clock.advance(60)  # re-queued at the real time, which is a little ahead of the test's clock
    assert await worker.send_due() == 3
    assert len(smtp.inbox.messages) == 3


async def test_a_recipient_the_server_refuses_for_good_fails_without_retries(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock)
    await queue(services, make_notifier(clock), event="e:1", recipients=["refused-x@example.com"])

    assert await worker.send_due() == 0

    [row] = await outbox(services)
    assert (row.status, row.attempts) == ("FAILED", 1)
    assert "550" in (row.last_error or "")


async def test_a_message_left_sending_by_a_dead_worker_is_sent_when_its_lease_expires(
    services: Services, smtp: SmtpServer, clock: Clock
) -> None:
    worker = make_worker(services, smtp, clock, lease_seconds=300)
    await queue(services, make_notifier(clock), event="e:1", recipients=["a@example.com"])
    async with services.db.transaction() as conn:  # a worker claims it, then dies before sending
        [claimed] = await email_outbox.claim_due(
            conn, now=clock.now, lease_until=clock.now + timedelta(seconds=300), limit=10
        )

    assert await worker.send_due() == 0  # the lease still holds
    clock.advance(301)
    assert await worker.send_due() == 1

    [row] = await outbox(services)
    assert (row.id, row.status, row.attempts) == (claimed.id, "SENT", 2)
    assert smtp.inbox.recipients() == ["a@example.com"]


def lambda_env(settings: Settings, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in os.environ:
        if key.startswith("LOYALTY_"):
            monkeypatch.delenv(key)
    env = {
        "LOYALTY_DATABASE_URL": str(settings.database_url),
        "LOYALTY_DATA_DIR": str(tmp_path),
        "LOYALTY_EMAIL_SENDER": "smtp",
        "LOYALTY_EMAIL_FROM": SENDER,
        "LOYALTY_SMTP_HOST": "127.0.0.1",
        "LOYALTY_SMTP_PORT": str(smtp.port),
        "LOYALTY_SMTP_STARTTLS": "false",
        "LOYALTY_SMTP_TIMEOUT": "5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{number}", "body": text} for number, text in enumerate(bodies, 1)]}


async def test_the_lambda_handler_sends_by_outbox_id_and_by_full_message_and_reports_what_failed(
    services: Services, smtp: SmtpServer, clock: Clock, settings: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    lambda_env(settings, smtp, tmp_path, monkeypatch)
    await queue(services, make_notifier(clock), event="e:1", recipients=["queued@example.com"])
    [row] = await outbox(services)
    event = sqs_event(
        json.dumps({"outbox_id": str(row.id)}),
        json.dumps(
            {"to": "direct@example.com", "subject": "Hello", "text": "Plain.", "html": "<p>Rich.</p>"}
        ),
        json.dumps({"outbox_id": str(uuid.uuid4())}),  # no such message
        "not json",
        json.dumps({"to": "nobody", "subject": "Hi", "text": "?"}),
    )

    result = await asyncio.to_thread(lambda_email.handler, event, None)

    assert sorted(failure["itemIdentifier"] for failure in result["batchItemFailures"]) == ["m3", "m4", "m5"]
    assert sorted(smtp.inbox.recipients()) == ["direct@example.com", "queued@example.com"]
    direct = next(message for message in smtp.inbox.messages if message["To"] == "direct@example.com")
    assert (direct["Subject"], body(direct, "plain").strip(), body(direct, "html").strip()) == (
        "Hello", "Plain.", "<p>Rich.</p>",
    )  # fmt: skip
    assert (await outbox(services))[0].status == "SENT"

    # SQS delivers a record again: the outbox message is not sent twice
    again = await asyncio.to_thread(
        lambda_email.handler, sqs_event(json.dumps({"outbox_id": str(row.id)})), None
    )
    assert again == {"batchItemFailures": []}
    assert len(smtp.inbox.messages) == 2


async def test_the_lambda_handler_reports_messages_it_could_not_send_for_sqs_to_retry(
    services: Services, smtp: SmtpServer, clock: Clock, settings: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    lambda_env(settings, smtp, tmp_path, monkeypatch)
    monkeypatch.setenv("LOYALTY_EMAIL_RETRY_BASE_SECONDS", "0")  # due again at once
    await queue(services, make_notifier(clock), event="e:1", recipients=["queued@example.com"])
    [row] = await outbox(services)
    event = sqs_event(
        json.dumps({"outbox_id": str(row.id)}),
        json.dumps({"to": "direct@example.com", "subject": "Hello", "text": "Plain."}),
    )
    smtp.stop()

    result = await asyncio.to_thread(lambda_email.handler, event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    [row] = await outbox(services)
    assert (row.status, row.attempts) == ("PENDING", 1)

    # a scheduled invocation (no SQS records) sends what is due
    smtp.start()
    assert await asyncio.to_thread(lambda_email.handler, {}, None) == {"sent": 1}
    assert smtp.inbox.recipients() == ["queued@example.com"]


async def test_customers_are_emailed_about_points_only_when_enabled(services: Services, clock: Clock) -> None:
    context = {
        "first_name": "Ada",
        "program": "default",
        "action": "ADD",
        "amount": 50,
        "balance_after": 1250,
    }
    await queue(services, make_notifier(clock), event="p:1", recipients=["ada@example.com"],
                template="points_changed", context=context)  # fmt: skip
    assert await outbox(services) == []

    await queue(services, make_notifier(clock, notify_customers=True), event="p:1",
                recipients=["ada@example.com"], template="points_changed", context=context)  # fmt: skip
    [row] = await outbox(services)
    assert row.subject == "Your points balance is now 1,250"


async def test_the_console_sender_prints_each_message(
    services: Services, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.email_sender == "console"
    notifier, worker = build_notifications(settings, services.db)
    request_id = uuid.uuid4()
    async with services.db.transaction() as conn:
        await notifier.enqueue(
            conn,
            event=f"approval_decided:{request_id}",
            recipients=["maker@example.com"],
            template="approval_decided",
            context={
                "request_id": request_id,
                "kind": "DELETE_USER",
                "status": "REJECTED",
                "checker_email": "owner@example.com",
                "comment": "Not this one.",
            },
        )

    assert await worker.send_due() == 1

    printed = capsys.readouterr().out
    assert "To: maker@example.com" in printed
    assert "Subject: Your request to delete a user was rejected" in printed
    assert f"{settings.console_address}/approvals/{request_id}" in printed
    assert "Not this one." in printed


async def test_the_console_sender_writes_to_its_stream(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with path.open("w") as stream:
        await ConsoleSender(stream).send(
            Email(from_address=SENDER, to="a@example.com", subject="Hi", text="Body")
        )
    assert "To: a@example.com\nSubject: Hi\n\nBody\n" in path.read_text()


async def test_the_worker_command_sends_queued_email_and_stops_on_sigterm(
    smtp: SmtpServer, clock: Clock, signing_key_pem: str, tmp_path: Path
) -> None:
    # A process on a database of its own: one backend is enough here, the tests above run on both.
    url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    db = Database(url)
    try:
        async with db.transaction() as conn:
            await make_notifier(clock).enqueue(
                conn, event="e:1", recipients=["a@example.com"], template="approval_requested",
                context=approval_context(uuid.uuid4()),
            )  # fmt: skip
        env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")} | {
            "LOYALTY_DATABASE_URL": url,
            "LOYALTY_DATA_DIR": str(tmp_path),
            "LOYALTY_JWT_PRIVATE_KEY": signing_key_pem,
            "LOYALTY_EMAIL_SENDER": "smtp",
            "LOYALTY_SMTP_HOST": "127.0.0.1",
            "LOYALTY_SMTP_PORT": str(smtp.port),
            "LOYALTY_SMTP_STARTTLS": "false",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loyalty.cli", "worker",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:

            async def sent_or_exited() -> bool:
                return bool(smtp.inbox.messages) or process.returncode is not None

            await eventually(sent_or_exited, within=30)
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                output = (await process.communicate())[0].decode()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

        assert process.returncode == 0, output
        assert "Worker running" in output
        assert "Worker stopped." in output
        assert smtp.inbox.recipients() == ["a@example.com"]
        async with db.read() as conn:
            assert await email_outbox.counts(conn) == {"SENT": 1}
    finally:
        await db.dispose()


@pytest.fixture
def local_ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's SES over HTTP on a free loopback port, with the sender's address verified."""
    import boto3
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("ses", region_name="us-east-1", endpoint_url=url).verify_email_identity(
        EmailAddress="no-reply@loyalty.test"
    )
    yield url
    server.stop()


async def test_the_ses_sender_sends_the_same_mime_message_through_the_ses_api(local_ses: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from loyalty.datasources.email_senders import PermanentSendError, SesSender

    sender = SesSender(region="us-east-1", endpoint_url=local_ses)
    try:
        await sender.send(
            Email(from_address=SENDER, to="a@example.com", subject="Hi", text="Plain.", html="<p>Rich.</p>")
        )
        with pytest.raises(PermanentSendError, match="MessageRejected"):
            await sender.send(
                Email(from_address="x@unverified.test", to="a@example.com", subject="Hi", text="?")
            )
    finally:
        await sender.close()

    [sent] = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    message = message_from_bytes(sent.raw_data.encode(), policy=policy.default)
    assert (message["To"], message["Subject"]) == ("a@example.com", "Hi")
    assert body(message, "html").strip() == "<p>Rich.</p>"  # type: ignore[arg-type]
