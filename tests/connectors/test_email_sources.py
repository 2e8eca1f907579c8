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
    found = list(iter_messages(tmp_path))  # a folder's files, then its sub-folders'
    assert [m.raw for m in found] == [message(1), message(2), message(3), message(4)]
    assert [Path(m.origin).name for m in found] == ["a.EML", "b.eml", "c.eml", "d.eml"]


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


# ---------------------------------------------------------------- folder trees


def mbox(*numbers: int) -> bytes:
    return b"".join(b"From x@example.com Thu May  3 12:04:29 2012\n" + message(n) + b"\n"
                    for n in numbers)


def maildir(folder: Path, *numbers: int) -> None:
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    for n in numbers:
        (folder / "cur" / f"17000000{n:02d}.M{n}.host:2,S").write_bytes(message(n))


def numbers(found: list[RawMessage]) -> list[int]:
    return [int(parse_message(m.raw).subject.split()[-1]) for m in found]


def test_a_thunderbird_profile_folder_with_sub_folders(tmp_path: Path) -> None:
    """Thunderbird keeps each folder as an mbox file without suffix, its sub-folders in
    ``<name>.sbd/``, an index beside each (``.msf``). Every folder is read, sub-folders
    too; junk and deleted mail is left out and named."""
    local = tmp_path / "Local Folders"
    (local / "Inbox.sbd" / "Kunden.sbd").mkdir(parents=True)
    (local / "Inbox").write_bytes(mbox(1, 2))
    (local / "Inbox.msf").write_text("// <!-- <mdb:mork:z v=\"1.4\"/> -->")
    (local / "Inbox.sbd" / "Kunden").write_bytes(mbox(3))
    (local / "Inbox.sbd" / "Kunden.sbd" / "Berger").write_bytes(mbox(4))
    (local / "Sent").write_bytes(mbox(5))
    (local / "Junk").write_bytes(mbox(90))
    (local / "Trash").write_bytes(mbox(91))
    stream = iter_messages(local)
    assert numbers(list(stream)) == [1, 2, 5, 3, 4]
    assert stream.left_out == ("Junk", "Trash")
    assert stream.skipped == ("Inbox.msf",)
    assert numbers(list(iter_messages(local / "Junk"))) == [90]  # named: imported


def test_an_exported_tree_of_eml_files_and_a_maildir_with_its_sub_folders(
        tmp_path: Path) -> None:
    """A tree of ``.eml`` files as converters export a mailbox (one folder per mail folder,
    German names), a Maildir with Dovecot's Maildir++ sub-folders (hidden, ``.Sent``) and
    an Apple Mail bundle inside it: all of it, the Maildir's files as a Maildir's."""
    export = tmp_path / "Export"
    (export / "Posteingang" / "Schäden").mkdir(parents=True)
    (export / "Gelöschte Elemente").mkdir()
    (export / "Posteingang" / "a.eml").write_bytes(message(1))
    (export / "Posteingang" / "Schäden" / "b.eml").write_bytes(message(2))
    (export / "Gelöschte Elemente" / "c.eml").write_bytes(message(92))
    (export / "Apple" / "Archiv.mbox").mkdir(parents=True)
    (export / "Apple" / "Archiv.mbox" / "mbox").write_bytes(mbox(3))
    (export / "Apple" / "Archiv.mbox" / "Info.plist").write_text("<plist/>")
    maildir(export / "Maildir", 4)
    maildir(export / "Maildir" / ".Sent", 5)
    maildir(export / "Maildir" / ".Junk", 93)
    (export / ".git").mkdir()
    (export / ".git" / "x.eml").write_bytes(message(94))
    stream = iter_messages(export)
    found = list(stream)
    assert numbers(found) == [4, 5, 1, 2, 3]  # (one message per file first, then mboxes)
    assert found[0].origin.startswith("maildir:") and found[2].origin.endswith("a.eml")
    assert stream.left_out == ("Gelöschte Elemente/", "Maildir/.Junk/")
    assert stream.total is None and stream.skipped == ()


def test_a_file_of_a_nested_maildir_that_vanished_is_skipped(tmp_path: Path) -> None:
    """The mail system moves Maildir files (``new`` to ``cur``, flags in the name): one gone
    by the time it is read is skipped there, as in a Maildir named itself; a file of any
    other folder that is gone is an error."""
    maildir(tmp_path / "Maildir", 1, 2)
    (tmp_path / "Ablage").mkdir()
    (tmp_path / "Ablage" / "c.eml").write_bytes(message(3))
    stream = iter_messages(tmp_path)
    assert stream.total == 3 and stream.files is not None
    first = sorted((tmp_path / "Maildir" / "cur").iterdir())[0]
    first.unlink()
    assert numbers(list(stream)) == [3, 2]  # (sub-folders by name: Ablage, Maildir)
    stream = iter_messages(tmp_path)
    (tmp_path / "Ablage" / "c.eml").unlink()
    with pytest.raises(SourceError, match="it is gone"):
        list(stream)


def test_a_link_to_a_folder_above_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(message(1))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.eml").write_bytes(message(2))
    (tmp_path / "sub" / "back").symlink_to(tmp_path, target_is_directory=True)
    assert numbers(list(iter_messages(tmp_path))) == [1, 2]
