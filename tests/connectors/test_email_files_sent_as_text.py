"""A file sent in a part that says it is text (``text/plain`` or ``text/html``) is kept as
the file it is, not shown as a screen of mojibake with the file lost.

Senders that do this: scanners and scripts that label every attachment ``text/plain``, web
forms that forward an upload, malware hiding a payload. The assertions are what an agent
sees: the body text, each attachment's name, type and exact bytes, ``parse_notes``; and that
real text -- UTF-16, ISO-2022, a stray NUL, a commit mail's diff of a picture -- stays text.
Likewise a file sent with a type that says only "a file" (``application/octet-stream``)
gets the type its name or its header names: a photo shows as a photo.
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest

from connectors.email.inbound import MailIngest
from connectors.email.parse import ParsedMail, parse_message
from tests.conftest import Hub

DATA = Path(__file__).parent / "data" / "mime"
PDF = (DATA / "pdf.bin").read_bytes()
GIF = base64.b64decode("R0lGODlhAgACAIAAAAAAAP///yH5BAEAAAAALAAAAAACAAIAAAICjAsAOw==")
HEAD = (b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\nSubject: Scan\n"
        b"Message-ID: <scan@example.com>\nMIME-Version: 1.0\n")


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


def files(parsed: ParsedMail) -> list[tuple[str, str, bytes]]:
    return [(a.filename, a.content_type, a.data) for a in parsed.attachments]


def noted(parsed: ParsedMail, *words: str) -> bool:
    return any(all(w in note for w in words) for note in parsed.parse_notes)


def test_a_picture_as_the_only_text_part_is_the_picture() -> None:
    parsed = parse_message(HEAD + b"Content-Type: text/plain; charset=us-ascii\n"
                           b"Content-Transfer-Encoding: base64\n\n" + b64(GIF))
    assert parsed.text == ""
    assert files(parsed) == [("image-1.gif", "image/gif", GIF)]
    assert noted(parsed, "text/plain part that holds a file (image/gif)", "'image-1.gif'")


def test_a_named_text_part_that_is_a_picture_is_kept_once_with_its_real_type() -> None:
    """Named, not marked as attachment: such a text part is normally also shown as the body
    (the sender's program shows it inline); a picture is not."""
    parsed = parse_message(HEAD + b'Content-Type: text/plain; name="scan.txt"\n'
                           b"Content-Transfer-Encoding: base64\n\n" + b64(GIF))
    assert parsed.text == ""
    assert files(parsed) == [("scan.txt", "image/gif", GIF)]
    assert noted(parsed, "'scan.txt'", "sent as text/plain, but it is a file (image/gif)")


def test_a_pdf_sent_as_the_second_text_part_beside_the_message() -> None:
    parsed = parse_message(
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain; charset=utf-8\n\nAnbei der Scan.\n"
        b"--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + b64(PDF) + b"--B--\n")
    assert parsed.text == "Anbei der Scan."
    assert files(parsed) == [("attachment-1.pdf", "application/pdf", PDF)]


def test_a_rendering_that_is_a_file_leaves_the_other_rendering_as_the_body() -> None:
    parsed = parse_message(
        HEAD + b'Content-Type: multipart/alternative; boundary="A"\n\n'
        b"--A\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" + b64(GIF)
        + b"--A\nContent-Type: text/html; charset=utf-8\n\n<p>Guten Tag, Frau Alt</p>\n--A--\n")
    assert parsed.text == "Guten Tag, Frau Alt"
    assert [(name, ctype) for name, ctype, _ in files(parsed)] == [("image-1.gif", "image/gif")]


def test_a_spreadsheet_attached_as_text_html_is_named_as_a_spreadsheet() -> None:
    book = xlsx()
    parsed = parse_message(
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nDie Liste.\n"
        b'--B\nContent-Type: text/html; name="liste.htm"\nContent-Disposition: attachment\n'
        b"Content-Transfer-Encoding: base64\n\n" + b64(book) + b"--B--\n")
    assert parsed.text == "Die Liste."
    assert files(parsed) == [(
        "liste.htm", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", book)]


def test_data_of_no_known_kind_sent_as_8bit_text_is_kept_as_bytes() -> None:
    blob = bytes((i * 131 + 7) % 256 for i in range(3000))  # no file header: 12 % controls
    parsed = parse_message(HEAD + b"Content-Type: text/plain; charset=iso-8859-1\n"
                           b"Content-Transfer-Encoding: binary\n\n" + blob)
    assert parsed.text == ""
    [(name, ctype, data)] = files(parsed)
    assert (name, ctype) == ("attachment-1.bin", "application/octet-stream")
    assert data.rstrip(b"\r\n") == blob.rstrip(b"\r\n")


@pytest.mark.parametrize(("header", "body", "shown"), [
    (b"text/plain; charset=utf-16", "Grüße aus Köln".encode("utf-16"), "Grüße aus Köln"),
    (b"text/plain; charset=utf-16le", "Grüße aus Köln, Ihr Team".encode("utf-16-le"),
     "Grüße aus Köln"),
    (b"text/plain; charset=iso-2022-jp", "こんにちは、世界".encode("iso-2022-jp"), "こんにちは"),
    (b"text/plain; charset=iso-2022-kr", "안녕하세요 여러분".encode("iso-2022-kr"), "안녕하세요"),
    (b"text/plain; charset=us-ascii", b"Hallo\x00 Frau\x00 Alt,\x00\n", "Hallo Frau Alt"),
    (b"text/plain; charset=us-ascii",  # "BM" is a bitmap's header, "\x1a" DOS's end of file
     b"BMW 320d, Schaden vom 3.4., Gutachten folgt. Mit freundlichen Gruessen\n\x1a\x1a\x1a\x1a",
     "BMW 320d"),
    (b"text/plain; charset=windows-1252", "Rechnung für Müller\f\tSeite 2".encode("cp1252"),
     "Rechnung für Müller"),
    (b"text/plain; charset=utf-8",
     b"diff --git a/logo.png b/logo.png\nnew file mode 100644\n--- /dev/null\n+++ b/logo.png\n"
     b"@@ -0,0 +1 @@\n+" + GIF * 40 + b"\n", "diff --git a/logo.png"),
], ids=["utf-16-bom", "utf-16le-declared", "iso-2022-jp", "iso-2022-kr", "stray-nuls",
        "text-starting-like-a-bitmap", "form-feed-and-tab", "diff-of-a-picture"])
def test_text_stays_text(header: bytes, body: bytes, shown: str) -> None:
    parsed = parse_message(HEAD + b"Content-Type: " + header + b"\n"
                           b"Content-Transfer-Encoding: base64\n\n" + b64(body))
    assert shown in parsed.text
    assert parsed.attachments == ()
    assert not noted(parsed, "holds a file")


async def test_the_agent_downloads_the_picture_with_its_type(hub: Hub) -> None:
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n'
           b"--B\nContent-Type: text/plain\n\nFoto vom Schaden anbei.\n"
           b"--B\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
           + b64(GIF) + b"--B--\n")
    delivered = await MailIngest(hub.state.ingest).deliver(hub.office.id, raw, "test")
    assert delivered.outcome == "created" and delivered.result.entry is not None
    entry_id = delivered.result.entry.id
    status, entry = await hub.agent.get(f"/entries/{entry_id}")
    assert status == 200
    assert entry["body"] == "Foto vom Schaden anbei."
    assert [a["name"] for a in entry["attachments"]] == ["image-1.gif"]
    assert any("holds a file (image/gif)" in n for n in entry["meta"]["parse_notes"])
    async with hub.agent.session.get(
            f"{hub.agent.base}/entries/{entry_id}/attachments/0",
            headers={"Authorization": f"Bearer {hub.agent.token}"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/gif"
        assert await resp.read() == GIF


JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////"
    "////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/a"
    "AAgBAQABPxA=")


@pytest.mark.parametrize(("header", "data", "want"), [
    (b'application/octet-stream; name="Foto vom Schaden.JPG"', JPEG,
     ("Foto vom Schaden.JPG", "image/jpeg")),
    (b'application/x-download; name="Police.pdf"', PDF, ("Police.pdf", "application/pdf")),
    (b"application/octet-stream", GIF, ("image-1.gif", "image/gif")),
    (b'application/octet-stream; name="Liste.xlsx"', xlsx(),
     ("Liste.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
    (b'application/octet-stream; name="daten.xyz1"', b"\x00\x01\x02 raw",
     ("daten.xyz1", "application/octet-stream")),
    (b'image/png; name="logo.jpg"', JPEG, ("logo.jpg", "image/png")),  # a type given: kept
], ids=["photo-by-name", "pdf-by-name", "gif-by-header", "workbook-by-name", "unknown",
        "specific-type-kept"])
def test_a_file_sent_as_just_a_file_gets_the_type_its_name_or_header_names(
        header: bytes, data: bytes, want: tuple[str, str]) -> None:
    parsed = parse_message(
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nAnbei.\n"
        b"--B\nContent-Type: " + header + b"\nContent-Disposition: attachment\n"
        b"Content-Transfer-Encoding: base64\n\n" + b64(data) + b"--B--\n")
    assert files(parsed) == [(*want, data)]
    assert parsed.parse_notes == ()



def test_a_picture_sent_as_just_a_file_that_the_html_shows_is_inline() -> None:
    parsed = parse_message(
        HEAD + b'Content-Type: multipart/related; boundary="R"\n\n'
        b'--R\nContent-Type: text/html\n\n<p>Unser Logo: <img src="cid:logo@x"></p>\n'
        b'--R\nContent-Type: application/octet-stream; name="logo.gif"\n'
        b"Content-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n" + b64(GIF) + b"--R--\n")
    [logo] = parsed.attachments
    assert (logo.filename, logo.content_type, logo.inline) == ("logo.gif", "image/gif", True)
