"""Ways out for an email: an SMTP server, Amazon SES, or the console (development).

Each sender has ``async def send(email) -> None``: it returns once the server has accepted the
message and raises otherwise. :class:`PermanentSendError` says that trying again cannot help (the
server refused the recipient or the content); any other exception is worth a retry.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Protocol, TextIO


class PermanentSendError(Exception):
    """The server refused the message for good (a 5xx reply about the recipient or the content)."""


@dataclass(frozen=True, slots=True)
class Email:
    from_address: str  # "Name <address>" or a bare address
    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: str | None = None  # stable across retries, so a receiver can tell a duplicate

    def as_mime(self) -> EmailMessage:
        """The message as MIME: plain text, with the HTML as an alternative part."""
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(usegmt=True)
        # make_msgid's default domain is a DNS lookup of this host; the sender's domain costs nothing.
        domain = parseaddr(self.from_address)[1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = (
            f"<{self.message_id}@{domain}>" if self.message_id else make_msgid(domain=domain)
        )
        message.set_content(self.text)
        if self.html is not None:
            message.add_alternative(self.html, subtype="html")
        return message


class EmailSender(Protocol):
    async def send(self, email: Email) -> None: ...

    async def close(self) -> None: ...


class SmtpSender:
    """Any SMTP server, one connection per message; STARTTLS and login when configured."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout = timeout
        self._local_hostname: str | None = None  # for EHLO; aiosmtplib would look it up per message

    async def send(self, email: Email) -> None:
        import aiosmtplib  # here, not at start: only LOYALTY_EMAIL_SENDER=smtp sends with it

        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        try:
            await aiosmtplib.send(
                email.as_mime(),
                hostname=self._host,
                local_hostname=self._local_hostname,
                port=self._port,
                start_tls=self._starttls,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            if all(recipient.code >= 500 for recipient in refused.recipients):
                raise PermanentSendError(str(refused)) from refused
            raise
        except aiosmtplib.SMTPDataError as refused:
            if refused.code >= 500:
                raise PermanentSendError(str(refused)) from refused
            raise

    async def close(self) -> None:
        return None


# SES error codes that no retry can fix; throttling, paused sending or an unverified domain can be.
_SES_PERMANENT = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})


class SesSender:
    """Amazon SES (API v2), sending our own MIME so that both senders produce the same message."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        configuration_set: str | None = None,
    ) -> None:
        import aioboto3

        self._session = aioboto3.Session()
        self._region = region
        self._endpoint_url = endpoint_url
        self._configuration_set = configuration_set
        self._client: Any = None
        self._client_context: Any = None
        self._lock = asyncio.Lock()

    async def _ses(self) -> Any:
        async with self._lock:
            if self._client is None:
                self._client_context = self._session.client(
                    "sesv2", region_name=self._region, endpoint_url=self._endpoint_url
                )
                self._client = await self._client_context.__aenter__()
            return self._client

    async def send(self, email: Email) -> None:
        from botocore.exceptions import ClientError

        ses = await self._ses()
        request: dict[str, Any] = {
            "FromEmailAddress": email.from_address,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": email.as_mime().as_bytes()}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            await ses.send_email(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _SES_PERMANENT:
                raise PermanentSendError(str(error)) from error
            raise

    async def close(self) -> None:
        async with self._lock:
            if self._client_context is not None:
                await self._client_context.__aexit__(None, None, None)
            self._client = self._client_context = None


class ConsoleSender:
    """Prints each message (headers and plain text) instead of sending it: for development."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, email: Email) -> None:
        stream = self._stream or sys.stdout
        rule = "-" * 72
        print(
            rule,
            f"From: {email.from_address}",
            f"To: {email.to}",
            f"Subject: {email.subject}",
            "",
            email.text.rstrip(),
            rule,
            sep="\n",
            file=stream,
            flush=True,
        )

    async def close(self) -> None:
        return None
