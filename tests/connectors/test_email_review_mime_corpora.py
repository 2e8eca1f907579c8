"""Faults found by running other mail parsers' test messages through Chronik's parser.

The messages themselves are not copied here (``bench/fetch_mail_corpora.py`` fetches them,
``bench/check_mail_corpora.py`` runs them): each case is hand-made with the construction
of the message that showed the fault, named in the test's docstring. The assertions are
what an agent sees on the timeline: body text, attachment names and bytes, ``parse_notes``.
"""

from __future__ import annotations

import base64
import quopri

import pytest

from connectors.email.parse import parse_message

HEAD = (b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\n"
        b"Subject: Fwd: Angebot\nMessage-ID: <fw1@example.com>\nMIME-Version: 1.0\n")
PDF = b"%PDF-1.4\n" + bytes(range(256)) + b"\n%%EOF\n"
INNER = (b"From: Bernd Berg <bernd@example.net>\nTo: anna@example.com\n"
         b"Subject: Angebot 2024\nDate: Thu, 27 Jun 2013 13:27:12 +0200\nMIME-Version: 1.0\n"
         b'Content-Type: multipart/mixed; boundary="IN"\n\n--IN\n'
         b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
         b"Gr\xc3\xbc\xc3\x9fe, anbei das Angebot.\n--IN\n"
         b'Content-Type: application/pdf; name="Angebot.pdf"\n'
         b'Content-Disposition: attachment; filename="Angebot.pdf"\n'
         b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(PDF) + b"--IN--\n")


def forward(cte: bytes, encoded: bytes) -> bytes:
    return HEAD + (b'Content-Type: multipart/mixed; boundary="OUT"\n\n--OUT\n'
                   b"Content-Type: text/plain\n\nsiehe unten\n--OUT\n"
                   b"Content-Type: message/rfc822\nContent-Transfer-Encoding: " + cte +
                   b"\n\n" + encoded + b"\n--OUT--\n")


@pytest.mark.parametrize(("cte", "encode"), [
    (b"base64", base64.encodebytes),
    (b"Base64 ", base64.encodebytes),
    (b"quoted-printable", quopri.encodestring),
], ids=["base64", "loose-base64", "quoted-printable"])
def test_forwarded_message_sent_base64_encoded_is_read(cte: bytes, encode: object) -> None:
    """GroupWise sends a forwarded mail as ``message/rfc822`` in base64 (Tika's
    testGroupWiseEml.eml; mime4j's multi-2gifs-base64.msg and base64encoded-rfc822message*):
    the stdlib parses the base64 text as the message, so the timeline showed lines of base64
    under "Forwarded message" and the forwarded attachments were lost."""
    assert callable(encode)
    parsed = parse_message(forward(cte, encode(INNER)))
    assert "siehe unten" in parsed.text
    assert "From: Bernd Berg <bernd@example.net>" in parsed.text
    assert "Subject: Angebot 2024" in parsed.text
    assert "Grüße, anbei das Angebot." in parsed.text
    assert "RnJvbTog" not in parsed.text and "=C3=BC" not in parsed.text
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("Angebot.pdf", "application/pdf", PDF)]
    assert any("forwarded message" in n and "decoded" in n for n in parsed.parse_notes)


def test_forwarded_message_in_base64_inside_one_in_base64() -> None:
    """mime4j's base64encoded-rfc822message-nested.msg: each level is decoded."""
    middle = (b"From: Carla <carla@example.org>\nSubject: Weiter\nMIME-Version: 1.0\n"
              b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
              + base64.encodebytes(INNER))
    parsed = parse_message(forward(b"base64", base64.encodebytes(middle)))
    assert "Subject: Weiter" in parsed.text and "Subject: Angebot 2024" in parsed.text
    assert "Grüße, anbei das Angebot." in parsed.text
    assert [a.data for a in parsed.attachments] == [PDF]


def test_forwarded_message_sent_as_the_standard_wants_gets_no_note() -> None:
    parsed = parse_message(forward(b"7bit", INNER.replace(b"8bit", b"8bit")))
    assert "Grüße, anbei das Angebot." in parsed.text
    assert [a.data for a in parsed.attachments] == [PDF]
    assert not any("forwarded message" in n for n in parsed.parse_notes)
