"""The console in headless Chromium against the real server.

One ``loyalty serve`` for the whole run (a subprocess on a free port, SQLite in a fresh data dir,
emails to a real SMTP server on loopback, the built console), one Chromium per module, a fresh
browser context per test. Every test's page is watched: a request to anything but loopback is
refused and fails the test, and so does a Content-Security-Policy violation or an uncaught error.
Without Chromium or a built console the tests skip, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from bench.serving import free_port, wait_healthy
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)

import loyalty.web
from loyalty.auth.passwords import PasswordHashing
from loyalty.auth.permissions import Role
from loyalty.datasources import users
from loyalty.datasources.database import Database
from tests.test_email_delivery import SmtpServer

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("LOYALTY_CHROMIUM", "/usr/bin/chromium"))
CONSOLE_DIST = Path(os.environ.get("LOYALTY_CONSOLE_DIR", Path(loyalty.web.__file__).parent / "console_dist"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "browser tests keep this one"
ACCESS_TOKEN_SECONDS = 60  # the shortest the server allows: the silent-refresh test waits it out
# A loaded CI machine renders slower than a laptop; a real failure still fails, just later.
expect.set_options(timeout=10_000)
ARGON2_CHEAP = {
    "LOYALTY_ARGON2_TIME_COST": "1",
    "LOYALTY_ARGON2_MEMORY_KIB": "8",
    "LOYALTY_ARGON2_PARALLELISM": "1",
}


@dataclass(frozen=True)
class Account:
    email: str
    role: Role
    first_name: str
    last_name: str
    password: str = PASSWORD


OWNER = Account("owner@example.com", Role.OWNER, "Olive", "Owner")
MANAGER = Account("manager@example.com", Role.MANAGER, "Mina", "Manager")
ENGINEER = Account("engineer@example.com", Role.ENGINEER, "Enzo", "Engineer")
PRODUCT_MANAGER = Account("pm@example.com", Role.PRODUCT_MANAGER, "Priya", "Product")
# Accounts whose password a test changes, kept apart so the others' sign-ins keep working.
FORGETFUL = Account("forgetful@example.com", Role.MANAGER, "Fergus", "Forgetful")
CAREFUL = Account("careful@example.com", Role.MANAGER, "Carla", "Careful")
STAFF = (MANAGER, ENGINEER, PRODUCT_MANAGER, FORGETFUL, CAREFUL)
CUSTOMERS = 30  # more than one page of the users list
SURNAMES = ("Lovelace", "Hopper", "Turing", "Noether", "Curie", "Franklin")


def missing(reason: str) -> None:
    """Skip for a missing tool, or fail on CI, where the run must have it."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Server:
    """The served console and API, its SMTP inbox, and an HTTP client for arranging data."""

    url: str
    smtp: SmtpServer
    http: httpx.Client
    _tokens: dict[str, tuple[float, str]] = field(default_factory=dict)
    _read: set[int] = field(default_factory=set)

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        """``data`` of a request that must not fail (arranging a test through the public API)."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        body = self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        ).json()
        assert "errors" not in body, body
        return body["data"]

    def token(self, account: Account) -> str:
        """An access token of ``account``, for arranging data; signed in again before it expires."""
        signed_in_at, token = self._tokens.get(account.email, (0.0, ""))
        if time.monotonic() - signed_in_at > ACCESS_TOKEN_SECONDS / 2:
            data = self.graphql(
                "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p)"
                " { accessToken errors { code } } }",
                {"e": account.email, "p": account.password},
            )
            assert data["signIn"]["accessToken"], data
            token = data["signIn"]["accessToken"]
            self._tokens[account.email] = (time.monotonic(), token)
        return token

    def user_id(self, email: str) -> str:
        """The id of the user with ``email``, read as the owner."""
        found = self.graphql(
            "query($s: String) { users(filter: {search: $s}, first: 2) { edges { node { id email } } } }",
            {"s": email},
            token=self.token(OWNER),
        )
        ids = [edge["node"]["id"] for edge in found["users"]["edges"] if edge["node"]["email"] == email]
        assert len(ids) == 1, found
        return ids[0]

    def next_email(self, address: str, timeout: float = 15) -> EmailMessage:
        """The next message to ``address`` the SMTP server received (once each), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, message in enumerate(self.smtp.inbox.messages):
                if index not in self._read and address in str(message["To"]):
                    self._read.add(index)
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no new email to {address} in {timeout} s")

    def email_linking(self, address: str, path: str, timeout: float = 15) -> str:
        """The link to ``path`` in an email to ``address``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.smtp.inbox.messages):
                if address in str(message["To"]) and (link := self._link(message, path)):
                    return link
            time.sleep(0.1)
        raise AssertionError(f"no email to {address} links {path} in {timeout} s")

    def link_in(self, message: EmailMessage) -> str:
        """The console link a message carries (invitation, reset, approval)."""
        link = self._link(message, "/")
        assert link, message
        return link

    def _link(self, message: EmailMessage, path: str) -> str | None:
        body = message.get_body(preferencelist=("plain", "html"))
        assert body is not None
        links = re.findall(rf"{re.escape(self.url + path)}[^\s\"<>]*", body.get_content())
        return links[0] if links else None


async def _insert_staff(database_url: str, accounts: tuple[Account, ...]) -> None:
    """Staff with passwords, stored directly: arranging the tests, not testing invitations."""
    hashing = PasswordHashing(time_cost=1, memory_kib=8, parallelism=1)
    db = Database(database_url)
    try:
        async with db.transaction() as conn:
            for account in accounts:
                await users.insert_user(
                    conn,
                    email=account.email,
                    first_name=account.first_name,
                    last_name=account.last_name,
                    role=account.role,
                    password_hash=await hashing.hash(account.password),
                    now=datetime.now(UTC),
                )
    finally:
        await db.dispose()


def _enrol_customers(server: Server) -> None:
    token = server.token(OWNER)
    for n in range(1, CUSTOMERS + 1):
        server.graphql(
            "mutation($input: EnrollUserInput!) { enrollUser(input: $input) { errors { code message } } }",
            {
                "input": {
                    "email": f"customer{n:02}@example.com",
                    "firstName": f"Customer{n:02}",
                    "lastName": SURNAMES[n % len(SURNAMES)],
                    "initialPoints": 100 * n,
                }
            },
            token=token,
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"Chromium is not at {CHROMIUM} (apt-get install chromium, or set LOYALTY_CHROMIUM)")
    if not (CONSOLE_DIST / "index.html").exists():
        missing(
            f"the console is not built in {CONSOLE_DIST} (make test builds it: npm --prefix console run build)"
        )
    data_dir = tmp_path_factory.mktemp("browser-server")
    smtp = SmtpServer()
    smtp.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")},
        **ARGON2_CHEAP,
        "LOYALTY_DATA_DIR": str(data_dir),
        "LOYALTY_PORT": str(port),
        "LOYALTY_CONSOLE_URL": url,
        "LOYALTY_ADMIN_EMAIL": OWNER.email,
        "LOYALTY_ADMIN_PASSWORD": OWNER.password,
        "LOYALTY_ACCESS_TOKEN_SECONDS": str(ACCESS_TOKEN_SECONDS),
        "LOYALTY_SIGN_IN_ADDRESS_ATTEMPTS": "100000",  # every test signs in from 127.0.0.1
        "LOYALTY_RATE_LIMIT": "1000000/minute",
        "LOYALTY_EMAIL_SENDER": "smtp",
        "LOYALTY_SMTP_HOST": "127.0.0.1",
        "LOYALTY_SMTP_PORT": str(smtp.port),
        "LOYALTY_SMTP_STARTTLS": "false",
    }
    if "LOYALTY_CONSOLE_DIR" in os.environ:
        env["LOYALTY_CONSOLE_DIR"] = str(CONSOLE_DIST)
    # One interpreter for both commands: each `loyalty` process spends seconds importing.
    prepare = "from loyalty.cli import main; main(['migrate']); main(['create-owner'])"
    done = subprocess.run([sys.executable, "-c", prepare], env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"migrate and create-owner failed:\n{done.stdout}{done.stderr}"
    asyncio.run(_insert_staff(f"sqlite+aiosqlite:///{data_dir / 'loyalty.db'}", STAFF))
    log = data_dir / "server.log"
    with log.open("wb") as output:
        serve = [sys.executable, "-m", "loyalty.cli", "serve"]
        process = subprocess.Popen(serve, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_healthy("loyalty serve", process, url, log)
        with httpx.Client(base_url=url, timeout=30) as http:
            running = Server(url, smtp, http)
            _enrol_customers(running)
            yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
        smtp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: the sync API keeps its own event loop marked running while it lives, which
    # the asyncio tests of the modules that follow would trip over.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watch:
    """What a page did that it must not: leave loopback, break its CSP, throw."""

    outside: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.on("request", self._record)
        context.route("**/*", self._only_loopback)

    def watch(self, page: Page) -> None:
        page.on("console", lambda msg: self._console(msg.type, msg.text))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _record(self, request: Request) -> None:
        self.requests.append(request.url)

    def _only_loopback(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _console(self, kind: str, text: str) -> None:
        if kind == "error" and "Content Security Policy" in text:
            self.csp_violations.append(text)

    def assert_clean(self) -> None:
        assert self.outside == [], f"requests left loopback: {self.outside}"
        assert self.csp_violations == [], f"Content-Security-Policy violations: {self.csp_violations}"
        assert self.page_errors == [], f"uncaught errors: {self.page_errors}"


def open_page(browser: Browser, server: Server, viewport: dict[str, int], watch: Watch) -> BrowserContext:
    context = browser.new_context(base_url=server.url, viewport=viewport)  # type: ignore[arg-type]
    watch.attach(context)
    context.on("page", watch.watch)
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, server: Server, watch: Watch) -> Iterator[Page]:
    """A fresh context (no cookies, no session) at 1280x800; checked clean when the test ends."""
    context = open_page(browser, server, DESKTOP, watch)
    try:
        yield context.new_page()
        watch.assert_clean()
    finally:
        context.close()


@pytest.fixture
def phone_page(browser: Browser, server: Server, watch: Watch) -> Iterator[Page]:
    """As ``page``, at a phone's 390x844."""
    context = open_page(browser, server, PHONE, watch)
    try:
        yield context.new_page()
        watch.assert_clean()
    finally:
        context.close()


def sign_in(page: Page, account: Account) -> None:
    """Sign in through the form and wait until the shell names ``account``: the page is then the
    users list, or the screen the sign-in was asked for."""
    page.goto("/sign-in")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password", exact=True).fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    # Hidden behind "Menu" at phone width, hence include_hidden.
    expect(page.get_by_role("navigation", name="Main", include_hidden=True)).to_contain_text(account.email)


def error_of(page: Page, control: Locator) -> Locator:
    """The error a form control is described by (``aria-describedby``), as screen readers read it."""
    expect(control).to_have_attribute("aria-invalid", "true")
    return page.locator(f'[id="{control.get_attribute("aria-describedby")}"]')


def screenshot(page: Page, screen: str) -> None:
    """The screen as the README shows it, overwritten every run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{screen}.png")
