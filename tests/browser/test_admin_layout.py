"""The admin pages at narrow widths, in a real browser: nothing runs off the side of the
viewport (a review found ``/admin/policy`` 945 px wide at 640 px, with *Save* and the
result column off-screen).

Against a real ``chronik serve`` (this module's own, with long names, addresses and
reasons), in both languages; the browser is the conftest's."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page

from tests.support.live_server import (
    ADMIN_EMAIL,
    PASSWORD,
    ChronikServer,
    MailSink,
    start_chronik,
)
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind

PAGES = ["/admin", "/admin/policy", "/admin/agents", "/admin/connectors", "/admin/quarantine",
         "/admin/dead-letters", "/admin/tone", "/admin/office", "/admin/data-requests"]
WIDE_ON_A_PHONE = ["/admin/agents", "/admin/quarantine", "/admin/data-requests", "/admin/office"]
LONG = "maximilian.sehr.langer.doppelname@buero-mit-einem-langen-namen.example.de"
CUSTOMER: dict[str, str] = {}
"""The long-named customer of this module's server (``id``)."""


@pytest.fixture(scope="module")
def chronik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronikServer]:
    with MailSink() as sink, start_chronik(tmp_path_factory.mktemp("chronik"),
                                           sink.port) as server:
        erika = server.api("POST", "/customers", {"name": "Erika Mustermann-Langername",
                                                  "emails": ["erika." + LONG]})
        CUSTOMER["id"] = erika["id"]
        server.api("POST", f"/customers/{erika['id']}/entries", {
            "kind": "note", "body": "Auskunft nach Art. 15 " * 20, "tags": ["data-request"]})
        server.api("POST", "/office/inbound-addresses", {"address": "post." + LONG})
        server.cli("agent", "create", "Maximilian Sehr-Langer-Doppelname", "--office",
                   server.office_id, "--role", "agent", "--email", LONG)
        server.ingest(InboundMessage(
            office_id=server.office_id, channel=Channel.EMAIL, source_id="<layout@x>",
            sender_kind=IdentityKind.EMAIL, sender="kaputt-" + LONG.replace("@", "@@"),
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC), body="Bitte zuordnen"))
        yield server


@contextlib.contextmanager
def _admin_page(browser: Browser, chronik: ChronikServer, width: int, lang: str
                ) -> Iterator[Page]:
    """A fresh browser (``width`` px wide, ``lang``) with the admin signed in."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=lang,
                                  extra_http_headers={"Accept-Language": lang})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(chronik.url("/signin?next=/admin"))
        page.get_by_label(re.compile("E-Mail|E-mail")).fill(ADMIN_EMAIL)
        page.get_by_label(re.compile("Passwort|Password")).fill(PASSWORD)
        page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
        page.wait_for_url(re.compile(r"/admin$"))
        yield page
    finally:
        context.close()


def _paths(page: Page, chronik: ChronikServer, pages: list[str]) -> list[str]:
    """``pages`` and one agent's and one quarantined message's own page."""
    extra = []
    for listing, prefix in (("/admin/agents", "/admin/agents/"),
                            ("/admin/quarantine", "/admin/quarantine/")):
        page.goto(chronik.url(listing))
        extra.append(page.locator(f'a[href^="{prefix}"]').first.get_attribute("href") or "")
    return pages + extra + [f"/admin/customers/{CUSTOMER['id']}/erase"]


def _too_wide(page: Page, chronik: ChronikServer, paths: list[str], width: int) -> list[str]:
    wide = []
    for path in paths:
        page.goto(chronik.url(path))
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            wide.append(f"{path}: {scroll}px")
    return wide


@pytest.mark.parametrize("lang", ["de", "en"])
def test_no_admin_page_is_wider_than_a_640px_viewport(
        browser: Browser, chronik: ChronikServer, lang: str) -> None:
    with _admin_page(browser, chronik, 640, lang) as page:
        assert _too_wide(page, chronik, _paths(page, chronik, PAGES), 640) == []
        page.goto(chronik.url("/admin/policy"))
        save = page.locator('form[action="/admin/policy"] button[type=submit]').bounding_box()
        result = page.locator('output[data-kind="document"]').bounding_box()
        assert save is not None and result is not None
        assert save["x"] + save["width"] <= 640 and result["x"] + result["width"] <= 640


def test_admin_tables_scroll_inside_the_page_on_a_phone(browser: Browser,
                                                        chronik: ChronikServer) -> None:
    with _admin_page(browser, chronik, 390, "de") as page:
        assert _too_wide(page, chronik, WIDE_ON_A_PHONE, 390) == []


def test_erasing_a_customer_in_the_browser(browser: Browser, chronik: ChronikServer) -> None:
    """From the customer's page to the receipt, as an admin clicks and types."""
    paula = chronik.api("POST", "/customers", {"name": "Paula Probe",
                                               "emails": ["paula@probe.example"]})
    chronik.api("POST", f"/customers/{paula['id']}/entries", {
        "kind": "note", "body": "Kfz-Schaden gemeldet", "visibility": "internal"})
    with _admin_page(browser, chronik, 1280, "de") as page:
        page.goto(chronik.url(f"/customers/{paula['id']}"))
        page.get_by_text("Datenschutz", exact=True).click()
        page.get_by_role("link", name="Kunde löschen …").click()
        page.wait_for_url(re.compile(r"/erase$"))
        assert "Einträge im Verlauf" in page.inner_text("#erase-counts")
        erase = page.get_by_role("button", name="Endgültig löschen")
        erase.click()  # the name is required: the browser does not send the form
        assert page.url.endswith("/erase")
        page.get_by_label(re.compile("Namen eingeben")).fill("Paula Probe")
        erase.click()
        page.wait_for_url(re.compile(r"/admin/data-requests\?.*msg=erased"))
        assert "Der Kunde ist gelöscht" in page.inner_text("main")
        assert page.locator("#receipts tr.just-done").count() == 1
        assert chronik.call("GET", f"/customers/{paula['id']}").status == 404
