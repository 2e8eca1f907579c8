"""The customer portal in a real browser, with the agent console open beside it: a
notification e-mail's portal link leads through sign-in by one-time code (captured from the
SMTP sink) to the item; the customer sees the published note, never the internal one,
answers with a file and opts out of automatic notifications — and the agent's open
timeline shows both live, without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.focus import assert_focus_stands_out
from tests.browser.test_console_e2e import sign_in
from tests.support.live_server import (
    ChronikServer,
    MailSink,
    message_text,
    start_chronik,
    wait_until,
)

CODE = re.compile(r"\b(\d{6})\b")
UPLOAD_LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def chronik(tmp_path_factory: pytest.TempPathFactory,
            mail_sink: MailSink) -> Iterator[ChronikServer]:
    """This module's server, with a small upload limit (a file over it is quick to make)."""
    with start_chronik(tmp_path_factory.mktemp("chronik"), mail_sink.port,
                       env={"CHRONIK_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}) as server:
        yield server


def test_customer_reads_answers_and_opts_out_while_the_agent_watches(
        chronik: ChronikServer, mail_sink: MailSink, browser: Browser, page: Page,
        axe: Any, screenshot: Any, tmp_path: Path) -> None:
    erika = chronik.api("POST", "/customers", {"name": "Erika Mustermann",
                                                "emails": ["erika@kunde.test"]})
    cid = erika["id"]
    note = chronik.api("POST", f"/customers/{cid}/entries", {
        "kind": "note", "subject": "Ihr Angebot Hausrat",
        "body": "Anbei unser Angebot mit Glasbruchschutz.", "visibility": "published",
        "notify": True}, token=chronik.agent_token)
    chronik.api("POST", f"/customers/{cid}/entries", {
        "kind": "note", "subject": "Provision prüfen", "body": "Nur für uns: Rückforderung?",
        "visibility": "internal"}, token=chronik.agent_token)

    # the agent keeps Erika's timeline open in another browser
    agent_context = browser.new_context(viewport={"width": 1280, "height": 800})
    agent = agent_context.new_page()
    sign_in(agent, chronik, next_path=f"/customers/{cid}")
    agent_timeline = agent.locator("#timeline")
    expect(agent_timeline).to_contain_text("Provision prüfen")

    # the notification e-mail links to the item in the portal
    notification = mail_sink.wait_for("erika@kunde.test",
                                      match=lambda m: "Hausrat" in message_text(m))
    link = re.search(r"https?://\S+/portal/entries/" + note["id"], message_text(notification))
    assert link, message_text(notification)

    page.goto(link.group(0))
    expect(page).to_have_url(re.compile(r"/portal/signin"))
    axe.assert_clean(page)
    screenshot(page, "portal-signin")
    page.get_by_label(re.compile("E-Mail|E-mail")).fill("erika@kunde.test")
    page.get_by_role("button", name=re.compile("Code anfordern|Send me a code")).click()
    code_mail = mail_sink.wait_for(
        "erika@kunde.test", match=lambda m: "code" in str(m["Subject"]).lower())
    code = CODE.search(message_text(code_mail))
    assert code, message_text(code_mail)
    expect(page.get_by_label(re.compile("Code"))).to_be_visible()
    axe.assert_clean(page)
    page.get_by_label(re.compile("Code")).fill(code.group(1))
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page).to_have_url(re.compile(f"/portal/entries/{note['id']}"))
    expect(page.locator("main")).to_contain_text("Glasbruchschutz")
    cookie = next(c for c in page.context.cookies() if c["name"] == "chronik_portal")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/portal"

    # the list: the published note, never the internal one
    page.goto(chronik.url("/portal/"))
    expect(page.locator("main")).to_contain_text("Ihr Angebot Hausrat")
    expect(page.locator("main")).not_to_contain_text("Provision")
    expect(page.locator("main")).not_to_contain_text("Rückforderung")
    axe.assert_clean(page)
    screenshot(page, "portal-messages")
    # agent pages and the agent API stay closed to a portal session
    page.goto(chronik.url(f"/customers/{cid}"))
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.goto(chronik.url("/portal/"))

    # answer with a file
    photo = tmp_path / "ceranfeld.pdf"
    photo.write_bytes(b"%PDF-1.4\n% Foto vom Ceranfeld\n%%EOF\n")
    page.goto(chronik.url("/portal/write"))
    page.get_by_label(re.compile("^(Betreff|Subject)")).fill("Frage zum Glasbruch")
    page.get_by_label(re.compile("Ihre Nachricht|Your message")).fill(
        "Gilt der Schutz auch für das Ceranfeld?")
    page.get_by_label(re.compile("Dateien|files")).set_input_files(photo)
    axe.assert_clean(page)
    page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
    expect(page.get_by_text(re.compile("Ihre Nachricht ist eingegangen|has been received"))
           ).to_be_visible()
    expect(agent_timeline.locator(".item").first).to_contain_text("Frage zum Glasbruch")
    expect(agent_timeline.locator(".item").first).to_contain_text("ceranfeld.pdf")

    # opt out of automatic notifications
    page.goto(chronik.url("/portal/preferences"))
    axe.assert_clean(page)
    screenshot(page, "portal-preferences")
    page.get_by_label(re.compile("Keine automatischen|No automatic")).check()
    page.get_by_role("button", name=re.compile("^(Speichern|Save)$")).click()
    expect(page.get_by_role("status").first).to_be_visible()
    prefs = chronik.api("GET", f"/customers/{cid}/preferences")
    assert prefs["automatic_notifications"] is False
    expect(agent_timeline).to_contain_text(re.compile("automatic notifications: off", re.I))
    screenshot(agent, "timeline-live")
    agent_context.close()

    # the remaining portal screens pass axe too
    for path in ("/portal/data", f"/portal/entries/{note['id']}", f"/portal/write?re={note['id']}"):
        page.goto(chronik.url(path))
        axe.assert_clean(page)
    expect(page.get_by_label(re.compile("^(Betreff|Subject)"))).to_have_value(
        "Re: Ihr Angebot Hausrat")
    page.goto(chronik.url("/portal/data"))
    screenshot(page, "portal-data")

    # honoured at send time: the next published note is not mailed (suppressed)
    later = chronik.api("POST", f"/customers/{cid}/entries", {
        "kind": "note", "subject": "Noch ein Hinweis", "body": "Bitte beachten.",
        "visibility": "published", "notify": True})
    jobs = _wait_job(chronik, cid, later["id"])
    assert jobs["status"] == "suppressed"
    assert not [m for m in mail_sink.to("erika@kunde.test") if "Noch ein Hinweis" in
                message_text(m)]


def _wait_job(chronik: ChronikServer, customer_id: str, entry_id: str) -> dict[str, Any]:
    from tests.support.live_server import wait_until

    def done() -> dict[str, Any] | None:
        for job in chronik.api("GET", f"/notifications?customer={customer_id}")["items"]:
            if job["entry_id"] == entry_id and job["status"] not in ("pending", "sending"):
                return dict(job)
        return None
    return wait_until(done, timeout=10, what="the notification job to finish")


def _portal_sign_in(page: Page, chronik: ChronikServer, mail_sink: MailSink,
                    email: str) -> None:
    def codes() -> list[Any]:
        return [m for m in mail_sink.to(email) if "code" in str(m["Subject"]).lower()]

    before = len(codes())
    page.goto(chronik.url("/portal/signin"))
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(email)
    page.get_by_role("button", name=re.compile("Code anfordern|Send me a code")).click()
    wait_until(lambda: len(codes()) > before or None, timeout=10, what="a new sign-in code")
    code = CODE.search(message_text(codes()[-1]))
    assert code, message_text(codes()[-1])
    page.get_by_label(re.compile("Code")).fill(code.group(1))
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page).to_have_url(re.compile(r"/portal/?$"))


def test_a_message_being_written_survives_leaving_and_ends_with_signing_out(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    chronik.api("POST", "/customers", {"name": "Paula Portal",
                                       "emails": ["paula@kunde.test"]})
    _portal_sign_in(page, chronik, mail_sink, "paula@kunde.test")
    page.goto(chronik.url("/portal/write"))
    subject = page.get_by_label(re.compile("^(Betreff|Subject)"))
    body = page.get_by_label(re.compile("Ihre Nachricht|Your message"))
    subject.fill("Umzug")
    body.fill("Ab dem 1. März wohne ich in der Lindenstraße 5, bitte")
    page.goto(chronik.url("/portal/preferences"))  # clicked elsewhere, or the session ran out
    page.goto(chronik.url("/portal/write"))
    expect(subject).to_have_value("Umzug")
    expect(body).to_have_value("Ab dem 1. März wohne ich in der Lindenstraße 5, bitte")
    page.get_by_role("button", name=re.compile(r"^(Abmelden|Sign out)$")).click()
    # the "signed out" page, loaded as a person sees it (its script drops the draft; going
    # on before the page has loaded would skip it -- a race of the test, not of a person)
    expect(page.locator("[data-signed-out]")).to_be_visible()
    page.wait_for_load_state("load")
    _portal_sign_in(page, chronik, mail_sink, "paula@kunde.test")
    page.goto(chronik.url("/portal/write"))  # signed out: nothing left for the next person
    expect(subject).to_have_value("")
    expect(body).to_have_value("")
    body.fill("Kurze Frage")
    page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
    expect(page.get_by_text(re.compile("Ihre Nachricht ist eingegangen|has been received"))
           ).to_be_visible()
    page.goto(chronik.url("/portal/write"))  # sent: the draft is done with
    expect(body).to_have_value("")


def test_the_portal_fits_a_phone(chronik: ChronikServer, mail_sink: MailSink, page: Page,
                                 axe: Any) -> None:
    """Customers mostly come from the link in a notification, on their phone."""
    chronik.api("POST", "/customers", {"name": "Frieda Handy-Nutzerin mit langem Namen",
                                       "emails": ["frieda@kunde.test"]})
    page.set_viewport_size({"width": 360, "height": 740})
    _portal_sign_in(page, chronik, mail_sink, "frieda@kunde.test")
    for path in ("/portal/", "/portal/write", "/portal/preferences", "/portal/data"):
        page.goto(chronik.url(path))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways on a phone ({width}px)"
        axe.assert_clean(page)



# ---------------------------------------------------------------- forms as people use them
def _codes(mail_sink: MailSink, email: str) -> list[Any]:
    return [m for m in mail_sink.to(email) if "code" in str(m["Subject"]).lower()]


def _ask_for_code(page: Page, chronik: ChronikServer, mail_sink: MailSink, email: str) -> str:
    before = len(_codes(mail_sink, email))
    page.goto(chronik.url("/portal/signin"))
    page.get_by_label(re.compile("E-Mail|E-mail")).fill(email)
    page.get_by_role("button", name=re.compile("Code anfordern|Send me a code")).click()
    wait_until(lambda: len(_codes(mail_sink, email)) > before or None, timeout=10,
               what="a new sign-in code")
    code = CODE.search(message_text(_codes(mail_sink, email)[-1]))
    assert code, message_text(_codes(mail_sink, email)[-1])
    expect(page.get_by_label(re.compile("Code"))).to_be_visible()
    return code.group(1)


def _messages(chronik: ChronikServer, customer_id: str) -> list[dict[str, Any]]:
    page = chronik.api("GET", f"/customers/{customer_id}/timeline?channel=portal&limit=50")
    return [e for e in page["items"] if e["kind"] == "message"]


def test_back_after_a_wrong_code_and_the_right_one(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    """No "Confirm Form Resubmission": every form answers with a redirect to a page."""
    chronik.api("POST", "/customers", {"name": "Berta Back", "emails": ["berta@kunde.test"]})
    code = _ask_for_code(page, chronik, mail_sink, "berta@kunde.test")
    page.get_by_label(re.compile("Code")).fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page.get_by_role("alert")).to_contain_text(re.compile("stimmt nicht|is wrong"))
    page.get_by_label(re.compile("Code")).fill(code)
    page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
    expect(page).to_have_url(re.compile(r"/portal/?$"))
    page.go_back()  # to the page that said "wrong code": a GET, so no resubmission
    expect(page).to_have_url(re.compile(r"/portal/"))
    assert not page.url.startswith("chrome-error:"), page.url
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_code_as_a_phone_or_a_paste_gives_it(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    """The field takes what the server takes: full-width or Arabic-Indic digits, a pasted
    non-breaking space (no over-strict ``pattern`` that stops the form)."""
    chronik.api("POST", "/customers", {"name": "Hana Handy", "emails": ["hana@kunde.test"]})
    for typed in (lambda c: c.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                  lambda c: c.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                  lambda c: f"{c[:3]}\u00a0{c[3:]}"):
        code = _ask_for_code(page, chronik, mail_sink, "hana@kunde.test")
        field = page.get_by_label(re.compile("Code"))
        expect(field).to_have_attribute("inputmode", "numeric")
        expect(field).to_have_attribute("autocomplete", "one-time-code")
        field.fill(typed(code))
        page.get_by_role("button", name=re.compile("^(Anmelden|Sign in)$")).click()
        expect(page).to_have_url(re.compile(r"/portal/?$"))
        page.get_by_role("button", name=re.compile(r"^(Abmelden|Sign out)$")).click()
        expect(page.locator("[data-signed-out]")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_back_after_sending_does_not_send_twice(
        chronik: ChronikServer, mail_sink: MailSink, browser: Browser,
        javascript: bool) -> None:
    email = f"rita.{'js' if javascript else 'nojs'}@kunde.test"
    rita = chronik.api("POST", "/customers", {"name": "Rita Zurück", "emails": [email]})
    context = browser.new_context(java_script_enabled=javascript)
    try:
        page = context.new_page()
        _portal_sign_in(page, chronik, mail_sink, email)
        page.goto(chronik.url("/portal/write"))
        page.get_by_label(re.compile("^(Betreff|Subject)")).fill("Einmal bitte")
        page.get_by_label(re.compile("Ihre Nachricht|Your message")).fill("Nur ein Mal.")
        page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
        expect(page.get_by_text(re.compile("Ihre Nachricht ist eingegangen|has been received"))
               ).to_be_visible()
        page.go_back()
        send = page.get_by_role("button", name=re.compile("^(Senden|Send)$"))
        expect(page.get_by_role("status")).to_contain_text(
            re.compile("bereits gesendet|already sent"))
        if send.count():  # whatever the page offers: sending it again is the same message
            send.click()
        assert len(_messages(chronik, rita["id"])) == 1
        page.get_by_role("link", name=re.compile("Nachricht ansehen|See the message")).click()
        expect(page.locator("main")).to_contain_text("Nur ein Mal.")
    finally:
        context.close()


def _write_with_a_big_photo(page: Page, chronik: ChronikServer, mail_sink: MailSink,
                            name: str, address: str, text: str, subject: str = "") -> None:
    """A new customer signed in on the write page, with ``text`` typed and a photo one
    byte over the upload limit chosen."""
    chronik.api("POST", "/customers", {"name": name, "emails": [address]})
    _portal_sign_in(page, chronik, mail_sink, address)
    page.goto(chronik.url("/portal/write"))
    if subject:
        page.get_by_label(re.compile("^(Betreff|Subject)")).fill(subject)
    page.get_by_label(re.compile("Ihre Nachricht|Your message")).fill(text)
    page.get_by_label(re.compile("Dateien|files")).set_input_files(
        {"name": "foto.jpg", "mimeType": "image/jpeg", "buffer": b"\xff" * (UPLOAD_LIMIT + 1)})


def test_a_file_over_the_limit_is_caught_before_sending(
        chronik: ChronikServer, mail_sink: MailSink, page: Page, axe: Any) -> None:
    _write_with_a_big_photo(page, chronik, mail_sink, "Gerd Groß", "gerd@kunde.test",
                            "Foto anbei")
    files = page.get_by_label(re.compile("Dateien|files"))
    alert = page.locator("#portal-write [role=alert]")
    expect(alert).to_contain_text(re.compile("zu groß|too large"))
    url = page.url
    page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
    expect(alert).to_be_visible()
    assert page.url == url  # not sent
    expect(files).to_be_focused()
    axe.assert_clean(page)


def test_a_file_over_the_limit_without_script_keeps_the_text(
        chronik: ChronikServer, mail_sink: MailSink, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        _write_with_a_big_photo(page, chronik, mail_sink, "Nina Ohne", "nina@kunde.test",
                                "Siehe Foto, bitte.", subject="Schaden")
        page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
        expect(page.get_by_role("alert")).to_contain_text(re.compile("zu groß|too large"))
        expect(page.get_by_label(re.compile("^(Betreff|Subject)"))).to_have_value("Schaden")
        expect(page.get_by_label(re.compile("Ihre Nachricht|Your message"))).to_have_value(
            "Siehe Foto, bitte.")
    finally:
        context.close()


def test_a_long_paste_is_not_cut_silently(
        chronik: ChronikServer, mail_sink: MailSink, page: Page, axe: Any) -> None:
    chronik.api("POST", "/customers", {"name": "Lena Lang", "emails": ["lena@kunde.test"]})
    _portal_sign_in(page, chronik, mail_sink, "lena@kunde.test")
    page.goto(chronik.url("/portal/write"))
    body = page.get_by_label(re.compile("Ihre Nachricht|Your message"))
    body.fill("x" * 95_000)
    counter = page.locator("#write-body-count")
    expect(counter).to_contain_text(re.compile(r"95[.,]000"))
    body.fill("x" * 100_010)
    assert body.evaluate("e => e.value.length") == 100_010  # nothing cut off
    expect(counter).to_contain_text(re.compile("10 Zeichen zu lang|10 characters too long"))
    url = page.url
    page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
    assert page.url == url  # not sent
    expect(body).to_be_focused()
    axe.assert_clean(page)


def test_back_after_a_refused_message_and_the_sent_one(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    """A refused form comes back as a page with the text (it cannot be a redirect); the
    script makes its history entry the form's own address, so Back asks nothing."""
    leo = chronik.api("POST", "/customers", {"name": "Leo Leer", "emails": ["leo@kunde.test"]})
    _portal_sign_in(page, chronik, mail_sink, "leo@kunde.test")
    page.goto(chronik.url("/portal/write"))
    page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()  # nothing written
    expect(page.get_by_role("alert").first).to_contain_text(
        re.compile("Bitte schreiben Sie|Please write"))
    expect(page).to_have_url(re.compile(r"/portal/write\?key="))
    page.get_by_label(re.compile("Ihre Nachricht|Your message")).fill("Jetzt mit Text.")
    page.get_by_role("button", name=re.compile("^(Senden|Send)$")).click()
    expect(page.get_by_text(re.compile("Ihre Nachricht ist eingegangen|has been received"))
           ).to_be_visible()
    page.go_back()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile("bereits gesendet|already sent"))
    assert len(_messages(chronik, leo["id"])) == 1


# ---------------------------------------------------------------- seeing where the focus is
def test_the_keyboard_focus_stands_out_on_every_background(
        chronik: ChronikServer, mail_sink: MailSink, page: Page) -> None:
    """The focus ring was orange on white (2:1; WCAG 1.4.11 asks 3:1 for what shows the
    focus): keyboard users lost track of where they were on the portal's white cards."""
    chronik.api("POST", "/customers", {"name": "Karla Tastatur",
                                       "emails": ["karla@kunde.test"]})
    _portal_sign_in(page, chronik, mail_sink, "karla@kunde.test")
    page.goto(chronik.url("/portal/preferences"))
    checked = assert_focus_stands_out(
        page, page.locator("#pref-channel-1"),  # on a white card
        page.get_by_role("link", name=re.compile("^(Nachrichten|Messages)$")))
    assert checked[0] != checked[1]  # a light and the dark background
