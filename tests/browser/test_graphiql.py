"""GraphiQL at /graphql, bundled: it renders and runs queries with nothing from another origin."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import OWNER, Watch, screenshot, sign_in


def test_graphiql_runs_a_query_as_the_signed_in_staff_member_offline(page: Page, watch: Watch) -> None:
    sign_in(page, OWNER)

    page.goto("/graphql")
    expect(page.get_by_text("with your console session")).to_be_visible()
    editor = page.get_by_role("region", name="Query Editor")
    expect(editor).to_contain_text("Welcome to GraphiQL", timeout=30_000)  # Monaco, from here too
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type("{ me { email role } }")
    page.get_by_role("button", name="Execute query").click()

    expect(page.get_by_role("region", name="Result Window")).to_contain_text(OWNER.email)
    screenshot(page, "graphiql")
    watch.assert_clean()
