"""Staff accounts that look after themselves, through the API and a real SMTP server: invitations,
changing and resetting passwords, signing out everywhere, forced resets, and what each role may do."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources.tables import log_entries, password_links
from loyalty.services.container import Services
from tests.conftest import TEST_PASSWORD, Api, Staff, served
from tests.test_approval_emails import Mail, mail_fixture  # noqa: F401 (a fixture)
from tests.test_approvals import APPROVE
from tests.test_email_delivery import body, clock, smtp  # noqa: F401 (fixtures mail takes)
from tests.test_query_limits import cost
from tests.test_sessions import REFRESH, SIGN_IN, WRONG_PASSWORD, sign_in

NEW_PASSWORD = "a staff member's own pass phrase"
GRACE = "grace@example.com"  # the staff member most tests enrol
CONSOLE = "https://testserver"  # LOYALTY_CONSOLE_URL's default: the server itself (its public URL)

ENROLL = """
mutation($input: EnrollUserInput!) {
  enrollUser(input: $input) { user { id passwordSet } approvalRequest { id } errors { code field } }
}
"""
PROMOTE = """
mutation($id: ID!, $role: Role!) {
  updateUser(id: $id, input: {role: $role}) { user { role passwordSet } errors { code field } }
}
"""
PASSWORD_LINK = "query($token: String!) { passwordLink(token: $token) { purpose email expiresAt } }"
SESSION_FIELDS = "accessToken refreshToken expiresIn user { id email role passwordSet } errors { code field }"
ACCEPT = f"""
mutation($token: String!, $password: String!) {{
  acceptInvitation(token: $token, password: $password) {{ {SESSION_FIELDS} }}
}}
"""
RESET = f"""
mutation($token: String!, $password: String!) {{
  resetPassword(token: $token, password: $password) {{ {SESSION_FIELDS} }}
}}
"""
CHANGE = f"""
mutation($current: String!, $new: String!) {{
  changePassword(currentPassword: $current, newPassword: $new) {{ {SESSION_FIELDS} }}
}}
"""
REQUEST_RESET = "mutation($email: String!) { requestPasswordReset(email: $email) { ok errors { code } } }"
SIGN_OUT_EVERYWHERE = "mutation { signOutEverywhere { ok } }"
FORCE_RESET = """
mutation($id: ID!) { forcePasswordReset(userId: $id) { user { id passwordSet } errors { code field } } }
"""
RESEND = """
mutation($id: ID!) { resendInvitation(userId: $id) { user { id passwordSet } errors { code field } } }
"""
ME = "{ me { id role passwordSet permissions { permission access } } }"
LOGS = """
query($search: String) {
  logs(filter: {search: $search}, first: 100) { edges { node { action outcome actorId targetId details } } }
}
"""


async def deliver(mail: Mail) -> list[tuple[str, str]]:
    """Send what the outbox holds through the SMTP server; (recipient, text body) of what arrived."""
    await mail.services.accounts.settle()  # reset links are made after the answer
    return [(str(message["To"]), body(message, "plain")) for message in await mail.send_due()]


def link_token(text: str, page: str) -> str:
    """The token of the console link to ``page`` in an email's text."""
    found = re.search(rf"{re.escape(CONSOLE)}/{page}#token=([A-Za-z0-9_-]+)", text)
    assert found is not None, text
    return found.group(1)


async def enrol_staff(api: Api, owner: Staff, email: str, role: str = "MANAGER") -> str:
    staff = {"email": email, "firstName": "Grace", "lastName": "Hopper", "role": role}
    result = (await api.data(ENROLL, {"input": staff}, token=owner.token))["enrollUser"]
    assert result["errors"] == [], result
    return result["user"]["id"]


async def emailed_token(mail: Mail, email: str, page: str) -> str:
    """The token of the link to ``page`` in the one email the outbox held, which must be to ``email``."""
    [(recipient, text)] = await deliver(mail)
    assert recipient == email
    return link_token(text, page)


async def invite(api: Api, owner: Staff, mail: Mail, role: str = "MANAGER") -> tuple[str, str]:
    """Grace, enrolled by ``owner``: her user id, and the token of the invitation emailed to her."""
    user_id = await enrol_staff(api, owner, GRACE, role)
    return user_id, await emailed_token(mail, GRACE, "accept-invitation")


async def accept(api: Api, token: str, password: str = NEW_PASSWORD) -> dict[str, Any]:
    return (await api.data(ACCEPT, {"token": token, "password": password}))["acceptInvitation"]


async def reset(api: Api, token: str, password: str = NEW_PASSWORD) -> dict[str, Any]:
    return (await api.data(RESET, {"token": token, "password": password}))["resetPassword"]


async def change(api: Api, token: str, current: str, new: str = NEW_PASSWORD) -> dict[str, Any]:
    return (await api.data(CHANGE, {"current": current, "new": new}, token=token))["changePassword"]


async def request_reset(api: Api, email: str) -> dict[str, Any]:
    return (await api.data(REQUEST_RESET, {"email": email}))["requestPasswordReset"]


def codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(error["code"], error["field"]) for error in payload["errors"]]


async def me_code(api: Api, access_token: str) -> str | None:
    """The error code of reading ``me`` with this access token, or ``None`` when it still works."""
    response = await api.post("{ me { id } }", token=access_token)
    return response["errors"][0]["extensions"]["code"] if "errors" in response else None


async def expire_links(api: Api) -> None:
    """Arrange: every link expired a second ago."""
    async with api.services.db.transaction() as conn:
        await conn.execute(
            password_links.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


# --- invitations ---------------------------------------------------------------------------------


async def test_enrolled_staff_get_an_invitation_that_sets_their_password_and_signs_them_in(
    api: Api, owner: Staff, mail: Mail
) -> None:
    user_id, token = await invite(api, owner, mail)

    described = (await api.data(PASSWORD_LINK, {"token": token}))["passwordLink"]
    session = await accept(api, token)
    signed_in = await sign_in(api, GRACE, NEW_PASSWORD)

    assert (described["purpose"], described["email"]) == ("INVITATION", GRACE)
    expires_in = datetime.fromisoformat(described["expiresAt"]) - datetime.now(UTC)
    assert timedelta(hours=71, minutes=59) < expires_in <= timedelta(hours=72)
    assert session["errors"] == []
    assert session["user"] == {
        "id": user_id,
        "email": GRACE,
        "role": "MANAGER",
        "passwordSet": True,
    }
    assert await me_code(api, session["accessToken"]) is None
    assert session["refreshToken"]
    assert signed_in["errors"] == []


async def test_an_invitation_works_once(api: Api, owner: Staff, mail: Mail) -> None:
    _, token = await invite(api, owner, mail)
    await accept(api, token)

    again = await accept(api, token, "someone else's pass phrase")

    assert codes(again) == [("INVALID_LINK", "token")]
    assert again["accessToken"] is None
    assert (await api.data(PASSWORD_LINK, {"token": token}))["passwordLink"] is None
    assert (await sign_in(api, GRACE, NEW_PASSWORD))["errors"] == []


async def test_an_expired_invitation_is_an_invalid_link(api: Api, owner: Staff, mail: Mail) -> None:
    _, token = await invite(api, owner, mail)
    await expire_links(api)

    assert codes(await accept(api, token)) == [("INVALID_LINK", "token")]
    assert (await api.data(PASSWORD_LINK, {"token": token}))["passwordLink"] is None


async def test_an_unknown_token_is_an_invalid_link(api: Api) -> None:
    assert codes(await accept(api, "no-such-token")) == [("INVALID_LINK", "token")]
    assert codes(await reset(api, "x" * 10_000)) == [("INVALID_LINK", "token")]
    assert (await api.data(PASSWORD_LINK, {"token": "no-such-token"}))["passwordLink"] is None


async def test_two_parallel_uses_of_one_link_one_wins(api: Api, owner: Staff, mail: Mail) -> None:
    _, token = await invite(api, owner, mail)

    first, second = await asyncio.gather(
        accept(api, token, "first pass phrase of two"), accept(api, token, "second pass phrase of two")
    )

    outcomes = sorted([codes(first), codes(second)])
    assert outcomes == [[], [("INVALID_LINK", "token")]]
    winner = "first pass phrase of two" if codes(first) == [] else "second pass phrase of two"
    assert (await sign_in(api, GRACE, winner))["errors"] == []


async def test_a_weak_password_is_refused_and_the_invitation_still_works(
    api: Api, owner: Staff, mail: Mail
) -> None:
    _, token = await invite(api, owner, mail)

    short = await accept(api, token, "too short")
    common = await accept(api, token, "PASSWORD1234")

    assert codes(short) == [("WEAK_PASSWORD", "password")]
    assert codes(common) == [("WEAK_PASSWORD", "password")]
    assert (await accept(api, token))["errors"] == []


async def test_promoting_a_customer_to_staff_sends_an_invitation(api: Api, owner: Staff, mail: Mail) -> None:
    customer = await api.user()

    promoted = (await api.data(PROMOTE, {"id": customer.id, "role": "ENGINEER"}, token=owner.token))[
        "updateUser"
    ]
    token = await emailed_token(mail, customer.email, "accept-invitation")

    assert promoted["user"] == {"role": "ENGINEER", "passwordSet": False}
    assert (await accept(api, token))["user"]["role"] == "ENGINEER"


async def test_an_approved_staff_enrolment_sends_the_invitation_when_approved(
    api: Api, owner: Staff, mail: Mail
) -> None:
    engineer = await api.user(Role.ENGINEER)
    staff = {"email": "mel@example.com", "firstName": "Mel", "lastName": "M", "role": "PRODUCT_MANAGER"}
    proposed = (await api.data(ENROLL, {"input": staff}, token=engineer.token))["enrollUser"]
    before = await deliver(mail)

    await api.data(APPROVE, {"id": proposed["approvalRequest"]["id"]}, token=owner.token)
    after = await deliver(mail)

    assert "mel@example.com" not in [recipient for recipient, _ in before]
    [invitation] = [text for recipient, text in after if recipient == "mel@example.com"]
    assert (await accept(api, link_token(invitation, "accept-invitation")))["errors"] == []


async def test_an_enrolment_never_carries_a_password_not_even_in_a_proposal(api: Api, owner: Staff) -> None:
    engineer = await api.user(Role.ENGINEER)
    staff = {"email": "mel@example.com", "firstName": "Mel", "lastName": "M", "role": "MANAGER"}

    direct = (await api.data(ENROLL, {"input": staff | {"password": NEW_PASSWORD}}, token=owner.token))[
        "enrollUser"
    ]
    proposed = (await api.data(ENROLL, {"input": staff | {"password": NEW_PASSWORD}}, token=engineer.token))[
        "enrollUser"
    ]

    for payload in (direct, proposed):
        assert codes(payload) == [("VALIDATION", "input.password")]
        assert (payload["user"], payload["approvalRequest"]) == (None, None)


async def test_resending_an_invitation_revokes_the_older_link(api: Api, owner: Staff, mail: Mail) -> None:
    manager = await api.user(Role.MANAGER)
    user_id, older = await invite(api, owner, mail, role="ENGINEER")

    resent = (await api.data(RESEND, {"id": user_id}, token=manager.token))["resendInvitation"]
    newer = await emailed_token(mail, GRACE, "accept-invitation")

    assert resent == {"user": {"id": user_id, "passwordSet": False}, "errors": []}
    assert codes(await accept(api, older)) == [("INVALID_LINK", "token")]
    assert (await accept(api, newer))["errors"] == []


async def test_no_invitation_is_resent_to_staff_with_a_password(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)

    resent = (await api.data(RESEND, {"id": manager.id}, token=owner.token))["resendInvitation"]

    assert codes(resent) == [("VALIDATION", "userId")]


async def test_an_engineer_cannot_resend_invitations(api: Api, owner: Staff) -> None:
    engineer = await api.user(Role.ENGINEER)
    user_id = await enrol_staff(api, owner, GRACE, role="ENGINEER")

    assert await api.error_code(RESEND, {"id": user_id}, token=engineer.token) == "FORBIDDEN"


# --- resetting a forgotten password --------------------------------------------------------------


async def test_a_reset_link_arrives_by_email_works_once_and_ends_every_other_session(
    api: Api, mail: Mail
) -> None:
    manager = await api.user(Role.MANAGER)
    old_session = await sign_in(api, manager.email)

    answer = await request_reset(api, manager.email.upper())
    token = await emailed_token(mail, manager.email, "reset-password")
    described = (await api.data(PASSWORD_LINK, {"token": token}))["passwordLink"]
    new_session = await reset(api, token)

    assert answer == {"ok": True, "errors": []}
    assert described["purpose"] == "RESET"
    expires_in = datetime.fromisoformat(described["expiresAt"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < expires_in <= timedelta(hours=1)
    assert new_session["errors"] == []
    assert await me_code(api, new_session["accessToken"]) is None
    assert await me_code(api, old_session["accessToken"]) == "UNAUTHENTICATED"
    assert (await api.data(REFRESH, {"token": old_session["refreshToken"]}))["refreshToken"]["errors"]
    assert (await sign_in(api, manager.email, TEST_PASSWORD))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert codes(await reset(api, token, "yet another pass phrase")) == [("INVALID_LINK", "token")]


async def test_an_expired_reset_link_is_an_invalid_link(api: Api, mail: Mail) -> None:
    manager = await api.user(Role.MANAGER)
    await request_reset(api, manager.email)
    token = await emailed_token(mail, manager.email, "reset-password")
    await expire_links(api)

    assert codes(await reset(api, token)) == [("INVALID_LINK", "token")]
    assert (await sign_in(api, manager.email))["errors"] == []


async def test_an_invitation_link_does_not_reset_and_a_reset_link_does_not_accept(
    api: Api, owner: Staff, mail: Mail
) -> None:
    _, invitation = await invite(api, owner, mail)
    await request_reset(api, owner.email)
    reset_link = await emailed_token(mail, owner.email, "reset-password")

    assert codes(await reset(api, invitation)) == [("INVALID_LINK", "token")]
    assert codes(await accept(api, reset_link)) == [("INVALID_LINK", "token")]


async def test_a_reset_for_an_unknown_email_or_a_customer_answers_the_same_and_sends_nothing(
    api: Api, owner: Staff, mail: Mail
) -> None:
    customer = await api.user()

    answers = [
        await request_reset(api, email)
        for email in ("nobody@example.com", customer.email, "not an email at all", "x" * 1000)
    ]

    assert answers == [{"ok": True, "errors": []}] * 4
    assert await deliver(mail) == []


async def test_a_reset_request_does_the_same_work_for_a_known_and_an_unknown_email(
    api: Api, owner: Staff
) -> None:
    async def statements_of(email: str) -> list[str]:
        """The statements the request itself runs (not the task that makes the link afterwards)."""
        statements: list[str] = []

        def record(statement: str) -> None:
            task = asyncio.current_task()
            if task is None or task.get_name() != "password-reset-email":
                statements.append(statement)

        api.services.db.statement_hook = record
        try:
            await request_reset(api, email)
        finally:
            api.services.db.statement_hook = None
        await api.services.accounts.settle()
        return statements

    known = await statements_of(owner.email)
    unknown = await statements_of("nobody@example.com")

    assert known == unknown
    assert any("password_reset_requests" in statement for statement in known)


async def test_reset_emails_are_limited_per_email(api: Api, mail: Mail) -> None:
    manager = await api.user(Role.MANAGER)

    answers = [await request_reset(api, manager.email) for _ in range(5)]

    assert answers == [{"ok": True, "errors": []}] * 5
    assert [recipient for recipient, _ in await deliver(mail)] == [manager.email] * 3


async def test_reset_requests_are_limited_per_address(api: Api, mail: Mail) -> None:
    staff = [await api.user(Role.ENGINEER) for _ in range(11)]

    for member in staff:
        assert await request_reset(api, member.email) == {"ok": True, "errors": []}

    assert len(await deliver(mail)) == 10


async def test_strangers_cannot_spend_the_reset_emails_of_an_address_the_owner_signed_in_from(
    services: Services, settings: Settings, mail: Mail
) -> None:
    trusting = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    async with served(trusting, services) as api:
        client = api.client
        manager = await api.user(Role.MANAGER)

        async def reset_from(address: str) -> None:
            response = await client.post(
                "/graphql",
                json={"query": REQUEST_RESET, "variables": {"email": manager.email}},
                headers={"x-forwarded-for": address},
            )
            assert response.json()["data"]["requestPasswordReset"] == {"ok": True, "errors": []}

        signed_in = await client.post(
            "/graphql",
            json={"query": SIGN_IN, "variables": {"email": manager.email, "password": TEST_PASSWORD}},
            headers={"x-forwarded-for": "198.51.100.7"},
        )
        assert signed_in.json()["data"]["signIn"]["errors"] == []
        for n in range(5):
            await reset_from(f"203.0.113.{n}")
        from_strangers = await deliver(mail)
        await reset_from("198.51.100.7")  # the manager's own address
        from_the_manager = await deliver(mail)
        await reset_from("203.0.113.99")
        from_another_stranger = await deliver(mail)

    assert len(from_strangers) == 3  # the budget strangers share
    assert [recipient for recipient, _ in from_the_manager] == [manager.email]
    assert from_another_stranger == []


# --- changing a password -------------------------------------------------------------------------


async def test_changing_the_password_needs_the_current_one(api: Api) -> None:
    manager = await api.user(Role.MANAGER)

    refused = await change(api, manager.token, WRONG_PASSWORD)

    assert codes(refused) == [("INVALID_CREDENTIALS", "currentPassword")]
    assert refused["accessToken"] is None
    assert (await sign_in(api, manager.email))["errors"] == []


async def test_a_wrong_current_password_counts_toward_the_sign_in_lockout(api: Api) -> None:
    manager = await api.user(Role.MANAGER)

    for _ in range(5):
        await change(api, manager.token, WRONG_PASSWORD)
    locked = await change(api, manager.token, TEST_PASSWORD)

    assert codes(locked) == [("ACCOUNT_LOCKED", None)]
    assert (await sign_in(api, manager.email))["errors"][0]["code"] == "ACCOUNT_LOCKED"


async def test_a_new_password_must_be_strong(api: Api) -> None:
    manager = await api.user(Role.MANAGER)

    assert codes(await change(api, manager.token, TEST_PASSWORD, "short")) == [
        ("WEAK_PASSWORD", "newPassword")
    ]
    assert codes(await change(api, manager.token, TEST_PASSWORD, "1q2w3e4r5t6y7u8i9o0p")) == [
        ("WEAK_PASSWORD", "newPassword")
    ]


async def test_changing_the_password_ends_other_sessions_and_returns_a_fresh_one(api: Api) -> None:
    manager = await api.user(Role.MANAGER)
    other = await sign_in(api, manager.email)

    changed = await change(api, manager.token, TEST_PASSWORD)

    assert changed["errors"] == []
    assert await me_code(api, changed["accessToken"]) is None
    assert (await api.data(REFRESH, {"token": changed["refreshToken"]}))["refreshToken"]["errors"] == []
    assert await me_code(api, other["accessToken"]) == "UNAUTHENTICATED"
    assert await me_code(api, manager.token) == "UNAUTHENTICATED"
    assert (await api.data(REFRESH, {"token": other["refreshToken"]}))["refreshToken"]["errors"]
    assert (await sign_in(api, manager.email, NEW_PASSWORD))["errors"] == []


async def test_changing_a_password_needs_a_signed_in_caller(api: Api) -> None:
    assert await api.error_code(CHANGE, {"current": "x", "new": NEW_PASSWORD}) == "UNAUTHENTICATED"


# --- signing out everywhere ----------------------------------------------------------------------


async def test_signing_out_everywhere_stops_refresh_and_access_tokens(api: Api) -> None:
    manager = await api.user(Role.MANAGER)
    first, second = await sign_in(api, manager.email), await sign_in(api, manager.email)

    signed_out = await api.data(SIGN_OUT_EVERYWHERE, token=first["accessToken"])

    assert signed_out == {"signOutEverywhere": {"ok": True}}
    for session in (first, second):
        assert await me_code(api, session["accessToken"]) == "UNAUTHENTICATED"
        refused = (await api.data(REFRESH, {"token": session["refreshToken"]}))["refreshToken"]
        assert [error["code"] for error in refused["errors"]] == ["INVALID_TOKEN"]
    assert await me_code(api, manager.token) == "UNAUTHENTICATED"
    assert await me_code(api, (await sign_in(api, manager.email))["accessToken"]) is None


@asynccontextmanager
async def another_instance(settings: Settings, *, cache_seconds: float) -> AsyncIterator[Api]:
    """A second server on the same database, trusting its cached principals for ``cache_seconds``."""
    services = Services.build(settings.model_copy(update={"principal_cache_seconds": cache_seconds}))
    try:
        async with served(settings, services) as api:
            yield api
    finally:
        await services.close()


async def test_another_server_instance_refuses_the_access_tokens_once_its_cached_entry_expires(
    api: Api, settings: Settings
) -> None:
    manager = await api.user(Role.MANAGER)
    async with another_instance(settings, cache_seconds=0.2) as other:
        assert await me_code(other, manager.token) is None  # cached there with the old epoch

        await api.data(SIGN_OUT_EVERYWHERE, token=manager.token)
        await asyncio.sleep(0.3)

        assert await me_code(other, manager.token) == "UNAUTHENTICATED"


async def test_another_server_instance_takes_a_token_issued_after_it_cached_the_user(
    api: Api, settings: Settings
) -> None:
    manager = await api.user(Role.MANAGER)
    async with another_instance(settings, cache_seconds=3600) as other:
        assert await me_code(other, manager.token) is None  # cached there with the old epoch
        await api.data(SIGN_OUT_EVERYWHERE, token=manager.token)

        fresh = (await sign_in(api, manager.email))["accessToken"]

        assert await me_code(other, fresh) is None
        assert await me_code(other, manager.token) == "UNAUTHENTICATED"  # the cache caught up


async def test_signing_out_everywhere_needs_a_signed_in_caller(api: Api) -> None:
    assert await api.error_code(SIGN_OUT_EVERYWHERE) == "UNAUTHENTICATED"


# --- an owner forcing a reset --------------------------------------------------------------------


async def test_an_owner_forces_a_reset_the_password_and_sessions_end_and_a_link_arrives(
    api: Api, owner: Staff, mail: Mail
) -> None:
    manager = await api.user(Role.MANAGER)
    session = await sign_in(api, manager.email)

    forced = (await api.data(FORCE_RESET, {"id": manager.id}, token=owner.token))["forcePasswordReset"]
    [(recipient, text)] = await deliver(mail)

    assert forced == {"user": {"id": manager.id, "passwordSet": False}, "errors": []}
    assert recipient == manager.email
    assert f"has reset your password ({owner.email})" in text
    assert await me_code(api, session["accessToken"]) == "UNAUTHENTICATED"
    assert (await api.data(REFRESH, {"token": session["refreshToken"]}))["refreshToken"]["errors"]
    assert (await sign_in(api, manager.email))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await reset(api, link_token(text, "reset-password")))["errors"] == []


async def test_a_manager_cannot_force_a_reset(api: Api, owner: Staff) -> None:
    manager, engineer = await api.user(Role.MANAGER), await api.user(Role.ENGINEER)

    assert await api.error_code(FORCE_RESET, {"id": engineer.id}, token=manager.token) == "FORBIDDEN"
    assert (await sign_in(api, engineer.email))["errors"] == []


async def test_an_owner_cannot_force_their_own_reset(api: Api, owner: Staff) -> None:
    forced = (await api.data(FORCE_RESET, {"id": owner.id}, token=owner.token))["forcePasswordReset"]

    assert codes(forced) == [("SELF_ACTION", "userId")]


async def test_a_customer_has_no_password_to_reset(api: Api, owner: Staff) -> None:
    customer = await api.user()

    forced = (await api.data(FORCE_RESET, {"id": customer.id}, token=owner.token))["forcePasswordReset"]

    assert codes(forced) == [("VALIDATION", "userId")]


# --- what the console is told --------------------------------------------------------------------

EXPECTED_PERMISSIONS = {
    Role.OWNER: {
        "READ_USERS": "ALLOW", "ENROLL_USERS": "ALLOW", "UPDATE_USERS": "ALLOW", "DELETE_USERS": "ALLOW",
        "ADJUST_POINTS": "ALLOW", "DECIDE_REQUESTS": "ALLOW", "READ_LOGS": "ALLOW", "MANAGE_OWNERS": "ALLOW",
        "SET_LOG_RETENTION": "ALLOW", "FORCE_PASSWORD_RESET": "ALLOW",
    },
    Role.MANAGER: {
        "READ_USERS": "ALLOW", "ENROLL_USERS": "ALLOW", "UPDATE_USERS": "ALLOW", "DELETE_USERS": "REQUEST",
        "ADJUST_POINTS": "ALLOW", "DECIDE_REQUESTS": "ALLOW", "READ_LOGS": "ALLOW",
    },
    Role.ENGINEER: {
        "READ_USERS": "ALLOW", "ENROLL_USERS": "REQUEST", "UPDATE_USERS": "REQUEST", "ADJUST_POINTS": "REQUEST",
        "READ_LOGS": "ALLOW",
    },
    Role.PRODUCT_MANAGER: {"READ_USERS": "CUSTOMERS_ONLY", "ENROLL_USERS": "REQUEST"},
}  # fmt: skip


async def test_each_role_is_told_what_it_may_do(api: Api) -> None:
    for role, expected in EXPECTED_PERMISSIONS.items():
        member = await api.user(role)

        me = (await api.data(ME, token=member.token))["me"]

        assert {grant["permission"]: grant["access"] for grant in me["permissions"]} == expected, role
        assert me["passwordSet"] is True


async def test_a_customer_may_do_nothing_and_has_no_password(api: Api, owner: Staff) -> None:
    customer = await api.user()

    user = (
        await api.data(
            "query($id: ID!) { user(id: $id) { permissions { permission } passwordSet } }",
            {"id": customer.id},
            token=owner.token,
        )
    )["user"]

    assert user == {"permissions": [], "passwordSet": None}


async def test_an_approval_request_tells_the_viewer_whether_they_may_decide_or_cancel(
    api: Api, owner: Staff
) -> None:
    engineer, product_manager = await api.user(Role.ENGINEER), await api.user(Role.PRODUCT_MANAGER)
    staff = {"email": "mel@example.com", "firstName": "Mel", "lastName": "M"}
    await api.data(ENROLL, {"input": staff}, token=engineer.token)
    query = "{ approvalRequests { edges { node { viewerCanDecide viewerCanCancel } } } }"

    def flags(data: dict[str, Any]) -> list[dict[str, bool]]:
        return [edge["node"] for edge in data["approvalRequests"]["edges"]]

    assert flags(await api.data(query, token=owner.token)) == [
        {"viewerCanDecide": True, "viewerCanCancel": False}
    ]
    assert flags(await api.data(query, token=engineer.token)) == [
        {"viewerCanDecide": False, "viewerCanCancel": True}
    ]
    assert flags(await api.data(query, token=product_manager.token)) == []


# --- the activity log ----------------------------------------------------------------------------


async def test_every_account_action_is_logged_without_a_token_or_password(
    api: Api, owner: Staff, mail: Mail
) -> None:
    manager = await api.user(Role.MANAGER)
    user_id, invitation = await invite(api, owner, mail)
    accepted = await accept(api, invitation)
    await request_reset(api, GRACE)
    reset_link = await emailed_token(mail, GRACE, "reset-password")
    after_reset = await reset(api, reset_link, "the reset pass phrase")
    changed = await change(
        api, after_reset["accessToken"], "the reset pass phrase", "the changed pass phrase"
    )
    await api.data(SIGN_OUT_EVERYWHERE, token=changed["accessToken"])
    await api.data(FORCE_RESET, {"id": manager.id}, token=owner.token)

    enrolment = (await api.data(LOGS, {"search": "user.enroll"}, token=owner.token))["logs"]["edges"][0][
        "node"
    ]
    logged = [
        (node["action"], node["outcome"], node["targetId"])
        for node in [
            edge["node"]
            for edge in (await api.data(LOGS, {"search": "auth."}, token=owner.token))["logs"]["edges"]
        ]
        if node["action"] not in ("auth.sign_in",)
    ]
    async with api.services.db.read() as conn:
        stored = json.dumps([list(row) for row in await conn.execute(sa.select(log_entries))], default=str)

    assert enrolment["details"]["invitation"]["email"] == GRACE
    assert sorted(logged) == sorted(
        [
            ("auth.invitation_accepted", "SUCCESS", user_id),
            ("auth.password_reset_requested", "SUCCESS", user_id),
            ("auth.password_reset", "SUCCESS", user_id),
            ("auth.password_changed", "SUCCESS", user_id),
            ("auth.signed_out_everywhere", "SUCCESS", user_id),
            ("auth.password_reset_forced", "SUCCESS", manager.id),
        ]
    )
    for secret in (
        invitation,
        reset_link,
        NEW_PASSWORD,
        "the reset pass phrase",
        "the changed pass phrase",
        accepted["accessToken"],
        accepted["refreshToken"],
        changed["refreshToken"],
    ):
        assert secret not in stored


# --- limits --------------------------------------------------------------------------------------


def test_setting_a_password_or_asking_for_a_reset_weighs_like_signing_in() -> None:
    sign_in_cost = cost('mutation { signIn(email: "a", password: "b") { accessToken } }')
    fields = [
        'acceptInvitation(token: "t", password: "p") { accessToken }',
        'resetPassword(token: "t", password: "p") { accessToken }',
        'changePassword(currentPassword: "c", newPassword: "n") { accessToken }',
        'requestPasswordReset(email: "a") { ok }',
    ]

    assert [cost(f"mutation {{ {field} }}") for field in fields] == [sign_in_cost] * 4
    assert cost("mutation { signOutEverywhere { ok } }") < sign_in_cost // 10
