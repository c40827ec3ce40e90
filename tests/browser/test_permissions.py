"""What a role may not do is not offered: cells of the matrix in auth/permissions.py, seen in the browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import ENGINEER, MANAGER, OWNER, PRODUCT_MANAGER, Server, sign_in


def test_a_product_manager_has_no_activity_log_in_the_navigation(page: Page) -> None:
    sign_in(page, PRODUCT_MANAGER)  # READ_LOGS: denied

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Approvals")).to_be_visible()
    expect(nav.get_by_role("link", name="Activity log")).to_have_count(0)


def test_an_engineer_has_the_activity_log_in_the_navigation(page: Page) -> None:
    sign_in(page, ENGINEER)  # READ_LOGS: allowed

    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Activity log")
    ).to_be_visible()


def test_a_product_manager_may_only_request_an_enrolment(page: Page) -> None:
    sign_in(page, PRODUCT_MANAGER)  # ENROLL_USERS: request
    page.get_by_role("button", name="Enrol user").click()

    expect(page.get_by_role("button", name="Request enrolment")).to_be_visible()
    expect(page.get_by_role("button", name="Enrol", exact=True)).to_have_count(0)
    page.get_by_label("Email").fill("requested-by-pm@example.com")
    page.get_by_label("First name").fill("Rita")
    page.get_by_label("Last name").fill("Requested")
    page.get_by_role("button", name="Request enrolment").click()
    expect(page.get_by_text("Sent for approval")).to_be_visible()


def test_a_product_manager_is_offered_no_change_to_a_customer(page: Page, server: Server) -> None:
    sign_in(page, PRODUCT_MANAGER)  # UPDATE_USERS, ADJUST_POINTS, DELETE_USERS: denied

    page.goto(f"/users/{server.user_id('customer03@example.com')}")

    expect(page.get_by_role("heading", name="Customer03 Noether", level=1)).to_be_visible()
    for action in ("Edit", "Adjust points", "Delete", "Request deletion", "Open account"):
        expect(page.get_by_role("button", name=action, exact=True)).to_have_count(0)


def test_a_manager_is_not_offered_a_forced_password_reset_an_owner_is(page: Page, server: Server) -> None:
    engineer = f"/users/{server.user_id(ENGINEER.email)}"  # FORCE_PASSWORD_RESET: owners only
    sign_in(page, MANAGER)
    page.goto(engineer)
    expect(page.get_by_role("heading", name="Enzo Engineer", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Edit", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Force password reset")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, OWNER)
    page.goto(engineer)

    expect(page.get_by_role("button", name="Force password reset")).to_be_visible()
