"""Fixtures for end-to-end browser tests against a real Chronik server.

Fixtures (see each docstring):

* ``mail_sink`` (module) -- :class:`tests.support.live_server.MailSink`, a private SMTP
  server; ``mail_sink.wait_for("erika@kunde.test")`` returns the parsed message.
* ``chronik`` (module) -- :class:`tests.support.live_server.ChronikServer`: a real
  ``python -m chronik.cli serve`` subprocess on a free port, seeded with office
  "Büro Browser" (``office_id``), ``admin_token`` and ``agent_token``; its notifications
  go to ``mail_sink``. ``chronik.api("POST", "/customers", {...})`` arranges data through
  the HTTP API (paths relative to /api/v1; admin token unless ``token=`` is given).
* ``browser`` (package: every module here) -- Playwright's sync ``Browser``: Debian's
  /usr/bin/chromium, headless. Skips the test (with the reason) when /usr/bin/chromium is missing.
* ``page`` (function) -- a ``Page`` in a fresh context (1280x800). The test fails if a
  page raised an uncaught exception or violated the Content-Security-Policy (listed in
  ``browser_errors``; clear that list in a test that provokes one on purpose). A failing
  test leaves ``failure.png`` in its tmp_path.
* ``axe`` (function) -- ``axe(page)`` runs the vendored axe-core (tests/browser/vendor) in
  the page and returns the serious and critical violations; ``axe.assert_clean(page)``.
* ``screenshot`` (function) -- ``screenshot(page, "timeline")`` writes
  ``docs/screenshots/timeline.png`` when ``CHRONIK_SCREENSHOTS=1`` (``./run screenshots``),
  else does nothing.

Why Playwright's SYNC API, and why ``browser`` lives for this folder only: tests here are
plain ``def test_...`` functions -- no ``async def``, no async fixtures. The sync API runs
its own event loop inside greenlets and, between two calls, leaves that loop registered as
the thread's *running* loop; pytest-asyncio (``asyncio_mode = "auto"``) then could not run
an async test or fixture in the same thread ("Cannot run the event loop while another
loop is running"). So Playwright lives only as long as the tests of this folder (package
scope; a test here must not be async: that fails with a message), and stopping it clears
the running loop before the next folder's async tests. One Chromium (~1.5 s to start)
serves every module, each test in a fresh context (no cookies, no storage); the server
(~2 s) is per module, so modules do not see each other's data. The server and the SMTP
sink are plain subprocess/thread code and can also be used from async tests elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    WebError,
    sync_playwright,
)

from tests.support.live_server import ChronikServer, MailSink, start_chronik

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; deploy/ci/browser.sh installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 800}
DEFAULT_TIMEOUT_MS = 10_000  # per Playwright action / expect; the test has pytest's timeout
VENDOR = Path(__file__).resolve().parent / "vendor"
SCREENSHOTS = ROOT / "docs" / "screenshots"
SERIOUS = ("serious", "critical")


# ------------------------------------------------------------------------- server + mail

@pytest.fixture(scope="module")
def mail_sink() -> Iterator[MailSink]:
    """A private SMTP server on 127.0.0.1 (port ``mail_sink.port``) keeping every message."""
    with MailSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def chronik(tmp_path_factory: pytest.TempPathFactory,
            mail_sink: MailSink) -> Iterator[ChronikServer]:
    """A real Chronik server for this module (see tests/support/live_server.py)."""
    with start_chronik(tmp_path_factory.mktemp("chronik"), mail_sink.port) as server:
        yield server


# ------------------------------------------------------------------------- browser

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="package")
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium (Debian's), for the tests of this folder; skips if it is not
    installed."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is not installed: run `sudo bash deploy/ci/browser.sh` "
                    f"(`./run test` does it when run as root)")
    async_tests = [item.nodeid for item in request.session.items
                   if HERE in Path(str(item.path)).resolve().parents
                   and inspect.iscoroutinefunction(getattr(item, "function", None))]
    if async_tests:
        pytest.fail(f"tests/browser uses the browser (Playwright's sync API) and has async "
                    f"tests {async_tests}: make them plain sync tests "
                    f"(see tests/browser/conftest.py)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    # Playwright's loop is gone now; be sure it is not left as the thread's running loop.
    if asyncio._get_running_loop() is not None:  # pragma: no cover - Playwright's job
        asyncio._set_running_loop(None)


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def browser_errors() -> list[str]:
    """Uncaught page exceptions and CSP violations seen by this test's ``page``."""
    return []


def _is_csp_violation(message: ConsoleMessage) -> bool:
    text = message.text
    return message.type == "error" and ("Content Security Policy" in text
                                        or "requires 'Trusted" in text)


@pytest.fixture
def page(browser: Browser, browser_errors: list[str], request: pytest.FixtureRequest,
         tmp_path: Path) -> Iterator[Page]:
    """A page in a fresh browser context (1280x800, no cookies, CSP enforced)."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)

    def on_console(message: ConsoleMessage) -> None:
        if _is_csp_violation(message):
            browser_errors.append(f"CSP violation at {message.location.get('url')}: "
                                  f"{message.text}")

    def on_weberror(error: WebError) -> None:
        browser_errors.append(f"uncaught exception: {error.error}")

    context.on("console", on_console)
    context.on("weberror", on_weberror)
    page = context.new_page()
    try:
        yield page
        call = request.node.stash.get(_REPORTS, {}).get("call")
        if call is not None and call.failed and not page.is_closed():
            shot = tmp_path / "failure.png"
            page.screenshot(path=shot, full_page=True)
            print(f"failure screenshot of {page.url}: {shot}")
    finally:
        context.close()
    if browser_errors:
        pytest.fail("the browser reported:\n  " + "\n  ".join(browser_errors), pytrace=False)


# ------------------------------------------------------------------------- axe-core

def _axe_source() -> str:
    """axe.min.js, checked against the sha256 in AXE_VERSION (deploy/vendor/refresh-axe.sh)."""
    raw = (VENDOR / "axe.min.js").read_bytes()
    info = (VENDOR / "AXE_VERSION").read_text(encoding="utf-8")
    match = re.search(r"^sha256 ([0-9a-f]{64})", info, re.M)
    assert match, f"{VENDOR / 'AXE_VERSION'} has no sha256 line"
    assert hashlib.sha256(raw).hexdigest() == match.group(1), (
        "tests/browser/vendor/axe.min.js does not match AXE_VERSION: "
        "run `bash deploy/vendor/refresh-axe.sh`")
    return raw.decode("utf-8")


class Axe:
    """Runs axe-core in a page. Injected with ``page.evaluate`` (DevTools evaluation is not
    subject to the page's Content-Security-Policy, unlike ``add_script_tag``), so the page
    keeps its real CSP."""

    def __init__(self) -> None:
        self._source: str | None = None

    def __call__(self, page: Page, *, impacts: tuple[str, ...] = SERIOUS,
                 context: str | None = None, options: dict[str, Any] | None = None,
                 ) -> list[dict[str, Any]]:
        """Violations of ``impacts`` (serious, critical) in the page, or in the part
        ``context`` (a CSS selector) selects; ``options`` go to ``axe.run``."""
        if not page.evaluate("() => typeof window.axe === 'object'"):
            if self._source is None:
                self._source = _axe_source()
            page.evaluate(self._source)
        result = page.evaluate(
            "async ([context, options]) => await axe.run(context ?? document, options)",
            [context, {"resultTypes": ["violations"], **(options or {})}])
        return [v for v in result["violations"] if v.get("impact") in impacts]

    def assert_clean(self, page: Page, **kw: Any) -> None:
        """Fail with a readable list unless ``self(page, **kw)`` finds nothing."""
        violations = self(page, **kw)
        assert not violations, f"axe on {page.url}:\n{format_violations(violations)}"


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')} [{v.get('helpUrl')}]")
        lines.extend(f"    {', '.join(map(str, node.get('target', [])))}: "
                     f"{node.get('html', '')[:160]}" for node in v.get("nodes", [])[:5])
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe() -> Axe:
    """``axe(page) -> list of violations`` (serious/critical); ``axe.assert_clean(page)``."""
    return Axe()


# ------------------------------------------------------------------------- screenshots

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def take_screenshot(page: Page, name: str, *, full_page: bool = False) -> Path | None:
    """``docs/screenshots/<name>.png`` of the page if CHRONIK_SCREENSHOTS=1, else nothing."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"screenshot name {name!r}: use lowercase letters, digits, - and _")
    if os.environ.get("CHRONIK_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")
    return path


@pytest.fixture(scope="session")
def screenshot() -> Callable[..., Path | None]:
    """``screenshot(page, "name", full_page=False)``: docs/screenshots/name.png when
    CHRONIK_SCREENSHOTS=1 (``./run screenshots``); returns the path, or None."""
    return take_screenshot
