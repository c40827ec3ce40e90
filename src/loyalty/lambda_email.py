"""AWS Lambda entry point that sends email: ``loyalty.lambda_email.handler``.

Triggered by SQS (with ``ReportBatchItemFailures`` on the event source mapping), each record's body
is JSON, either

- ``{"outbox_id": "<uuid>"}``: send that message from the email outbox, once (a message already sent
  is not sent again, so SQS redelivering a record is harmless); or
- ``{"to": "...", "subject": "...", "text": "...", "html": "..."}`` (``html`` optional): send this
  message as it is. Nothing remembers it, so a redelivered record sends it again: prefer outbox ids.

A record that cannot be read, or whose message could not be sent (and is not parked as FAILED in the
outbox, where ``loyalty email-failed`` shows it), is reported in ``batchItemFailures``: SQS delivers
it again later, and after the queue's maxReceiveCount moves it to the dead-letter queue. Nothing is
dropped silently.

Invoked without SQS records (an EventBridge schedule), it sends whatever is due in the outbox,
retries included, and returns ``{"sent": n}``.

Configuration comes from the same ``LOYALTY_*`` environment variables as the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from loyalty.config import Settings
from loyalty.datasources.database import Database
from loyalty.services.notifications import EmailWorker, build_notifications

logger = logging.getLogger("loyalty.lambda_email")


class UnreadableRecord(ValueError):
    pass


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return asyncio.run(handle(event))


async def handle(event: Mapping[str, Any]) -> dict[str, Any]:
    # Built per invocation: asyncio.run gives each one a new event loop, which pooled connections
    # and HTTP clients of an earlier invocation cannot be used from.
    settings = Settings()
    db = Database(settings.resolved_database_url, pool_size=2)
    _, worker = build_notifications(settings, db)
    try:
        records = event.get("Records")
        if records is None:
            return {"sent": await worker.send_due()}
        return {"batchItemFailures": [{"itemIdentifier": item} for item in await _send(worker, records)]}
    finally:
        await worker.close()
        await db.dispose()


async def _send(worker: EmailWorker, records: list[Mapping[str, Any]]) -> list[str]:
    """Send what the records ask for; the message ids of the records that failed."""
    failures: list[str] = []
    by_outbox_id: dict[uuid.UUID, list[str]] = {}
    direct: list[tuple[str, dict[str, Any]]] = []
    for record in records:
        item = str(record.get("messageId", ""))
        try:
            body = _read(record)
        except UnreadableRecord as error:
            logger.error("SQS message %s is unreadable: %s", item, error)
            failures.append(item)
            continue
        if "outbox_id" in body:
            by_outbox_id.setdefault(body["outbox_id"], []).append(item)
        else:
            direct.append((item, body))

    if by_outbox_id:
        outcomes = await worker.send_ids(by_outbox_id)
        for outbox_id, outcome in outcomes.items():
            if not outcome.settled:
                logger.warning("email %s: %s; SQS will deliver it again", outbox_id, outcome.value)
                failures.extend(by_outbox_id[outbox_id])

    for item, message in direct:
        try:
            await worker.send_direct(**message)
        except Exception as error:  # noqa: BLE001 - reported to SQS, which tries again
            logger.warning("SQS message %s not sent: %s", item, error)
            failures.append(item)
    return failures


def _read(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's request: ``{"outbox_id": UUID}``, or the keyword arguments of ``send_direct``."""
    try:
        body = json.loads(record["body"])
    except (KeyError, TypeError, ValueError) as error:
        raise UnreadableRecord(f"the body is not JSON ({error})") from None
    if not isinstance(body, dict):
        raise UnreadableRecord("the body is not a JSON object")
    if "outbox_id" in body:
        try:
            return {"outbox_id": uuid.UUID(str(body["outbox_id"]))}
        except ValueError:
            raise UnreadableRecord("outbox_id is not a UUID") from None
    message: dict[str, Any] = {name: body.get(name) for name in ("to", "subject", "text", "html")}
    for name in ("to", "subject", "text"):
        if not isinstance(message[name], str) or not message[name].strip():
            raise UnreadableRecord(f"{name!r} is missing or not a string")
    if message["html"] is not None and not isinstance(message["html"], str):
        raise UnreadableRecord("'html' is not a string")
    if "@" not in message["to"]:
        raise UnreadableRecord("'to' is not an email address")
    return message
