"""The delivery status on a timeline item, as an agent reads it: the real notify worker
sends a published note; why it took another channel than the customer's first is said in
the agent's language (the notifier stores English for logs and the API)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from tests.notify.conftest import eventually
from tests.web.conftest import Console, MakeConsole
from timeline.models import Entry, Visibility


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.parametrize(("language", "said", "stored"), [
    ("de", "Benachrichtigt · Portal-Postfach E-Mail: nicht eingerichtet", "email is not"),
    ("en", "Notified · portal inbox e-mail: not set up", "email is not"),
], ids=["de", "en"])
async def test_a_fallback_delivery_says_why_in_the_agents_language(
        make_console: MakeConsole, monkeypatch: pytest.MonkeyPatch, language: str,
        said: str, stored: str) -> None:
    monkeypatch.setenv("CHRONIK_NOTIFY_WORKER", "true")  # no mail server: e-mail is not set up
    console = await make_console()
    erika = await console.customer("Erika Umweg", emails=("erika@example.de",))
    note = await console.record(erika, subject="Police verlängert", body="bis 2027",
                                visibility=Visibility.PUBLISHED, notify=True)

    async def delivered() -> Entry | None:
        entry = await console.entry(note.id)
        return entry if entry.meta.get("delivery", {}).get("status") == "sent" else None

    entry = await eventually(delivered)
    assert entry.meta["delivery"]["reason"].startswith(stored)  # (the API's English)
    desk = await console.signed_in()
    await desk.post("/settings/language", {"language": language, "next": "/"})
    page = await desk.get(f"/customers/{erika.id}")
    assert page.status == 200
    text = _text(page.text)
    assert said in text, text[text.find("Police verlängert"):][:400]
    assert stored not in text


async def test_compose_says_when_quiet_hours_hold_the_notification(
        mail_console: Console) -> None:
    """"Der Kunde erhält das über E-Mail" while the customer's quiet hours were on: the
    agent promised "you'll have it in a minute" -- it went out the next morning."""
    console = mail_console
    now = datetime.now(ZoneInfo("Europe/Berlin"))
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    night = await console.customer("Nora Nacht", emails=("nora@example.de",))
    status, _ = await console.bearer("PUT", f"/customers/{night.id}/preferences", json={
        "quiet_hours": {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"),
                        "timezone": "Europe/Berlin"}})
    assert status == 200
    day = await console.customer("Tim Tag", emails=("tim@example.de",))
    desk = await console.signed_in()

    said = (await desk.get(f"/customers/{night.id}/recipients")).json()
    assert said["routes"][0]["channel"] == "email"
    assert said["waits"].startswith("Jetzt ist Ruhezeit des Kunden: die Benachrichtigung "
                                    f"geht am {end.strftime('%d.%m.%Y %H:%M')} hinaus")
    page = await desk.get(f"/customers/{night.id}")
    waits = re.search(r'<p class="notice" id="recipients-waits"\s*>(.*?)</p>', page.text, re.S)
    assert waits and "Ruhezeit" in unescape(waits.group(1))

    assert (await desk.get(f"/customers/{day.id}/recipients")).json()["waits"] == ""
    page = await desk.get(f"/customers/{day.id}")
    assert re.search(r'id="recipients-waits" hidden', page.text)
