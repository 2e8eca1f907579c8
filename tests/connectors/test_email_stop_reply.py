"""Opting out by habit, by e-mail: a customer who answers one of our mails with nothing but
"STOP" (or "Abmelden", "unsubscribe please") gets no more e-mail from us, as with the
unsubscribe link or ``/stop`` on Telegram -- and the agent sees why on the timeline. A
sentence that mentions stopping something, or a new mail that is not a reply to ours, is an
ordinary message."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.email.inbound import MailIngest
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.optout import own_words, says_stop

ERIKA = "erika.mustermann@example.de"


def reply(note_id: str, body: str, *, subject: str = "AW: Ihre Police", sender: str = ERIKA,
          n: int = 1, answers: bool = True) -> bytes:
    head = (f"From: Erika Mustermann <{sender}>\nTo: info@buero-test.de\n"
            f"Subject: {subject}\nMessage-ID: <stop-{n}@example.de>\n"
            "Date: Thu, 05 Mar 2026 09:00:00 +0100\n")
    if answers:
        head += (f"In-Reply-To: <{note_id}.email@buero-test.de>\n"
                 f"References: <{note_id}.email@buero-test.de>\n")
    return (head + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            + body).encode()


QUOTE = ("\n\nAm 04.03.2026 um 10:00 schrieb Büro Test <info@buero-test.de>:\n"
         "> Guten Tag Frau Mustermann,\n> die Police liegt vor.\n")


async def published_note(hub: Hub) -> tuple[dict[str, Any], dict[str, Any]]:
    erika = await make_customer(hub, "Erika Mustermann", emails=[ERIKA])
    status, note = await hub.agent.post(f"/customers/{erika['id']}/entries", json={
        "kind": "note", "subject": "Ihre Police", "body": "Die Police liegt vor.",
        "visibility": "published"})
    assert status == 201, note
    return erika, note


async def email_consent(hub: Hub, customer_id: str) -> dict[str, Any]:
    status, prefs = await hub.agent.get(f"/customers/{customer_id}/preferences")
    assert status == 200
    consent: dict[str, Any] = prefs["consents"]["email"]
    return consent


async def timeline(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, page = await hub.agent.get(f"/customers/{customer_id}/timeline")
    assert status == 200
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.parametrize(("body", "subject"), [
    ("STOP" + QUOTE, "AW: Ihre Police"),
    ("Stopp!\n\nVon meinem iPhone gesendet" + QUOTE, "AW: Ihre Police"),
    ("abmelden bitte\n\n-- \nErika Mustermann\nTel. 0171 1234567\n" + QUOTE, "Re: Ihre Police"),
    ("Unsubscribe, please.\n\nSent from my Galaxy\n\nOn Wed, 4 Mar 2026 at 10:00, Büro Test "
     "<info@buero-test.de> wrote:\n> Die Police liegt vor.\n", "Re: Ihre Police"),
    ("", "AW: STOP"),
], ids=["stop-quoted", "stopp-iphone", "abmelden-signature", "unsubscribe-english",
        "subject-only"])
async def test_a_reply_saying_stop_turns_email_off(hub: Hub, body: str, subject: str) -> None:
    erika, note = await published_note(hub)
    assert (await email_consent(hub, erika["id"]))["granted"] is True
    done = await MailIngest(hub.state.ingest).deliver(
        hub.office.id, reply(note["id"], body, subject=subject), "imap")
    assert done.outcome == "created"
    consent = await email_consent(hub, erika["id"])
    assert consent["granted"] is False
    assert (consent["route"], consent["actor"]) == ("email_stop", "customer")
    entries = await timeline(hub, erika["id"])
    turned_off = [e for e in entries if e["kind"] == "email_consent"]
    assert len(turned_off) == 1
    assert turned_off[0]["subject"].startswith("E-mail notifications turned off by the customer")
    assert turned_off[0]["visibility"] == "internal"
    assert any(e["channel"] == "email" and e["direction"] == "inbound" for e in entries), \
        "the reply itself is on the timeline too"

    # the same mail delivered again (IMAP re-sync) records nothing more
    await MailIngest(hub.state.ingest).deliver(
        hub.office.id, reply(note["id"], body, subject=subject), "imap")
    assert len([e for e in await timeline(hub, erika["id"])
                if e["kind"] == "email_consent"]) == 1


@pytest.mark.parametrize(("body", "answers"), [
    ("Stop the car insurance in May, please." + QUOTE, True),
    ("Bitte stoppen Sie die Lastschrift für Mai." + QUOTE, True),
    ("Danke, erhalten." + QUOTE, True),
    ("STOP", False),  # a new mail, not an answer to ours: may be about anything
], ids=["english-sentence", "german-sentence", "thanks", "not-a-reply"])
async def test_other_mail_leaves_consent_alone(hub: Hub, body: str, answers: bool) -> None:
    erika, note = await published_note(hub)
    done = await MailIngest(hub.state.ingest).deliver(
        hub.office.id, reply(note["id"], body, answers=answers), "imap")
    assert done.outcome == "created"
    consent = await email_consent(hub, erika["id"])
    assert consent["granted"] is True and consent.get("route") is None
    assert not [e for e in await timeline(hub, erika["id"]) if e["kind"] == "email_consent"]


async def test_stop_from_someone_else_answering_her_mail_changes_nothing(hub: Hub) -> None:
    """Another customer replying "STOP" to Erika's notification (a forward): Erika's
    consent is hers to withdraw."""
    erika, note = await published_note(hub)
    await make_customer(hub, "Hans Other", emails=["hans@other.example"])
    await MailIngest(hub.state.ingest).deliver(
        hub.office.id, reply(note["id"], "STOP" + QUOTE, sender="hans@other.example"), "imap")
    assert (await email_consent(hub, erika["id"]))["granted"] is True


@pytest.mark.parametrize("text", ["STOP", "Stopp!", "stop bitte", "Bitte abmelden.",
                                  "unsubscribe please", "Austragen", "  STOPP  "])
def test_stop_words(text: str) -> None:
    assert says_stop(text)


@pytest.mark.parametrize("text", ["Stop", "stop it now", "nicht stoppen", "Stopp, ich meinte "
                                  "den anderen Vertrag", "bitte", "", "STOP " * 20])
def test_not_stop_words(text: str) -> None:
    assert says_stop(text) is (text == "Stop")


def test_own_words_drop_signature_and_phone_lines() -> None:
    assert own_words("Stopp\n\nVon meinem iPhone gesendet") == "Stopp"
    assert own_words("STOP\n-- \nErika\n0171 1234567") == "STOP"
    assert own_words("Stop\nGet Outlook for Android") == "Stop"
