"""The portal as customers use it, in a real browser: the write form on a phone (Enter in
the subject, a file dragged onto the page, a picture pasted), the keyboard on a desktop
(Ctrl/Cmd+Enter sends), a narrow screen at 200 % zoom."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_console_e2e import sign_in
from tests.browser.test_portal_e2e import _portal_sign_in
from tests.support.live_server import ADMIN_EMAIL, ChronikServer, MailSink

DROP = """(target) => {
    const data = new DataTransfer();
    data.items.add(new File(["%PDF-1.4\\n%%EOF\\n"], "Kündigung März.pdf",
                            {type: "application/pdf"}));
    target.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                                cancelable: true}));
}"""


def _messages(chronik: ChronikServer, customer_id: str) -> list[dict[str, Any]]:
    page = chronik.api("GET", f"/customers/{customer_id}/timeline?channel=portal&limit=50")
    return [e for e in page["items"] if e["kind"] == "message"]


def test_enter_in_the_subject_goes_on_and_ctrl_enter_sends(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    """Before: Enter after the subject -- on a phone the keyboard's "Go" key -- sent the
    message at once, with no text."""
    kunde = chronik.api("POST", "/customers", {"name": "Ida Eingabe",
                                               "emails": ["ida@kunde.test"]})
    page.set_viewport_size({"width": 360, "height": 740})
    _portal_sign_in(page, chronik, mail_sink, "ida@kunde.test")
    page.goto(chronik.url("/portal/write"))
    subject = page.locator("#write-subject")
    assert subject.get_attribute("enterkeyhint") == "next"
    subject.fill("Frage zu meiner Rechnung")
    subject.press("Enter")
    expect(page.locator("#write-body")).to_be_focused()
    page.keyboard.type("Warum ist der Betrag höher als im Vorjahr? 🤔")
    page.wait_for_timeout(300)
    assert _messages(chronik, kunde["id"]) == []
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("status").first).to_be_visible()
    [sent] = _messages(chronik, kunde["id"])
    assert sent["subject"] == "Frage zu meiner Rechnung"
    assert sent["body"] == "Warum ist der Betrag höher als im Vorjahr? 🤔"


def test_a_file_dropped_onto_the_page_joins_the_message(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    """Before: a file dragged from the desktop onto the write page was opened by the
    browser in place of the portal (the page was left); now it is attached."""
    kunde = chronik.api("POST", "/customers", {"name": "Jan Ziehen",
                                               "emails": ["jan@kunde.test"]})
    _portal_sign_in(page, chronik, mail_sink, "jan@kunde.test")
    page.goto(chronik.url("/portal/write"))
    page.locator("#write-subject").fill("Kündigung")
    page.locator("h1").evaluate(DROP)  # let go beside the form, over the heading
    names = page.locator("#write-files").evaluate("(i) => [...i.files].map(f => f.name)")
    assert names == ["Kündigung März.pdf"]
    page.get_by_role("button", name="Senden").or_(page.get_by_role(
        "button", name="Send")).click()
    expect(page.get_by_role("status").first).to_be_visible()
    [sent] = _messages(chronik, kunde["id"])
    assert [a["name"] for a in sent["attachments"]] == ["Kündigung März.pdf"]


def test_the_readers_own_text_size_is_used(chronik: ChronikServer, mail_sink: MailSink,
                                           browser: Any) -> None:
    """Before: the pages set their text in pixels (15px), so a customer or agent who set a
    larger text size in the browser (Chrome's "Font size: very large", 24px) still got the
    small text. Now the text follows that setting, and the portal still fits a 360 px
    phone without sideways scrolling."""
    chronik.api("POST", "/customers", {"name": "Greta Großschrift",
                                       "emails": ["greta@kunde.test"]})
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        context.new_cdp_session(page).send("Page.setFontSizes",
                                           {"fontSizes": {"standard": 24, "fixed": 20}})
        page.goto(chronik.url("/portal/signin"))
        size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        assert size >= 22, size  # 24px asked, not the 15px of before
        _portal_sign_in(page, chronik, mail_sink, "greta@kunde.test")
        for path in ("/portal/", "/portal/write", "/portal/preferences", "/portal/data"):
            page.goto(chronik.url(path))
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} scrolls sideways with large text ({width}px)"
    finally:
        context.close()


def test_the_console_with_large_text_on_a_phone(chronik: ChronikServer, browser: Any) -> None:
    """The console with the browser's text size at 24px on a 360 px screen: a file name
    without spaces, the settings table and the admin's forms stay within the screen (they
    were 13-14 px wider)."""
    kunde = chronik.api("POST", "/customers", {"name": "Karla Klein"})
    chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "body": "mit Anhang"})
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        context.new_cdp_session(page).send("Page.setFontSizes",
                                           {"fontSizes": {"standard": 24, "fixed": 20}})
        sign_in(page, chronik, ADMIN_EMAIL, f"/customers/{kunde['id']}")
        page.locator("#kind-document").check()
        page.locator("#c-files").set_input_files([{
            "name": "Kuendigungsbestaetigung_Hausratversicherung_2027.pdf",
            "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}])
        page.locator("#vis-internal").check()
        page.locator("#compose-submit").click()
        expect(page.locator("#timeline")).to_contain_text("Hausratversicherung_2027.pdf")
        for path in (f"/customers/{kunde['id']}", "/settings", "/admin/agents"):
            page.goto(chronik.url(path))
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} scrolls sideways with large text ({width}px)"
    finally:
        context.close()
