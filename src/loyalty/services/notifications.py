"""Email notifications: queued with the change that raises them, sent later by a worker.

``Notifier.enqueue`` renders the message and writes it to the email outbox in the caller's
transaction, so a change that rolls back sends nothing and a committed change cannot lose its email.
``EmailWorker`` sends what is due (in the server, in ``loyalty worker``, or in the Lambda handler),
retrying with exponential backoff; after ``max_attempts`` a message is FAILED and waits for an operator
(``loyalty email-failed`` / ``email-retry``). A message is marked SENT as soon as the server accepts
it, so it is not sent again; only a worker that dies between the two may send it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import event as sa_event

from loyalty.config import Settings
from loyalty.datasources import email_outbox
from loyalty.datasources.database import Database, DriverTransaction, InTransaction
from loyalty.datasources.email_outbox import QueuedEmail
from loyalty.datasources.email_senders import (
    ConsoleSender,
    Email,
    EmailSender,
    PermanentSendError,
    SesSender,
    SmtpSender,
)
from loyalty.observability.metrics import count_email_failure

if TYPE_CHECKING:
    from jinja2 import Environment

logger = logging.getLogger("loyalty.email")

TEMPLATES = ("approval_requested", "approval_decided", "points_changed", "staff_invitation", "password_reset")
# Templates addressed to customers, sent only with LOYALTY_NOTIFY_CUSTOMERS.
CUSTOMER_TEMPLATES = frozenset({"points_changed"})
MAX_EVENT_LENGTH = 200
MAX_SUBJECT_LENGTH = 255

_KIND_LABELS = {
    "ENROLL_USER": "enrol a user",
    "UPDATE_USER": "update a user",
    "DELETE_USER": "delete a user",
    "OPEN_ACCOUNT": "open a points account",
    "ADJUST_POINTS": "adjust points",
}


def _kind_label(kind: Any) -> str:
    text = str(getattr(kind, "value", kind))
    return _KIND_LABELS.get(text, text.replace("_", " ").lower())


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _display(value: Any) -> str:
    """A value of a proposed change, as one line of text (escaped later in HTML, like any text)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(getattr(value, "value", value))


def _program_label(program: str) -> str:
    return "points account" if program == "default" else f"{program} points account"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class EmailTemplates:
    """The Jinja2 templates in ``loyalty/templates/email``: ``NAME.subject.txt``, ``NAME.txt``, ``NAME.html``.

    HTML is autoescaped; a variable a template needs and the context lacks is an error, raised at
    enqueue time so that a broken notification fails the change's tests rather than the send.
    Jinja2 is imported with the first message rendered, not at start (it costs ~0.15 s).
    """

    def __init__(self, console_url: str) -> None:
        self.console_url = console_url.rstrip("/")

    @cached_property
    def _env(self) -> Environment:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        env = Environment(
            loader=PackageLoader("loyalty", "templates/email"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(
            kind_label=_kind_label, number=_number, display=_display, program_label=_program_label
        )
        return env

    def approval_url(self, request_id: Any) -> str:
        return f"{self.console_url}/approvals/{quote(str(request_id), safe='')}"

    def password_link_url(self, page: str, token: str) -> str:
        """A console page that sets a password; the token rides in the fragment, which browsers never
        send, so it reaches neither a server log nor a Referer header."""
        return f"{self.console_url}/{page}#token={token}"

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedEmail:
        if template not in TEMPLATES:
            raise ValueError(f"no email template {template!r}; there are {', '.join(TEMPLATES)}")
        # Enum members read as their values ("ADJUST_POINTS", not "ApprovalKind.ADJUST_POINTS").
        values = {name: value.value if isinstance(value, Enum) else value for name, value in context.items()}
        values["console_url"] = self.console_url
        if "request_id" in context:
            values["approval_url"] = self.approval_url(context["request_id"])
        subject_text = self._env.get_template(f"{template}.subject.txt").render(values)
        # One line, whatever the context held: a header cannot carry line breaks.
        subject = " ".join(subject_text.split())[:MAX_SUBJECT_LENGTH]
        text = self._env.get_template(f"{template}.txt").render(values)
        html = self._env.get_template(f"{template}.html").render({**values, "subject": subject})
        return RenderedEmail(subject=subject, text=text, html=html)


def _addresses(recipients: Sequence[str]) -> list[str]:
    """Trimmed, lower-cased (emails are case-insensitive here), blanks and repeats dropped, in order."""
    if isinstance(recipients, str):
        raise TypeError("recipients is a sequence of addresses, not one string")
    cleaned = (recipient.strip().lower() for recipient in recipients)
    return list(dict.fromkeys(address for address in cleaned if address))


class Notifier:
    """Queues notifications in the outbox, in the transaction of the change that raises them."""

    def __init__(
        self,
        templates: EmailTemplates,
        *,
        notify_customers: bool = False,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.templates = templates
        self.notify_customers = notify_customers
        self._clock = clock
        # One function object, so that a transaction queuing several messages wakes the worker once.
        self._wake_worker = lambda _connection: on_queued()
        self._on_queued = on_queued

    async def enqueue(
        self,
        conn: InTransaction,
        *,
        event: str,
        recipients: Sequence[str],
        template: str,
        context: Mapping[str, Any],
    ) -> None:
        """Queue one email per recipient, in the caller's transaction. (event, recipient) is unique: at most one message per recipient per event."""  # noqa: E501
        if not 1 <= len(event) <= MAX_EVENT_LENGTH:
            raise ValueError(f"an event name has 1 to {MAX_EVENT_LENGTH} characters")
        if template in CUSTOMER_TEMPLATES and not self.notify_customers:
            return
        addresses = _addresses(recipients)
        if not addresses:
            return
        message = self.templates.render(template, context)
        added = await email_outbox.add(
            conn,
            event=event,
            recipients=addresses,
            subject=message.subject,
            text_body=message.text,
            html_body=message.html,
            now=self._clock(),
        )
        if not added:
            return
        # The worker cannot see the rows before the commit; wake it then, not now.
        if isinstance(conn, DriverTransaction):
            conn.after_commit(self._on_queued)
        else:
            connection = conn.sync_connection
            if connection is not None and not sa_event.contains(connection, "commit", self._wake_worker):
                sa_event.listen(connection, "commit", self._wake_worker)


class Delivery(StrEnum):
    """What became of one message a worker was asked to send."""

    SENT = "SENT"
    ALREADY_SENT = "ALREADY_SENT"
    RETRY_LATER = "RETRY_LATER"  # failed this time; PENDING again, after a backoff
    FAILED = "FAILED"  # out of attempts or refused for good; waits for an operator
    IN_PROGRESS = "IN_PROGRESS"  # another worker holds it
    NOT_FOUND = "NOT_FOUND"

    @property
    def settled(self) -> bool:
        """Nothing more to do here: sent, or parked as FAILED where operators see it."""
        return self in (Delivery.SENT, Delivery.ALREADY_SENT, Delivery.FAILED)


def _describe(error: BaseException) -> str:
    detail = str(error).strip()
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class EmailWorker:
    """Sends due messages from the outbox, in batches, until there are none.

    Woken by :meth:`notify` (a transaction queued messages) and every ``idle_seconds`` besides, which
    is when retries come due. A claimed message is held under a lease of ``lease_seconds``; a worker
    that dies mid-send leaves it to the next one once the lease runs out. A send that fails is tried
    again after ``backoff_base_seconds`` doubled per attempt (at most ``backoff_cap_seconds``), and a
    message is FAILED after ``max_attempts`` attempts or at once when the server refuses it for good.
    """

    def __init__(
        self,
        db: Database,
        sender: EmailSender,
        *,
        from_address: str,
        max_attempts: int = 8,
        backoff_base_seconds: float = 30.0,
        backoff_cap_seconds: float = 3600.0,
        batch_size: int = 20,
        idle_seconds: float = 5.0,
        lease_seconds: float = 300.0,
        settle_seconds: float = 0.05,
        sent_retention_days: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_attempts < 1 or batch_size < 1 or lease_seconds <= 0:
            raise ValueError("max_attempts and batch_size are at least 1, lease_seconds more than 0")
        self._db = db
        self.sender = sender
        self._from = from_address
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._batch_size = batch_size
        self._idle = idle_seconds
        self._lease = timedelta(seconds=lease_seconds)
        # A send must end well inside its lease, or another worker could take the message meanwhile.
        self._send_timeout = lease_seconds / 2
        self._settle = settle_seconds
        self._sent_retention = timedelta(days=sent_retention_days)
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sending = False

    def notify(self) -> None:
        self._wake.set()

    def backoff(self, attempt: int) -> timedelta:
        """How long to wait after failed attempt number ``attempt`` (1, 2, ...)."""
        seconds = min(self._backoff_base * 2 ** min(attempt - 1, 60), self._backoff_cap)
        return timedelta(seconds=seconds)

    async def send_due(self) -> int:
        """Send the messages that are due, batch after batch; how many were sent.

        Stops early after a batch with a failure (the server is likely down: retries come later).
        """
        sent = 0
        while not self._stopping:
            now = self._clock()
            async with self._db.read() as conn:
                if not await email_outbox.anything_due(conn, now=now):
                    break
            async with self._db.transaction() as conn:
                released = await email_outbox.release_expired_leases(
                    conn, now=now, max_attempts=self._max_attempts
                )
                batch = await email_outbox.claim_due(
                    conn, now=now, lease_until=now + self._lease, limit=self._batch_size
                )
            if released:
                logger.warning("took back %d email(s) from a worker that stopped mid-send", released)
            if not batch:
                break
            outcomes = await self._deliver_all(batch)
            sent += outcomes.count(Delivery.SENT)
            if len(batch) < self._batch_size or Delivery.RETRY_LATER in outcomes:
                break
        return sent

    async def send_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Delivery]:
        """Send the named messages now, due or not (the Lambda path); what became of each."""
        wanted = list(dict.fromkeys(ids))
        now = self._clock()
        async with self._db.transaction() as conn:
            claimed = await email_outbox.claim_ids(conn, wanted, now=now, lease_until=now + self._lease)
            others = await email_outbox.fetch(conn, set(wanted) - {message.id for message in claimed})
        standing = {
            email_outbox.SENT: Delivery.ALREADY_SENT,
            email_outbox.FAILED: Delivery.FAILED,
        }
        outcomes = {message.id: standing.get(message.status, Delivery.IN_PROGRESS) for message in others}
        delivered = await self._deliver_all(claimed)
        outcomes.update(zip((message.id for message in claimed), delivered, strict=True))
        return {message_id: outcomes.get(message_id, Delivery.NOT_FOUND) for message_id in wanted}

    async def send_direct(self, *, to: str, subject: str, text: str, html: str | None = None) -> None:
        """Send a message that has no outbox row (raises on failure; nothing remembers it was sent)."""
        email = Email(from_address=self._from, to=to, subject=subject, text=text, html=html)
        async with asyncio.timeout(self._send_timeout):
            await self.sender.send(email)

    async def failed_messages(self, *, limit: int = 100) -> list[QueuedEmail]:
        async with self._db.read() as conn:
            return await email_outbox.failed(conn, limit=limit)

    async def requeue(self, ids: Collection[uuid.UUID] | None) -> list[uuid.UUID]:
        """FAILED messages (these, or all with ``None``) PENDING again with fresh attempts; their ids."""
        async with self._db.transaction() as conn:
            requeued = await email_outbox.requeue(conn, ids, now=self._clock())
        if requeued:
            self.notify()
        return requeued

    async def counts(self) -> dict[str, int]:
        async with self._db.read() as conn:
            return await email_outbox.counts(conn)

    async def purge_sent(self) -> int:
        async with self._db.transaction() as conn:
            return await email_outbox.purge_sent(conn, before=self._clock() - self._sent_retention)

    async def _deliver_all(self, batch: Sequence[QueuedEmail]) -> list[Delivery]:
        self._sending = True
        try:
            results = await asyncio.gather(
                *(self._deliver(message) for message in batch), return_exceptions=True
            )
        finally:
            self._sending = False
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the database failed while recording an outcome: the leases will expire
        return [result for result in results if isinstance(result, Delivery)]

    async def _deliver(self, message: QueuedEmail) -> Delivery:
        email = Email(
            from_address=self._from,
            to=message.recipient,
            subject=message.subject,
            text=message.text_body,
            html=message.html_body,
            message_id=str(message.id),
        )
        try:
            async with asyncio.timeout(self._send_timeout):
                await self.sender.send(email)
        except PermanentSendError as error:
            logger.error("email %s refused for good: %s", message.id, error)
            count_email_failure(final=True)
            await self._record(
                email_outbox.mark_failed, message.id, attempt=message.attempts, error=_describe(error)
            )
            return Delivery.FAILED
        except Exception as error:  # noqa: BLE001 - any other failure is worth another attempt
            if message.attempts >= self._max_attempts:
                logger.error("email %s failed after %d attempts: %s", message.id, message.attempts, error)
                count_email_failure(final=True)
                await self._record(
                    email_outbox.mark_failed, message.id, attempt=message.attempts, error=_describe(error)
                )
                return Delivery.FAILED
            retry_at = self._clock() + self.backoff(message.attempts)
            logger.warning("email %s not sent (attempt %d): %s", message.id, message.attempts, error)
            count_email_failure(final=False)
            await self._record(
                email_outbox.retry_later,
                message.id,
                attempt=message.attempts,
                at=retry_at,
                error=_describe(error),
            )
            return Delivery.RETRY_LATER
        await self._record(email_outbox.mark_sent, message.id, now=self._clock())
        return Delivery.SENT

    async def _record(
        self, write: Callable[..., Awaitable[Any]], message_id: uuid.UUID, **values: Any
    ) -> None:
        """Record an outcome, trying a few times: a sent message left SENDING would go out again."""
        for pause in (0.2, 1.0, 3.0, None):
            try:
                async with self._db.transaction() as conn:
                    await write(conn, message_id, **values)
            except Exception:
                if pause is None:
                    raise
                logger.warning("recording the outcome of email %s failed; trying again", message_id)
                await asyncio.sleep(pause)
            else:
                return

    def start(self) -> None:
        """Run in the background; the first round (messages left from before) is at once."""
        if self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self.run(), name="email-worker")

    async def stop(self) -> None:
        """Stop the background task; messages in flight finish first (cancelled, one could go twice)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        try:
            if self._sending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), timeout=self._send_timeout + 5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping = False

    async def close(self) -> None:
        await self.stop()
        await self.sender.close()

    async def run(self) -> None:
        """Send until cancelled or stopped: at once when notified, every ``idle_seconds`` besides."""
        loop = asyncio.get_running_loop()
        backoff = 0.0
        next_purge = loop.time()
        while not self._stopping:
            self._wake.clear()
            try:
                await self.send_due()
                if loop.time() >= next_purge:
                    await self.purge_sent()
                    next_purge = loop.time() + 3600
                backoff = 0.0
            except Exception as error:  # noqa: BLE001 - the database is down: wait and try again
                backoff = min(max(backoff * 2, 0.5), 30.0)
                logger.warning("sending email failed (%s); trying again in %.1f s", error, backoff)
            if self._stopping:
                break
            if backoff:
                await asyncio.sleep(backoff)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle)
                # Woken at a commit that may still be on its way to the database: let it land.
                await asyncio.sleep(self._settle)


def email_sender(settings: Settings) -> EmailSender:
    """The sender ``LOYALTY_EMAIL_SENDER`` names."""
    if settings.email_sender == "smtp":
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=password,
            timeout=settings.smtp_timeout,
        )
    if settings.email_sender == "ses":
        return SesSender(region=settings.aws_region)
    return ConsoleSender()


def build_notifications(settings: Settings, db: Database) -> tuple[Notifier, EmailWorker]:
    """The notifier the services queue messages with, and the worker that sends them."""
    worker = EmailWorker(
        db,
        email_sender(settings),
        from_address=settings.email_from,
        max_attempts=settings.email_max_attempts,
        backoff_base_seconds=settings.email_retry_base_seconds,
        backoff_cap_seconds=settings.email_retry_max_seconds,
        lease_seconds=max(300.0, 4 * settings.smtp_timeout),
    )
    notifier = Notifier(
        EmailTemplates(settings.console_address),
        notify_customers=settings.notify_customers,
        on_queued=worker.notify,
    )
    return notifier, worker
