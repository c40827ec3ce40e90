"""Settings in the browser: changing my password, and the log retention an owner sets."""

from __future__ import annotations

from dataclasses import replace

from playwright.sync_api import Page, expect

from tests.browser.conftest import CAREFUL, OWNER, Server, error_of, screenshot, sign_in


def test_changing_my_password_keeps_me_signed_in_and_the_new_one_works(page: Page, server: Server) -> None:
    sign_in(page, CAREFUL)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Log retention")).to_have_count(0)  # SET_LOG_RETENTION: owners

    page.get_by_label("Current password").fill(CAREFUL.password)
    page.get_by_label("New password", exact=True).fill("a careful new password")
    page.get_by_label("Repeat new password").fill("a careful new password")
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_role("status")).to_have_text(
        "Your password was changed. Your other sessions have ended."
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()  # this session goes on
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, replace(CAREFUL, password="a careful new password"))


def test_a_wrong_current_password_is_shown_on_its_field(page: Page) -> None:
    sign_in(page, OWNER)
    page.goto("/settings")

    page.get_by_label("Current password").fill("not my password at all")
    page.get_by_label("New password", exact=True).fill("an owner's next password")
    page.get_by_label("Repeat new password").fill("an owner's next password")
    page.get_by_role("button", name="Change password").click()

    expect(error_of(page, page.get_by_label("Current password"))).to_have_text(
        "That is not your current password."
    )


def test_an_owner_sets_the_log_retention(page: Page, server: Server) -> None:
    sign_in(page, OWNER)
    page.goto("/settings")
    days = page.get_by_label("Days")
    expect(days).not_to_have_value("")

    days.fill("400")
    screenshot(page, "settings")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_have_text("Log entries are now kept 400 days.")
    assert server.graphql("{ logRetentionDays }", token=server.token(OWNER))["logRetentionDays"] == 400
