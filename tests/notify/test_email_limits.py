"""What real mail servers refuse, against the SMTP sink that refuses it too: long non-ASCII
names and file names (folded, RFC 2047 / RFC 2231), addresses that are not ASCII (IDNA
domains, SMTPUTF8 or the next channel), messages over the server's size limit (files as
portal links instead), and the wording and length of what the customer reads."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Any

import aiosmtplib
import pytest
from aiohttp import FormData

from chronik.api.base import hash_token, new_token
from notify.errors import TooLarge
from notify.message import OutgoingAttachment, OutgoingMessage
from notify.render import SUBJECT_MAX, shorten
from notify.transports.email import build_email, encoded_size, translate_smtp_error
from tests.conftest import Hub
from tests.notify.conftest import Received, SmtpSink, customer, note, outcome
from tests.notify.test_delivery import worker_of
from timeline.models import Role

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
CJK_NAME = ("山田太郎 " * 60)[:299]  # the API takes names of up to 300 characters
UMLAUT_NAME = " ".join(["Jürgen Müller-Lüdenscheidt"] * 3)
CYRILLIC_FILE = ("Страховой_полис_" + "Договор страхования имущества " * 6 + ".pdf")[:200]


def head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def assert_well_formed(raw: bytes) -> None:
    """Every line within 78 octets where it can be folded (headers of the message and of
    its parts; the bodies are base64), never over 998 (a URL is one word); every RFC 2047
    encoded-word within 75 characters."""
    for line in raw.split(b"\r\n"):
        value = line.split(b": ", 1)[-1].strip()
        assert len(line) <= 78 or (b" " not in value and len(line) <= 998), line
    words = ENCODED_WORD.findall(raw)
    assert all(len(w) <= 75 for w in words), max(words, key=len)


def mailboxes(got: Received, header: str) -> list[tuple[str, str]]:
    """(display name, address) of an address header, its encoded-words decoded as RFC 2047
    says: whitespace between two of them is folding, not text (Python 3.11's own header
    parser keeps it)."""
    raw = email.message_from_string(got.raw.decode("utf-8"),
                                    policy=email.policy.compat32)[header]
    assert raw is not None, header
    return [(str(make_header(decode_header(name))), address)
            for name, address in getaddresses([str(raw)])]


async def test_a_long_non_ascii_name_is_folded_and_the_mail_arrives(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """A 299-character CJK name broke the To line (``500 Line too long`` from the relay):
    the customer got no e-mail. An 81-character umlaut name made one encoded-word of 132
    characters."""
    cjk = await customer(nhub, CJK_NAME, email="yamada@example.jp")
    umlaut = await customer(nhub, UMLAUT_NAME, email="juergen@example.de")
    first = await note(nhub, cjk["id"], "Ihre Police ist verlängert.")
    second = await note(nhub, umlaut["id"], "Ihre Police ist verlängert.")
    for c, e in ((cjk, first), (umlaut, second)):
        done = await outcome(nhub, c["id"], e["id"])
        assert done["meta"]["notification"]["status"] == "sent", done["meta"]
        assert done["meta"]["notification"]["channel"] == "email", done["meta"]
    got = {r.recipients[0]: r for r in smtp_sink.received}
    assert mailboxes(got["yamada@example.jp"], "To") == [(CJK_NAME, "yamada@example.jp")]
    assert mailboxes(got["juergen@example.de"], "To") == [(UMLAUT_NAME, "juergen@example.de")]
    for mail in got.values():
        assert_well_formed(mail.raw)
        assert "Ihre Police ist verlängert." in mail.text()


async def test_a_letter_from_an_agent_with_a_long_name_names_them_in_folded_from(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """``From: "Author (Office)"`` of an agent's reply, and ``Reply-To`` with the office."""
    author = "Maximiliane Friederike von Hohenzollern-Sigmaringen-Lüdenscheidt"
    token = new_token()
    await nhub.state.store.create_agent(nhub.office.id, author, Role.AGENT, hash_token(token))
    status, _ = await nhub.admin.post("/office/inbound-addresses",
                                      json={"address": "post@buero.test"})
    assert status == 201
    c = await customer(nhub, UMLAUT_NAME, email="juergen@example.de")
    status, reply = await nhub.agent.as_(token).post(
        f"/customers/{c['id']}/entries",
        json={"kind": "reply", "body": "Guten Tag,\n\nja, das passt.", "reply_via": "email",
              "subject": "Re: Termin"})
    assert status == 201, reply
    (mail,) = await smtp_sink.wait(1)
    assert_well_formed(mail.raw)
    office = f"{author} (Büro Müller & Partner)"
    assert mailboxes(mail, "From") == [(office, "chronik@buero.test")]
    assert mailboxes(mail, "Reply-To") == [(office, "post@buero.test")]
    assert mailboxes(mail, "To") == [(UMLAUT_NAME, "juergen@example.de")]


@pytest.mark.parametrize("name", [
    CJK_NAME, UMLAUT_NAME, "Müller, Erika", 'Dr. "Jo" Smith (privat)', "x" * 120,
    " ".join(["Erika Mustermann"] * 18), "Ärger" + "ä" * 290],
    ids=["cjk", "umlaut", "comma", "quotes", "one-long-word", "long-ascii", "long-umlaut"])
def test_every_name_header_is_folded_and_reads_back(name: str) -> None:
    raw = build_email(OutgoingMessage(
        channel="email", address="kunde@example.de", recipient_name=name, sender_name=name,
        subject=name, text="x", html=None, message_id="<e1.email@buero.test>",
        office_id="o", customer_id="c", entry_id="e", reply_to="post@buero.test"),
        "chronik@buero.test")
    got = Received("chronik@buero.test", ["kunde@example.de"], raw)
    if name != "x" * 120:  # one word longer than a line: it stays whole (RFC 5322 allows 998)
        assert_well_formed(raw)
    assert mailboxes(got, "To") == [(name, "kunde@example.de")]
    assert mailboxes(got, "From") == [(name, "chronik@buero.test")]
    assert mailboxes(got, "Reply-To") == [(name, "post@buero.test")]
    assert got.message["Subject"] == name


async def test_a_long_non_ascii_file_name_goes_in_rfc_2231_continuations(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """A 200-character Cyrillic file name made header lines of ~1166 octets: refused."""
    c = await customer(nhub, email="erika@example.de")
    form = FormData()
    form.add_field("kind", "document")
    form.add_field("subject", "Police")
    form.add_field("file", b"%PDF-1.4 x", filename=CYRILLIC_FILE, content_type="application/pdf")
    status, doc = await nhub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 201, doc
    assert [a["name"] for a in doc["attachments"]] == [CYRILLIC_FILE]
    done = await outcome(nhub, c["id"], doc["id"])
    assert done["meta"]["notification"]["channel"] == "email", done["meta"]
    (mail,) = smtp_sink.received
    assert_well_formed(mail.raw)
    (part,) = mail.message.iter_attachments()
    assert part.get_filename() == CYRILLIC_FILE
    assert part.get_param("name") == CYRILLIC_FILE
    assert part.get_content() == b"%PDF-1.4 x"
    assert b"filename*0*=utf-8''" in mail.raw


async def test_an_address_with_a_non_ascii_local_part_goes_with_smtputf8(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """``jörg@grösser.example`` (the API takes it) made the job dead with a bug: now the
    server's SMTPUTF8 carries it, the domain in IDNA form."""
    smtp_sink.smtputf8 = True
    c = await customer(nhub, "Jörg Größer", email="jörg@grösser.example")
    e = await note(nhub, c["id"], "Ihre Police ist verlängert.")
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["status"] == "sent", done["meta"]
    assert done["meta"]["notification"]["channel"] == "email"
    (mail,) = smtp_sink.received
    assert mail.smtputf8 and mail.recipients == ["jörg@xn--grsser-xxa.example"]
    assert mailboxes(mail, "To") == [("Jörg Größer", "jörg@xn--grsser-xxa.example")]
    assert "Ihre Police ist verlängert." in mail.text()


async def test_without_smtputf8_such_an_address_falls_back_with_a_reason(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    c = await customer(nhub, "Jörg Größer", email="jörg@grösser.example")
    e = await note(nhub, c["id"], "Ihre Police ist verlängert.")
    done = await outcome(nhub, c["id"], e["id"])
    notification = done["meta"]["notification"]
    assert (notification["status"], notification["channel"]) == ("sent", "portal")
    assert notification["fallback_from"] == ["email"]
    assert "SMTPUTF8" in notification["reason"], notification["reason"]
    assert smtp_sink.received == []
    _, inbox = await nhub.agent.get(f"/customers/{c['id']}/inbox")
    assert [i["entry_id"] for i in inbox["items"]] == [e["id"]]


async def test_an_internationalised_inbound_address_is_a_working_reply_to(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """An admin added ``info@büro-berger.example``: it sorted first, became the Reply-To,
    and every e-mail of the office died of a bug. An address whose local part needs
    SMTPUTF8 (``büro@…``) is used only when there is no other."""
    for address in ("zentrale@büro-berger.example", "büro@büro-berger.example"):
        status, body = await nhub.admin.post("/office/inbound-addresses",
                                             json={"address": address})
        assert status == 201, body
    c = await customer(nhub, email="erika@example.de")
    e = await note(nhub, c["id"], "Ihre Police ist verlängert.")
    done = await outcome(nhub, c["id"], e["id"])
    assert done["meta"]["notification"]["channel"] == "email", done["meta"]
    (mail,) = smtp_sink.received
    assert not mail.smtputf8
    assert mailboxes(mail, "Reply-To") == [
        ("Büro Müller & Partner", "zentrale@xn--bro-berger-9db.example")]
    assert "Antworten Sie einfach auf diese E-Mail" in mail.text()


def _document(name: str, size: int) -> FormData:
    form = FormData()
    form.add_field("kind", "document")
    form.add_field("subject", "Gutachten")
    form.add_field("file", b"%PDF-1.4\n" + b"\x8f" * (size - 9), filename=name,
                   content_type="application/pdf")
    return form


async def test_files_are_budgeted_as_sent_base64_a_third_larger(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """An 8 MB PDF under the 10 MiB limit was 11 MB as sent; here the same at a 40 kB
    limit: 35 kB of file are 47 kB in the message, so the portal link goes instead."""
    worker = await worker_of(nhub)
    worker.config = dataclasses.replace(worker.config, max_attachment_bytes=40_000)
    assert encoded_size(35_000) > 40_000
    c = await customer(nhub, email="erika@example.de")
    status, doc = await nhub.agent.post(f"/customers/{c['id']}/entries",
                                        data=_document("Gutachten.pdf", 35_000))
    assert status == 201, doc
    done = await outcome(nhub, c["id"], doc["id"])
    assert done["meta"]["notification"]["channel"] == "email"
    (mail,) = smtp_sink.received
    assert list(mail.message.iter_attachments()) == []
    assert f"Im Kundenportal abrufbar: Gutachten.pdf – {nhub.state.settings.base_url}" \
           f"/portal/entries/{doc['id']}" in mail.text()
    status, small = await nhub.agent.post(f"/customers/{c['id']}/entries",
                                          data=_document("Kurz.pdf", 25_000))
    assert status == 201, small
    await outcome(nhub, c["id"], small["id"])
    assert [p.get_filename() for p in smtp_sink.received[1].message.iter_attachments()] \
        == ["Kurz.pdf"]


async def _sent_by_email(hub: Hub, c: dict[str, Any], name: str, size: int
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A document of ``size`` bytes for ``c``, notified: the entry and its notification
    record, which says it went by e-mail."""
    status, doc = await hub.agent.post(f"/customers/{c['id']}/entries",
                                       data=_document(name, size))
    assert status == 201, doc
    done = await outcome(hub, c["id"], doc["id"])
    notification = done["meta"]["notification"]
    assert (notification["status"], notification["channel"]) == ("sent", "email")
    return doc, notification


async def test_a_message_over_the_servers_announced_size_goes_with_portal_links(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """The server announces ``SIZE`` (Postfix: 10240000): a message over it was refused at
    MAIL FROM with 552, retried for hours as transient, then went to the portal. Now it
    goes at once, its file as a portal link; later messages respect the limit up front."""
    smtp_sink.size_limit = 150_000
    c = await customer(nhub, email="erika@example.de")
    doc, notification = await _sent_by_email(nhub, c, "Gutachten.pdf", 120_000)
    assert notification["attempts"] == 0 and "fallback_from" not in notification
    assert "Gutachten.pdf not attached" in notification["reason"]
    assert "150000" in notification["reason"]
    (mail,) = smtp_sink.received
    assert list(mail.message.iter_attachments()) == []
    assert f"/portal/entries/{doc['id']}" in mail.text() and "Gutachten.pdf" in mail.text()
    status, jobs = await nhub.admin.get(f"/notifications?customer={c['id']}")
    assert [j["status"] for j in jobs["items"]] == ["sent"]

    status, again = await nhub.agent.post(f"/customers/{c['id']}/entries",
                                          data=_document("Nachtrag.pdf", 100_000))
    done = await outcome(nhub, c["id"], again["id"])
    assert done["meta"]["notification"]["reason"] is None  # linked from the start
    assert list(smtp_sink.received[1].message.iter_attachments()) == []


async def test_a_size_refusal_after_data_sends_the_files_as_portal_links(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    """A relay that announces no limit and answers ``552 5.3.4`` after DATA."""
    smtp_sink.size_limit = None
    smtp_sink.refuse_larger_than = 100_000
    c = await customer(nhub, email="erika@example.de")
    _, notification = await _sent_by_email(nhub, c, "Gutachten.pdf", 90_000)
    assert "552 5.3.4" in smtp_sink.refused[0]
    assert "Gutachten.pdf not attached" in notification["reason"]
    (mail,) = smtp_sink.received  # the one accepted
    assert list(mail.message.iter_attachments()) == []
    assert "Gutachten.pdf" in mail.text()


@pytest.mark.parametrize("exc", [
    aiosmtplib.SMTPSenderRefused(552, "message size exceeds fixed maximum", "a@b.c"),
    aiosmtplib.SMTPDataError(552, "Too much mail data"),
    aiosmtplib.SMTPDataError(554, "5.3.4 Message too big for system"),
    aiosmtplib.SMTPDataError(552, "5.2.3 Your message exceeded Google's message size limits"),
], ids=["mail-from", "data", "5.3.4", "5.2.3"])
def test_a_size_refusal_is_too_large_not_transient(exc: Exception) -> None:
    assert isinstance(translate_smtp_error(exc), TooLarge)


@pytest.mark.parametrize("lang,line", [
    ("de", "Antworten Sie einfach auf diese E-Mail oder im Kundenportal: "),
    ("en", "Simply reply to this e-mail or in the customer portal: ")], ids=["de", "en"])
async def test_the_text_names_the_portal_before_its_link(
        nhub: Hub, smtp_sink: SmtpSink, lang: str, line: str) -> None:
    status, _ = await nhub.admin.post("/office/inbound-addresses",
                                      json={"address": "post@buero.test"})
    assert status == 201
    c = await customer(nhub, email="erika@example.de", prefs={"language": lang})
    e = await note(nhub, c["id"], "Ihre Police ist verlängert.")
    (mail,) = await smtp_sink.wait(1)
    assert f"{line}{nhub.state.settings.base_url}/portal/entries/{e['id']}" in mail.text()


async def test_a_long_subject_is_cut_at_a_word_with_an_ellipsis(
        nhub: Hub, smtp_sink: SmtpSink) -> None:
    words = [f"Schadensmeldung{i}" for i in range(40)]
    c = await customer(nhub, email="erika@example.de")
    await note(nhub, c["id"], "Text", subject=" ".join(words))
    (mail,) = await smtp_sink.wait(1)
    subject = mail.message["Subject"]
    assert len(subject) <= SUBJECT_MAX and subject.endswith("…")
    assert subject[:-1].split(" ")[-1] in words  # a whole word before the "…"
    assert subject.startswith("Büro Müller & Partner: Schadensmeldung0 ")


def test_shorten_cuts_at_words() -> None:
    assert shorten("Hallo Welt wie geht es", 14) == "Hallo Welt…"
    assert shorten("Hallo Welt wie geht es", 11) == "Hallo Welt…"
    assert shorten("Hallo Welt", 10) == "Hallo Welt"
    assert shorten("x" * 30, 10) == "x" * 9 + "…"  # one word: cut inside it


def test_a_non_ascii_message_is_built_once_with_every_header_in_ascii() -> None:
    """IDNA domains for every address: the message needs no SMTPUTF8 unless a local part
    is not ASCII."""
    raw = build_email(OutgoingMessage(
        channel="email", address="erika@müller.de", recipient_name="Erika",
        sender_name="Büro", subject="Test", text="x", html=None,
        message_id="<e1.email@buero.test>", office_id="o", customer_id="c", entry_id="e",
        reply_to="info@büro-berger.example",
        attachments=(OutgoingAttachment("Ärger.pdf", "application/pdf", b"x"),)),
        "chronik@buero.test")
    assert head(raw).isascii() and raw.isascii()
    assert b"<info@xn--bro-berger-9db.example>" in raw and b"<erika@xn--mller-kva.de>" in raw
