"""Other projects' test mails through our intake: Apache James mime4j, CPython's own e-mail
tests, GNU Mailman and HyperKitty, mail-parser, django-mailbox, talon, dkimpy and Salmon
(fetched by ``deploy/ci/testdata.sh`` into ``.cache/testdata``; nobody here wrote them, so
they show what "works on what arrives" means beyond our own examples).

For every message, through the real path (``MailIngest.deliver`` on a real store):

- it is stored, or quarantined for a reason a person can act on -- never for an internal
  error ("unreadable message (ValueError)") or because the store refused what the parser
  made of it ("unstorable: UnicodeEncodeError");
- nothing is lost: every part the standard library reads as a named file is among the
  attachments, and a message whose text or HTML part has words has a body.

Below the sweep, the concrete faults these corpora showed, rebuilt as small messages so that
they are checked in every clone (with or without the fetched data)."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
from pathlib import Path

import pytest

from connectors.email.errors import SourceError
from connectors.email.inbound import MailIngest
from connectors.email.parse import ParsedMail, parse_message
from connectors.email.sources import iter_messages
from tests.conftest import Hub

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "testdata"
CORPORA: dict[str, tuple[str, ...]] = {
    "mime4j": ("james-0.8.14/testmsgs/*.msg", "james-0.8.14/mimetools-testmsgs/*.msg"),
    "cpython": ("cpython-test_email/msg_*.txt",),
    "mailman": ("mailman-3.3.10/src/mailman/**/*.eml",),
    "hyperkitty": ("hyperkitty-1.3.12/hyperkitty/tests/testdata/*.txt",),
    "mail-parser": ("mail-parser-4.8.0/tests/mails/*",),
    "django-mailbox": ("django-mailbox-4.10.1/django_mailbox/tests/messages/*.eml",),
    "talon": ("talon-1.4.4/tests/fixtures/standard_replies/*.eml",),
    "dkimpy": ("dkimpy-1.1.8/dkim/tests/data/*.msg", "dkimpy-1.1.8/dkim/tests/data/*.message"),
    "salmon": ("salmon-mail-3.3.0/tests/data/*.msg",),
}
BROKEN = ("unreadable message (", "unstorable")
"""Quarantine reasons that are our fault, not the message's."""


def _messages(name: str) -> list[tuple[str, bytes]]:
    files = sorted(p for pattern in CORPORA[name] for p in CACHE.glob(pattern) if p.is_file())
    if not files:
        pytest.skip(f"the {name} test mails are not in {CACHE}: deploy/ci/testdata.sh "
                    "fetches them (it needs PyPI, Maven Central and Debian's archive)")
    out: list[tuple[str, bytes]] = []
    for path in files:
        try:
            stream = iter_messages(path)
        except SourceError:  # a fixture that is no mail at all (a bare body)
            continue
        out += [(f"{path.relative_to(CACHE)}#{n}", m.raw) for n, m in enumerate(stream)]
    return out


def _named_files(raw: bytes) -> int:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return sum(1 for part in msg.walk()
               if not part.is_multipart() and part.get_filename())


def _has_words(raw: bytes) -> bool:
    """A text part (not marked as an attachment) with letters in it, as the standard
    library decodes it."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in msg.walk():
        if part.get_content_maintype() != "text" or part.is_multipart() or \
                part.get_content_disposition() == "attachment" or \
                part.get_content_type() not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and any(c.isalpha() for c in
                                              payload.decode("latin-1")[:2000]):
            return True
    return False


@pytest.mark.parametrize("corpus", sorted(CORPORA))
async def test_other_projects_mail_is_stored_or_quarantined_for_a_reason(
        hub: Hub, corpus: str) -> None:
    mail = MailIngest(hub.state.ingest)
    problems: list[str] = []
    for name, raw in _messages(corpus):
        delivered = await mail.deliver(hub.office.id, raw, "test")
        item = delivered.result.quarantined
        if item is not None:
            if item.reason.startswith(BROKEN) or "unreadable message (" in item.reason:
                problems.append(f"{name}: quarantined as {item.reason!r}")
            continue
        entry = delivered.result.entry
        assert entry is not None, name
        if delivered.outcome == "duplicate":
            continue
        files = _named_files(raw)
        if len(entry.attachments) < files:
            problems.append(f"{name}: {len(entry.attachments)} attachment(s) kept, the "
                            f"standard library reads {files} named file(s)")
        if not entry.body.strip() and _has_words(raw):
            problems.append(f"{name}: no body, though a text part has words")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the faults

HEAD = b"From: Erika Mustermann <erika@example.de>\nTo: buero@example.com\nSubject: Test\n"


def _parsed(raw: bytes) -> ParsedMail:
    return parse_message(raw)


def test_a_zone_offset_beyond_a_day_does_not_lose_the_message() -> None:
    """HyperKitty's ``bad_date_tz.txt``: ``-3000 (CST)`` made the whole message
    unreadable (the offset is impossible); the date is taken as unreadable instead."""
    parsed = _parsed(HEAD + b"Date: Tue, 30 Nov 1999 23:56:33 -3000 (CST)\n\nHallo\n")
    assert parsed.text == "Hallo" and parsed.date is None  # (stored as received)


async def test_utf7_text_with_a_broken_pair_is_stored(hub: Hub) -> None:
    """Mailman's ``ascii_in_utf7.eml``: UTF-7's decoder let half a UTF-16 pair through,
    which no store can hold: the message ended in the quarantine as "unstorable"."""
    raw = HEAD + (b"Content-Type: text/plain; charset=UTF-7\n\n"
                  b"Guten Tag +ZZk- und +2DE- Ende\n")
    parsed = _parsed(raw)
    parsed.text.encode("utf-8")  # (raises on a lone surrogate)
    assert parsed.text.startswith("Guten Tag ") and "\ufffd" in parsed.text
    delivered = await MailIngest(hub.state.ingest).deliver(hub.office.id, raw, "test")
    assert delivered.outcome == "created", delivered


def test_base64_ending_in_a_stray_boundary_line_is_decoded() -> None:
    """mail-parser's ``mail_malformed_3``: a boundary line the parser did not take for one
    stayed inside the base64, and its ``=`` made the whole HTML body undecodable."""
    html = "<p>Ihre Police ist unterwegs.</p>" * 20
    encoded = base64.encodebytes(html.encode())
    parsed = _parsed(HEAD + b"Content-Type: text/html; charset=utf-8\n"
                     b"Content-Transfer-Encoding: base64\n\n" + encoded
                     + b"----=_1wyyTH1wPm--\n")
    assert parsed.text.count("Ihre Police ist unterwegs.") == 20
    assert any("look like a MIME boundary" in n for n in parsed.parse_notes)


def test_base64_pieces_each_with_padding_are_all_decoded() -> None:
    """Some encoders pad every line: each piece is decoded, none dropped."""
    pieces = b"\n".join(base64.b64encode(w) for w in (b"Ihre ", b"Police ", b"kommt."))
    parsed = _parsed(HEAD + b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
                     + pieces + b"\n")
    assert parsed.text == "Ihre Police kommt."


def test_a_mail_of_named_text_parts_has_them_as_its_text() -> None:
    """CPython's ``msg_04``/``msg_44``: a mail whose only text is in text parts with a file
    name (shown inline by mail programs) had no body; the files stay attachments too."""
    for disposition in (b"Content-Disposition: inline; filename=\"msg.txt\"\n", b""):
        raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                      b'Content-Type: text/plain; name="msg.txt"\n' + disposition +
                      b"\na simple kind of mirror\n--B--\n")
        parsed = _parsed(raw)
        assert parsed.text == "a simple kind of mirror"
        assert [a.filename for a in parsed.attachments] == ["msg.txt"]
    attached = _parsed(HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                       b"Content-Type: text/plain\n\nHallo\n--B\n"
                       b'Content-Type: text/plain; name="log.txt"\n\nZeile 1\n--B--\n')
    assert attached.text == "Hallo"  # with a text of its own, a file stays a file


def test_a_uuencoded_file_in_the_text_becomes_an_attachment() -> None:
    """mime4j's ``uu-zeegee``/``sig-uu``: files uuencoded into the text (``begin 644``)
    showed as lines of gibberish; they are attachments, the text says where they were."""
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;" * 10
    lines = [binascii.b2a_uu(gif[i:i + 45]).rstrip(b"\n") for i in range(0, len(gif), 45)]
    block = b"begin 644 logo.gif\n" + b"\n".join(lines) + b"\n`\nend\n"
    parsed = _parsed(HEAD + b"Content-Type: text/plain\n\nAnbei das Logo:\n\n" + block
                     + b"\nGruss\n")
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("logo.gif", "image/gif", gif)]
    assert parsed.text == "Anbei das Logo:\n\n[logo.gif]\n\nGruss"
    broken = _parsed(HEAD + b"Content-Type: text/plain\n\nbegin 644 x.bin\nnot uu at all\nend\n")
    assert broken.attachments == () and "begin 644 x.bin" in broken.text
