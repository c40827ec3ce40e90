"""The email templates: a one-line subject, a plain text and an HTML body, links to the console, escaped HTML."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from jinja2 import UndefinedError

from loyalty.datasources.email_senders import Email
from loyalty.services.notifications import TEMPLATES, EmailTemplates, EmailWorker

CONSOLE = "https://console.example.test"
REQUEST_ID = uuid.UUID("0b8f6c1e-6d1e-4a53-9a38-2f1f0e6b9a10")
LINK = f"{CONSOLE}/approvals/{REQUEST_ID}"
HOSTILE = '<script>alert("x")</script> & "quotes"'

CONTEXTS: dict[str, dict[str, Any]] = {
    "approval_requested": {
        "request_id": REQUEST_ID,
        "kind": "ENROLL_USER",
        "maker_email": "maker@example.com",
        "target_id": "new user",
        "change": {"email": "ada@example.com", "first_name": "Ada", "role": "USER"},
    },
    "approval_decided": {
        "request_id": REQUEST_ID,
        "kind": "ADJUST_POINTS",
        "status": "APPROVED",
        "checker_email": "owner@example.com",
        "comment": "Fine by me.",
    },
    "points_changed": {
        "first_name": "Ada",
        "program": "default",
        "action": "ADD",
        "amount": 1500,
        "balance_after": 12500,
    },
    "staff_invitation": {
        "first_name": "Grace",
        "email": "grace@example.com",
        "role": "PRODUCT_MANAGER",
        "invited_by": "owner@example.com",
        "link_url": f"{CONSOLE}/accept-invitation#token=t0ken",
        "valid_hours": 72,
    },
    "password_reset": {
        "first_name": "Grace",
        "email": "grace@example.com",
        "forced": False,
        "forced_by": None,
        "link_url": f"{CONSOLE}/reset-password#token=t0ken",
        "valid_minutes": 60,
    },
}


@pytest.fixture
def templates() -> EmailTemplates:
    return EmailTemplates(CONSOLE + "/")  # a trailing slash is not doubled in links


def test_every_template_has_a_context_here() -> None:
    assert set(CONTEXTS) == set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_template_renders_a_one_line_subject_and_both_bodies(
    templates: EmailTemplates, name: str
) -> None:
    message = templates.render(name, CONTEXTS[name])

    assert message.subject
    assert "\n" not in message.subject
    assert len(message.subject) <= 80
    assert message.text.strip()
    assert message.html.lstrip().startswith("<!doctype html>")
    assert f"<title>{message.subject}</title>" in message.html


@pytest.mark.parametrize("name", ["approval_requested", "approval_decided"])
def test_approval_emails_link_to_the_request_in_the_console(templates: EmailTemplates, name: str) -> None:
    message = templates.render(name, CONTEXTS[name])

    assert LINK in message.text
    assert f'href="{LINK}"' in message.html
    assert "//approvals" not in message.text


def test_a_new_request_names_the_maker_the_kind_and_the_change(templates: EmailTemplates) -> None:
    message = templates.render("approval_requested", CONTEXTS["approval_requested"])

    assert message.subject == "Approval needed: enrol a user (requested by maker@example.com)"
    assert "maker@example.com asks you to approve a request to enrol a user." in message.text
    assert "  first_name: Ada\n" in message.text
    assert "ada@example.com" in message.html


def test_a_decision_tells_the_maker_the_outcome_and_the_comment(templates: EmailTemplates) -> None:
    message = templates.render("approval_decided", CONTEXTS["approval_decided"])

    assert message.subject == "Your request to adjust points was approved"
    assert "was approved by owner@example.com." in message.text
    assert "Comment: Fine by me." in message.text


def test_a_decision_without_a_checker_or_comment_still_renders(templates: EmailTemplates) -> None:
    context = {"request_id": REQUEST_ID, "kind": "DELETE_USER", "status": "CANCELLED"}

    message = templates.render("approval_decided", context)

    assert message.subject == "Your request to delete a user was cancelled"
    assert "Comment" not in message.text


@pytest.mark.parametrize(
    ("action", "sentence"),
    [
        ("ADD", "1,500 points were added to your points account."),
        ("DEDUCT", "1,500 points were deducted from your points account."),
        ("OVERRIDE", "The balance of your points account was set to 1,500 points."),
    ],
)
def test_a_points_change_tells_the_customer_what_happened(
    templates: EmailTemplates, action: str, sentence: str
) -> None:
    message = templates.render("points_changed", {**CONTEXTS["points_changed"], "action": action})

    assert message.subject == "Your points balance is now 12,500"
    assert sentence in message.text
    assert "Your balance is now 12,500 points." in message.text


def test_a_points_change_names_a_program_other_than_the_default(templates: EmailTemplates) -> None:
    message = templates.render("points_changed", {**CONTEXTS["points_changed"], "program": "airline"})

    assert "added to your airline points account" in message.text


@pytest.mark.parametrize(
    ("name", "page"), [("staff_invitation", "accept-invitation"), ("password_reset", "reset-password")]
)
def test_password_emails_carry_their_link_with_the_token_in_the_fragment(
    templates: EmailTemplates, name: str, page: str
) -> None:
    message = templates.render(name, CONTEXTS[name])

    assert f"{CONSOLE}/{page}#token=t0ken" in message.text
    assert f'href="{CONSOLE}/{page}#token=t0ken"' in message.html


def test_an_invitation_names_the_role_the_inviter_and_how_long_it_lasts(templates: EmailTemplates) -> None:
    message = templates.render("staff_invitation", CONTEXTS["staff_invitation"])

    assert "product manager account" in message.text
    assert "set up by owner@example.com" in message.text
    assert "for 72 hours" in message.text


def test_a_forced_reset_says_an_owner_did_it(templates: EmailTemplates) -> None:
    context = {**CONTEXTS["password_reset"], "forced": True, "forced_by": "owner@example.com"}

    message = templates.render("password_reset", context)

    assert "An owner of the loyalty back office has reset your password (owner@example.com)" in message.text
    assert "If you did not ask for this" not in message.text


def test_customers_get_no_link_to_the_staff_console(templates: EmailTemplates) -> None:
    message = templates.render("points_changed", CONTEXTS["points_changed"])

    assert CONSOLE not in message.text
    assert CONSOLE not in message.html


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        (
            "approval_requested",
            {"maker_email": HOSTILE, "target_id": HOSTILE, "change": {"first_name": HOSTILE}},
        ),
        ("approval_decided", {"checker_email": HOSTILE, "comment": HOSTILE}),
        ("points_changed", {"first_name": HOSTILE, "program": HOSTILE}),
        ("staff_invitation", {"first_name": HOSTILE, "invited_by": HOSTILE}),
        ("password_reset", {"first_name": HOSTILE, "forced": True, "forced_by": HOSTILE}),
    ],
)
def test_user_provided_text_is_escaped_in_html_and_kept_in_text(
    templates: EmailTemplates, name: str, overrides: dict[str, Any]
) -> None:
    message = templates.render(name, {**CONTEXTS[name], **overrides})

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;" in message.html
    assert HOSTILE in message.text


def test_a_change_key_is_escaped_too(templates: EmailTemplates) -> None:
    context = {**CONTEXTS["approval_requested"], "change": {HOSTILE: {"nested": HOSTILE}}}

    message = templates.render("approval_requested", context)

    assert "<script>" not in message.html


def test_a_line_break_in_user_text_cannot_reach_the_subject_header(templates: EmailTemplates) -> None:
    context = {
        **CONTEXTS["approval_requested"],
        "maker_email": "maker@example.com\r\nBcc: everyone@example.com",
    }

    message = templates.render("approval_requested", context)

    assert "\n" not in message.subject
    assert "\r" not in message.subject
    Email(from_address="a@example.com", to="b@example.com", subject=message.subject, text="x").as_mime()


def test_a_missing_context_value_is_an_error_at_render_time(templates: EmailTemplates) -> None:
    context = dict(CONTEXTS["approval_requested"])
    del context["maker_email"]

    with pytest.raises(UndefinedError):
        templates.render("approval_requested", context)


def test_an_unknown_template_is_refused(templates: EmailTemplates) -> None:
    with pytest.raises(ValueError, match="no email template"):
        templates.render("welcome", {})


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    worker = EmailWorker(
        db=None,  # type: ignore[arg-type]  # backoff needs no database
        sender=None,  # type: ignore[arg-type]
        from_address="a@example.com",
        backoff_base_seconds=30,
        backoff_cap_seconds=3600,
    )

    delays = [worker.backoff(attempt).total_seconds() for attempt in range(1, 10)]

    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
