"""The right people get the right mail: checkers on a new request, the maker on a decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from loyalty.auth.permissions import Role
from loyalty.services.container import Services
from tests.conftest import Api, Staff
from tests.test_approvals import APPROVE, DELETE, propose_enrolment
from tests.test_email_delivery import Clock, SmtpServer, body, clock, make_worker, smtp  # noqa: F401 (fixtures)


@dataclass
class Mail:
    """The way out of the outbox in a test: a real SMTP server, and the email worker's clock."""

    services: Services
    smtp: SmtpServer
    clock: Clock

    async def send_due(self) -> list[EmailMessage]:
        """Send what is due through the SMTP server; the messages that arrived, in order."""
        self.smtp.inbox.messages.clear()
        self.clock.now = datetime.now(UTC) + timedelta(seconds=1)
        worker = make_worker(self.services, self.smtp, self.clock)
        await worker.send_due()
        await worker.close()
        return list(self.smtp.inbox.messages)


@pytest.fixture(name="mail")
def mail_fixture(services: Services, smtp: SmtpServer, clock: Clock) -> Mail:  # noqa: F811
    # The function is named apart from the fixture so that a module importing it can have its tests
    # take ``mail`` without shadowing the import (ruff's F811); it must import ``smtp`` and ``clock`` too.
    return Mail(services, smtp, clock)


def recipients(messages: list[EmailMessage]) -> list[str]:
    return sorted(str(message["To"]) for message in messages)


async def test_a_new_request_is_mailed_to_every_eligible_checker_but_its_maker(
    api: Api, owner: Staff, mail: Mail
) -> None:
    manager, engineer = await api.user(Role.MANAGER), await api.user(Role.ENGINEER)
    await api.user(Role.PRODUCT_MANAGER)

    request = await propose_enrolment(api, engineer)
    delivered = await mail.send_due()

    assert recipients(delivered) == sorted([owner.email, manager.email])
    assert f"/approvals/{request['id']}" in body(delivered[0], "plain")


async def test_a_delete_request_is_mailed_to_owners_only(api: Api, owner: Staff, mail: Mail) -> None:
    manager, other_manager, customer = (
        await api.user(Role.MANAGER),
        await api.user(Role.MANAGER),
        await api.user(),
    )

    await api.data(DELETE, {"id": customer.id}, token=manager.token)

    assert recipients(await mail.send_due()) == [owner.email]
    assert other_manager.email not in mail.smtp.inbox.recipients()


async def test_a_decision_is_mailed_to_the_maker(api: Api, owner: Staff, mail: Mail) -> None:
    engineer = await api.user(Role.ENGINEER)
    request = await propose_enrolment(api, engineer)
    await mail.send_due()

    await api.data(APPROVE, {"id": request["id"], "comment": "welcome aboard"}, token=owner.token)
    delivered = await mail.send_due()

    assert recipients(delivered) == [engineer.email]
    assert "welcome aboard" in body(delivered[0], "plain")
