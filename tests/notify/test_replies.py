"""An agent's reply is a letter from a person, not a notification: the customer's mail
program shows it in their conversation (``In-Reply-To``/``References``), under the subject
the agent wrote, with the agent's own text first and their name below; it is not marked as
automatic mail. Notifications keep their wrapper and headers."""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.email.inbound import to_inbound
from connectors.email.parse import parse_message
from tests.conftest import Hub
from tests.notify.conftest import CHAT, SmtpSink, customer, note, outcome, texts_to
from tests.support.telegram_standin import BotApiStandIn
from timeline.models import Channel, Direction, EntryDraft, Visibility, utcnow

LETTER = ("Sehr geehrte Frau Mustermann,\n\nIhre neue Police ist unterwegs.\n\n"
          "Mit freundlichen Grüßen")


async def mail_from(hub: Hub, c: dict[str, Any], message_id: str,
                    subject: str = "Frage zur Police", references: list[str] | None = None
                    ) -> str:
    meta: dict[str, Any] = {"message_id": message_id}
    if references is not None:
        meta["references"] = references
    entry, _ = await hub.state.timeline.append(EntryDraft(
        office_id=hub.office.id, customer_id=c["id"], channel=Channel.EMAIL,
        direction=Direction.INBOUND, kind="email", visibility=Visibility.PUBLISHED,
        notify=False, occurred_at=utcnow(), subject=subject, body="Wann kommt sie?",
        source_id=message_id[:200], meta=meta))
    return entry.id


async def test_a_reply_answers_in_the_customers_thread(nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de")
    asked = await mail_from(nhub, c, "<frage-1@kunde.example>")
    reply = await note(nhub, c["id"], LETTER, kind="reply", reply_via="email",
                       subject="Re: Frage zur Police", in_reply_to=asked)
    (mail,) = await smtp_sink.wait(1)
    headers = mail.message
    assert headers["Subject"] == "Re: Frage zur Police"
    assert headers["From"].addresses[0].display_name == "Tom Agent (Büro Müller & Partner)"
    assert headers["In-Reply-To"] == "<frage-1@kunde.example>"
    assert headers["References"] == "<frage-1@kunde.example>"
    assert headers["Message-ID"] == f"<{reply['id']}.email@buero.test>"
    for automatic in ("Auto-Submitted", "X-Auto-Response-Suppress", "List-Unsubscribe"):
        assert automatic not in headers, automatic
    text = mail.text()
    assert text.startswith("Sehr geehrte Frau Mustermann,")
    assert "hat eine" not in text and "Guten Tag" not in text  # no notification wrapper
    signature = text.split("\n--\n", 1)[1]
    assert "Tom Agent" in signature and "Büro Müller & Partner" in signature
    quote = signature.split("schrieb Erika Mustermann:\n", 1)  # her mail, quoted below
    assert len(quote) == 2 and quote[1].strip() == "> Wann kommt sie?"
    assert "Wann kommt sie?" in mail.html()
    assert "Sehr geehrte Frau Mustermann," in mail.html()
    # a notification is still one, marked as automatic
    await note(nhub, c["id"], "Ihre Police ist verlängert.", subject="Verlängerung",
               visibility="published", notify=True)
    (_, notice) = await smtp_sink.wait(2)
    assert notice.message["Auto-Submitted"] == "auto-generated"
    assert notice.message["From"].addresses[0].display_name == "Büro Müller & Partner"
    assert "In-Reply-To" not in notice.message
    assert "Büro Müller & Partner hat eine Notiz für Sie" in notice.text()


async def test_a_reply_never_quotes_an_internal_entry(nhub: Hub, smtp_sink: SmtpSink) -> None:
    """An out-of-office auto-reply (stored internal: it names a colleague's private
    number) answered by an agent's reply: the reply goes out without quoting it or
    threading on it -- the notifier reads only published entries."""
    c = await customer(nhub, email="erika@example.de")
    auto, _ = await nhub.state.timeline.append(EntryDraft(
        office_id=nhub.office.id, customer_id=c["id"], channel=Channel.EMAIL,
        direction=Direction.INBOUND, kind="auto_reply", visibility=Visibility.INTERNAL,
        notify=False, occurred_at=utcnow(), subject="Abwesenheit",
        body="INTERN: Vertretung Herr Koch, privat 0171-5555555",
        meta={"message_id": "ooo-1@kunde.example"}))
    await note(nhub, c["id"], LETTER, kind="reply", reply_via="email",
               subject="Re: Abwesenheit", in_reply_to=auto.id)
    (mail,) = await smtp_sink.wait(1)
    assert "0171-5555555" not in mail.text() and "0171-5555555" not in mail.html()
    assert "Vertretung" not in mail.text() and "schrieb" not in mail.text()
    assert "In-Reply-To" not in mail.message and "References" not in mail.message
    assert mail.text().startswith("Sehr geehrte Frau Mustermann,")


async def received_mail(hub: Hub, headers: str) -> str:
    """A customer's mail as the e-mail connector stores it (parsed, as from the SMTP
    inbox): its entry id."""
    raw = (f"From: Erika Mustermann <erika@example.de>\r\nTo: buero@buero.test\r\n"
           f"Subject: Re: Angebot\r\nDate: Fri, 04 Dec 2026 09:00:00 +0100\r\n{headers}"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nWann kommt sie?\r\n").encode()
    parsed = parse_message(raw)
    result = await hub.state.ingest.ingest(to_inbound(
        hub.office.id, parsed, source_id=parsed.message_id,
        content_sha256=hashlib.sha256(raw).hexdigest()), raw=raw)
    assert result.entry is not None
    return result.entry.id


async def test_a_reply_continues_the_customers_conversation(nhub: Hub,
                                                           smtp_sink: SmtpSink) -> None:
    """A reply to a mail as it really arrives: ``In-Reply-To`` is her Message-ID, and
    ``References`` name the whole conversation, then her mail (RFC 5322), so every mail
    program files it there; an ID no mail program could read is left out of the chain, and
    a mail without a Message-ID starts no thread."""
    await customer(nhub, email="erika@example.de")
    asked = await received_mail(nhub, (
        "Message-ID: <frage-2@kunde.example>\r\nIn-Reply-To: <rueckfrage-1@kunde.example>\r\n"
        "References: <angebot-1@buero.test>\r\n <rueckfrage-1@kunde.example>\r\n"))
    await note(nhub, (await nhub.state.store.get_entry(nhub.office.id, asked)).customer_id,
               LETTER, kind="reply", reply_via="email", subject="Re: Angebot",
               in_reply_to=asked)
    (mail,) = await smtp_sink.wait(1)
    assert mail.message["In-Reply-To"] == "<frage-2@kunde.example>"
    assert mail.message["References"].split() == [
        "<angebot-1@buero.test>", "<rueckfrage-1@kunde.example>", "<frage-2@kunde.example>"]

    no_id = await received_mail(nhub, "")  # (the parser derives an id of its own)
    await note(nhub, (await nhub.state.store.get_entry(nhub.office.id, no_id)).customer_id,
               "Antwort.", kind="reply", reply_via="email", subject="Re: Angebot",
               in_reply_to=no_id)
    (_, second) = await smtp_sink.wait(2)
    assert "In-Reply-To" not in second.message and "References" not in second.message


async def test_a_reply_to_no_mail_or_a_hostile_message_id_starts_no_thread(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, email="erika@example.de")
    fresh = await note(nhub, c["id"], "Kurze Info.", kind="reply", reply_via="email")
    hostile = await mail_from(nhub, c, "<böse\r\nBcc: x@evil.example>", subject="Hallo")
    await note(nhub, c["id"], "Antwort.", kind="reply", reply_via="email",
               subject="Re: Hallo", in_reply_to=hostile)
    first, second = await smtp_sink.wait(2)
    assert first.message["Message-ID"] == f"<{fresh['id']}.email@buero.test>"
    assert first.message["Subject"] == "Nachricht von Büro Müller & Partner"
    for mail in (first, second):
        assert "In-Reply-To" not in mail.message and "References" not in mail.message
        assert "Bcc" not in mail.message
    assert "schrieb" not in first.text()  # nothing to quote
    assert second.message["Subject"] == "Re: Hallo"


async def test_a_reply_by_telegram_is_the_agents_text(tghub: Hub, tg: BotApiStandIn) -> None:
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    reply = await note(tghub, c["id"], "Ja, Dienstag 10 Uhr passt.", kind="reply",
                       reply_via="telegram", subject="Termin")
    done = await outcome(tghub, c["id"], reply["id"])
    assert done["meta"]["notification"]["status"] == "sent"
    (text,) = texts_to(tg)
    assert text.startswith("Ja, Dienstag 10 Uhr passt.\n\n--\nTom Agent\n")
    assert "/stop" in text


async def test_a_reply_by_telegram_quotes_the_message_it_answers(tghub: Hub,
                                                                 tg: BotApiStandIn) -> None:
    """Telegram shows the customer's question above the answer (``reply_parameters``); a
    reply to a message of another chat, or to none, is sent as it is."""
    c = await customer(tghub, telegram=CHAT, prefs={"channels": ["telegram"]})
    asked = tg.push_text(CHAT, "Geht Dienstag 10 Uhr?")
    entry, _ = await tghub.state.timeline.append(EntryDraft(
        office_id=tghub.office.id, customer_id=c["id"], channel=Channel.CHAT,
        direction=Direction.INBOUND, kind="message", visibility=Visibility.PUBLISHED,
        notify=False, occurred_at=utcnow(), body="Geht Dienstag 10 Uhr?",
        source_id=f"{CHAT}:{asked['message_id']}",
        meta={"telegram": {"chat_id": CHAT, "message_id": asked["message_id"]}}))
    other_chat, _ = await tghub.state.timeline.append(EntryDraft(
        office_id=tghub.office.id, customer_id=c["id"], channel=Channel.CHAT,
        direction=Direction.INBOUND, kind="message", visibility=Visibility.PUBLISHED,
        notify=False, occurred_at=utcnow(), body="aus einer Gruppe", source_id="-100:7",
        meta={"telegram": {"chat_id": -100, "message_id": asked["message_id"]}}))
    for parent, body in ((entry.id, "Ja, Dienstag passt."), (other_chat.id, "Gern."),
                         (None, "Noch etwas.")):
        reply = await note(tghub, c["id"], body, kind="reply", reply_via="telegram",
                           **({"in_reply_to": parent} if parent else {}))
        assert (await outcome(tghub, c["id"], reply["id"]))["meta"]["notification"][
            "status"] == "sent"
    sent = [s for s in tg.sent if s["method"] == "sendMessage" and s["chat_id"] == CHAT]
    assert [s["text"].split("\n")[0] for s in sent] == [
        "Ja, Dienstag passt.", "Gern.", "Noch etwas."]
    quoted = sent[0]["message"].get("reply_to_message")
    assert quoted is not None and quoted["text"] == "Geht Dienstag 10 Uhr?"
    assert "reply_to_message" not in sent[1]["message"]
    assert "reply_to_message" not in sent[2]["message"]
