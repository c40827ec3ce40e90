"""Changing a user in the browser: editing with the server's field errors, and adjusting points."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import OWNER, Server, error_of, screenshot, sign_in


def test_editing_shows_the_servers_field_error_under_its_field(page: Page, server: Server) -> None:
    sign_in(page, OWNER)
    page.goto(f"/users/{server.user_id('customer07@example.com')}/edit")
    expect(page.get_by_role("heading", name="Edit user", level=1)).to_be_visible()

    page.get_by_label("Email").fill("customer08@example.com")  # another user's
    page.get_by_role("button", name="Save").click()

    expect(error_of(page, page.get_by_label("Email"))).to_have_text("Email is already used by another user.")
    screenshot(page, "edit-user")


def test_adjusting_points_previews_and_a_double_click_adds_once(page: Page, server: Server) -> None:
    user_id = server.user_id("customer10@example.com")  # 1,000 points
    sign_in(page, OWNER)
    page.goto(f"/users/{user_id}")
    page.get_by_role("button", name="Adjust points").click()
    expect(page.get_by_role("heading", name="Adjust points", level=1)).to_be_visible()

    page.get_by_role("radio", name="ADD").check()
    page.get_by_label("Amount").fill("250")
    page.get_by_label("Reason").fill("birthday bonus")
    expect(page.get_by_text("New balance: 1,250")).to_be_visible()
    screenshot(page, "adjust-points")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Confirm").dblclick()

    expect(page.get_by_text("Done. New balance: 1,250")).to_be_visible()
    account = server.graphql(
        "query($id: ID!) { user(id: $id) { pointsAccounts { balance"
        " transactions(first: 10) { edges { node { amount reason } } } } } }",
        {"id": user_id},
        token=server.token(OWNER),
    )["user"]["pointsAccounts"][0]
    assert account["balance"] == 1250
    bonuses = [
        edge["node"]
        for edge in account["transactions"]["edges"]
        if edge["node"]["reason"] == "birthday bonus"
    ]
    assert bonuses == [{"amount": 250, "reason": "birthday bonus"}]
