"""The approvals inbox in the browser: an engineer's requests, decided by the owner or cancelled."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import ENGINEER, OWNER, Server, screenshot, sign_in


def propose_enrolment(server: Server, email: str) -> str:
    """An engineer's enrolment (ENROLL_USERS: request), made through the API; the request's id."""
    data = server.graphql(
        "mutation($input: EnrollUserInput!) { enrollUser(input: $input)"
        " { user { id } approvalRequest { id } errors { code message } } }",
        {"input": {"email": email, "firstName": "Proposed", "lastName": "Customer"}},
        token=server.token(ENGINEER),
    )["enrollUser"]
    assert data["errors"] == [], data
    assert data["user"] is None, data
    return data["approvalRequest"]["id"]


def enrolled(server: Server, email: str) -> bool:
    found = server.graphql(
        "query($s: String) { users(filter: {search: $s}) { totalCount } }",
        {"s": email},
        token=server.token(OWNER),
    )
    return found["users"]["totalCount"] == 1


def test_the_owner_approves_an_engineers_request_from_the_inbox(page: Page, server: Server) -> None:
    request_id = propose_enrolment(server, "approved@example.com")
    sign_in(page, OWNER)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("tab", name="To decide")).to_have_attribute("aria-selected", "true")
    link = page.locator(f'a[href="/approvals/{request_id}"]')
    expect(link).to_be_visible()
    screenshot(page, "approvals")
    link.click()
    expect(page.get_by_role("cell", name="approved@example.com")).to_be_visible()
    page.get_by_label("Comment").fill("Welcome aboard")
    screenshot(page, "approval-detail")
    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("status")).to_have_text("Approved: the change is applied.")
    assert enrolled(server, "approved@example.com")


def test_the_owner_rejects_a_request_opened_from_its_email(page: Page, server: Server) -> None:
    request_id = propose_enrolment(server, "rejected@example.com")
    link = server.email_linking(OWNER.email, f"/approvals/{request_id}")
    sign_in(page, OWNER)

    page.goto(link)
    page.get_by_label("Comment").fill("Not one of ours")
    page.get_by_role("button", name="Reject").click()

    expect(page.get_by_role("status")).to_have_text("Rejected.")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    assert not enrolled(server, "rejected@example.com")


def test_the_engineer_finds_their_request_under_mine_and_cancels_it(page: Page, server: Server) -> None:
    request_id = propose_enrolment(server, "cancelled@example.com")
    sign_in(page, ENGINEER)  # DECIDE_REQUESTS: denied

    page.goto("/approvals")
    page.get_by_role("tab", name="Mine").click()
    page.locator(f'a[href="/approvals/{request_id}"]').click()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    page.get_by_role("button", name="Cancel request").click()

    expect(page.get_by_role("status")).to_have_text("Request cancelled.")
