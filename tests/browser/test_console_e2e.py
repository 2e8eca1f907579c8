"""The agent console in a real browser against a real server: sign-in, the caller banner on
a CTI call, a phone note with its preset, the tone guard, a document upload found by search,
an inert HTML e-mail, and axe on every main screen."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.browser.focus import assert_focus_stands_out
from tests.support.live_server import ADMIN_EMAIL, AGENT_EMAIL, PASSWORD, ChronikServer

DATA = Path(__file__).resolve().parent / "data"


def sign_in(page: Page, chronik: ChronikServer, email: str = ADMIN_EMAIL,
            next_path: str = "/") -> None:
    page.goto(chronik.url(f"/signin?next={next_path}"))
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(email)
    page.get_by_label(re.compile("Passwort|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page.get_by_role("button", name=re.compile("Abmelden|Sign out"))).to_be_visible()
    page.wait_for_load_state()  # the console's module script has run (keys, live events)


def customer(chronik: ChronikServer, name: str, phone: str, email: str) -> dict[str, Any]:
    return chronik.api("POST", "/customers", {"name": name, "phones": [phone],
                                              "emails": [email]})


def cti(chronik: ChronikServer, event: dict[str, str]) -> None:
    office = chronik.api("GET", "/office")
    response = chronik.call("POST", office["cti_url_path"], event, token="")
    assert response.status == 200, response.body


def test_sign_in_wrong_password_then_right(chronik: ChronikServer, page: Page) -> None:
    page.goto(chronik.url("/"))
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(AGENT_EMAIL)
    page.get_by_label(re.compile("Passwort|Password")).fill("wrong password!")
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("stimmt nicht|Wrong"))
    page.get_by_label(re.compile("Passwort|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tom Agent")
    cookie = next(c for c in page.context.cookies() if c["name"] == "chronik_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]


def test_call_banner_phone_note_and_tone_guard(chronik: ChronikServer, page: Page,
                                               axe: Any, screenshot: Any) -> None:
    erika = customer(chronik, "Erika Mustermann", "0171 1234567", "erika@kunde.test")
    chronik.api("POST", f"/customers/{erika['id']}/entries", {
        "kind": "note", "subject": "Anrede", "body": "Möchte mit Frau Dr. angesprochen werden",
        "visibility": "internal", "tags": ["pinned"]})
    sign_in(page, chronik)
    axe.assert_clean(page)
    screenshot(page, "console-home")

    cti(chronik, {"event": "newCall", "callId": "call-1", "from": "+49 171 1234567",
                  "to": "+49 30 5555", "direction": "in"})
    banner = page.locator("#caller-banner")
    expect(banner).to_contain_text("Erika Mustermann")
    expect(banner).to_contain_text("Frau Dr.")  # the pinned soft fact
    axe.assert_clean(page)
    screenshot(page, "caller-banner")

    banner.get_by_role("link", name="Erika Mustermann").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Erika Mustermann")
    form = page.locator("#compose-form")
    expect(form.get_by_label(re.compile("Telefonnotiz|Phone note"))).to_be_checked()
    # the preset: the system default publishes and notifies phone notes, and says so
    expect(form.get_by_label(re.compile("Kunden benachrichtigen|Notify customer"))
           ).to_be_checked()
    expect(page.locator("#preset-source")).to_contain_text(re.compile("system", re.IGNORECASE))
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Rückruf zum Angebot")
    form.get_by_label(re.compile("^Text$")).fill("Sie nimmt das Angebot mit Glasbruch an.")
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    timeline = page.locator("#timeline")
    expect(timeline.locator(".item").first).to_contain_text("Rückruf zum Angebot")
    entries = chronik.api("GET", f"/customers/{erika['id']}/timeline?kind=phone_note")
    note = entries["items"][0]
    assert note["visibility"] == "published" and note["notify"] is True
    assert note["meta"]["call_entry_id"]  # written against the ringing call

    # the tone guard: warns while typing, stops the published note until confirmed
    form.get_by_label(re.compile("Notiz$|Note$")).check()
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Gespräch")
    form.get_by_label(re.compile("^Text$")).fill("Der Kunde ist ein echter Querulant.")
    expect(page.locator("#compose-warnings")).to_contain_text("Querulant")
    confirm = form.get_by_label(re.compile("Trotzdem veröffentlichen|Publish anyway"))
    expect(confirm).to_be_visible()  # with the warning it speaks of ("confirm below")
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(confirm).to_be_visible()
    assert not any("Querulant" in (e["body"] or "") for e in chronik.api(
        "GET", f"/customers/{erika['id']}/timeline")["items"])
    screenshot(page, "tone-guard")
    confirm.check()
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(timeline.locator(".item").first).to_contain_text("Querulant")
    stored = chronik.api("GET", f"/customers/{erika['id']}/timeline?kind=note")["items"][0]
    assert stored["meta"]["tone_confirmed"] == ["Querulant"]
    axe.assert_clean(page)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "timeline", full_page=False)


def test_internal_note_is_marked_and_document_upload_is_found(
        chronik: ChronikServer, page: Page, axe: Any, screenshot: Any, tmp_path: Path) -> None:
    max_ = customer(chronik, "Max Müller", "030 1234567", "max@kunde.test")
    sign_in(page, chronik, next_path=f"/customers/{max_['id']}")
    form = page.locator("#compose-form")
    form.get_by_label(re.compile("Notiz$|Note$")).check()
    form.get_by_label(re.compile(r"Intern \(|Internal \(")).check()
    expect(form.get_by_label(re.compile("Kunden benachrichtigen|Notify customer"))
           ).to_be_disabled()
    form.get_by_label(re.compile("^Text$")).fill("Provision prüfen, nicht weitergeben.")
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    item = page.locator("#timeline .item").first
    expect(item).to_contain_text("Provision prüfen")
    expect(item).to_have_class(re.compile("is-internal"))
    expect(item).to_contain_text(re.compile("INTERN"))

    policy = tmp_path / "Police Kfz 2027.pdf"
    policy.write_bytes(b"%PDF-1.4\n% Chronik test document\n%%EOF\n")
    photo = tmp_path / "schaden.png"
    photo.write_bytes(_PNG)
    form.get_by_label(re.compile("Dokument$|Document$")).check()
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Kfz-Police Zaunkönig 2027")
    form.get_by_label(re.compile("Dateien|Files")).set_input_files([policy, photo])
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    doc = page.locator("#timeline .item").first
    expect(doc).to_contain_text("Police Kfz 2027.pdf")
    expect(doc.locator("img[alt='schaden.png']")).to_be_visible()  # thumbnail
    with page.expect_download() as download:
        doc.get_by_role("link", name=re.compile("Police Kfz 2027.pdf")).click()
    assert Path(download.value.path()).read_bytes() == policy.read_bytes()

    page.get_by_role("link", name=re.compile("^(Suche|Search)$")).click()
    page.get_by_label(re.compile("Suchbegriffe|Search terms")).fill("zaunkoenig")
    page.get_by_label(re.compile("Suchbegriffe|Search terms")).press("Enter")
    hit = page.locator(".hits .item").first
    expect(hit).to_contain_text("Max Müller")
    expect(hit.locator("mark")).to_have_text(re.compile("Zaunkönig"))
    axe.assert_clean(page)
    screenshot(page, "search")
    hit.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(f"/customers/{max_['id']}"))
    expect(page.locator(".item.highlight")).to_contain_text("Zaunkönig")


def test_html_mail_is_inert(chronik: ChronikServer, page: Page, axe: Any,
                            browser_errors: list[str]) -> None:
    chronik.cli("import", str(DATA / "hostile.eml"), "--office", chronik.office_id)
    found = chronik.api("GET", "/lookup?email=max.hostile@kunde.test")["matches"][0]
    leaving: list[str] = []

    def watch(route: Route) -> None:  # every request that would reach the network
        leaving.append(route.request.url)
        route.abort()
    page.context.route(re.compile(r"^(?!" + re.escape(chronik.base_url) + ").*"), watch)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, chronik, next_path=f"/customers/{found['customer']['id']}")
    frame_el = page.locator("iframe.mail")
    expect(frame_el).to_be_visible()
    sandbox = frame_el.get_attribute("sandbox") or ""
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    frame = page.frame_locator("iframe.mail")
    expect(frame.locator("b")).to_have_text("Rechnung")
    link = frame.locator("a", has_text="Klick mich")
    if link.count():
        assert not (link.get_attribute("href") or "").startswith("javascript:")
        link.click()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__pwned === undefined")  # no script, no handler ran
    assert leaving == [], f"requests left the browser: {leaving}"
    assert dialogs == []
    browser_errors.clear()  # the CSP reports about the mail's remote image are the point
    axe.assert_clean(page)


def test_main_screens_are_accessible(chronik: ChronikServer, page: Page, axe: Any,
                                     screenshot: Any) -> None:
    some = customer(chronik, "Greta Becker", "089 123456", "greta@kunde.test")
    page.goto(chronik.url("/signin"))
    axe.assert_clean(page)
    screenshot(page, "signin")
    sign_in(page, chronik, next_path=f"/customers/{some['id']}")
    for path in ("/", f"/customers/{some['id']}", "/search?q=Becker", "/complaints",
                 "/settings", "/find?q=0151 999 888", f"/customers/{some['id']}/merge?q=B"):
        page.goto(chronik.url(path))
        axe.assert_clean(page)
    page.goto(chronik.url("/find?q=0151 999 888"))
    screenshot(page, "unknown-number")
    for path in ("/admin", "/admin/policy", "/admin/agents", "/admin/connectors",
                 "/admin/quarantine", "/admin/dead-letters", "/admin/tone", "/admin/office",
                 "/admin/data-requests"):
        page.goto(chronik.url(path))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        axe.assert_clean(page)
    page.goto(chronik.url("/admin/policy"))
    screenshot(page, "admin-policy")
    page.goto(chronik.url("/api/v1/docs"))  # the API reference for integrators
    expect(page.get_by_role("heading", level=1)).to_contain_text("reference")
    axe.assert_clean(page)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(chronik.url(f"/customers/{some['id']}"))
    axe.assert_clean(page)
    screenshot(page, "customer-phone", full_page=False)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"


_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000010000000100802000000909168360000001d49444154"
    "789c63fcff9f8114c0c4400a606218d5301a8c6a18d5301a004f5c1f01f8a3a02e0000000049454e44"
    "ae426082")


def test_keyboard_only_find_and_write(chronik: ChronikServer, page: Page) -> None:
    """Everything an agent does on a call works without a mouse: "/" jumps to the search
    box, Tab reaches the compose fields and the save button, focus is always visible."""
    customer(chronik, "Hans Tastatur", "0171 5550001", "hans@kunde.test")
    sign_in(page, chronik)
    page.evaluate("document.activeElement.blur()")  # the home page focuses its own box
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "quickfind-q"
    page.keyboard.type("+49 171 5550001")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hans Tastatur")

    def tab_to(element_id: str, limit: int = 120) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == element_id:
                outline = page.evaluate(
                    "getComputedStyle(document.activeElement).outlineStyle")
                assert outline != "none", f"no visible focus on #{element_id}"
                return
        raise AssertionError(f"Tab never reached #{element_id}")
    # a long history: "New entry" is among the first stops, and leads into the form
    presses = 0
    while not page.evaluate("document.activeElement.closest('.jump-compose') !== null"):
        page.keyboard.press("Tab")
        presses += 1
        assert presses < 25, "the jump to the form comes after the history"
    expect(page.locator(".jump-compose a")).to_be_visible()  # shown while focused
    page.keyboard.press("Enter")
    tab_to("c-subject", limit=12)
    page.keyboard.type("Per Tastatur")
    tab_to("c-body")
    page.keyboard.type("Rückruf vereinbart.")
    tab_to("compose-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline .item").first).to_contain_text("Per Tastatur")
    # the language menu: arrows move through it without leaving the page, Enter applies
    page.focus("#lang-select")
    before = page.locator("html").get_attribute("lang")
    other = "en" if before == "de" else "de"
    page.keyboard.press("ArrowDown" if before == "de" else "ArrowUp")
    page.wait_for_timeout(300)  # (a submit would have started by now)
    assert page.evaluate("document.activeElement.id") == "lang-select"
    assert page.locator("html").get_attribute("lang") == before
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", other)
    page.locator("#lang-select").select_option(before)  # a pointer's choice applies at once
    expect(page.locator("html")).to_have_attribute("lang", before)


def test_a_draft_survives_a_reload_and_leaving_asks_first(chronik: ChronikServer,
                                                          page: Page) -> None:
    anna = customer(chronik, "Anna Entwurf", "0151 22233344", "anna@kunde.test")
    sign_in(page, chronik, next_path=f"/customers/{anna['id']}")
    form = page.locator("#compose-form")
    subject = form.get_by_label(re.compile("^(Betreff|Subject)$"))
    body = form.get_by_label(re.compile("^Text$"))
    internal = form.locator("#vis-internal")
    complaint = form.get_by_label(re.compile("Beschwerde|complaint"))
    form.get_by_label(re.compile("^(Notiz|Note)$")).check()
    internal.check()
    complaint.check()
    subject.fill("Halber Gedanke")
    body.fill("Frau Entwurf möchte den Vertrag umstellen, und zwar")
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    page.reload()
    assert dialogs == ["beforeunload"]  # the browser asked before dropping the text
    expect(subject).to_have_value("Halber Gedanke")  # and the draft is back
    expect(body).to_have_value("Frau Entwurf möchte den Vertrag umstellen, und zwar")
    # as it was meant: an internal note (never back as a published phone note), a complaint
    expect(form.get_by_label(re.compile("^(Notiz|Note)$"))).to_be_checked()
    expect(internal).to_be_checked()
    expect(complaint).to_be_checked()
    expect(form.locator("#confirm-row")).to_be_hidden()  # no "publish anyway" before a warning
    body.fill("Frau Entwurf möchte den Vertrag umstellen.")
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(page.locator("#timeline .item").first).to_contain_text("Halber Gedanke")
    saved = chronik.api("GET", f"/customers/{anna['id']}/timeline")["items"][0]
    assert (saved["kind"], saved["visibility"], saved["tags"]) == ("note", "internal",
                                                                    ["complaint"])
    expect(complaint).not_to_be_checked()  # the next entry is no complaint by accident
    page.reload()  # saved: nothing to keep, nothing to ask
    assert dialogs == ["beforeunload"]
    expect(subject).to_have_value("")
    expect(body).to_have_value("")


def test_a_pasted_screenshot_and_a_dropped_file_become_the_document(
        chronik: ChronikServer, page: Page) -> None:
    """Ctrl+V of a screenshot (browsers call it image.png) and a file dragged from the
    desktop onto the form, as in a mail program."""
    kim = customer(chronik, "Kim Einfügen", "0151 44455566", "kim@kunde.test")
    sign_in(page, chronik, next_path=f"/customers/{kim['id']}")
    form = page.locator("#compose-form")
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Fehlermeldung im Portal")
    body = form.get_by_label(re.compile("^Text$"))
    body.fill("Kunde schickt Bildschirmfoto")
    body.evaluate("""(area, png) => {
        const data = new DataTransfer();
        data.items.add(new File([Uint8Array.from(atob(png), c => c.charCodeAt(0))],
                                "image.png", {type: "image/png"}));
        area.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true,
                                                        cancelable: true}));
    }""", base64.b64encode(_PNG).decode())
    expect(form.get_by_label(re.compile("Dokument$|Document$"))).to_be_checked()
    form.evaluate("""(f) => {
        const data = new DataTransfer();
        data.items.add(new File(["%PDF-1.4\\n%%EOF\\n"], "Vollmacht.pdf",
                                {type: "application/pdf"}));
        f.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                               cancelable: true}));
    }""")
    names = form.locator("#c-files").evaluate("(i) => [...i.files].map(f => f.name)")
    assert len(names) == 2 and names[1] == "Vollmacht.pdf"
    assert re.fullmatch(r"(Bildschirmfoto|Screenshot) \d{4}(-\d\d){2} \d\d(-\d\d){2}\.png",
                        names[0])
    expect(body).to_have_value("Kunde schickt Bildschirmfoto")  # the text stays as it was
    form.get_by_label(re.compile("^(Notiz|Note)$")).check()  # another kind: the files stay
    expect(form.locator("#c-files")).to_be_visible()
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    doc = page.locator("#timeline .item").first
    expect(doc).to_contain_text("Vollmacht.pdf")
    stored = chronik.api("GET", f"/customers/{kim['id']}/timeline?kind=note")["items"][0]
    assert [a["name"] for a in stored["attachments"]] == names
    assert stored["attachments"][0]["size"] == len(_PNG)


def test_printing_a_customer_shows_the_history_not_the_controls(chronik: ChronikServer,
                                                               page: Page) -> None:
    paul = customer(chronik, "Paul Druck", "0151 55566677", "paul@kunde.test")
    chronik.api("POST", f"/customers/{paul['id']}/entries", {
        "kind": "note", "subject": "Beratung", "body": "Hausrat besprochen.",
        "visibility": "internal"})
    sign_in(page, chronik, next_path=f"/customers/{paul['id']}")
    expect(page.locator("#timeline .item").first).to_contain_text("Hausrat besprochen.")
    page.emulate_media(media="print")
    expect(page.locator("#timeline .item").first).to_be_visible()
    expect(page.locator("#profile")).to_be_visible()
    for control in (".topbar", "#compose-form", "form.filters.card"):
        expect(page.locator(control)).to_be_hidden()
    page.evaluate("document.body.insertAdjacentHTML('beforeend', "
                  "'<details id=\"folded\"><summary>s</summary><p>inside</p></details>')")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    expect(page.locator("#folded")).to_have_attribute("open", "")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    expect(page.locator("#folded")).not_to_have_attribute("open", "")


def test_a_new_message_joins_the_waiting_list_live(chronik: ChronikServer, page: Page,
                                                   axe: Any, tmp_path: Path,
                                                   screenshot: Any) -> None:
    """The start page's "waiting for a reply" list takes a mail that arrives while it is
    open (written by another process: ``chronik import``), and "No reply needed" takes it
    off again."""
    sign_in(page, chronik)
    waiting = page.get_by_role("region", name=re.compile("Warten auf Antwort|waiting"))
    expect(waiting).to_be_visible()
    mail = tmp_path / "frage.eml"
    mail.write_bytes(
        b"From: Hanna Wartet <hanna.wartet@kunde.test>\r\nTo: buero@makler.test\r\n"
        b"Subject: Frage zur Hausratversicherung\r\nMessage-ID: <wartet-1@kunde.test>\r\n"
        b"Date: " + page.evaluate("new Date().toUTCString()").encode() + b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nBitte rufen Sie mich an.\r\n")
    chronik.cli("import", str(mail), "--office", chronik.office_id)
    row = waiting.get_by_role("row", name=re.compile("Hanna Wartet"))
    expect(row).to_be_visible(timeout=10_000)  # live, without a reload
    expect(row).to_contain_text("Frage zur Hausratversicherung")
    axe.assert_clean(page)
    page.goto(chronik.url("/waiting"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    axe.assert_clean(page)
    screenshot(page, "waiting", full_page=False)
    page.get_by_role("button", name=re.compile("Hanna Wartet")).click()
    expect(page).to_have_url(re.compile("/waiting"))
    expect(page.get_by_role("row", name=re.compile("Hanna Wartet"))).to_have_count(0)


PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_a_telegram_album_arriving_message_by_message_is_one_item_live(
        chronik: ChronikServer, page: Page) -> None:
    """Three photos sent at once reach Chronik as three Telegram messages, one after the
    other: the open timeline shows them as one item with three pictures as they come (as
    it does after a reload), not as three items."""
    from timeline.ingest import InboundAttachment, InboundMessage
    from timeline.models import Channel, IdentityKind, utcnow

    erika = customer(chronik, "Erika Album", "+49 171 5550101", "erika.album@kunde.test")
    sign_in(page, chronik, next_path=f"/customers/{erika['id']}")
    expect(page.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)

    def photo(n: int) -> InboundMessage:
        return InboundMessage(
            office_id=chronik.office_id, channel=Channel.CHAT, source_id=f"tg:77:{n}",
            sender_kind=IdentityKind.TELEGRAM, sender="77", sender_name="Erika",
            occurred_at=utcnow(), customer_id=erika["id"],
            body="Der Wasserschaden im Keller" if n == 1 else "",
            attachments=(InboundAttachment(name=f"keller-{n}.png", content_type="image/png",
                                           data=PIXEL),),
            meta={"telegram": {"chat_id": 77, "message_id": n, "user_id": 77,
                               "media_group_id": "13570000000000001"}})

    items = page.locator("#timeline > li.item")
    chronik.ingest(photo(1))
    expect(items.filter(has_text="Der Wasserschaden im Keller")).to_have_count(1,
                                                                           timeout=10_000)
    chronik.ingest(photo(2))
    chronik.ingest(photo(3))
    album = items.filter(has_text="Der Wasserschaden im Keller")
    photos = album.get_by_role("img", name=re.compile(r"keller-\d\.png"))
    expect(photos).to_have_count(3, timeout=10_000)
    expect(items).to_have_count(1)
    expect(page.get_by_text(re.compile("Noch keine Einträge|No entries yet"))).to_have_count(0)
    page.reload()
    expect(items).to_have_count(1)
    expect(items.first.get_by_role("img", name=re.compile(r"keller-\d\.png"))).to_have_count(3)


def test_signing_out_in_another_tab_stops_the_live_view(chronik: ChronikServer,
                                                        page: Page) -> None:
    """Signed out in a second tab: the first stops listening — the next caller's number and
    history do not reach it — says so and offers to sign in again; the banner can be put
    away with Escape before that, and on a phone it is no wall."""
    customer(chronik, "Otto Zweittab", "0171 7770001", "otto@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL)
    expect(page.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)
    cti(chronik, {"event": "newCall", "callId": "tab-1", "from": "+49 171 7770001",
                  "to": "+49 30 5555", "direction": "in"})
    banner = page.locator("#caller-banner")
    expect(banner).to_contain_text("Otto Zweittab")
    cti(chronik, {"event": "hangup", "callId": "tab-1", "cause": "normalClearing"})
    expect(banner).to_contain_text(re.compile("Anruf beendet|Call ended"))  # not "ringing"
    page.keyboard.press("Escape")
    expect(banner).to_be_hidden()
    page.set_viewport_size({"width": 360, "height": 740})
    cti(chronik, {"event": "newCall", "callId": "tab-2", "from": "+49 171 7770001",
                  "to": "+49 30 5555", "direction": "in"})
    expect(banner).to_contain_text("Otto Zweittab")
    page.mouse.wheel(0, 2000)  # on a phone the banner scrolls away with the page
    assert page.evaluate("document.getElementById('caller-banner').getBoundingClientRect()"
                         ".bottom") < 740
    page.keyboard.press("Escape")

    other = page.context.new_page()
    other.goto(chronik.url("/"))
    other.get_by_role("button", name=re.compile("Abmelden|Sign out")).click()
    expect(other.get_by_label(re.compile("Passwort|Password"))).to_be_visible()
    other.close()
    page.wait_for_timeout(1200)  # (a stream re-checks its sign-in at most once a second)
    cti(chronik, {"event": "newCall", "callId": "tab-3", "from": "+49 171 7770001",
                  "to": "+49 30 5555", "direction": "in"})
    notice = page.locator("#signed-out")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice.get_by_role("link", name=re.compile("Erneut anmelden|Sign in again"))
           ).to_be_visible()
    expect(page.locator("html[data-live=ended]")).to_have_count(1)
    expect(banner).to_be_hidden()


def test_an_outbound_call_pops_no_caller_banner(chronik: ChronikServer, page: Page) -> None:
    """An agent dialling out rings nobody in the office: no "Es klingelt" banner for it on
    any agent's screen; the next inbound call still shows its caller."""
    customer(chronik, "Olga Ausgehend", "0171 7770002", "olga@kunde.test")
    customer(chronik, "Ingo Eingehend", "0171 7770003", "ingo@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL)
    expect(page.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)
    cti(chronik, {"event": "newCall", "callId": "out-1", "from": "+49 30 5555",
                  "to": "+49 171 7770002", "direction": "out"})
    cti(chronik, {"event": "newCall", "callId": "in-1", "from": "+49 171 7770003",
                  "to": "+49 30 5555", "direction": "in"})
    banner = page.locator("#caller-banner")
    expect(banner).to_contain_text("Ingo Eingehend")
    expect(banner.locator("[data-call]")).to_have_count(1)
    expect(banner).not_to_contain_text("Olga Ausgehend")


def test_the_console_on_a_phone(chronik: ChronikServer, page: Page) -> None:
    """At 360 px: the waiting list's rows (with "No reply needed") fit the screen, and a
    customer's page leads to "New entry" without scrolling through the whole history."""
    from timeline.ingest import InboundMessage
    from timeline.models import Channel, IdentityKind, utcnow

    lena = customer(chronik, "Lena Schmalbild", "0171 7770002", "lena@kunde.test")
    chronik.ingest(InboundMessage(
        office_id=chronik.office_id, channel=Channel.EMAIL, source_id="phone-view-1@kunde",
        sender_kind=IdentityKind.EMAIL, sender="lena@kunde.test", sender_name="Lena",
        occurred_at=utcnow(), kind="email", customer_id=lena["id"],
        subject="Frage zur Hausratversicherung mit einem recht langen Betreff, der umbricht",
        body="Bitte um Rückruf."))
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, chronik, next_path="/waiting")
    row = page.locator("#waiting-list tr", has_text="Lena Schmalbild")
    expect(row).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    button = row.get_by_role("button")
    box = button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 360
    page.goto(chronik.url(f"/customers/{lena['id']}"))
    page.locator(".jump-compose").get_by_role("link").click()
    expect(page.locator("#compose-h")).to_be_in_viewport()


def test_the_keyboard_focus_stands_out_in_the_console(chronik: ChronikServer,
                                                     page: Page) -> None:
    """As in the portal: an orange ring alone is 2:1 on the console's white pages (WCAG
    1.4.11 asks 3:1 for what shows the focus)."""
    sign_in(page, chronik)
    checked = assert_focus_stands_out(
        page, page.locator("main a, main button, main input").first,  # the white page
        page.get_by_role("button", name=re.compile("Abmelden|Sign out")))
    assert checked[0] != checked[1]  # a light and the dark background
