"""iter_messages over .eml files, folders, mbox files and Maildir folders."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from connectors.email.errors import MailParseError, MessageTooLarge, SourceError
from connectors.email.parse import parse_message
from connectors.email.sources import RawMessage, iter_messages
from tests.support.shared import MISSING_CORPUS, ZAMMAD_CORPUS

CORPUS = ZAMMAD_CORPUS


def message(n: int, body: str = "Hello") -> bytes:
    return (
        f"From: sender{n}@example.com\nTo: hub@example.org\nSubject: Message {n}\n"
        f"Message-ID: <{n}@example.com>\n\n{body} {n}\n"
    ).encode()


def test_single_eml(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(message(1))
    assert list(iter_messages(path)) == [RawMessage(message(1), str(path))]


def test_eml_starting_with_an_mbox_line_is_still_one_message(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(b"From sender1@example.com Thu May  3 12:04:29 2012\n" + message(1))
    (raw,) = iter_messages(path)
    assert parse_message(raw.raw).subject == "Message 1"


def test_file_without_suffix_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "message"
    path.write_bytes(message(1))
    assert [m.raw for m in iter_messages(path)] == [message(1)]


def test_folder_of_eml_files_sorted(tmp_path: Path) -> None:
    for name, n in (("b.eml", 2), ("a.EML", 1), ("c.eml", 3)):
        (tmp_path / name).write_bytes(message(n))
    (tmp_path / "notes.txt").write_text("not mail")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.eml").write_bytes(message(4))
    found = list(iter_messages(tmp_path))
    assert [m.raw for m in found] == [message(1), message(2), message(3)]
    assert [Path(m.origin).name for m in found] == ["a.EML", "b.eml", "c.eml"]


def test_a_folder_of_other_tools_exports(tmp_path: Path) -> None:
    """Messages however they are named (a corpus of ``.txt``/``.msg`` files, Apple Mail's
    ``.emlx``, a Thunderbird folder file without suffix that is an mbox); files that hold
    no mail are named, not silently dropped."""
    (tmp_path / "msg_01.txt").write_bytes(message(1))
    (tmp_path / "2.msg").write_bytes(message(2))
    emlx = message(3)
    (tmp_path / "3.emlx").write_bytes(b"%d\n" % len(emlx) + emlx + b"<?xml version=\"1.0\"?>"
                                      b"<plist><dict/></plist>\n")
    (tmp_path / "Inbox").write_bytes(b"From a@example.com Thu Jan  1 00:00:00 2024\n"
                                     + message(4) + b"\n"
                                     b"From b@example.com Thu Jan  1 00:00:01 2024\n"
                                     + message(5))
    (tmp_path / "Inbox.msf").write_bytes(b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
    (tmp_path / "outlook.msg").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))
    stream = iter_messages(tmp_path)
    found = list(stream)
    assert [parse_message(m.raw).subject for m in found] == [
        "Message 2", "Message 3", "Message 1", "Message 4", "Message 5"]
    assert stream.skipped == ("Inbox.msf", "outlook.msg")


def test_an_apple_mail_mbox_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "Posteingang.mbox"
    bundle.mkdir()
    (bundle / "mbox").write_bytes(MBOX)
    (bundle / "Info.plist").write_text("<plist/>")
    assert [parse_message(m.raw).subject for m in list(iter_messages(bundle))[:2]] == [
        "Message 1", "Message 2"]


def test_a_single_emlx_file(tmp_path: Path) -> None:
    emlx = message(7)
    path = tmp_path / "7.emlx"
    path.write_bytes(b"%d\n" % len(emlx) + emlx + b"<plist/>")
    assert [m.raw for m in iter_messages(path)] == [emlx]


MBOX = (
    b"From sender1@example.com Thu Jan  1 00:00:00 2024\n"
    + message(1, "Line one\n>From the escaped line\n>>From doubly escaped\n\n"
                 "From the desk of nobody: not a separator\nEnd")
    + b"\n"
    b"From sender2@example.com Thu Jan  1 00:00:01 2024\n"
    + message(2)
    + b"\n"
    b"From sender3@example.com Thu Jan  1 00:00:02 2024\n"
    b"From: sender3@example.com\nSubject: trunc"  # truncated: no body, no final newline
)


def test_mbox_split_unescape_and_truncated_last(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    path.write_bytes(MBOX)
    found = list(iter_messages(path))
    assert [m.origin for m in found] == [f"mbox:{path}#{n}" for n in (1, 2, 3)]
    first = found[0].raw.decode()
    assert "\nFrom the escaped line\n>From doubly escaped\n" in first
    assert "From the desk of nobody: not a separator\nEnd 1\n" in first
    assert found[1].raw == message(2)
    assert found[2].raw == b"From: sender3@example.com\nSubject: trunc"
    assert parse_message(found[2].raw).subject == "trunc"


def test_mbox_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    path.write_bytes(MBOX.replace(b"\n", b"\r\n"))
    found = list(iter_messages(path))
    assert len(found) == 3
    assert found[1].raw == message(2).replace(b"\n", b"\r\n")


def test_mbox_message_over_the_limit_is_cut_and_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.mbox"
    big = message(1, "x" * 5000)
    path.write_bytes(b"From a@b Thu Jan  1 00:00:00 2024\n" + big + b"\n"
                     b"From a@b Thu Jan  1 00:00:00 2024\n" + message(2))
    first, second = iter_messages(path, max_bytes=1000)
    assert len(first.raw) == 1001
    with pytest.raises(MessageTooLarge):
        parse_message(first.raw, max_bytes=1000)
    assert second.raw == message(2)


def test_maildir(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1700000002.M2.host:2,S").write_bytes(message(2))
    (tmp_path / "cur" / "1700000001.M1.host:2,S").write_bytes(message(1))
    (tmp_path / "cur" / ".hidden").write_bytes(b"junk")
    (tmp_path / "new" / "1700000003.M3.host").write_bytes(message(3))
    (tmp_path / "tmp" / "1700000004.M4.host").write_bytes(message(4))  # still being written
    found = list(iter_messages(tmp_path))
    assert [m.raw for m in found] == [message(1), message(2), message(3)]
    assert found[0].origin == f"maildir:{tmp_path / 'cur' / '1700000001.M1.host:2,S'}"


def test_errors_are_raised_when_called(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such"):
        iter_messages(tmp_path / "missing")
    garbage = tmp_path / "blob.bin"
    garbage.write_bytes(b"\x00\x01\x02 not a message")
    with pytest.raises(SourceError) as info:
        iter_messages(garbage)
    assert isinstance(info.value, MailParseError) and info.value.reason


def test_empty_eml_is_yielded_for_parse_to_judge(tmp_path: Path) -> None:
    path = tmp_path / "empty.eml"
    path.write_bytes(b"")
    (raw,) = iter_messages(path)
    with pytest.raises(MailParseError, match="empty"):
        parse_message(raw.raw)


def test_large_mbox_is_streamed_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "large.mbox"
    count = 20_000
    with path.open("wb") as fh:
        for n in range(count):
            fh.write(b"From sender@example.com Thu Jan  1 00:00:00 2024\n")
            fh.write(message(n, ("long line " * 45 + "\n>From escaped\n") * 3))
            fh.write(b"\n")
    assert path.stat().st_size > 25 * 1024 * 1024  # more than the memory budget below

    tracemalloc.start()
    try:
        seen = 0
        last = b""
        for raw in iter_messages(path):
            seen += 1
            last = raw.raw
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 20 * 1024 * 1024
    assert peak < path.stat().st_size / 10  # far below the file size: nothing is kept
    assert parse_message(last).subject == f"Message {count - 1}"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=MISSING_CORPUS)
def test_corpus_folder() -> None:
    found = list(iter_messages(CORPUS))
    assert len(found) == len(list(CORPUS.glob("*.eml")))
    assert [m.origin for m in found] == sorted(m.origin for m in found)
    assert all(parse_message(m.raw).from_email for m in found)


def test_an_mbox_message_named_only_by_its_from_line_keeps_that_sender(tmp_path: Path) -> None:
    """Some archives (Tika's test mbox, old list archives) keep the sender only in the
    ``From addr date`` separator line: it is the envelope sender, kept as the Return-Path a
    delivery would have added -- not a "no sender" quarantine. A message naming its own
    sender, and a ``MAILER-DAEMON`` separator, are left as they are."""
    path = tmp_path / "archive.mbox"
    path.write_bytes(
        b"From Erika.Mustermann@example.de Thu Mar  5 09:00:00 2026\n"
        b"Subject: Schaden am Carport\nDate: Thu, 05 Mar 2026 09:00:00 +0100\n\n"
        b"Guten Tag, anbei die Fotos.\n\n"
        b"From MAILER-DAEMON Thu Mar  5 10:00:00 2026\n"
        b"Subject: ohne Absender\n\nText\n\n"
        b"From other@example.org Thu Mar  5 11:00:00 2026\n"
        + message(3))
    first, second, third = iter_messages(path)
    parsed = parse_message(first.raw)
    assert (parsed.from_email.lower(), parsed.subject) == ("erika.mustermann@example.de",
                                                   "Schaden am Carport")
    assert b"Return-Path" not in second.raw
    with pytest.raises(MailParseError):
        parse_message(second.raw)
    assert third.raw == message(3)


def test_an_mbox_file_that_lost_its_first_from_line_gives_every_message(tmp_path: Path) -> None:
    """Named an mbox, starting with the first message's header: its separator line was cut
    off (or the file was written without one); the messages after it are not its body."""
    headless = MBOX.split(b"\n", 1)[1]
    for name in ("Archiv.mbox", "IN.MBX"):
        path = tmp_path / name
        path.write_bytes(headless)
        found = list(iter_messages(path))
        assert [parse_message(m.raw).subject for m in found] == [
            "Message 1", "Message 2", "trunc"]
        assert "From the desk of nobody: not a separator\nEnd 1\n" in found[0].raw.decode()
        assert found[1].raw == message(2)


def test_a_folder_reads_such_an_mbox_file_too(tmp_path: Path) -> None:
    (tmp_path / "Posteingang.mbox").write_bytes(MBOX.split(b"\n", 1)[1].replace(b"\n", b"\r\n"))
    (tmp_path / "7.eml").write_bytes(message(7))
    assert sorted(parse_message(m.raw).subject for m in iter_messages(tmp_path)) == [
        "Message 1", "Message 2", "Message 7", "trunc"]


def test_a_message_with_a_raw_mail_pasted_into_it_stays_one_message(tmp_path: Path) -> None:
    pasted = message(1, "Hier die Mail, wie sie ankam:\n\n"
                        "From sender2@example.com Thu Jan  1 00:00:01 2024\n"
                        "From: sender2@example.com\nSubject: Message 2\n\nHallo")
    for name in ("1.txt", "1", "1.eml"):
        path = tmp_path / name
        path.write_bytes(pasted)
        assert [m.raw for m in iter_messages(path)] == [pasted]
