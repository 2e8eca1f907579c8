"""Mail forwarded "as attachment": the forwarded mail itself is kept as ``<Subject>.eml``.

A customer forwards their insurer's letter as an attachment (Outlook's *Forward as
attachment*, Thunderbird's *Forward As > Attachment*, Apple Mail, a base64-encoded part as
GroupWise and some webmail send it, an ``.eml`` dragged into webmail). The timeline showed
the letter's text and kept its files, but not the letter: the agent could not send it on,
archive it or prove what it said (its headers, its exact HTML). The messages here are built
with the stdlib ``email`` package in the shapes those programs send; the assertions are what
the agent gets: the text, the attachments' names, types and bytes, ``parse_notes``.
"""

from __future__ import annotations

import base64
import email
from collections.abc import Callable
from email import policy
from email.message import EmailMessage, Message

import pytest

import connectors.email.parse as parse_module
from connectors.email.errors import MessageTooLarge
from connectors.email.parse import FORWARD_SEPARATOR, ParsedMail, parse_message

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = ('<html><body><p>Sehr geehrte Frau Mustermann,</p><p>wir <b>regulieren</b> den '
        'Schaden 4711 mit 1.250,00&nbsp;&euro;.</p></body></html>')


def letter(subject: str = "Ihr Schaden 4711", *, pdf: bytes | None = PDF,
           sender: str = "Versicherung AG <schaden@versicherung.example>",
           text: str = "Sehr geehrte Frau Mustermann,\n\nwir regulieren den Schaden 4711.\n"
           ) -> EmailMessage:
    """The insurer's mail as its mail server delivered it: trace and DKIM headers, text
    and HTML, a PDF."""
    msg = EmailMessage()
    msg["Received"] = ("from mx.versicherung.example (mx.versicherung.example [192.0.2.7]) "
                       "by mx.example.de with ESMTPS; Mon, 02 Mar 2026 10:00:02 +0100")
    msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=versicherung.example; s=mail; b=AbC123"
    msg["From"] = sender
    msg["To"] = "Erika Mustermann <erika@example.de>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0100"
    msg["Message-ID"] = "<brief-4711@versicherung.example>"
    msg["X-Schadenportal"] = "Vorgang Wolkenkuckucksheim"
    msg.set_content(text)
    msg.add_alternative(HTML, subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf",
                           filename="Bescheid.pdf")
    return msg


def _outer(subject: str = "WG: Ihr Schaden 4711") -> EmailMessage:
    outer = EmailMessage()
    outer["From"] = "Erika Mustermann <erika@example.de>"
    outer["To"] = "Service <service@buero.test>"
    outer["Subject"] = subject
    outer["Date"] = "Mon, 02 Mar 2026 11:30:00 +0100"
    outer["Message-ID"] = "<fw-4711@example.de>"
    return outer


def outlook(inner: Message) -> bytes:
    """Outlook: text and HTML, the mail as ``message/rfc822`` without a name, its
    disposition with creation and modification dates."""
    outer = _outer()
    outer["Thread-Topic"] = "Ihr Schaden 4711"
    outer["X-MS-Has-Attach"] = "yes"
    outer["Content-Language"] = "de-DE"
    outer.set_content("Hallo,\n\nanbei das Schreiben der Versicherung.\n\nErika\n",
                      charset="iso-8859-1", cte="quoted-printable")
    outer.add_alternative("<html><body><p>Hallo,</p><p>anbei das Schreiben der "
                          "Versicherung.</p><p>Erika</p></body></html>", subtype="html")
    outer.add_attachment(inner)
    forwarded = list(outer.iter_attachments())[-1]
    forwarded.set_param("creation-date", "Mon, 02 Mar 2026 10:30:11 GMT",
                        header="Content-Disposition")
    return outer.as_bytes(policy=policy.SMTP)


def thunderbird(inner: Message) -> bytes:
    """Thunderbird's *Forward As > Attachment*: named ``<Subject>.eml`` in both headers."""
    outer = _outer("Fwd: Ihr Schaden 4711")
    outer["User-Agent"] = "Mozilla Thunderbird"
    outer.set_content("Hallo,\n\nanbei das Schreiben der Versicherung.\n\nErika\n")
    outer.add_attachment(inner, filename="Ihr Schaden 4711.eml",
                         params={"name": "Ihr Schaden 4711.eml"})
    return outer.as_bytes(policy=policy.SMTP)


def apple_mail(inner: Message) -> bytes:
    """Apple Mail: ``x-unix-mode``, and the signature in a text part after the mail."""
    outer = _outer()
    outer["X-Mailer"] = "Apple Mail (2.3774.300.61.1.2)"
    outer.set_content("Hallo,\n\nanbei das Schreiben der Versicherung.\n")
    outer.add_attachment(inner, filename="Ihr Schaden 4711.eml",
                         params={"x-unix-mode": "0644", "name": "Ihr Schaden 4711.eml"})
    signature = EmailMessage()
    signature.set_content("\n\nErika Mustermann\nVon meinem iPhone gesendet\n")
    outer.attach(signature)
    return outer.as_bytes(policy=policy.SMTP)


def in_base64(inner: Message) -> bytes:
    """``message/rfc822`` in base64 (GroupWise, some webmail; RFC 2046 allows only 7bit,
    8bit and binary there)."""
    outer = _outer()
    outer.set_content("Hallo,\n\nanbei das Schreiben der Versicherung.\n")
    outer.make_mixed()
    part = EmailMessage()
    part["Content-Type"] = "message/rfc822"
    part["Content-Transfer-Encoding"] = "base64"
    part["Content-Disposition"] = "attachment"
    part.set_payload(base64.encodebytes(inner.as_bytes(policy=policy.SMTP)).decode())
    outer.attach(part)
    return outer.as_bytes(policy=policy.SMTP)


def eml_file(inner: Message) -> bytes:
    """A saved ``.eml`` dragged into webmail: ``application/octet-stream``, base64."""
    outer = _outer()
    outer.set_content("Hallo,\n\nanbei das Schreiben der Versicherung.\n")
    outer.add_attachment(inner.as_bytes(policy=policy.SMTP), maintype="application",
                         subtype="octet-stream", filename="Schreiben der Versicherung.eml")
    return outer.as_bytes(policy=policy.SMTP)


STYLES: dict[str, tuple[Callable[[Message], bytes], str]] = {
    "outlook": (outlook, "Ihr Schaden 4711.eml"),
    "thunderbird": (thunderbird, "Ihr Schaden 4711.eml"),
    "apple-mail": (apple_mail, "Ihr Schaden 4711.eml"),
    "base64": (in_base64, "Ihr Schaden 4711.eml"),
    "eml-file": (eml_file, "Schreiben der Versicherung.eml"),  # (the sender's own name)
}


def files(parsed: ParsedMail) -> list[tuple[str, str]]:
    return [(a.filename, a.content_type) for a in parsed.attachments]


def kept(parsed: ParsedMail) -> list[bytes]:
    return [a.data for a in parsed.attachments if a.content_type == "message/rfc822"]


@pytest.mark.parametrize("style", list(STYLES), ids=list(STYLES))
def test_the_forwarded_mail_is_kept_as_it_was_sent(style: str) -> None:
    build, name = STYLES[style]
    inner = letter()
    sent = inner.as_bytes(policy=policy.SMTP)
    raw = build(inner)
    parsed = parse_message(raw)
    # shown as before: the forward's own words, then the letter's header lines and text
    assert parsed.text.startswith("Hallo,\n\nanbei das Schreiben der Versicherung.")
    assert (f"{FORWARD_SEPARATOR}\nFrom: Versicherung AG <schaden@versicherung.example>\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0100\nSubject: Ihr Schaden 4711\n") in parsed.text
    assert "wir regulieren den Schaden 4711." in parsed.text
    # the letter's PDF once, and the letter itself: its bytes exactly as sent
    assert files(parsed) == [("Bescheid.pdf", "application/pdf"), (name, "message/rfc822")]
    assert parsed.attachments[0].data == PDF
    assert kept(parsed) == [sent]
    if style != "base64" and style != "eml-file":
        assert sent in raw  # (the part's body as it stands in the message)
    assert not [n for n in parsed.parse_notes if "forwarded message" in n and
                "decoded" not in n and "shown as a forwarded" not in n]


def test_the_kept_mail_shows_what_the_insurer_sent() -> None:
    """Downloaded and opened, the ``.eml`` is the insurer's mail: its trace and signature
    headers, its Message-ID, its exact HTML and its PDF."""
    parsed = parse_message(outlook(letter()))
    (eml,) = kept(parsed)
    opened = parse_message(eml)
    assert (opened.from_email, opened.subject, opened.message_id) == (
        "schaden@versicherung.example", "Ihr Schaden 4711", "brief-4711@versicherung.example")
    assert [(a.filename, a.data) for a in opened.attachments] == [("Bescheid.pdf", PDF)]
    for header in (b"Received: from mx.versicherung.example", b"DKIM-Signature: v=1;",
                   b"X-Schadenportal: Vorgang Wolkenkuckucksheim"):
        assert header in eml
    html = email.message_from_bytes(eml, policy=policy.default).get_body(("html",))
    assert isinstance(html, EmailMessage) and html.get_content() == HTML + "\r\n"


@pytest.mark.parametrize(("subject", "given", "name"), [
    ("=?utf-8?q?Schadenmeldung_=C3=BCber_4711/2026:_Frist?=", None,
     "Schadenmeldung über 4711_2026_ Frist.eml"),
    ('Re: "Police" <neu>? *dringend* | C:\\Temp', None,
     "Re_ _Police_ _neu__ _dringend_ _ C__Temp.eml"),
    ("...versteckt.", None, "versteckt.eml"),
    ("", "Nachricht.eml", "Nachricht.eml"),
    ("", "forwarded message", "forwarded message.eml"),
    ("", None, "forwarded-message.eml"),
    (" \t", None, "forwarded-message.eml"),
    ("Ä" * 300, None, "Ä" * 100 + ".eml"),
], ids=["encoded-word", "unsafe-characters", "leading-dots", "sender-named-it",
        "kmail-name", "no-subject", "blank-subject", "long"])
def test_the_file_is_named_after_the_subject(subject: str, given: str | None,
                                             name: str) -> None:
    inner = letter(pdf=None)
    del inner["Subject"]
    if subject:
        inner["Subject"] = subject
    outer = _outer()
    outer.set_content("siehe Anhang\n")
    if given:
        outer.add_attachment(inner, filename=given)
    else:
        outer.add_attachment(inner)
    raw = outer.as_bytes(policy=policy.SMTP)
    if subject.startswith("=?"):  # as the sender's program encoded it
        raw = raw.replace(b"Subject: Sch", subject.encode().join([b"Subject: ", b"\r\nX-Old: "]))
    assert files(parse_message(raw)) == [(name, "message/rfc822")]


def test_a_forwarded_internationalised_mail_is_kept_too() -> None:
    """``message/global`` (RFC 6532: UTF-8 in the forwarded mail's headers, as sent between
    servers that speak SMTPUTF8): kept as ``message/rfc822`` like any forwarded mail."""
    inner = ("From: Jürgen Groß <jürgen@versicherung.example>\r\nTo: erika@example.de\r\n"
             "Subject: Schadenmeldung über 4711\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße aus Köln.\r\n").encode()
    raw = _with_part(b"Content-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n"
                     b"Content-Disposition: attachment\r\n\r\n" + inner)
    parsed = parse_message(raw)
    assert "Subject: Schadenmeldung über 4711" in parsed.text and "Grüße aus Köln." in parsed.text
    assert files(parsed) == [("Schadenmeldung über 4711.eml", "message/rfc822")]
    assert kept(parsed) == [inner]


def test_two_forwarded_mails_with_one_subject_get_two_names() -> None:
    outer = _outer()
    outer.set_content("zwei Schreiben\n")
    first, second = letter(pdf=None), letter(pdf=None, text="Zweites Schreiben.\n")
    outer.add_attachment(first)
    outer.add_attachment(second)
    parsed = parse_message(outer.as_bytes(policy=policy.SMTP))
    assert files(parsed) == [("Ihr Schaden 4711.eml", "message/rfc822"),
                             ("Ihr Schaden 4711 (2).eml", "message/rfc822")]
    assert kept(parsed) == [m.as_bytes(policy=policy.SMTP) for m in (first, second)]


def _forward(inner: Message, subject: str, sender: str) -> EmailMessage:
    outer = EmailMessage()
    outer["From"] = sender
    outer["To"] = "service@buero.test"
    outer["Subject"] = subject
    outer.set_content(f"Weitergeleitet: {subject}\n")
    outer.add_attachment(inner)
    return outer


def test_a_forward_of_a_forward_keeps_each_mail_and_the_letters_pdf_once() -> None:
    """An agent forwards the customer's mail (which has the insurer's letter attached) to
    the office inbox: both mails are kept; the letter's PDF is an attachment once."""
    insurers = letter()
    customers = _forward(insurers, "WG: Ihr Schaden 4711", "Erika <erika@example.de>")
    agents = _forward(customers, "FW: Kundin Mustermann", "Tom Agent <tom@buero.test>")
    parsed = parse_message(agents.as_bytes(policy=policy.SMTP))
    assert parsed.text.count(FORWARD_SEPARATOR) == 2
    assert "Subject: WG: Ihr Schaden 4711" in parsed.text
    assert "wir regulieren den Schaden 4711." in parsed.text
    assert files(parsed) == [("Bescheid.pdf", "application/pdf"),
                             ("Ihr Schaden 4711.eml", "message/rfc822"),
                             ("WG_ Ihr Schaden 4711.eml", "message/rfc822")]
    letter_eml, customers_eml = kept(parsed)
    assert letter_eml == insurers.as_bytes(policy=policy.SMTP)
    assert customers_eml == customers.as_bytes(policy=policy.SMTP)
    assert letter_eml in customers_eml


def test_forwards_nested_past_the_depth_limit_are_kept_unread() -> None:
    """The parser follows 12 levels of nesting (a hostile message may hold thousands); a
    forwarded mail deeper down is kept as a file, named by its subject, with a note."""
    msg: Message = letter(pdf=None)
    for level in range(1, 15):
        msg = _forward(msg, f"Ebene {level}", f"Person {level} <p{level}@example.de>")
    parsed = parse_message(msg.as_bytes(policy=policy.SMTP))
    assert parsed.subject == "Ebene 14"
    assert "Subject: Ebene 8" in parsed.text and "Subject: Ebene 7" not in parsed.text
    names = [a.filename for a in parsed.attachments if a.content_type == "message/rfc822"]
    assert names == [f"Ebene {level}.eml" for level in range(7, 14)]
    deepest = parsed.attachments[names.index("Ebene 7.eml") - len(names)]
    assert b"Subject: Ihr Schaden 4711" in deepest.data  # (and every mail below it)
    assert parsed.parse_notes == ("a forwarded message nested more than 12 levels deep is not "
                                  "shown; it is kept as 'Ebene 7.eml'",)


# --------------------------------------------------------------------------- broken parts

def _with_part(part: bytes, tail: bytes = b"\r\n--OUT--\r\n") -> bytes:
    return (b"From: Erika Mustermann <erika@example.de>\r\nTo: service@buero.test\r\n"
            b"Subject: WG: Schreiben\r\nMessage-ID: <broken@example.de>\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="OUT"\r\n\r\n'
            b"--OUT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Hallo, anbei das Schreiben.\r\n--OUT\r\n" + part + tail)


SENT = letter().as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize(("part", "tail", "eml", "note"), [
    (b"Content-Type: message/rfc822\r\n\r\n" + SENT[:len(SENT) // 2], b"", SENT[:len(SENT) // 2],
     "closing boundary is missing"),
    (b"Content-Type: message/rfc822\r\n\r\n", b"\r\n--OUT--\r\n", None, None),
    (b"Content-Type: message/rfc822\r\n\r\n\x00\xff\xfe garbage \x89PNG",
     b"\r\n--OUT--\r\n", b"\x00\xff\xfe garbage \x89PNG", None),
    (b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + base64.encodebytes(SENT)[:-40].replace(b"\n", b"\r\n") + b"!!*",
     b"\r\n--OUT--\r\n", None, "decoded"),
], ids=["cut-short", "empty", "binary-garbage", "damaged-base64"])
def test_a_broken_forwarded_part_keeps_the_mail_around_it(
        part: bytes, tail: bytes, eml: bytes | None, note: str | None) -> None:
    parsed = parse_message(_with_part(part, tail))
    assert parsed.from_email == "erika@example.de" and parsed.subject == "WG: Schreiben"
    assert parsed.text.startswith("Hallo, anbei das Schreiben.")
    if eml is not None:
        assert kept(parsed) == [eml]
    if note is not None:
        assert any(note in n for n in parsed.parse_notes), parsed.parse_notes
    if part.startswith(b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64"):
        (damaged,) = kept(parsed)  # decoded as far as it goes
        assert damaged.startswith(SENT[:200]) and "wir regulieren" in parsed.text


def test_a_forwarded_part_that_fails_to_read_leaves_the_mail_and_its_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong inside a forwarded mail (here: its HTML cannot be turned into
    text), the customer's mail is not quarantined: its text, a note, the forward's bytes."""
    real = parse_module.html_to_text

    def failing(html: str) -> str:
        if "regulieren" in html:
            raise ValueError("unexpected")
        return real(html)

    monkeypatch.setattr(parse_module, "html_to_text", failing)
    raw = outlook(letter(text=""))  # (no text part: the HTML is read)
    parsed = parse_message(raw)
    assert parsed.text.startswith("Hallo,\n\nanbei das Schreiben der Versicherung.")
    assert files(parsed) == [("Ihr Schaden 4711.eml", "message/rfc822")]
    assert kept(parsed)[0] in raw
    assert any("could not be read (ValueError)" in n and "kept as 'Ihr Schaden 4711.eml'" in n
               for n in parsed.parse_notes)


# --------------------------------------------------------------------------- size limits

def test_a_message_at_the_size_limit_keeps_its_forwarded_mail() -> None:
    """The kept copy is part of the message: a message of exactly the limit is read with
    it; one byte over, the whole message is refused (quarantined) as before."""
    big = letter(pdf=PDF + b"x" * 60_000)
    raw = thunderbird(big)
    parsed = parse_message(raw, max_bytes=len(raw))
    assert files(parsed) == [("Bescheid.pdf", "application/pdf"),
                             ("Ihr Schaden 4711.eml", "message/rfc822")]
    assert kept(parsed) == [big.as_bytes(policy=policy.SMTP)]
    with pytest.raises(MessageTooLarge):
        parse_message(raw, max_bytes=len(raw) - 1)


def test_copies_inside_a_kept_mail_stop_at_the_size_limit() -> None:
    """A forward of a forward near the limit: the outer mail is kept (it holds the inner
    one); a second copy of the inner one would take the copies past the limit, so it is not
    kept on its own (noted). Its text and PDF are there as usual."""
    insurers = letter(pdf=PDF + b"x" * 60_000)
    customers = _forward(insurers, "WG: Ihr Schaden 4711", "Erika <erika@example.de>")
    agents = _forward(customers, "FW: Kundin Mustermann", "Tom Agent <tom@buero.test>")
    raw = agents.as_bytes(policy=policy.SMTP)
    parsed = parse_message(raw, max_bytes=len(raw) + 1000)
    assert files(parsed) == [("Bescheid.pdf", "application/pdf"),
                             ("WG_ Ihr Schaden 4711.eml", "message/rfc822")]
    assert "wir regulieren den Schaden 4711." in parsed.text
    assert insurers.as_bytes(policy=policy.SMTP) in kept(parsed)[0]
    assert any("'Ihr Schaden 4711.eml' inside another one is not kept" in n
               for n in parsed.parse_notes)
    roomy = parse_message(raw, max_bytes=3 * len(raw))  # (the default limit is 50 MB)
    assert len(kept(roomy)) == 2
