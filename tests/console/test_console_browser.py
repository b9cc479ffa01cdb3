"""The console in a real browser (Playwright driving Debian's Chromium) against a real ``cozegate serve``:
sign in, replay a dead letter and see it processed, watch the overview's charts render, bulk-discard,
and keep a screenshot of every page under ``test-artifacts/console/``.

Without Playwright or Chromium the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import pytest

from tests.conftest import IN_CI, Backend
from tests.console.conftest import ADMIN_TOKEN, dead_letters, make_dead_letters
from tests.support.inspect_db import audit_rows, inbox_rows
from tests.support.server import REPO, ServerProcess
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path(os.environ.get("COZEGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
ARTIFACTS = REPO / "test-artifacts" / "console"

T = TypeVar("T")
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _missing(what: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{what}: CI requires it for the console's browser test", pytrace=False)
    pytest.skip(what)


@pytest.fixture
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _missing(f"Playwright is not installed ({exc})")
    if not CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is None:
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    opened.on("dialog", lambda dialog: dialog.accept())  # the discard buttons ask first
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Pages answered 401 / 404 on purpose are logged as failed loads; a failed asset is a problem.
        page_status = message.text.startswith("Failed to load resource") and "/static/" not in message.location["url"]
        if message.type == "error" and not page_status:
            problems.append(message.text)

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield opened
        assert problems == [], problems  # no script error, no CSP violation
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def off_the_loop(read: Callable[[Backend], T], backend: Backend) -> T:
    """Run a database read (``asyncio.run`` inside) in another thread: Playwright's sync API owns this one's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read, backend).result()


def status_of(backend: Backend, key: str) -> str | None:
    return next((r["status"] for r in off_the_loop(inbox_rows, backend) if r["dedup_key"] == key), None)


def test_operator_session_in_a_browser(page: Page, server: ServerProcess, backend: Backend) -> None:
    ids = make_dead_letters(server, backend, ["web-1", "web-2", "web-3"])
    (backend.tmp / "fixed.flag").touch()  # the downstream works again: replays will succeed
    shots: list[Path] = []

    # Signing in: the overview sends us to the login page and back.
    page.goto("/console")
    assert page.url.startswith(server.url + "/console/login")
    page.fill("#token", "wrong-token")
    page.click("#login-submit")
    assert page.inner_text("#login-error") == "That is not the admin token."
    shots.append(screenshot(page, "01-login"))
    page.fill("#token", ADMIN_TOKEN)
    page.click("#login-submit")
    page.wait_for_url(server.url + "/console")
    cookie = next(c for c in page.context.cookies() if c["name"] == "cozegate_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"

    # Dead letters: the list, one letter's detail, replay it.
    page.click("nav >> text=Dead letters")
    for event_id in ids.values():
        assert page.locator(f'#dead-letters-table tr[data-id="{event_id}"]').count() == 1
    shots.append(screenshot(page, "02-dead-letters"))
    first = ids["web-1"]
    page.click(f'#dead-letters-table tr[data-id="{first}"] >> text=#{first}')
    page.wait_for_url(f"{server.url}/console/dead-letters/{first}")
    assert page.inner_text("#event-status") == "dead"
    assert "RuntimeError: downstream unavailable" in page.inner_text("#last-error")
    assert page.locator("#attempt-log tbody tr").count() == 2
    assert '"event_id": "web-1"' in page.inner_text("#payload")
    shots.append(screenshot(page, "03-dead-letter-detail"))
    page.click("#replay")
    page.wait_for_url(server.url + "/console/dead-letters")
    assert page.inner_text("#flash") == f"replayed 1 (#{first})"
    assert page.locator(f'#dead-letters-table tr[data-id="{first}"]').count() == 0

    def processed() -> bool:
        page.goto(f"/console/dead-letters/{first}")
        return page.inner_text("#event-status") == "done"

    wait_for(processed)
    assert status_of(backend, "web-1") == "done"

    # The overview: depth, workers and the live charts drawn from the stats API.
    page.click("nav >> text=Overview")
    for chart in ("throughput", "latency", "errors"):
        page.wait_for_selector(f'#chart-{chart}[data-rendered="1"] canvas', state="attached")
    # Refreshed every few seconds (and cached for two): poll until the replay shows.
    page.wait_for_function(
        "() => ['total-received', 'total-processed', 'total-dead', 'depth-dead']"
        ".map(id => document.getElementById(id).textContent).join() === '3,1,2,2'",
        polling=200,
    )
    size: dict[str, Any] = page.eval_on_selector("#chart-throughput canvas", "c => ({w: c.width, h: c.height})")
    assert size["w"] > 0
    assert size["h"] > 0
    shots.append(screenshot(page, "04-overview"))

    # Bulk discard of the two left.
    page.click("nav >> text=Dead letters")
    page.check("#select-all")
    assert page.locator("input.row-check:checked").count() == 2
    page.click("#bulk-discard")
    page.wait_for_selector("#flash")
    assert page.inner_text("#flash") == f"discarded 2 (#{ids['web-2']}, #{ids['web-3']})"
    assert page.locator("#no-dead-letters").count() == 1
    shots.append(screenshot(page, "05-after-bulk-discard"))
    assert dead_letters(server) == []
    assert {status_of(backend, "web-2"), status_of(backend, "web-3")} == {"discarded"}

    for name, path in (
        ("06-bots", "/console/bots"),
        ("07-rollouts", "/console/rollouts"),
        ("08-tenants", "/console/tenants"),
    ):
        page.goto(path)
        shots.append(screenshot(page, name))
    assert page.locator('#tenants-table tr[data-tenant="acme"]').count() == 1

    page.click("#logout")
    page.wait_for_url(server.url + "/console/login")
    page.goto("/console")
    assert page.url.startswith(server.url + "/console/login")

    actions = {
        (a["action"], a["target"]) for a in off_the_loop(audit_rows, backend) if a["actor"] == "console:admin-token"
    }
    assert ("dead_letter.replay", str(first)) in actions
    assert ("dead_letter.discard", str(ids["web-2"])) in actions
    assert ("dead_letter.discard", str(ids["web-3"])) in actions
    for shot in shots:
        assert shot.exists()
        assert shot.stat().st_size > 0
