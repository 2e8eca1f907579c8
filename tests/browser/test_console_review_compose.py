"""Compose in a real browser, as an agent works through a shift: the "notify customer"
preset of each entry kind holds inside a customer's thread too, the form says when a choice
is the agent's own, and a sign-in that ended mid-compose loses nothing typed or attached."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_console_e2e import cti, customer, sign_in
from tests.support.live_server import AGENT_EMAIL, ChronikServer


def test_each_kind_keeps_its_office_preset_in_a_customers_thread(chronik: ChronikServer,
                                                                 page: Page) -> None:
    """The office keeps documents internal and notes quiet. Answering a customer's entry
    ("Antworten") and then choosing "Dokument" used to keep the reply's published + notify
    (and said "your choice"): the customer was notified of an internal document."""
    chronik.api("PUT", "/policy/office", {"document": {"visibility": "internal",
                                                       "notify": False},
                                          "note": {"notify": False}})
    try:
        lisa = customer(chronik, "Lisa Faden", "0171 4440001", "lisa@kunde.test")
        said = chronik.api("POST", f"/customers/{lisa['id']}/entries", {
            "kind": "note", "subject": "Angebot verschickt", "body": "Das Angebot ist raus.",
            "visibility": "published", "notify": False})
        sign_in(page, chronik, email=AGENT_EMAIL,
                next_path=f"/customers/{lisa['id']}?reply_to={said['id']}")
        form = page.locator("#compose-form")
        notify = form.locator("#c-notify")
        source = page.locator("#preset-source")
        expect(form.locator("#kind-reply")).to_be_checked()

        form.locator("#kind-document").check()
        expect(form.locator("#vis-internal")).to_be_checked()
        expect(notify).not_to_be_checked()
        expect(source).to_contain_text(re.compile("Büros|office"))

        form.locator("#kind-note").check()
        expect(form.locator("#vis-published")).to_be_checked()
        expect(notify).not_to_be_checked()
        expect(source).to_contain_text(re.compile("Büros|office"))

        form.locator("#kind-phone_note").check()  # no office default: the system's
        expect(notify).to_be_checked()
        expect(source).to_contain_text(re.compile("System", re.IGNORECASE))

        notify.uncheck()  # the agent's own choice now, and the form says so
        expect(source).to_contain_text(re.compile("Von Ihnen|Chosen by you"))
        form.locator("#kind-document").check()  # and a kind switch keeps it
        expect(notify).not_to_be_checked()
        expect(source).to_contain_text(re.compile("Von Ihnen|Chosen by you"))

        form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Police anbei")
        form.locator("#c-files").set_input_files(files=[{
            "name": "police.pdf", "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n% Police\n"}])
        form.get_by_role("button", name=re.compile("Speichern|Save")).click()
        expect(page.locator("#compose-status")).to_contain_text(re.compile("Gespeichert|Saved"))
        saved = chronik.api("GET", f"/customers/{lisa['id']}/timeline")["items"][0]
        assert (saved["kind"], saved["notify"]) == ("document", False)
    finally:
        chronik.api("PUT", "/policy/office", {"document": None, "note": None})


def test_a_note_in_an_internal_thread_stays_internal_for_every_kind(
        chronik: ChronikServer, page: Page) -> None:
    """The other side of the rule above: in the thread of an internal entry no kind's
    published preset takes over."""
    kai = customer(chronik, "Kai Intern", "0171 4440002", "kai@kunde.test")
    remark = chronik.api("POST", f"/customers/{kai['id']}/entries", {
        "kind": "note", "subject": "Provision", "body": "Nur für uns.",
        "visibility": "internal"})
    sign_in(page, chronik, email=AGENT_EMAIL,
            next_path=f"/customers/{kai['id']}?reply_to={remark['id']}")
    form = page.locator("#compose-form")
    for kind in ("note", "phone_note", "document"):
        form.locator(f"#kind-{kind}").check()
        expect(form.locator("#vis-internal")).to_be_checked()
        expect(form.locator("#c-notify")).not_to_be_checked()


def test_signed_out_mid_compose_keeps_text_and_files_and_saves_after_signing_in(
        chronik: ChronikServer, page: Page) -> None:
    """An admin ends the agent's sessions ("sign out everywhere") while a document is half
    written. Saving says so in the agent's language, and that the text and file stay; the
    agent signs in again in another tab and saves on the same page: the document arrives,
    with its file, once. (Before, the page answered "send the page's CSRF token as
    X-CSRF-Token" and only a reload helped -- which dropped the picked file.)"""
    ida = customer(chronik, "Ida Ablauf", "0171 4440003", "ida@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL, next_path=f"/customers/{ida['id']}")
    form = page.locator("#compose-form")
    form.locator("#kind-document").check()
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Police")
    form.get_by_label(re.compile("^Text$")).fill("Anbei die neue Police.")
    form.locator("#c-files").set_input_files(files=[{
        "name": "police-2027.pdf", "mimeType": "application/pdf",
        "buffer": b"%PDF-1.4\n% Police 2027\n"}])
    tom = chronik.api("GET", "/me", token=chronik.agent_token)["agent_id"]
    chronik.cli("agent", "end-sessions", "--office", chronik.office_id, tom)

    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    status = page.locator("#compose-status")
    expect(status).to_contain_text(re.compile("abgemeldet|signed out"))
    expect(status).to_contain_text(re.compile("bleibt auf dieser Seite|stays on this page"))
    expect(page.locator("#signed-out")).to_be_visible()

    other = page.context.new_page()  # signing in again, in another tab
    sign_in(other, chronik, email=AGENT_EMAIL)
    other.close()
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(status).to_contain_text(re.compile("Gespeichert|Saved"))
    expect(page.locator("#signed-out")).to_have_count(0)
    items = chronik.api("GET", f"/customers/{ida['id']}/timeline")["items"]
    documents = [e for e in items if e["kind"] == "document"]
    assert len(documents) == 1
    assert [a["name"] for a in documents[0]["attachments"]] == ["police-2027.pdf"]
    expect(page.locator("#timeline .item").first).to_contain_text("police-2027.pdf")


def test_compose_errors_speak_the_agents_language(chronik: ChronikServer, page: Page,
                                                  tmp_path: Path) -> None:
    """An empty form and files over the upload limit are explained in the agent's language,
    not with the API's English ("an entry needs a subject, a body or a file", "upload is larger than
    26214400 bytes"); what was picked stays."""
    ole = customer(chronik, "Ole Leer", "0171 4440004", "ole@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL, next_path=f"/customers/{ole['id']}")
    form = page.locator("#compose-form")
    status = page.locator("#compose-status")
    form.locator("#kind-note").check()
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(status).to_have_text(
        re.compile("Betreff, einen Text oder eine Datei|a subject, a text or a file"))
    form.locator("#kind-document").check()
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Fotos vom Schaden")
    photo = tmp_path / "keller.jpg"  # (a file on disk: the browser reads it itself)
    photo.write_bytes(b"\xff" * (26 * 2**20))
    form.locator("#c-files").set_input_files(photo)
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(status).to_have_text(
        re.compile(r"zu groß \(höchstens 25 MB\)|too large together \(at most 25 MB\)"),
        timeout=20_000)
    assert page.evaluate("document.querySelector('#c-files').files.length") == 1
    assert chronik.api("GET", f"/customers/{ole['id']}/timeline")["items"] == []


def test_a_filtered_history_says_when_something_new_came_in(chronik: ChronikServer,
                                                            page: Page) -> None:
    """Looking at the customer's e-mails only (or an older page), a colleague's new note
    did not appear -- rightly, it is no e-mail -- and nothing said that there was one."""
    paul = customer(chronik, "Paul Filter", "0171 4440005", "paul@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL, next_path=f"/customers/{paul['id']}?channel=email")
    expect(page.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)
    chronik.api("POST", f"/customers/{paul['id']}/entries", {
        "kind": "phone_note", "subject": "Rückruf erbeten", "body": "Bitte heute noch.",
        "visibility": "internal"})
    status = page.locator("#live-status")
    newest = status.get_by_role("link", name=re.compile("neuesten|newest"))
    expect(newest).to_be_visible(timeout=10_000)
    expect(page.locator("#timeline .item")).to_have_count(0)  # the filter still holds
    newest.click()
    expect(page.locator("#timeline .item").first).to_contain_text("Rückruf erbeten")


def test_a_half_written_reply_comes_back_and_an_untouched_one_lets_go(
        chronik: ChronikServer, page: Page) -> None:
    """A reply's form starts with "Re: <subject>". Because of that subject the draft of a
    half-written reply was never restored: called away by the phone and back via
    "Antworten", the text was gone. And leaving a reply form nobody had typed in asked
    "leave the page?" every time."""
    nina = customer(chronik, "Nina Antwort", "0171 4440006", "nina@kunde.test")
    said = chronik.api("POST", f"/customers/{nina['id']}/entries", {
        "kind": "note", "subject": "Ihr Angebot", "body": "Das Angebot ist unterwegs.",
        "visibility": "published", "notify": False})
    reply_page = f"/customers/{nina['id']}?reply_to={said['id']}"
    sign_in(page, chronik, email=AGENT_EMAIL, next_path=reply_page)
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    form = page.locator("#compose-form")
    subject = form.get_by_label(re.compile("^(Betreff|Subject)$"))
    body = form.get_by_label(re.compile("^Text$"))
    expect(subject).to_have_value("Re: Ihr Angebot")
    page.goto(chronik.url("/"))  # nothing typed: nothing to ask
    assert dialogs == []

    page.goto(chronik.url(reply_page))
    body.fill("Guten Tag Frau Antwort, das Angebot gilt bis Monatsende und")
    page.goto(chronik.url("/"))
    assert dialogs == ["beforeunload"]
    page.goto(chronik.url(reply_page))
    expect(body).to_have_value("Guten Tag Frau Antwort, das Angebot gilt bis Monatsende und")
    expect(subject).to_have_value("Re: Ihr Angebot")
    expect(form.locator("#kind-reply")).to_be_checked()


def test_a_phone_note_begun_on_a_call_stays_that_calls(chronik: ChronikServer,
                                                       page: Page) -> None:
    """Called away mid-note and back to the customer another way (the waiting list, a
    search): the draft came back, but as a phone note of no call."""
    rita = customer(chronik, "Rita Anruf", "0171 4440007", "rita@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL)
    expect(page.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)
    cti(chronik, {"event": "newCall", "callId": "draft-call-1", "from": "+49 171 4440007",
                  "to": "+49 30 5555", "direction": "in"})
    page.locator("#caller-banner").get_by_role("link", name="Rita Anruf").click()
    form = page.locator("#compose-form")
    expect(form.get_by_label(re.compile("Telefonnotiz|Phone note"))).to_be_checked()
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Schaden gemeldet")
    form.get_by_label(re.compile("^Text$")).fill("Wasserschaden im Bad, Gutachter nötig")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(chronik.url("/"))
    page.goto(chronik.url(f"/customers/{rita['id']}"))  # opened again without the call
    expect(form.get_by_label(re.compile("^Text$"))).to_have_value(
        "Wasserschaden im Bad, Gutachter nötig")
    expect(page.locator("#draft-call")).to_be_visible()
    form.get_by_role("button", name=re.compile("Speichern|Save")).click()
    expect(page.locator("#compose-status")).to_contain_text(re.compile("Gespeichert|Saved"))
    items = chronik.api("GET", f"/customers/{rita['id']}/timeline")["items"]
    note = next(e for e in items if e["kind"] == "phone_note")
    call = next(e for e in items if e["kind"] == "call")
    assert note["meta"]["call_entry_id"] == call["id"]


def test_a_ringing_phone_does_not_cover_the_form_being_written(chronik: ChronikServer,
                                                               page: Page) -> None:
    """Scrolled down a long history, writing beside it: the caller banner (on top of the
    page while it scrolls) covered the top of the form -- subject, kind, the unanswered
    hint -- until dismissed."""
    lars = customer(chronik, "Lars Lang", "0171 4440008", "lars@kunde.test")
    for n in range(12):
        chronik.api("POST", f"/customers/{lars['id']}/entries", {
            "kind": "note", "subject": f"Notiz {n}", "body": "Zeile\n" * 8,
            "visibility": "internal"})
    customer(chronik, "Clara Anruferin", "0171 4440009", "clara@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL, next_path=f"/customers/{lars['id']}")
    expect(page.locator("html[data-live=connected]")).to_have_count(1, timeout=10_000)
    page.mouse.wheel(0, 1500)
    page.locator("#c-subject").fill("Begonnen")
    cti(chronik, {"event": "newCall", "callId": "cover-1", "from": "+49 171 4440009",
                  "to": "+49 30 5555", "direction": "in"})
    banner = page.locator("#caller-banner")
    expect(banner).to_contain_text("Clara Anruferin")

    def covered() -> float:
        return float(page.evaluate(
            "document.getElementById('caller-banner').getBoundingClientRect().bottom"
            " - document.querySelector('.customer-layout > aside').getBoundingClientRect().top"))

    page.wait_for_function(
        "document.getElementById('caller-banner').getBoundingClientRect().bottom"
        " <= document.querySelector('.customer-layout > aside').getBoundingClientRect().top")
    assert covered() <= 0
    page.locator("#c-body").click()  # the form still takes the keyboard and the mouse
    page.keyboard.type("weiter")
    expect(page.locator("#c-body")).to_have_value("weiter")
    banner.get_by_role("button", name=re.compile("schließen|Dismiss")).click()
    page.wait_for_function(
        "document.querySelector('.customer-layout > aside').getBoundingClientRect().top < 20")


def test_a_warned_note_is_saved_internal_in_one_step(chronik: ChronikServer,
                                                     page: Page) -> None:
    """The warning says "rephrase, keep it internal, or confirm"; keeping it internal meant
    finding the visibility further up, and "notify" with it. Now one button does it."""
    udo = customer(chronik, "Udo Unmut", "0171 4440010", "udo@kunde.test")
    sign_in(page, chronik, email=AGENT_EMAIL, next_path=f"/customers/{udo['id']}")
    form = page.locator("#compose-form")
    form.locator("#kind-note").check()
    form.get_by_label(re.compile("^(Betreff|Subject)$")).fill("Rückruf")
    form.get_by_label(re.compile("^Text$")).fill("Was für ein Querulant, wieder die alte Leier.")
    form.get_by_role("button", name=re.compile("^(Speichern|Save)$")).click()
    internal = page.get_by_role("button", name=re.compile("nur intern ablegen|internal instead"))
    expect(internal).to_be_visible()
    internal.click()
    expect(page.locator("#compose-status")).to_contain_text(re.compile("Gespeichert|Saved"))
    saved = chronik.api("GET", f"/customers/{udo['id']}/timeline")["items"][0]
    assert (saved["kind"], saved["visibility"], saved["notify"]) == ("note", "internal", False)
    expect(page.locator("#timeline .item").first).to_contain_text(re.compile("INTERN"))
