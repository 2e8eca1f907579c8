"""What the system wrote -- merge notes, preference changes, call details, quarantine reasons,
why nobody is notified, error pages -- read in the agent's chosen language. The stored text
stays English (API, search, export); the pages render it from the entry's structured meta."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chronik.preferences import (
    Change,
    PreferenceChange,
    apply_preferences,
    record_preference_change,
)
from connectors.email.errors import MailParseError
from connectors.email.inbound import quarantine_reason
from tests.notify.conftest import NOTIFY_ENV, eventually
from tests.web.conftest import ADMIN_EMAIL, Console, Desk, MakeConsole
from tests.web.test_console_pages import items, text_of
from tests.web.test_portal_pages import Site, portal_csrf, running_site, sign_in
from timeline.models import Channel, Customer, Direction, Visibility

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def in_english(desk: Desk, language: str = "en") -> None:
    """The agent picks English (or ``language``) in the header's switch (stored for the
    agent)."""
    reply = await desk.post("/settings/language", {"language": language, "next": "/"})
    assert reply.status == 303


async def item_text(desk: Desk, customer: Customer, entry_id: str) -> str:
    page = await desk.get(f"/customers/{customer.id}")
    assert page.status == 200
    return text_of(items(page.text)[entry_id])


async def only_entry(console: Console, customer: Customer, kind: str) -> dict[str, Any]:
    status, page = await console.bearer("GET", f"/customers/{customer.id}/timeline?kind={kind}")
    assert status == 200
    (entry,) = page["items"]
    return dict(entry)


# ---------------------------------------------------------------- merges
async def test_merge_notes_are_said_in_the_agents_language(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    twin = await console.customer("E. Mustermann", phones=("0171 1234567",))
    merge = await console.state.ingest.merge(console.office, console.admin, twin.id, erika.id)
    note = await only_entry(console, erika, "merge")
    # stored English for the API, search and export
    assert note["subject"] == "Customers merged"
    assert note["body"].startswith("E. Mustermann was merged into Erika Mustermann by Anna")
    desk = await console.signed_in()
    shown = await item_text(desk, erika, note["id"])
    assert "Kunden zusammengeführt" in shown
    assert ("E. Mustermann wurde von Anna Admin mit Erika Mustermann zusammengeführt "
            "(0 Einträge, 1 Kontaktdaten übernommen).") in shown
    assert "was merged into" not in shown and "Customers merged" not in shown
    away = await only_entry(console, twin, "merge")
    assert "Kunde mit einem anderen zusammengeführt" in await item_text(desk, twin, away["id"])

    await console.state.ingest.undo_merge(console.office, console.agent, merge.id)
    status, page = await console.bearer("GET", f"/customers/{erika.id}/timeline?kind=merge")
    undone = next(e for e in page["items"] if e["subject"] == "Merge undone")
    assert undone["body"] == f"Merge {merge.id} was undone by Tom Agent."
    shown = await item_text(desk, erika, undone["id"])
    assert "Zusammenführung rückgängig gemacht" in shown
    assert ("Tom Agent hat die Zusammenführung von E. Mustermann mit Erika Mustermann "
            "rückgängig gemacht.") in shown
    assert "was undone" not in shown

    await in_english(desk)
    shown = await item_text(desk, erika, undone["id"])
    assert "The merge of E. Mustermann into Erika Mustermann was undone by Tom Agent." in shown
    assert "Customers merged" in await item_text(desk, erika, note["id"])


async def test_a_note_written_before_structured_meta_shows_its_stored_text(
        console: Console) -> None:
    erika = await console.customer("Erika Mustermann")
    old = await console.add(erika, channel=Channel.NOTE, direction=Direction.INTERNAL,
                            kind="merge", visibility=Visibility.INTERNAL,
                            subject="Customers merged",
                            body="X was merged into Erika Mustermann by Anna Admin "
                                 "(2 entries, 1 identities moved).",
                            meta={"merge_id": "m-old", "source_id": "x"})
    broken = await console.add(erika, channel=Channel.NOTE, direction=Direction.INTERNAL,
                               kind="merge", visibility=Visibility.INTERNAL,
                               subject="Customers merged", body="Y was merged into Erika.",
                               meta={"merge_id": "m-odd",
                                     "system": {"key": "merged", "source": "Y"}})
    desk = await console.signed_in()
    assert "X was merged into Erika Mustermann" in await item_text(desk, erika, old.id)
    assert "Y was merged into Erika." in await item_text(desk, erika, broken.id)


# ---------------------------------------------------------------- preferences
async def test_preference_changes_are_said_in_the_agents_language(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    status, _ = await console.bearer("PUT", f"/customers/{erika.id}/preferences", json={
        "channels": ["telegram", "email"], "language": "en",
        "automatic_notifications": False, "consents": {"email": False},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}})
    assert status == 200
    change = await only_entry(console, erika, "preferences")
    assert change["subject"] == "Notification preferences changed by Tom Agent"
    assert "email consent withdrawn" in change["body"]  # (API, search: English)
    assert "language: de → en" in change["body"]
    desk = await console.signed_in()
    shown = await item_text(desk, erika, change["id"])
    assert "Benachrichtigungseinstellungen geändert" in shown
    assert "Kanäle: automatisch → Telegram, E-Mail" in shown
    assert "Automatische Benachrichtigungen: aus" in shown
    assert "Ruhezeiten: keine → 22:00–07:00 Europe/Berlin" in shown
    assert "Sprache: Deutsch → Englisch" in shown
    assert "Einwilligung für E-Mail widerrufen" in shown
    assert "consent withdrawn" not in shown and "language:" not in shown
    await in_english(desk)
    shown = await item_text(desk, erika, change["id"])
    assert "Consent for e-mail withdrawn" in shown and "Language: German → English" in shown


async def test_changes_the_customer_made_name_the_customer(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    await apply_preferences(console.state, erika, PreferenceChange(consents={"telegram": True}),
                            actor="customer", route="portal", who="by the customer (portal)")
    await record_preference_change(console.state, console.office.id, erika.id,
                                   "by the customer (unsubscribe link)",
                                   [Change("consent", None, False, channel="email")], None,
                                   by="unsubscribe_link")
    status, page = await console.bearer("GET", f"/customers/{erika.id}/timeline"
                                               "?kind=preferences")
    assert status == 200
    unsubscribed, portal = page["items"]
    desk = await console.signed_in()
    shown = await item_text(desk, erika, portal["id"])
    assert "Benachrichtigungseinstellungen vom Kunden im Portal geändert" in shown
    assert "Einwilligung für Telegram erteilt" in shown
    shown = await item_text(desk, erika, unsubscribed["id"])
    assert "vom Kunden über den Abmeldelink geändert" in shown
    assert "Einwilligung für E-Mail widerrufen" in shown


# ---------------------------------------------------------------- calls
async def cti(console: Console) -> Callable[[dict[str, Any]], Awaitable[None]]:
    status, office = await console.bearer("GET", "/office", console.admin_token)
    assert status == 200
    pbx = await console.desk()

    async def send(event: dict[str, Any]) -> None:
        reply = await pbx.request("POST", office["cti_url_path"], json=event)
        assert reply.status == 200, reply.text
    return send


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


async def test_call_details_are_said_in_the_agents_language(console: Console) -> None:
    erika = await console.customer("Erika Mustermann", phones=("0171 1234567",))
    send = await cti(console)
    await send({"event": "newCall", "callId": "c1", "from": "491711234567",
                "to": "49211123456", "direction": "in", "user": ["Anna Admin", "Tom Agent"],
                "timestamp": at(0)})
    await send({"event": "hangup", "callId": "c1", "cause": "busy", "timestamp": at(20)})
    await send({"event": "newCall", "callId": "c2", "from": "491711234567",
                "to": "49211123456", "direction": "in", "user": ["Tom Agent"],
                "timestamp": at(600)})
    await send({"event": "answer", "callId": "c2", "user": "Tom Agent", "timestamp": at(605)})
    await send({"event": "hangup", "callId": "c2", "cause": "normalClearing",
                "timestamp": at(665)})
    status, page = await console.bearer("GET", f"/customers/{erika.id}/timeline?kind=call")
    answered, missed = page["items"]
    assert missed["body"] == "Rang for Anna Admin, Tom Agent. Ended: busy."  # stored English
    assert "Answered by Tom Agent." in answered["body"]
    desk = await console.signed_in()
    shown = await item_text(desk, erika, missed["id"])
    assert "Verpasster Anruf" in shown
    assert "klingelte bei Anna Admin, Tom Agent" in shown and "beendet: besetzt" in shown
    assert "Rang for" not in shown and "Ended" not in shown
    shown = await item_text(desk, erika, answered["id"])
    assert "Dauer 1:00" in shown and "angenommen von Tom Agent" in shown
    assert "Answered by" not in shown and "Duration" not in shown
    await in_english(desk)
    shown = await item_text(desk, erika, missed["id"])
    assert "rang for Anna Admin, Tom Agent" in shown and "ended: busy" in shown


# ---------------------------------------------------------------- quarantine
async def test_quarantine_reasons_are_said_in_the_admins_language(console: Console) -> None:
    ingest = console.state.ingest
    office = console.office.id
    unknown = await ingest.quarantine(office, "email", b"From: x\r\n\r\nhi",
                                      "unknown_sender: fremd@example.com", "imap:INBOX/1")
    spam = await ingest.quarantine(
        office, "email", b"From: y\r\n\r\nbuy",
        "spam: marked by a mail server (X-Spam-Flag: YES); the sender is no customer",
        "imap:INBOX/2")
    broken = await ingest.quarantine(office, "email", b"",
                                     quarantine_reason(MailParseError("empty message")),
                                     "import:a.eml")
    odd = await ingest.quarantine(office, "email", b"?", "Something Else happened", "x")
    admin = await console.signed_in(ADMIN_EMAIL)
    listed = await admin.get("/admin/quarantine")
    assert listed.status == 200
    rows = {item.id: text_of(listed.text.split(f'data-item="{item.id}"')[1].split("</tr>")[0])
            for item in (unknown, spam, broken, odd)}
    assert "email Unbekannter Absender fremd@example.com imap:INBOX/1" in rows[unknown.id]
    assert "Von einem Mailserver als Spam markiert, Absender ist kein Kunde X-Spam-Flag: YES" \
        in rows[spam.id]
    assert "Nicht lesbar empty message" in rows[broken.id]
    assert "Something Else happened" in rows[odd.id]  # unknown: as stored
    assert "unknown_sender" not in listed.text and "the sender is no customer" not in listed.text
    page = await admin.get(f"/admin/quarantine/{spam.id}")
    assert "Von einem Mailserver als Spam markiert" in text_of(page.text)
    asked = await admin.post(f"/admin/quarantine/{spam.id}/discard", {})  # asks first
    assert asked.status == 200 and "Von einem Mailserver als Spam markiert" in text_of(
        asked.text) and "the sender is no customer" not in asked.text
    await in_english(admin)
    listed = await admin.get("/admin/quarantine")
    assert "Unknown sender" in text_of(listed.text)
    status, item = await console.bearer("GET", f"/quarantine/{unknown.id}", console.admin_token)
    assert status == 200 and item["reason"] == "unknown_sender: fremd@example.com"


# ---------------------------------------------------------------- nobody notified
async def test_compose_says_why_nobody_is_notified_from_the_notifiers_codes(
        console: Console) -> None:
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    status, _ = await console.bearer("PUT", f"/customers/{erika.id}/preferences", json={
        "channels": ["email"], "consents": {"email": False, "portal": False}})
    assert status == 200
    desk = await console.signed_in()
    page = await desk.get(f"/customers/{erika.id}")
    why = "E-Mail: keine Einwilligung; Portal-Postfach: keine Einwilligung"
    assert f"Niemand wird benachrichtigt: {why}" in text_of(page.text)
    found = json.loads((await desk.get(f"/customers/{erika.id}/recipients")).text)
    assert found["suppressed"] == why
    assert found["skipped"] == ["no consent for email", "no consent for portal"]  # (English)
    await in_english(desk)
    found = json.loads((await desk.get(f"/customers/{erika.id}/recipients")).text)
    assert found["suppressed"] == "e-mail: no consent; portal inbox: no consent"


async def test_a_suppressed_notification_says_why_in_the_agents_language(
        make_console: MakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**NOTIFY_ENV, "CHRONIK_NOTIFY_WORKER": "true"}.items():
        monkeypatch.setenv(key, value)
    console = await make_console()
    erika = await console.customer("Erika Mustermann", emails=("erika@example.de",))
    status, _ = await console.bearer("PUT", f"/customers/{erika.id}/preferences",
                                     json={"automatic_notifications": False})
    assert status == 200
    note = await console.record(erika, "note", subject="Ihre Police",
                                body="Die Police ist unterwegs.",
                                visibility=Visibility.PUBLISHED, notify=True)

    async def settled() -> dict[str, Any] | None:
        delivery = (await console.entry(note.id)).meta.get("delivery")
        return delivery if isinstance(delivery, dict) and delivery.get("status") else None

    delivery = await eventually(settled)
    assert delivery["status"] == "suppressed"
    assert delivery["reason"] == "customer opted out of automatic notifications"  # stored
    desk = await console.signed_in()
    shown = await item_text(desk, erika, note.id)
    assert "der Kunde möchte keine automatischen Benachrichtigungen" in shown
    assert "opted out" not in shown


# ---------------------------------------------------------------- error pages
async def test_error_pages_speak_the_signed_in_agents_language(console: Console) -> None:
    desk = await console.signed_in()
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    await in_english(desk, "de")  # German chosen, in an English browser
    page = await desk.get("/customers/no-such-customer", headers=english_browser)
    assert page.status == 404 and '<html lang="de"' in page.text
    assert "Nicht gefunden" in page.text or "nicht gefunden" in page.text
    missing = await desk.get("/no/such/page", headers=english_browser)
    assert missing.status == 404 and '<html lang="de"' in missing.text
    await in_english(desk)  # English chosen, in a German browser
    page = await desk.get("/customers/no-such-customer", headers={"Accept-Language": "de"})
    assert page.status == 404 and '<html lang="en"' in page.text
    # without a session (or with one that ended): the browser's language
    stranger = await console.desk()
    page = await stranger.get("/no/such/page", headers=english_browser)
    assert '<html lang="en"' in page.text
    page = await stranger.get("/no/such/page", headers={"Accept-Language": "de"})
    assert '<html lang="de"' in page.text
    await desk.post("/signout")
    page = await desk.get("/no/such/page", headers={"Accept-Language": "de"})
    assert '<html lang="de"' in page.text


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    """A running Chronik with the portal and a mail sink for its sign-in codes."""
    async with running_site(tmp_path, monkeypatch) as running:
        yield running


async def test_portal_error_pages_speak_the_customers_chosen_language(site: Site) -> None:
    await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    switched = await browser.post("/portal/language", data={
        "csrf": await portal_csrf(browser), "language": "en", "next": "/portal/"})
    assert switched.status == 303
    page = await browser.get("/portal/no/such/page", headers={"Accept-Language": "de"})
    assert page.status == 404 and '<html lang="en"' in page.text and "Not found." in page.text
    stranger = site.browser()
    page = await stranger.get("/portal/no/such/page", headers={"Accept-Language": "de"})
    assert page.status == 404 and '<html lang="de"' in page.text
