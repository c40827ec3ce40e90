"""The users screens in the browser: the list (search, role filter, paging) and one user."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import OWNER, Server, screenshot, sign_in

SHOWING = re.compile(r"Showing (\d+) of (\d+)")


def rows(page: Page) -> list[str]:
    """The users table's rows as text, once the list has settled."""
    table = page.locator("main table")
    expect(table).not_to_have_attribute("aria-busy", "true")
    return table.locator("tbody tr").all_inner_texts()


def test_home_lists_a_page_of_users_with_the_total(page: Page, server: Server) -> None:
    total = server.graphql("{ users { totalCount } }", token=server.token(OWNER))["users"]["totalCount"]

    sign_in(page, OWNER)

    expect(page.get_by_text(SHOWING)).to_have_text(f"Showing 20 of {total}")
    assert len(rows(page)) == 20
    screenshot(page, "home")


def test_home_pages_forward_and_back(page: Page) -> None:
    sign_in(page, OWNER)
    first_page = rows(page)

    first_row = page.locator("main table tbody tr").first
    first_name = first_page[0].split("\t")[0]

    page.get_by_role("button", name="Next page").click()
    expect(first_row).not_to_contain_text(first_name)
    second_page = rows(page)
    page.get_by_role("button", name="Previous page").click()

    expect(first_row).to_contain_text(first_name)
    assert set(first_page).isdisjoint(second_page)
    assert rows(page) == first_page
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()


def test_home_searches_as_you_type(page: Page) -> None:
    sign_in(page, OWNER)

    page.get_by_label("Search").press_sequentially("lovelace", delay=30)

    expect(page.get_by_text(SHOWING)).to_have_text("Showing 5 of 5")
    assert all("Lovelace" in row for row in rows(page))
    assert "3,000" in rows(page)[0]  # customer30, the newest, and its points


def test_home_filters_by_role(page: Page) -> None:
    sign_in(page, OWNER)

    page.get_by_label("Role").select_option(label="Product manager")

    expect(page.get_by_role("cell", name="pm@example.com")).to_be_visible()
    assert all("Product manager" in row for row in rows(page))


def test_user_detail_shows_accounts_and_the_ledger(page: Page) -> None:
    sign_in(page, OWNER)
    page.get_by_label("Search").fill("customer05")

    page.get_by_role("link", name="Customer05 Franklin").click()

    expect(page.get_by_role("heading", name="Customer05 Franklin", level=1)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"default\s+500"))).to_be_visible()
    expect(page.get_by_role("heading", name="Ledger: default")).to_be_visible()
    screenshot(page, "user-detail")
