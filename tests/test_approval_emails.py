"""The right people get the right mail: checkers on a new request, the maker on a decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff
from tests.test_approvals import APPROVE, DELETE, propose_enrolment
from tests.test_email_delivery import Clock, SmtpServer, body, clock, make_worker, smtp  # noqa: F401 (fixtures)


async def deliver(api: Api, smtp: SmtpServer, clock: Clock) -> list[tuple[str, str]]:  # noqa: F811
    """Send what is due through a real SMTP server; (recipient, subject) of what arrived, in order."""
    smtp.inbox.messages.clear()
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    worker = make_worker(api.services, smtp, clock)
    await worker.send_due()
    await worker.close()
    return sorted((str(message["To"]), str(message["Subject"])) for message in smtp.inbox.messages)


async def test_a_new_request_is_mailed_to_every_eligible_checker_but_its_maker(
    api: Api,
    owner: Staff,
    smtp: SmtpServer,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    manager, engineer = await api.user(Role.MANAGER), await api.user(Role.ENGINEER)
    await api.user(Role.PRODUCT_MANAGER)

    request = await propose_enrolment(api, engineer)
    delivered = await deliver(api, smtp, clock)

    assert [recipient for recipient, _ in delivered] == sorted([owner.email, manager.email])
    message = smtp.inbox.messages[0]
    assert f"/approvals/{request['id']}" in body(message, "plain")


async def test_a_delete_request_is_mailed_to_owners_only(
    api: Api,
    owner: Staff,
    smtp: SmtpServer,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    manager, other_manager, customer = (
        await api.user(Role.MANAGER),
        await api.user(Role.MANAGER),
        await api.user(),
    )

    await api.data(DELETE, {"id": customer.id}, token=manager.token)

    assert [recipient for recipient, _ in await deliver(api, smtp, clock)] == [owner.email]
    assert other_manager.email not in smtp.inbox.recipients()


async def test_a_decision_is_mailed_to_the_maker(
    api: Api,
    owner: Staff,
    smtp: SmtpServer,  # noqa: F811
    clock: Clock,  # noqa: F811
) -> None:
    engineer = await api.user(Role.ENGINEER)
    request = await propose_enrolment(api, engineer)
    await deliver(api, smtp, clock)

    await api.data(APPROVE, {"id": request["id"], "comment": "welcome aboard"}, token=owner.token)
    delivered = await deliver(api, smtp, clock)

    assert [recipient for recipient, _ in delivered] == [engineer.email]
    assert "welcome aboard" in body(smtp.inbox.messages[0], "plain")
