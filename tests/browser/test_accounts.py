"""Staff accounts in the browser: an invitation and a password reset, each through a real email."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    FORGETFUL,
    OWNER,
    Server,
    Watch,
    open_page,
    screenshot,
    sign_in,
)

NEW_PASSWORD = "a brand new password for 2026"


def set_password(page: Page) -> None:
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat new password").fill(NEW_PASSWORD)


def test_an_enrolled_staff_member_accepts_the_emailed_invitation_and_is_signed_in(
    page: Page, browser: Browser, server: Server, watch: Watch
) -> None:
    sign_in(page, OWNER)
    page.get_by_role("button", name="Enrol user").click()
    expect(page.get_by_role("heading", name="Enrol user", level=1)).to_be_visible()
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("First name").fill("Nora")
    page.get_by_label("Last name").fill("Newcomer")
    page.get_by_label("Role").select_option(label="Engineer")
    screenshot(page, "enrol-user")
    page.get_by_role("button", name="Enrol", exact=True).click()
    expect(page.get_by_role("heading", name="Nora Newcomer", level=1)).to_be_visible()
    expect(page.get_by_text("Invitation pending")).to_be_visible()

    link = server.link_in(server.next_email("newcomer@example.com"))
    assert "/accept-invitation#token=" in link
    newcomer = open_page(browser, server, DESKTOP, watch)
    try:
        invited = newcomer.new_page()
        invited.goto(link)
        expect(invited.get_by_role("heading", name="Welcome", level=1)).to_be_visible()
        expect(invited.get_by_text("newcomer@example.com")).to_be_visible()
        assert "token" not in invited.url  # taken out of the address bar and history
        set_password(invited)
        screenshot(invited, "accept-invitation")
        invited.get_by_role("button", name="Set password").click()

        expect(invited.get_by_role("heading", name="Users", level=1)).to_be_visible()
        expect(invited.get_by_role("navigation", name="Main")).to_contain_text("newcomer@example.com")
    finally:
        newcomer.close()


def test_a_forgotten_password_is_reset_through_the_emailed_link(page: Page, server: Server) -> None:
    page.goto("/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password", level=1)).to_be_visible()
    page.get_by_label("Email").fill(FORGETFUL.email)
    page.get_by_role("button", name="Send reset link").click()
    expect(
        page.get_by_text("If that email belongs to a staff account, a link is on its way.")
    ).to_be_visible()
    screenshot(page, "forgot-password")

    link = server.link_in(server.next_email(FORGETFUL.email))
    assert "/reset-password#token=" in link
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password", level=1)).to_be_visible()
    set_password(page)
    screenshot(page, "reset-password")
    page.get_by_role("button", name="Set password").click()

    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(FORGETFUL.email)


def test_an_unknown_link_says_it_is_no_longer_valid(page: Page) -> None:
    page.goto("/accept-invitation#token=not-a-token-the-server-ever-made")

    expect(page.get_by_role("alert")).to_contain_text("This link is no longer valid")
    expect(page.get_by_role("button", name="Set password")).to_have_count(0)
