"""Signing in to the console: the way in, plain errors, the lockout, and the phone layout."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import OWNER, Server, Watch, screenshot, sign_in


def test_signing_in_opens_the_users_home(page: Page) -> None:
    page.goto("/")

    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    screenshot(page, "sign-in")
    sign_in(page, OWNER)

    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()


def test_a_wrong_password_is_said_plainly(page: Page) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(OWNER.email)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).not_to_contain_text("{")  # a sentence, not JSON
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


def test_repeated_wrong_passwords_show_the_lockout_message(page: Page) -> None:
    # An email nobody has: its lock (per email and address) cannot get in the other tests' way.
    page.goto("/sign-in")
    page.get_by_label("Email").fill("guessed@example.com")
    for _ in range(6):
        page.get_by_label("Password", exact=True).fill("a wrong guess, again")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()

    expect(page.get_by_role("alert")).to_contain_text(re.compile("too many sign-in attempts", re.IGNORECASE))


def test_the_sign_in_and_home_fit_a_phone(phone_page: Page) -> None:
    phone_page.goto("/sign-in")
    expect(phone_page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    screenshot(phone_page, "sign-in-phone")

    sign_in(phone_page, OWNER)
    expect(phone_page.get_by_text(re.compile(r"Showing \d+ of \d+"))).to_be_visible()

    screenshot(phone_page, "home-phone")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the home page scrolls sideways on a phone ({width} px wide)"


def test_every_screen_stays_on_loopback_without_csp_violations(
    page: Page, server: Server, watch: Watch
) -> None:
    customer = server.user_id("customer01@example.com")
    sign_in(page, OWNER)

    for path, heading in [
        ("/", "Users"),
        (f"/users/{customer}", "Customer01 Hopper"),
        ("/users/new", "Enrol user"),
        (f"/users/{customer}/edit", "Edit user"),
        (f"/users/{customer}/adjust", "Adjust points"),
        ("/approvals", "Approvals"),
        ("/logs", "Activity log"),
        ("/settings", "Settings"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    page.goto("/graphql")
    expect(page.get_by_text("with your console session")).to_be_visible()

    hosts = {urlsplit(url).hostname for url in watch.requests}
    assert hosts == {"127.0.0.1"}, hosts
    assert any(url.endswith("/graphql") for url in watch.requests)
    watch.assert_clean()
