"""Outlook ``.msg`` files and another project's mail corpus: Apache Tika's test documents.

Brokers drag mail out of Outlook into folders; ``chronik import`` of such a folder gives the
same entries as the mails would by IMAP. The files are Apache Tika's own test documents
(real Outlook items, fetched from Maven Central by ``deploy/ci/testdata.sh``), so nothing
here was written for Chronik.
"""

from __future__ import annotations

import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.email.msgfile import NotReadable, is_mail_class, message_class, to_mime
from connectors.email.parse import MailParseError, ParsedMail, parse_message
from tests.conftest import Hub
from tests.connectors.test_email_import import chronik, summary
from tests.support.shared import REPO

TIKA = REPO / ".cache" / "testdata" / "tika-3.3.1" / "test-documents"
pytestmark = pytest.mark.skipif(not TIKA.is_dir(), reason=(
    f"Apache Tika's test documents are not at {TIKA}: deploy/ci/testdata.sh fetches them "
    "from Maven Central (./run test runs it)"))

MAIL = ["test-outlook.msg", "test-outlook2003.msg", "testMSG.msg", "testMSG_att_doc.msg",
        "testMSG_att_msg.msg", "testMSG_chinese.msg", "testMSG_forwarded.msg",
        "testMSG_Post.msg"]
NOT_MAIL = ["testMSG_Appointment.msg", "testMSG_Contact.msg", "testMSG_StickyNote.msg",
            "testMSG_Task.msg"]
# sent inside one Exchange organisation: the sender has only an X.500 address
NO_SENDER_ADDRESS = ["testMSG_Post.msg", "testMSG_chinese.msg"]


def parsed(name: str) -> ParsedMail:
    return parse_message(to_mime((TIKA / name).read_bytes()))


def test_outlook_items_are_told_apart_by_their_class() -> None:
    assert sorted(p.name for p in TIKA.glob("*.msg")) == sorted(MAIL + NOT_MAIL)
    for name in MAIL:
        assert is_mail_class(message_class((TIKA / name).read_bytes())), name
    for name in NOT_MAIL:
        assert not is_mail_class(message_class((TIKA / name).read_bytes())), name


def test_a_mail_with_its_original_internet_headers() -> None:
    mail = parsed("testMSG.msg")
    assert (mail.from_email, mail.from_display_name) == ("jukka.zitting@gmail.com",
                                                         "Jukka Zitting")
    assert mail.subject == "MIME registry use cases"
    assert mail.to == ("tika-dev@lucene.apache.org",)
    assert mail.message_id == "510143ac0901291116s5f368dfby9d6423ce61acc36a@mail.gmail.com"
    assert mail.date is not None and mail.date.isoformat() == "2009-01-29T19:16:40+00:00"
    assert "As discussed, I've been working on making the type detection code" in mail.text


def test_attachments_with_names_types_and_bytes() -> None:
    mail = parsed("testMSG_att_doc.msg")
    assert mail.subject == "test pièce jointe 1"
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("test-unicode.doc", "application/msword"), ("pj1.txt", "text/plain")]
    assert all(len(a.data) > 0 for a in mail.attachments)
    images = parsed("test-outlook2003.msg").attachments
    assert len(images) == 11 and all(a.content_type == "image/jpeg" for a in images)


def test_an_attached_outlook_item_is_a_forwarded_message() -> None:
    mail = parsed("testMSG_att_msg.msg")
    assert "---------- Forwarded message ----------" in mail.text
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("Test Attachment.eml", "message/rfc822"), ("smbprn.00009008.KdcPjl.pdf",
                                                    "application/pdf")]
    assert b"\nFrom: Nick Booth <nick.booth@pof.com.au>\n" in mail.attachments[0].data
    assert mail.attachments[1].data.startswith(b"%PDF")


def test_non_ascii_names_and_text() -> None:
    mail = parsed("test-outlook.msg")
    assert mail.from_display_name == "L'Équipe Microsoft Outlook Express"
    assert "La réponse à vos attentes en matière de messagerie" in mail.text


@pytest.mark.parametrize("name", NO_SENDER_ADDRESS)
def test_a_sender_without_an_email_address_is_quarantined_not_guessed(name: str) -> None:
    with pytest.raises(MailParseError, match="no sender address"):
        parsed(name)


async def test_import_a_folder_of_outlook_files(hub: Hub, tmp_path: Path) -> None:
    folder = tmp_path / "Outlook"
    folder.mkdir()
    for name in MAIL + NOT_MAIL:
        shutil.copy(TIKA / name, folder / name)
    line = summary(chronik(hub, "import", str(folder), "--office", hub.office.id))
    assert line == (
        "imported 6, duplicates 0, quarantined 2; skipped 4 file(s) that hold no mail (not a "
        "message, mbox, .emlx or Outlook mail: testMSG_Appointment.msg, testMSG_Contact.msg, "
        "testMSG_StickyNote.msg, …)")
    again = summary(chronik(hub, "import", str(folder), "--office", hub.office.id))
    assert again.startswith("imported 0, duplicates 6, quarantined 2;")
    status, found = await hub.admin.get("/quarantine")
    assert status == 200
    assert sorted(item["origin"].rpartition("/")[2] for item in found["items"]) == sorted(
        NO_SENDER_ADDRESS)


async def test_an_imported_msg_is_the_same_entry_as_the_mail(hub: Hub, tmp_path: Path) -> None:
    """The .msg of a mail that also arrives by mail (same Message-ID) is one entry."""
    data = to_mime((TIKA / "testMSG.msg").read_bytes())
    (tmp_path / "mail.eml").write_bytes(data)
    shutil.copy(TIKA / "testMSG.msg", tmp_path / "Outlook.msg")
    first = summary(chronik(hub, "import", str(tmp_path / "mail.eml"), "--office",
                            hub.office.id))
    second = summary(chronik(hub, "import", str(tmp_path / "Outlook.msg"), "--office",
                             hub.office.id))
    assert (first, second) == ("imported 1, duplicates 0, quarantined 0",
                               "imported 0, duplicates 1, quarantined 0")


# --------------------------------------------------------------------------- Tika's mail corpus

# Tika's own test messages that hold no sender address at all (a GroupWise test with the
# address blanked out, Lotus Notes exports with names only, a web page saved by Internet
# Explorer, header fragments): quarantined, kept whole for an agent to assign.
NO_ADDRESS = {"testGroupWiseEml.eml", "testRFC822-big", "testRFC822-limitedheaders",
              "testRFC822_oddfrom", "testRFC822_simple_inline_body.txt"}


def test_tikas_mail_corpus() -> None:
    files = sorted(p for p in TIKA.iterdir() if p.is_file() and p.suffix not in (
        ".mbox", ".msg", ".dat", ".doc", ".docx", ".pptx", ".xls", ".xlsx", ".rtf", ".pdf", ".odt",
        ".ods"))  # (the office documents are for tests/timeline/test_doctext.py)
    assert len(files) >= 20
    for path in files:
        try:
            mail = parse_message(path.read_bytes())
        except MailParseError as exc:
            assert path.name in NO_ADDRESS, (path.name, exc.reason)
            assert "no sender address" in exc.reason
            continue
        assert path.name not in NO_ADDRESS, path.name
        assert mail.from_email and "@" in mail.from_email, path.name
        has_date = any(line.lower().startswith((b"date:", b"received:"))
                       for line in path.read_bytes().splitlines())
        assert (mail.date is not None) is has_date, path.name
        assert all(a.filename for a in mail.attachments), path.name
    dated = parse_message((TIKA / "testRFC822_date_utf8").read_bytes())
    assert dated.date is not None and dated.date.isoformat() == "2016-05-16T09:30:32+01:00"
    assert dated.from_display_name == "Philipp Steinkrüger"
    winmail = parse_message(b"From: a@example.com\nContent-Type: application/ms-tnef; "
                            b"name=winmail.dat\nContent-Transfer-Encoding: binary\n\n"
                            + (TIKA / "testWINMAIL.dat").read_bytes())
    assert [a.filename for a in winmail.attachments] == [
        "quick.doc", "quick.html", "quick.pdf", "quick.txt", "quick.xml"]


def test_an_outlook_item_attached_to_a_mail_is_shown_as_a_forwarded_message() -> None:
    """Outlook's "forward as attachment": the customer forwards the insurer's mail as a .msg
    file, which an agent without Outlook cannot open."""
    item = (TIKA / "testMSG_att_doc.msg").read_bytes()
    outer = EmailMessage()
    outer["From"] = "Erika Mustermann <erika@example.de>"
    outer["Subject"] = "WG: Schreiben der Versicherung"
    outer.set_content("Siehe unten.\n")
    outer.add_attachment(item, maintype="application", subtype="vnd.ms-outlook",
                         filename="Schreiben.msg")
    mail = parse_message(outer.as_bytes())
    assert mail.text.startswith("Siehe unten.")
    assert "---------- Forwarded message ----------\nFrom: Nicolas1 23456" in mail.text
    assert "Subject: test pièce jointe 1" in mail.text and "contenu" in mail.text
    assert [(a.filename, a.data == item) for a in mail.attachments] == [
        ("test-unicode.doc", False), ("pj1.txt", False), ("Schreiben.msg", True)]
    contact = (TIKA / "testMSG_Contact.msg").read_bytes()
    outer.add_attachment(contact, maintype="application", subtype="vnd.ms-outlook",
                         filename="Kontakt.msg")
    assert [a.filename for a in parse_message(outer.as_bytes()).attachments][-1:] == [
        "Kontakt.msg"]  # not mail: kept as it is


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["testMSG.msg", "testMSG_att_doc.msg", "testMSG_att_msg.msg"]),
       st.integers(min_value=0), st.binary(min_size=1, max_size=64),
       st.integers(min_value=0, max_value=512))
def test_a_damaged_msg_is_never_an_internal_error(name: str, position: int, insert: bytes,
                                                  cut: int) -> None:
    """Damaged at random (a disk error, a cut-off copy): read, or refused as not readable
    -- the import goes on either way, and the parser quarantines what was not read."""
    base = (TIKA / name).read_bytes()
    at = 8 + position % (len(base) - 8)
    data = base[:at] + insert + base[at + cut:]
    try:
        message_class(data)
        raw = to_mime(data)
    except NotReadable:
        raw = data
    try:
        parse_message(raw)
    except MailParseError as exc:
        assert not exc.reason.startswith("unreadable message"), exc.reason
