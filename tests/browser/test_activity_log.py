"""The activity log in the browser: a filter, and an entry's detail with its before and after."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import OWNER, Server, screenshot, sign_in


def test_the_log_filters_by_action_and_shows_an_entrys_before_and_after(page: Page, server: Server) -> None:
    user_id = server.user_id("customer14@example.com")
    server.graphql(
        'mutation($id: ID!) { updateUser(id: $id, input: {lastName: "Renamed"}) { errors { code } } }',
        {"id": user_id},
        token=server.token(OWNER),
    )
    sign_in(page, OWNER)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Activity log").click()
    expect(page.get_by_role("heading", name="Activity log", level=1)).to_be_visible()
    page.get_by_label("Action").fill("user.update")
    entry = page.locator("main table tbody tr").filter(has_text=user_id)
    expect(entry).to_have_count(1)
    assert set(page.locator("main table tbody tr td:nth-child(2)").all_inner_texts()) == {"user.update"}
    entry.get_by_role("button").click()

    changes = page.get_by_role("table", name="Before and after")
    expect(changes).to_be_visible()
    expect(changes.get_by_role("row").filter(has_text="Renamed")).to_contain_text("Turing")
    screenshot(page, "activity-log")
