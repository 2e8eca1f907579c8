"""Moving an entry in a real browser: "Move…" on the item, the customer picked by name,
the confirmation, and the moved entry in its new timeline -- and an open timeline of the
old customer (another agent's tab) lets it go live."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.test_console_e2e import customer, sign_in
from tests.support.live_server import ChronikServer


def test_move_an_entry_and_the_other_tab_lets_it_go(chronik: ChronikServer, page: Page
                                                    ) -> None:
    hans = customer(chronik, "Hans Umzug", "+49 171 5550301", "familie.umzug@kunde.test")
    erika = customer(chronik, "Erika Umzug", "+49 171 5550302", "erika.umzug@kunde.test")
    note = chronik.api("POST", f"/customers/{hans['id']}/entries",
                       {"kind": "note", "body": "Erikas Golf: Gutachten folgt",
                        "visibility": "internal"})
    sign_in(page, chronik, next_path=f"/customers/{hans['id']}")
    item = page.locator(f"#e-{note['id']}")
    expect(item).to_be_visible()

    watching = page.context.new_page()  # another tab on Hans, live
    watching.goto(chronik.url(f"/customers/{hans['id']}"))
    expect(watching.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)
    expect(watching.locator(f"#e-{note['id']}")).to_be_visible()

    item.get_by_role("link", name=re.compile("Verschieben|Move")).click()
    page.get_by_label(re.compile("Kunde, zu dem|Customer the entry")).fill("Erika Umzug")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Erika Umzug").click()
    page.get_by_role("button", name=re.compile("Zu Erika Umzug verschieben|Move to Erika")).click()

    expect(page).to_have_url(re.compile(f"/customers/{erika['id']}"))
    moved = page.locator(f"#e-{note['id']}")
    expect(moved).to_be_visible()
    expect(moved).to_contain_text(re.compile("hierher verschoben|Moved here"))
    expect(watching.locator(f"#e-{note['id']}")).to_have_count(0, timeout=10_000)
    watching.close()
