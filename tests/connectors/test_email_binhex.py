"""Files in BinHex 4.0, as classic Mac mail programs sent them -- as a part
(``application/mac-binhex40``, ``.hqx``) or in the text (Eudora) -- are opened to the file
inside. The files were encoded by macutils' ``binhex``, not by Chronik (see
``data/binhex/README.md``); the assertions are what the agent sees: the body text, each
attachment's name, type and exact bytes, and ``parse_notes``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from connectors.email.binhex import read_binhex
from connectors.email.inbound import MailIngest
from connectors.email.parse import ParsedMail, parse_message
from tests.conftest import Hub

DATA = Path(__file__).parent / "data" / "binhex"
VERTRAG_HQX = (DATA / "vertrag.hqx").read_bytes()
VERTRAG = (DATA / "Vertrag-2024.pdf").read_bytes()
SCAN_HQX = (DATA / "scan.hqx").read_bytes()
SCAN = (DATA / "scan.gif").read_bytes()
CRATE = (Path(__file__).resolve().parents[2] / ".cache" / "testdata" /
         "crate-mail-parser-0.11.9" / "resources" / "eml" / "legacy")
"""Two real messages of Stalwart's mail-parser crate (``deploy/ci/testdata.sh``)."""
HEAD = (b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\nSubject: Vertrag\n"
        b"Message-ID: <hqx@example.com>\nMIME-Version: 1.0\n")


def with_part(content_type: bytes, data: bytes, cte: bytes = b"7bit") -> bytes:
    body = base64.encodebytes(data) if cte == b"base64" else data
    return (HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n'
            b"--B\nContent-Type: text/plain\n\nAnbei der Vertrag.\n"
            b"--B\nContent-Type: " + content_type + b"\nContent-Transfer-Encoding: " + cte +
            b"\n\n" + body + b"\n--B--\n")


def files(parsed: ParsedMail) -> list[tuple[str, str, bytes]]:
    return [(a.filename, a.content_type, a.data) for a in parsed.attachments]


def noted(parsed: ParsedMail, *words: str) -> bool:
    return any(all(w in note for w in words) for note in parsed.parse_notes)


@pytest.mark.parametrize(("content_type", "cte", "line_end"), [
    (b'application/mac-binhex40; name="Vertrag-2024.pdf.hqx"', b"7bit", b"\n"),
    (b'application/octet-stream; name="Vertrag-2024.pdf.hqx"', b"base64", b"\r"),
    (b"application/octet-stream", b"base64", b"\r\n"),
], ids=["mac-binhex40", "named-hqx-mac-line-ends", "by-its-first-line"])
def test_a_binhex_attachment_is_opened_to_the_file_inside(
        content_type: bytes, cte: bytes, line_end: bytes) -> None:
    parsed = parse_message(with_part(content_type, VERTRAG_HQX.replace(b"\n", line_end), cte))
    assert parsed.text == "Anbei der Vertrag."
    assert files(parsed) == [("Vertrag-2024.pdf", "application/pdf", VERTRAG)]
    assert noted(parsed, "(BinHex) opened: kept as attachment 'Vertrag-2024.pdf'")


def test_binhex_without_run_length_code() -> None:
    parsed = parse_message(with_part(b'application/mac-binhex40; name="scan.hqx"', SCAN_HQX))
    assert files(parsed) == [("scan.gif", "image/gif", SCAN)]


def test_binhex_in_the_text_becomes_an_attachment_and_a_mark_in_the_text() -> None:
    """As Eudora sent attachments: the BinHex text inside the mail's text."""
    text = (b"Guten Tag,\n\nanbei der Vertrag.\n\n" + VERTRAG_HQX.replace(b"\n", b"\r\n")
            + b"\r\nMit freundlichen Gruessen\r\nAnna Alt\r\n")
    parsed = parse_message(HEAD + b"Content-Type: text/plain; charset=us-ascii\n\n" + text)
    assert parsed.text == ("Guten Tag,\n\nanbei der Vertrag.\n\n[Vertrag-2024.pdf]\n\n"
                           "Mit freundlichen Gruessen\nAnna Alt")
    assert files(parsed) == [("Vertrag-2024.pdf", "application/pdf", VERTRAG)]
    assert noted(parsed, "a file in BinHex in the text: kept as attachment")


def test_a_damaged_binhex_attachment_is_kept_as_sent_beside_what_decodes() -> None:
    lines = VERTRAG_HQX.split(b"\n")
    lines[6] = lines[6][:20] + (b"A" if lines[6][20:21] != b"A" else b"B") + lines[6][21:]
    damaged = b"\n".join(lines)
    parsed = parse_message(with_part(b'application/mac-binhex40; name="v.hqx"', damaged))
    assert [(name, ctype) for name, ctype, _ in files(parsed)] == [
        ("Vertrag-2024.pdf", "application/pdf"), ("v.hqx", "application/mac-binhex40")]
    assert parsed.attachments[1].data.rstrip(b"\n") == damaged.rstrip(b"\n")
    assert noted(parsed, "damaged", "as far as it decodes, and as sent")


def test_a_damaged_binhex_block_in_the_text_stays_in_the_text() -> None:
    cut = VERTRAG_HQX[: len(VERTRAG_HQX) // 2] + b":\n"
    parsed = parse_message(HEAD + b"Content-Type: text/plain\n\nAnbei.\n\n" + cut)
    assert "(This file must be converted" in parsed.text
    assert [name for name, _, _ in files(parsed)] == ["Vertrag-2024.pdf"]
    assert noted(parsed, "damaged")


@pytest.mark.parametrize("text", [
    b"Bitte beachten: (This file must be converted with BinHex 4.0)\nist die erste Zeile.\n",
    b"(This file must be converted with BinHex 4.0)\n\nDas steht in der ersten Zeile: ja.\n",
    b"(This file must be converted with BinHex 4.0)\n:Zeit: 10:30 Uhr, Ort: Koeln:\n",
], ids=["mentioned", "followed-by-prose", "colons-in-prose"])
def test_text_that_only_looks_like_binhex_stays_text(text: bytes) -> None:
    parsed = parse_message(HEAD + b"Content-Type: text/plain\n\n" + text)
    assert parsed.text == text.decode().strip("\n")
    assert parsed.attachments == ()


def test_an_hqx_attachment_holding_no_binhex_is_kept_as_sent() -> None:
    parsed = parse_message(with_part(b'application/mac-binhex40; name="x.hqx"', b"hello"))
    assert [name for name, _, _ in files(parsed)] == ["x.hqx"]
    assert noted(parsed, "'x.hqx' (BinHex) holds nothing that could be read: kept as sent")


async def test_the_agent_downloads_the_file_inside(hub: Hub) -> None:
    raw = with_part(b'application/mac-binhex40; name="Vertrag-2024.pdf.hqx"', VERTRAG_HQX)
    delivered = await MailIngest(hub.state.ingest).deliver(hub.office.id, raw, "test")
    assert delivered.outcome == "created" and delivered.result.entry is not None
    entry_id = delivered.result.entry.id
    status, entry = await hub.agent.get(f"/entries/{entry_id}")
    assert status == 200
    assert [a["name"] for a in entry["attachments"]] == ["Vertrag-2024.pdf"]
    status, data = await hub.agent.get(f"/entries/{entry_id}/attachments/0")
    assert (status, data) == (200, VERTRAG)


def test_a_run_length_bomb_is_cut_not_unpacked_to_gigabytes() -> None:
    """Two bytes say "255 more of that": 3 MB of them would unpack to ~400 MB."""
    alphabet = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
    standard = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    header = b"\x05a.bin\x00TEXTMACA\x00\x00" + (1 << 30).to_bytes(4, "big") + bytes(6)
    packed = header + b"A" + b"\x90\xff" * 1_500_000
    encoded = base64.b64encode(packed).rstrip(b"=").translate(
        bytes.maketrans(standard, alphabet))
    found = read_binhex(encoded)
    assert found is not None and not found.intact
    assert len(found.data) <= 64 << 20


def test_real_binhex_attachments_of_a_classic_mac_mail_program() -> None:
    """A message of 2006 (Stalwart's corpus) with two BinHex attachments, one of them a
    picture whose base64 copy another message of the same corpus carries: the file opened
    is byte for byte that picture; the text file's name comes from the mail part (declared
    Latin-1), not from inside BinHex (whatever the encoding program used)."""
    if not (CRATE / "016.eml").is_file():
        pytest.skip(f"Stalwart's test mails are not in {CRATE}: deploy/ci/testdata.sh "
                    "fetches them (it needs crates.io)")
    parsed = parse_message((CRATE / "016.eml").read_bytes())
    in_base64 = parse_message((CRATE / "023.eml").read_bytes())
    picture = next(a for a in in_base64.attachments if a.filename == "blueball.png")
    opened = {a.filename: a for a in parsed.attachments}
    assert set(opened) == {"blueball.png", "HasenundFrösche.txt"}
    assert (opened["blueball.png"].content_type, opened["blueball.png"].data) == (
        "image/png", picture.data)
    story = opened["HasenundFrösche.txt"]
    assert story.content_type == "text/plain"
    assert story.data.startswith(b"Die Hasen und die Fr\xf6sche\r\rDie Hasen klagten einst")
    assert not noted(parsed, "damaged")


async def test_a_mail_stored_before_binhex_was_opened_is_a_duplicate_when_it_comes_again(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The version before kept the ``.hqx`` as sent; the same mail delivered again (the
    mailbox imported a second time, an IMAP folder read anew) is the same message -- not a
    second entry "with the same Message-ID" -- though this version reads it otherwise. A
    different mail that reuses the Message-ID is still stored on its own."""
    raw = with_part(b'application/mac-binhex40; name="Vertrag-2024.pdf.hqx"', VERTRAG_HQX)
    raw = raw.replace(b"MIME-Version", b"Date: Tue, 3 Mar 2026 10:00:00 +0100\nMIME-Version")
    mail = MailIngest(hub.state.ingest)
    with monkeypatch.context() as earlier:
        earlier.setattr("connectors.email.parse.is_binhex", lambda *_: False)
        first = await mail.deliver(hub.office.id, raw, "import")
    assert first.outcome == "created" and first.result.entry is not None
    assert [a.name for a in first.result.entry.attachments] == ["Vertrag-2024.pdf.hqx"]
    assert (await mail.deliver(hub.office.id, raw, "import")).outcome == "duplicate"
    other = raw.replace(b"Anbei der Vertrag.", b"Anbei der neue Vertrag, bitte ersetzen.")
    assert (await mail.deliver(hub.office.id, other, "import")).outcome == "created"
