"""Outlook's winmail.dat (TNEF): the agent gets the files and the text inside, not a file
nobody can open -- and a winmail.dat that cannot be read is kept as sent.

The first tests build TNEF streams by the format's specification (MS-OXTNEF); the last one
reads the 19 winmail.dat files from real Outlook and Exchange installations that the
``tnefparse`` project publishes with its sources (fetched by ``deploy/ci/testdata.sh``).
"""

from __future__ import annotations

import struct
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.email.inbound import MailIngest
from connectors.email.parse import ParsedMail, parse_message
from tests.conftest import Hub
from tests.support.shared import REPO

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
EXAMPLES = REPO / ".cache" / "testdata" / "tnefparse-1.4.0" / "tests" / "examples"


def _attribute(level: int, kind: int, name: int, data: bytes) -> bytes:
    """One TNEF attribute: level, id (type << 16 | name), length, data, checksum."""
    return (struct.pack("<BHHI", level, name, kind, len(data)) + data
            + struct.pack("<H", sum(data) & 0xFFFF))


def tnef(*files: tuple[bytes, bytes], body: bytes | None = None) -> bytes:
    """A winmail.dat as Outlook writes it: version, code page, body, then per file its
    rendering, title (8-bit, the code page's) and data."""
    out = struct.pack("<IH", 0x223E9F78, 0x1234)
    out += _attribute(1, 0x0008, 0x9006, struct.pack("<I", 0x10000))  # TNEF version
    out += _attribute(1, 0x0006, 0x9007, struct.pack("<II", 1252, 0))  # OEM code page
    if body is not None:
        out += _attribute(1, 0x0002, 0x800C, body)  # attBody
    for name, data in files:
        out += _attribute(2, 0x0006, 0x9002, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        out += _attribute(2, 0x0001, 0x8010, name + b"\x00")  # attAttachTitle
        out += _attribute(2, 0x0006, 0x800F, data)  # attAttachData
    return out


def outlook_mail(winmail: bytes, text: str = "Guten Tag,\nanbei die Unterlagen.\n",
                 content_type: str = "application/ms-tnef") -> bytes:
    """multipart/mixed with the plain text and winmail.dat, as Exchange sends it out."""
    msg = EmailMessage()
    msg["From"] = "Erika Mustermann <erika@example.de>"
    msg["To"] = "service@makler.example"
    msg["Subject"] = "Unterlagen"
    msg["Message-ID"] = "<outlook-1@example.de>"
    msg.set_content(text)
    maintype, _, subtype = content_type.partition("/")
    msg.add_attachment(winmail, maintype=maintype, subtype=subtype, filename="winmail.dat")
    return msg.as_bytes()


def files(parsed: ParsedMail) -> list[tuple[str, str, bytes]]:
    return [(a.filename, a.content_type, a.data) for a in parsed.attachments]


def test_the_files_inside_winmail_dat_become_the_attachments() -> None:
    winmail = tnef((b"K\xfcndigung Vertrag.pdf", PDF), (b"Foto.jpg", JPEG))
    parsed = parse_message(outlook_mail(winmail))
    assert files(parsed) == [("Kündigung Vertrag.pdf", "application/pdf", PDF),
                             ("Foto.jpg", "image/jpeg", JPEG)]
    assert parsed.text == "Guten Tag,\nanbei die Unterlagen."
    assert any("winmail.dat" in n and "2 file(s)" in n for n in parsed.parse_notes)


@pytest.mark.parametrize("content_type", ["application/vnd.ms-tnef",
                                          "application/octet-stream"])
def test_winmail_dat_however_it_is_declared(content_type: str) -> None:
    parsed = parse_message(outlook_mail(tnef((b"Police.pdf", PDF)), content_type=content_type))
    assert files(parsed) == [("Police.pdf", "application/pdf", PDF)]


def test_the_text_inside_winmail_dat_when_the_mail_has_none() -> None:
    winmail = tnef((b"Schaden.jpg", JPEG),
                   body=b"Sehr geehrte Damen und Herren,\r\nder Schaden vom 3. M\xe4rz.\r\n")
    parsed = parse_message(outlook_mail(winmail, text=""))
    assert parsed.text == "Sehr geehrte Damen und Herren,\nder Schaden vom 3. März."
    assert files(parsed) == [("Schaden.jpg", "image/jpeg", JPEG)]


def test_the_mail_text_wins_over_the_text_inside() -> None:
    winmail = tnef(body=b"the rich-text copy")
    parsed = parse_message(outlook_mail(winmail, text="Die eigentliche Nachricht.\n"))
    assert parsed.text == "Die eigentliche Nachricht."
    assert parsed.attachments == ()


@pytest.mark.parametrize("damage", [
    lambda w: w[:40],  # cut short
    lambda w: w[:6] + b"\xff" * 30,  # garbage after the signature
    lambda w: w[:6],  # the signature alone
])
def test_a_winmail_dat_that_cannot_be_read_is_kept_as_sent(damage: object) -> None:
    broken = damage(tnef((b"Police.pdf", PDF)))  # type: ignore[operator]
    parsed = parse_message(outlook_mail(broken))
    assert files(parsed) == [("winmail.dat", "application/ms-tnef", broken)]
    assert any("kept as sent" in n for n in parsed.parse_notes)


def test_a_file_named_winmail_dat_that_is_not_tnef_stays_as_it_is() -> None:
    parsed = parse_message(outlook_mail(b"just some bytes", content_type="application/ms-tnef"))
    assert files(parsed) == [("winmail.dat", "application/ms-tnef", b"just some bytes")]
    assert not any("TNEF" in n for n in parsed.parse_notes)


async def test_the_agent_downloads_the_files_from_the_entry(hub: Hub) -> None:
    raw = outlook_mail(tnef((b"K\xfcndigung.pdf", PDF), (b"Foto.jpg", JPEG)))
    delivered = await MailIngest(hub.state.ingest).deliver(hub.office.id, raw, "test")
    assert delivered.outcome == "created" and delivered.result.entry is not None
    entry_id = delivered.result.entry.id
    status, entry = await hub.agent.get(f"/entries/{entry_id}")
    assert status == 200
    assert [(a["name"], a["content_type"]) for a in entry["attachments"]] == [
        ("Kündigung.pdf", "application/pdf"), ("Foto.jpg", "image/jpeg")]
    for index, want in enumerate((PDF, JPEG)):
        status, data = await hub.agent.get(f"/entries/{entry_id}/attachments/{index}")
        assert (status, data) == (200, want)


# --------------------------------------------------------------------------- real winmail.dat

# What each real file holds, as tnefparse's own tests and a look into the files show.
REAL = {
    "two-files.tnef": (["AUTHORS", "README"], ""),
    "umlaut.tnef": (["TBZ PARIV GmbH.jpg", "image003.jpg", "UmlautAnhang-äüö.txt"], "TEST äöü"),
    "MAPI_ATTACH_DATA_OBJ.tnef": (["VIA_Nytt_1402.doc", "VIA_Nytt_1402.pdf",
                                   "VIA_Nytt_14021.htm"], "bodødamene"),
    "body.tnef": ([], "THE BILL OF RIGHTS"),
    "rtf.tnef": ([], "Greg Allen"),
    "long-filename.tnef": (["allproductsmar2000.dat"], "temp. license for QARun"),
    "unicode-mapi-attr-name.tnef": (["spaconsole2.cfg", "image001.png", "image002.png",
                                     "image003.png"], "Przesyłam poprawiony plik"),
    "bad_checksum.tnef": (["image001.png", "winmail.dat"], "Mediterranean"),  # kept: damaged
    "IPM-DistList.tnef": (["winmail.dat"], "first half of the list"),
    "garbage-at-end.tnef": (["winmail.dat"], ""),
}


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=(
    f"the real winmail.dat files are not at {EXAMPLES}: deploy/ci/testdata.sh fetches them "
    "from the package index (./run test runs it)"))
def test_real_winmail_dat_files_from_outlook_and_exchange() -> None:
    examples = sorted(EXAMPLES.glob("*.tnef"))
    assert len(examples) == 19
    for path in examples:
        data = path.read_bytes()
        parsed = parse_message(outlook_mail(data, text=""))
        names = [a.filename for a in parsed.attachments]
        assert names or parsed.text, path.name  # files, text or winmail.dat: never nothing
        if names == ["winmail.dat"]:
            assert parsed.attachments[0].data == data, path.name
        if path.name in REAL:
            want_names, want_text = REAL[path.name]
            assert names == want_names, path.name
            assert want_text in parsed.text, path.name


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0), st.binary(max_size=40), st.integers(min_value=0, max_value=60))
def test_damaged_winmail_dat_never_breaks_the_mail(position: int, insert: bytes,
                                                  cut: int) -> None:
    """Damaged at random: the mail is still read, and every byte is somewhere -- in the
    files unpacked, or in winmail.dat kept as sent."""
    base = tnef((b"Police.pdf", PDF), (b"Foto.jpg", JPEG), body=b"Guten Tag")
    at = position % len(base)
    winmail = base[:at] + insert + base[at + cut:]
    parsed = parse_message(outlook_mail(winmail))
    assert parsed.text == "Guten Tag,\nanbei die Unterlagen."
    assert parsed.attachments
    assert all(a.filename for a in parsed.attachments)
