"""The console as agents use it through a shift, in a real browser: the keyboard in the
compose form (Ctrl/Cmd+Enter saves, Enter in the subject goes on to the text, the focus
stays in the form after saving, a key pressed twice writes once), and names, subjects and
links without a space in them on a phone, at 200 % zoom and on a wide screen."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.browser.test_console_e2e import cti, sign_in
from tests.browser.test_portal_e2e import _portal_sign_in
from tests.support.live_server import (
    ADMIN_EMAIL,
    AGENT_EMAIL,
    PASSWORD,
    ChronikServer,
    MailSink,
    wait_until,
)

LONG = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung" * 3
WIDTHS = (360, 640, 1280)  # a phone; 1280 px at 200 % zoom; a desk


def _entries(chronik: ChronikServer, customer_id: str) -> list[dict[str, Any]]:
    page = chronik.api("GET", f"/customers/{customer_id}/timeline?limit=50")
    return [e for e in page["items"] if e["kind"] == "note"]


def test_what_is_typed_while_a_note_saves_stays_in_the_form(chronik: ChronikServer,
                                                          page: Page) -> None:
    """Before: the answer to the save emptied the form, whatever the agent had typed into
    it meanwhile (on a slow line, or the next note begun as soon as the live timeline
    showed the last one)."""
    kunde = chronik.api("POST", "/customers", {"name": "Greta Langsam"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    held: list[Route] = []
    page.route(re.compile(r".*/api/v1/customers/[^/]+/entries$"),
               lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    page.locator("#kind-note").check()
    page.locator("#vis-internal").check()
    body = page.locator("#c-body")
    body.fill("Police liegt vor")
    body.press("Control+Enter")
    expect(page.locator("#compose-submit")).to_be_disabled()  # saving, the answer held back
    body.press("End")
    body.press_sequentially(", Kopie folgt")
    _until_held(page, held, 1)
    held[0].continue_()
    expect(page.locator("#timeline")).to_contain_text("Police liegt vor")
    expect(page.locator("#compose-submit")).to_be_enabled()
    expect(body).to_have_value("Police liegt vor, Kopie folgt")
    # once nothing was typed meanwhile, saving empties the form as before
    body.fill("Zweite Notiz")
    body.press("Control+Enter")
    _until_held(page, held, 2)
    held[1].continue_()
    expect(body).to_have_value("")
    notes = [e["body"] for e in _entries(chronik, kunde["id"])]
    assert sorted(notes) == ["Police liegt vor", "Zweite Notiz"]


def _until_held(page: Page, held: list[Route], count: int) -> None:
    for _ in range(500):  # (the page's events reach the test only while it waits on it)
        if len(held) >= count:
            return
        page.wait_for_timeout(20)
    raise AssertionError(f"{count} saves expected, {len(held)} sent")


def _overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - innerWidth"))


def test_ctrl_enter_saves_and_the_keyboard_stays_in_the_form(chronik: ChronikServer,
                                                             page: Page) -> None:
    """Before: Ctrl+Enter in the text did nothing, and after saving (by keyboard too) the
    focus fell to the page's top (the button it was on is disabled while saving)."""
    kunde = chronik.api("POST", "/customers", {"name": "Karl Tastatur"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    page.locator("#kind-note").check()
    page.locator("#vis-internal").check()
    body = page.locator("#c-body")
    body.fill("Rückruf morgen um 9 👍🏽")
    body.press("Control+Enter")
    expect(page.locator("#timeline")).to_contain_text("Rückruf morgen um 9 👍🏽")
    expect(body).to_have_value("")
    expect(body).to_be_focused()  # ready for the next note, not back at the top

    body.fill("Zweite Notiz, gespeichert mit Cmd+Enter")
    body.press("Meta+Enter")
    expect(page.locator("#timeline")).to_contain_text("mit Cmd+Enter")
    expect(body).to_have_value("")  # (the live timeline may show it before the save answers)

    # the button, reached with Tab and pressed with Enter, keeps the focus after saving
    body.fill("Dritte Notiz per Knopf")
    page.locator("#compose-submit").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#timeline")).to_contain_text("Dritte Notiz per Knopf")
    expect(page.locator("#compose-submit")).to_be_focused()
    assert len(_entries(chronik, kunde["id"])) == 3


def test_enter_in_the_subject_goes_on_to_the_text(chronik: ChronikServer, page: Page) -> None:
    """Before: Enter after typing the subject saved the entry at once -- published and
    sent to the customer where the preset says so -- with no text."""
    kunde = chronik.api("POST", "/customers", {"name": "Susi Betreff"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    page.locator("#kind-note").check()
    page.locator("#c-subject").fill("Rückruf wegen Kündigung")
    page.locator("#c-subject").press("Enter")
    expect(page.locator("#c-body")).to_be_focused()
    page.keyboard.type("Kunde bittet um Rückruf.")
    page.wait_for_timeout(300)  # (what an Enter would have sent has had time to arrive)
    assert _entries(chronik, kunde["id"]) == []
    page.keyboard.press("Control+Enter")
    expect(page.locator("#timeline")).to_contain_text("Kunde bittet um Rückruf.")
    [entry] = _entries(chronik, kunde["id"])
    assert entry["subject"] == "Rückruf wegen Kündigung"


def test_a_key_pressed_twice_saves_once(chronik: ChronikServer, page: Page) -> None:
    kunde = chronik.api("POST", "/customers", {"name": "Doppel Klick"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    page.locator("#kind-note").check()
    page.locator("#vis-internal").check()
    page.locator("#c-body").fill("Nur einmal, bitte")
    # two presses faster than the server answers (a bouncing key, an impatient agent)
    page.locator("#c-body").evaluate("""(body) => { for (let i = 0; i < 2; i++)
        body.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", ctrlKey: true,
                                                         bubbles: true})); }""")
    expect(page.locator("#timeline")).to_contain_text("Nur einmal, bitte")
    wait_until(lambda: _entries(chronik, kunde["id"]) or None, timeout=5, what="the note")
    page.wait_for_timeout(500)
    assert len(_entries(chronik, kunde["id"])) == 1


def test_long_words_do_not_widen_the_page(chronik: ChronikServer, mail_sink: MailSink,
                                          page: Page) -> None:
    """Before: a customer named with a long compound word, or a subject or link without a
    space, made the customer page, the search and the portal's list as wide as that word
    (up to 4,000 px on a 360 px phone): the history scrolled sideways."""
    kunde = chronik.api("POST", "/customers", {
        "name": f"Dr. {LONG} von Hohenzollern",
        "emails": [f"{'x' * 60}@sehr-lange-domain-zum-testen-der-umbrueche.example"]})
    chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "published", "notify": False,
        "subject": LONG + LONG, "body": f"https://example.com/{LONG}/{LONG} 😀"})
    sign_in(page, chronik, AGENT_EMAIL)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        for path in (f"/customers/{kunde['id']}", "/search?q=Donaudampfschifffahrt*",
                     "/find?q=Hohenzollern"):
            page.goto(chronik.url(path))
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            assert _overflow(page) <= 0, f"{path} at {width}px scrolls sideways"

    portal = page.context.browser.new_context(viewport={"width": 360, "height": 740})  # type: ignore[union-attr]
    try:
        phone = portal.new_page()
        _portal_sign_in(phone, chronik, mail_sink, kunde["identities"][0]["value"])
        for path in ("/portal/", "/portal/data"):
            phone.goto(chronik.url(path))
            expect(phone.get_by_role("heading", level=1)).to_be_visible()
            assert _overflow(phone) <= 0, f"{path} scrolls sideways on a phone"
        phone.goto(chronik.url("/portal/"))
        phone.get_by_role("link", name=re.compile("Donaudampf")).first.click()
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        assert _overflow(phone) <= 0, "an item with a long subject scrolls sideways"
    finally:
        portal.close()


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_a_dark_screen_gets_a_dark_page_that_stays_readable(
        chronik: ChronikServer, mail_sink: MailSink, browser: Any, axe: Any) -> None:
    """Before: an agent or customer whose system is in dark mode got the glaring white page
    (and, late in a shift, a white flash on every click). Now the page follows the system's
    colour scheme; axe finds no contrast problem in it (internal stripes, badges, hits)."""
    kunde = chronik.api("POST", "/customers", {"name": "Nora Nachtschicht",
                                               "emails": ["nora@kunde.test"]})
    chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "subject": "Intern: Rückruf",
        "body": "Nachts erreichbar"})
    chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "published", "notify": False,
        "subject": "Vertrag verlängert", "body": "Ihr Vertrag läuft bis 2028."})
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(chronik.url("/signin"))
        assert _luminance(page.evaluate("getComputedStyle(document.body).backgroundColor")) < 0.2
        axe.assert_clean(page)
        sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
        for path in (f"/customers/{kunde['id']}", "/search?q=Vertrag", "/waiting",
                     "/settings"):
            page.goto(chronik.url(path))
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert _luminance(background) < 0.2, f"{path}: {background}"
            axe.assert_clean(page)
        portal = context.browser.new_context(color_scheme="dark")  # type: ignore[union-attr]
        try:
            phone = portal.new_page()
            _portal_sign_in(phone, chronik, mail_sink, "nora@kunde.test")
            for path in ("/portal/", "/portal/preferences", "/portal/write"):
                phone.goto(chronik.url(path))
                background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
                assert _luminance(background) < 0.2, f"{path}: {background}"
                axe.assert_clean(phone)
        finally:
            portal.close()
        # paper stays white
        page.emulate_media(media="print")
        page.goto(chronik.url(f"/customers/{kunde['id']}"))
        assert page.evaluate("getComputedStyle(document.querySelector('.card'))"
                             ".backgroundColor") == "rgb(255, 255, 255)"
    finally:
        context.close()


def test_forced_colours_still_show_the_highlighted_entry(chronik: ChronikServer,
                                                         browser: Any) -> None:
    """Windows' contrast themes drop shadows: the entry a search hit or a link opened was
    marked by a shadow only, and showed nothing."""
    kunde = chronik.api("POST", "/customers", {"name": "Hanna Kontrast"})
    entry = chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "body": "Gesucht und gefunden"})
    context = browser.new_context(forced_colors="active")
    try:
        page = context.new_page()
        sign_in(page, chronik, AGENT_EMAIL,
                f"/customers/{kunde['id']}?focus={entry['id']}%23e-{entry['id']}")
        page.goto(chronik.url(f"/customers/{kunde['id']}?focus={entry['id']}#e-{entry['id']}"))
        item = page.locator(f"#e-{entry['id']}")
        expect(item).to_have_class(re.compile("highlight"))
        assert item.evaluate("(el) => getComputedStyle(el).outlineStyle") != "none"
    finally:
        context.close()


def test_back_after_a_wrong_password_and_the_right_one(chronik: ChronikServer,
                                                       page: Page) -> None:
    """Before: a link to a customer, one typo in the password, then the right one: the
    console opened the start page instead of the customer (the link was forgotten), and
    Back showed Chromium's "Confirm Form Resubmission" page. Now the link is kept through
    any number of tries, and Back shows the sign-in page saying who is signed in."""
    kunde = chronik.api("POST", "/customers", {"name": "Tina Tippfehler"})
    target = f"/customers/{kunde['id']}?kind=note"
    page.goto(chronik.url(target))
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(AGENT_EMAIL)
    page.get_by_label(re.compile("Passwort|Password")).fill("falsch!")
    page.get_by_label(re.compile("Passwort|Password")).press("Enter")
    expect(page.get_by_role("status")).to_contain_text(re.compile("stimmt nicht|Wrong"))
    page.reload()  # a reload of the refused form sends nothing again
    expect(page.get_by_label(re.compile("Passwort|Password"))).to_be_visible()
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(AGENT_EMAIL)
    page.get_by_label(re.compile("Passwort|Password")).fill(PASSWORD)
    page.get_by_label(re.compile("Passwort|Password")).press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tina Tippfehler")
    assert page.url.endswith(target)
    page.go_back()  # raises net::ERR_CACHE_MISS on the resubmission page
    expect(page.locator("#carry-on")).to_be_visible()
    page.locator("#carry-on").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tina Tippfehler")


def test_back_after_a_refused_profile_change_and_the_right_one(chronik: ChronikServer,
                                                              page: Page) -> None:
    """Before: an address typed wrong on the profile ("kein-at-zeichen"), corrected and
    saved, then Back: Chromium's "Confirm Form Resubmission" page (the refused form's
    answer). Now Back shows the customer, and a reload there sends nothing."""
    kunde = chronik.api("POST", "/customers", {"name": "Paul Profil"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    page.locator("details:has(#id-kind) > summary").click()
    page.locator("#id-kind").select_option("email")
    page.locator("#id-value").fill("kein-at-zeichen")
    page.locator("#id-value").press("Enter")
    expect(page.locator("#profile-error")).to_be_visible()  # (the answer is there: the value
    expect(page.locator("#id-value")).to_have_value("kein-at-zeichen")  # was typed before it)
    expect(page).to_have_url(re.compile(f"/customers/{kunde['id']}$"))  # the customer's own
    page.locator("#id-value").fill("paul@kunde.test")  # address (set by the page's script)
    page.locator("#id-value").press("Enter")
    expect(page.locator("#customer-name")).to_be_visible()
    expect(page.locator("#profile")).to_contain_text("paul@kunde.test")
    page.go_back()  # raised net::ERR_CACHE_MISS
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paul Profil")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paul Profil")
    identities = chronik.api("GET", f"/customers/{kunde['id']}")["identities"]
    assert [i["value"] for i in identities] == ["paul@kunde.test"]


def test_a_screen_reader_hears_who_is_calling(chronik: ChronikServer, page: Page,
                                              axe: Any) -> None:
    """Before: the banner was its own live region, hidden until the call came; a region
    that appears together with its content is not announced by screen readers (and when
    it is, the whole banner -- facts, contacts, forms -- is read out). Now a live region
    that is always there says who calls, in one line; an unknown number too."""
    kunde = chronik.api("POST", "/customers", {"name": "Lea Vorleser",
                                               "phones": ["0171 5550123"]})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    region = page.locator("#call-announce")
    assert region.get_attribute("role") == "alert"
    assert region.evaluate("(el) => !el.closest('[hidden]') && el.isConnected")
    cti(chronik, {"event": "newCall", "callId": "sr-1", "from": "+49 171 5550123",
                  "to": "+49 30 5555", "direction": "in"})
    expect(region).to_have_text(re.compile(r"^(Klingelt|Ringing).*: Lea Vorleser \(\+49"))
    expect(page.locator("#caller-banner")).not_to_have_attribute("aria-live", "assertive")
    cti(chronik, {"event": "newCall", "callId": "sr-2", "from": "+49 171 5550999",
                  "to": "+49 30 5555", "direction": "in"})
    expect(region).to_have_text(re.compile(r"^(Klingelt|Ringing).*: \+491715550999$"))
    axe.assert_clean(page)


def test_a_device_in_another_time_zone_is_told_and_can_switch(chronik: ChronikServer,
                                                               browser: Any) -> None:
    """Before: an agent working from New York saw every time in Berlin's, unmarked -- a
    call-back noted for "14:00" was six hours off. Now a line says which zone the times are
    in and offers the device's; "Keep it" silences it for the tab. A device whose clock
    shows the same time under another zone's name (Vienna) gets no line."""
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    try:
        page = context.new_page()
        sign_in(page, chronik, AGENT_EMAIL, "/waiting")
        note = page.locator("#zone-note")
        expect(note).to_contain_text("Europe/Berlin")
        expect(note).to_contain_text("America/New_York")
        note.get_by_role("link").click()
        expect(page.locator("#st-tz")).to_have_value("America/New_York")
        page.locator("#settings-form button[type=submit]").last.click()
        expect(page.get_by_role("status")).to_be_visible()
        page.goto(chronik.url("/waiting"))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("#zone-note")).to_have_count(0)
    finally:
        context.close()
    context = browser.new_context(timezone_id="Europe/Vienna")
    try:
        page = context.new_page()
        sign_in(page, chronik, ADMIN_EMAIL, "/complaints")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("#zone-note")).to_have_count(0)
    finally:
        context.close()
    context = browser.new_context(timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        sign_in(page, chronik, ADMIN_EMAIL, "/complaints")
        expect(page.locator("#zone-note")).to_contain_text("Asia/Tokyo")
        page.locator("#zone-note").get_by_role("button").click()
        expect(page.locator("#zone-note")).to_have_count(0)
        page.goto(chronik.url("/"))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("#zone-note")).to_have_count(0)  # kept quiet in this tab
    finally:
        context.close()


def test_a_file_let_go_beside_the_form_is_attached(chronik: ChronikServer,
                                                   page: Page) -> None:
    """Before: a file dragged from the desktop and let go over the history (beside the
    compose form) was opened by the browser in place of the console."""
    kunde = chronik.api("POST", "/customers", {"name": "Olaf Ablage"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    page.locator("#customer-name").evaluate("""(target) => {
        const data = new DataTransfer();
        data.items.add(new File(["%PDF-1.4\\n%%EOF\\n"], "Schadensmeldung Müller.pdf",
                                {type: "application/pdf"}));
        const drop = new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                            cancelable: true});
        target.dispatchEvent(drop);
        window.__dropTaken = drop.defaultPrevented;
    }""")
    assert page.evaluate("window.__dropTaken")  # the browser does not open the file
    names = page.locator("#c-files").evaluate("(i) => [...i.files].map(f => f.name)")
    assert names == ["Schadensmeldung Müller.pdf"]
    expect(page.locator("#kind-document")).to_be_checked()


def test_landmarks_are_named_and_headings_in_order(chronik: ChronikServer, browser: Any,
                                                   axe: Any) -> None:
    """Before (axe, moderate): two unnamed search landmarks on the start page and the
    search page (a screen reader's landmark list showed "search" twice), hits as h3 right
    under the h1. Now every landmark is told apart and the headings step down; the
    time-zone line is a landmark of its own."""
    kunde = chronik.api("POST", "/customers", {"name": "Lars Landmarke"})
    chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "subject": "Orientierung",
        "body": "Landmarken und Überschriften"})
    context = browser.new_context(timezone_id="Asia/Tokyo")  # (not the zone set above)
    try:
        page = context.new_page()
        sign_in(page, chronik, AGENT_EMAIL, "/")
        expect(page.locator("#zone-note")).to_be_visible()
        for path in ("/", "/search?q=Orientierung", f"/customers/{kunde['id']}"):
            page.goto(chronik.url(path))
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            axe.assert_clean(page, impacts=("moderate", "serious", "critical"))
    finally:
        context.close()


def test_a_link_to_a_spot_on_a_page_lands_there_after_signing_in(chronik: ChronikServer,
                                                                   page: Page) -> None:
    """Before: a link to "#compose" (the caller banner's) or to one entry ("#e-…"), opened
    signed out -- in a new tab, from a colleague's chat --, landed at the top of the page
    after signing in: the part after # never reached the server."""
    kunde = chronik.api("POST", "/customers", {"name": "Anke Anker"})
    entry = chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "body": "Genau dieser Eintrag"})
    page.goto(chronik.url(f"/customers/{kunde['id']}#e-{entry['id']}"))
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(AGENT_EMAIL)
    page.get_by_label(re.compile("Passwort|Password")).fill(PASSWORD)
    page.get_by_label(re.compile("Passwort|Password")).press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anke Anker")
    assert page.url.endswith(f"/customers/{kunde['id']}#e-{entry['id']}"), page.url
    expect(page.locator(f"#e-{entry['id']}")).to_have_class(re.compile("highlight"))


def test_a_link_to_an_entry_further_back_opens_the_history_there(chronik: ChronikServer,
                                                                  page: Page) -> None:
    """Before: "↳ in reply to an earlier entry" (and the same link opened in a new tab) did
    nothing when that entry was further back than the first page of the history."""
    kunde = chronik.api("POST", "/customers", {"name": "Fritz Faden"})
    first = chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "subject": "Ursprüngliche Frage",
        "body": "Wie war das mit der Police?"})
    for n in range(32):
        chronik.api("POST", f"/customers/{kunde['id']}/entries", {
            "kind": "note", "visibility": "internal", "body": f"Zwischendurch {n}"})
    chronik.api("POST", f"/customers/{kunde['id']}/entries", {
        "kind": "note", "visibility": "internal", "body": "Die Antwort darauf",
        "in_reply_to": first["id"]})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    assert page.locator(f"#e-{first['id']}").count() == 0  # further back
    page.locator(f"a[href='#e-{first['id']}']").first.click()
    target = page.locator(f"#e-{first['id']}")
    expect(target).to_contain_text("Ursprüngliche Frage")
    expect(target).to_be_in_viewport()
    assert f"focus={first['id']}" in page.url

    # the same link opened on its own (a new tab: the page's address with #e-…)
    fresh = page.context.new_page()
    fresh.goto(chronik.url(f"/customers/{kunde['id']}#e-{first['id']}"))
    expect(fresh.locator(f"#e-{first['id']}")).to_contain_text("Ursprüngliche Frage")
    fresh.close()


def test_loading_more_by_keyboard_goes_on_at_the_first_entry_loaded(chronik: ChronikServer,
                                                                     page: Page) -> None:
    """Before: Enter on "more" at the end of the history loaded the older entries and the
    link went away -- and with it the focus, back to the top of the page."""
    kunde = chronik.api("POST", "/customers", {"name": "Mia Mehr"})
    for n in range(34):
        chronik.api("POST", f"/customers/{kunde['id']}/entries", {
            "kind": "note", "visibility": "internal", "body": f"Eintrag Nummer {n}"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    more = page.locator("#more")
    more.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#timeline > li")).to_have_count(34)
    focused = page.evaluate("document.activeElement.dataset.id || document.activeElement.id")
    assert focused and focused != "main", focused
    expect(page.locator("#timeline > li:focus")).to_contain_text("Eintrag Nummer 3")


def test_a_file_over_the_limit_is_named_before_sending(chronik: ChronikServer,
                                                       page: Page) -> None:
    """Before: a video of 30 MB was uploaded whole, then refused ("too large"); over a slow
    line that took minutes, or ended in a broken connection. Now it is named as it is
    picked, and nothing is sent until the files fit."""
    kunde = chronik.api("POST", "/customers", {"name": "Gero Groß"})
    sign_in(page, chronik, AGENT_EMAIL, f"/customers/{kunde['id']}")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST"
            and r.url.endswith("/entries") else None)
    page.locator("#kind-document").check()
    page.locator("#c-files").evaluate("""(picker) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(26 * 1024 * 1024)], "Schaden Video.mp4",
                                {type: "video/mp4"}));
        picker.files = data.files;
        picker.dispatchEvent(new Event("change", {bubbles: true}));
    }""")
    error = page.locator("#c-files-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("25 MB")
    expect(page.locator("#compose-status")).to_contain_text("25 MB")
    page.locator("#compose-submit").click()
    expect(page.locator("#c-files")).to_be_focused()
    assert sent == []
    page.locator("#c-files").set_input_files([])
    expect(error).to_be_hidden()


def test_the_tab_says_that_the_phone_rings(chronik: ChronikServer, page: Page) -> None:
    """Before: with the console in a tab behind others (mail, the office suite) a ringing
    phone showed nothing where the agent was looking: the banner is inside the page. Now
    the tab's title says who calls, and goes back when the call is put away."""
    chronik.api("POST", "/customers", {"name": "Tara Tab", "phones": ["0171 5557777"]})
    sign_in(page, chronik, AGENT_EMAIL, "/waiting")
    before = page.title()
    cti(chronik, {"event": "newCall", "callId": "tab-1", "from": "+49 171 5557777",
                  "to": "+49 30 5555", "direction": "in"})
    expect(page).to_have_title(re.compile(r"^☎ .*Tara Tab.*" + re.escape(before) + "$"))
    page.keyboard.press("Escape")
    expect(page).to_have_title(before)
