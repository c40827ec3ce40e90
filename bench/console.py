"""The console's figures: its bundle gzipped, and its time to first render on loopback.

    uv run python bench/console.py [--loads 10]

Reads the built console (`make run` or `npm --prefix console run build` builds it) and prints, for
each HTML entry, the gzipped size (level 6, as `gzip -c`) of the scripts and styles the page loads
at once (`<script src>`, `<link rel=modulepreload>`, `<link rel=stylesheet>`), then of every file
under assets/ (lazy chunks and workers included).

Then starts `loyalty serve` on SQLite in a temporary data directory on a free loopback port, signs
in once through the console in headless Chromium (Debian's, at /usr/bin/chromium or
LOYALTY_CHROMIUM), and loads `/` --loads times: the time from navigation start until the "Users"
heading is in the page (the session restored from the refresh cookie, `me` answered), and until the
first row of users is, each as the median and the slowest, once with the browser cache disabled and
once warm. Argon2 runs cheap: sign-in is not what is measured.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

from serving import HarnessError, free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
DIST = Path(os.environ.get("LOYALTY_CONSOLE_DIR", ROOT / "src" / "loyalty" / "web" / "console_dist"))
CHROMIUM = os.environ.get("LOYALTY_CHROMIUM", "/usr/bin/chromium")
OWNER = ("owner@example.com", "console bench password")
CUSTOMERS = 25
CHEAP_ARGON2 = {
    "LOYALTY_ARGON2_TIME_COST": "1",
    "LOYALTY_ARGON2_MEMORY_KIB": "8",
    "LOYALTY_ARGON2_PARALLELISM": "1",
}
# Set before the console's scripts run (an init script is not subject to the page's CSP): the
# moment the "Users" heading, then a row of the users table, is in the document, and painted.
MARK_RENDERS = """
(() => {
  const seen = {};
  const mark = (name) => requestAnimationFrame(() => { seen[name] = performance.now(); });
  new MutationObserver(() => {
    if (!seen.heading && [...document.querySelectorAll('h1')].some(h => h.textContent === 'Users')) {
      seen.heading = -1; mark('heading');
    }
    if (!seen.rows && document.querySelector('main table tbody tr')) { seen.rows = -1; mark('rows'); }
  }).observe(document, {childList: true, subtree: true, characterData: true});
  window.__renders = seen;
})();
"""


class _Assets(HTMLParser):
    """The same-origin scripts and styles an HTML entry loads at once."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.paths.append(str(found["src"]))
        elif tag == "link" and found.get("rel") in ("stylesheet", "modulepreload") and found.get("href"):
            self.paths.append(str(found["href"]))


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=6))


def bundle_sizes() -> list[tuple[str, int, int, int]]:
    """(what, files, bytes, gzipped bytes) for each entry, then for all of assets/."""
    if not (DIST / "index.html").exists():
        raise HarnessError(f"the console is not built in {DIST}: npm --prefix console run build")
    rows = []
    for entry in sorted(DIST.glob("*.html")):
        parser = _Assets()
        parser.feed(entry.read_text())
        files = [DIST / path.lstrip("/") for path in parser.paths]
        js_css = [file for file in files if file.suffix in (".js", ".css")]
        rows.append(
            (entry.name, len(js_css), sum(f.stat().st_size for f in js_css), sum(gzipped(f) for f in js_css))
        )
    everything = [file for file in (DIST / "assets").rglob("*") if file.is_file()]
    rows.append(
        (
            "assets/ (all)",
            len(everything),
            sum(f.stat().st_size for f in everything),
            sum(map(gzipped, everything)),
        )
    )
    return rows


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOYALTY_")}
    env |= CHEAP_ARGON2 | {
        "LOYALTY_DATA_DIR": str(data_dir),
        "LOYALTY_PORT": str(port),
        "LOYALTY_CONSOLE_URL": url,
        "LOYALTY_ADMIN_EMAIL": OWNER[0],
        "LOYALTY_ADMIN_PASSWORD": OWNER[1],
    }
    # One interpreter for both commands: each `loyalty` process spends seconds importing.
    prepare = "from loyalty.cli import main; main(['migrate']); main(['create-owner'])"
    done = subprocess.run(
        [sys.executable, "-c", prepare], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise HarnessError(f"migrating and creating the owner failed:\n{done.stderr[-2000:]}")
    log = data_dir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty.cli", "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy("loyalty serve", process, url, log)
    except HarnessError:
        process.terminate()
        raise
    return process, url


def seed_customers(context: BrowserContext, token: str) -> None:
    enrol = "mutation($input: EnrollUserInput!) { enrollUser(input: $input) { errors { code } } }"
    for n in range(CUSTOMERS):
        context.request.post(
            "/graphql",
            headers={"authorization": f"Bearer {token}"},
            data={
                "query": enrol,
                "variables": {
                    "input": {"email": f"c{n}@example.com", "firstName": "Bench", "lastName": f"C{n}"}
                },
            },
        )


def rendered(page: Page, timeout: float = 30) -> dict[str, float]:
    """The page's marks once both are set. Polled from here: wait_for_function evaluates its
    predicate in the page, which the console's CSP (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = page.evaluate("window.__renders")
        if seen.get("heading", 0) > 0 and seen.get("rows", 0) > 0:
            return seen
        time.sleep(0.05)
    raise HarnessError(f"the users did not render within {timeout:.0f} s")


def first_renders(context: BrowserContext, loads: int, *, cache: bool) -> dict[str, list[float]]:
    """Milliseconds from navigation start to the heading and to the first row, for each load of /."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": not cache})
    page.goto("/")  # the first load fills the cache (or not); not counted
    times: dict[str, list[float]] = {"heading": [], "rows": []}
    for _ in range(loads):
        page.goto("/")
        seen = rendered(page)
        for name in times:
            times[name].append(seen[name])
    page.close()
    return times


def measure(url: str, loads: int) -> dict[str, dict[str, list[float]]]:
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
        signed_in = context.request.post(
            "/graphql",
            data={
                "query": "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p)"
                " { accessToken } }",
                "variables": {"e": OWNER[0], "p": OWNER[1]},
            },
        ).json()
        seed_customers(context, signed_in["data"]["signIn"]["accessToken"])
        page = context.new_page()
        page.goto("/sign-in")
        page.get_by_label("Email").fill(OWNER[0])
        page.get_by_label("Password", exact=True).fill(OWNER[1])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Users", level=1).wait_for()
        page.close()
        context.add_init_script(MARK_RENDERS)
        results = {
            "cache disabled": first_renders(context, loads, cache=False),
            "warm cache": first_renders(context, loads, cache=True),
        }
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=10, help="loads of / measured per cache setting")
    args = parser.parse_args()
    try:
        sizes = bundle_sizes()
        with tempfile.TemporaryDirectory(prefix="loyalty-console-bench-") as folder:
            process, url = start_server(Path(folder))
            try:
                renders = measure(url, args.loads)
            finally:
                process.terminate()
                process.wait(timeout=10)
    except HarnessError as error:
        sys.exit(f"console bench: {error}")
    print("\nThe console's bundle (js + css), gzip level 6\n")
    print("| what | files | bytes | gzipped |\n|---|---:|---:|---:|")
    for what, files, size, packed in sizes:
        print(f"| {what} | {files} | {size / 1024:,.1f} KiB | {packed / 1024:,.1f} KiB |")
    load = os.getloadavg()[0]
    print(
        f"\nTime to first render of / after sign-in, loopback, {args.loads} loads, "
        f"{os.cpu_count()} CPUs, load {load:.1f}\n"
    )
    print('| cache | "Users" heading, median (max) | first row of users, median (max) |\n|---|---:|---:|')
    for cache, times in renders.items():
        cells = [f"{statistics.median(t):.0f} ms ({max(t):.0f})" for t in (times["heading"], times["rows"])]
        print(f"| {cache} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
