"""The console's session: an expired access token is refreshed once, silently; signing out ends it."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from loyalty.auth.tokens import LEEWAY_SECONDS
from tests.browser.conftest import ACCESS_TOKEN_SECONDS, OWNER, Watch, sign_in


def refreshes(watch: Watch) -> int:
    return sum(url.endswith("/auth/refresh") for url in watch.requests)


def test_an_expired_access_token_is_refreshed_silently(page: Page, watch: Watch) -> None:
    sign_in(page, OWNER)
    signed_in = time.monotonic()
    before = refreshes(watch)

    # The real expiry (the shortest lifetime the server allows, and its clock leeway), not a forged token.
    page.wait_for_timeout((ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS + 2 - (time.monotonic() - signed_in)) * 1000)
    page.get_by_label("Search").fill("customer01")

    expect(page.get_by_text("Showing 1 of 1")).to_be_visible()
    expect(page.get_by_role("cell", name="customer01@example.com")).to_be_visible()
    assert refreshes(watch) == before + 1


def test_signing_out_returns_to_sign_in_and_a_reload_stays_out(page: Page) -> None:
    sign_in(page, OWNER)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.goto("/")

    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
