"""Read raw messages from .eml files, folder trees of them, mbox files and Maildir folders (and
what other tools export: Apple Mail's ``.emlx`` files and ``.mbox`` bundles, Thunderbird's
mbox files without a suffix, corpora of messages named ``.txt`` or ``.msg``, and Outlook's
own ``.msg`` files, turned into RFC 5322 mail by :mod:`.msgfile` where they are read).

Blocking file I/O by design (callers run it in a worker thread). Nothing is parsed here
beyond finding message boundaries: every message is yielded as raw bytes for
:func:`connectors.email.parse.parse_message` to judge, a truncated last message included.

mbox files are streamed line by line: memory holds one message at a time, whatever the
size of the file. A line ``From ...`` starts a new message only at the start of the file or
after a blank line *and* when the next line looks like a header, so an unescaped "From the
desk of ..." paragraph in a body does not split a message. ``>From `` lines are un-escaped
the mboxrd way (one ``>`` removed from ``>+From ``).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from .errors import SourceError
from .msgfile import NotReadable, is_mail_class, is_msg, message_class, to_mime

__all__ = ["MessageFiles", "MessageStream", "RawMessage", "SourceError", "iter_messages",
           "read_files"]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # as parse.DEFAULT_MAX_BYTES
_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,200}:")
_ESCAPED_FROM = re.compile(rb"^>+From ")
_BLANK = (b"\n", b"\r\n", b"\r")


@dataclass(frozen=True)
class RawMessage:
    raw: bytes
    origin: str  # "/path/x.eml", "mbox:/path/file.mbox#17" (1-based), "maildir:/path/cur/..."


@dataclass(frozen=True)
class MessageFiles:
    """A source of one message per file, as paths: for :func:`read_files` in another
    thread or process."""

    paths: list[str]
    maildir: bool | frozenset[str]
    """Which files are a Maildir's: all (``True``), none, or those in these folders (its
    ``cur`` and ``new``). Their origins are ``maildir:<path>``, and such a file that vanished
    meanwhile is skipped (the mail system moved it)."""


class MessageStream(Iterator[RawMessage]):
    """The messages of one source, read while iterating. ``total`` is how many there are when
    that is known before reading (a file, a folder, a Maildir: one per file), else ``None``
    (an mbox is counted only by reading it). ``files`` is set for sources of one message
    per file: whoever parses them can read them too. ``skipped``: the files of a folder
    that hold no mail (their names, relative to the folder), ``left_out``: its folders and
    mbox files of junk or deleted mail (the same), for the import to say so."""

    def __init__(self, messages: Iterator[RawMessage], total: int | None,
                 files: MessageFiles | None = None, skipped: tuple[str, ...] = (),
                 left_out: tuple[str, ...] = ()) -> None:
        self._messages = messages
        self.total = total
        self.files = files
        self.skipped = skipped
        self.left_out = left_out

    def __next__(self) -> RawMessage:
        return next(self._messages)


def read_files(paths: list[str], *, maildir: bool | frozenset[str] = False,
               max_bytes: int | None = DEFAULT_MAX_BYTES) -> list[RawMessage]:
    """The messages in ``paths`` (of a :class:`MessageFiles`), each cut to ``max_bytes + 1``
    bytes. A file that is gone is skipped in a Maildir (``maildir``: see
    :attr:`MessageFiles.maildir`) and a :class:`SourceError` elsewhere, as is any other I/O
    error."""
    out = []
    for path in paths:
        kept = maildir if isinstance(maildir, bool) else os.path.dirname(path) in maildir
        try:
            raw = _read(path, max_bytes)
        except FileNotFoundError:
            if kept:
                continue
            raise SourceError(f"cannot read {path}: it is gone") from None
        out.append(RawMessage(raw, f"maildir:{path}" if kept else path))
    return out


def iter_messages(path: Path, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> MessageStream:
    """Every message under ``path``: an .eml (or .emlx) file, a folder of messages with its
    sub-folders (sorted by name; see :class:`_Tree` for what counts and what is left out),
    an mbox file, an Apple Mail ``.mbox`` bundle or a Maildir folder (``cur/`` and ``new/``,
    each sorted by name, and its Maildir++ sub-folders).

    A file named ``*.eml`` is one message (even when it starts with an mbox ``From `` line,
    which the parser skips); any other file is recognised by content: ``From `` at the
    start makes it an mbox, a header line a single message -- or, in a file named
    ``*.mbox``/``*.mbx``, an mbox whose first ``From `` line was lost.

    A message larger than ``max_bytes`` is yielded cut to ``max_bytes + 1`` bytes, so that
    ``parse_message`` rejects it as too large without it ever being held whole in memory.

    The source is checked when this is called (a missing or unrecognised path raises
    :class:`SourceError` at once); messages are read while iterating. I/O errors surface
    as :class:`SourceError`; a Maildir file that vanishes meanwhile is skipped.
    """
    path = Path(path)
    try:
        if path.is_dir():
            tree = _Tree(str(path.absolute()))
            tree.walk(tree.root, "", 0)
            files, mboxes, maildirs = tree.files, tree.mboxes, frozenset(tree.maildirs)
            skipped, left_out = tuple(tree.skipped), tuple(tree.left_out)
            if not mboxes:
                return MessageStream(_iter_files(files, maildirs, max_bytes), len(files),
                                     MessageFiles(files, maildir=maildirs), skipped, left_out)
            return MessageStream(itertools.chain(
                _iter_files(files, maildirs, max_bytes),
                *(_iter_mbox(Path(m), max_bytes) for m in mboxes)), None, None, skipped,
                left_out)
        kind = _kind(path)  # opened even when the name decides: a missing file fails now
        if _is_eml(path.name):
            kind = "message"
    except FileNotFoundError:
        raise SourceError(f"no such file or folder: {path}") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if kind == "message":
        return MessageStream(_iter_single(path, max_bytes), 1)
    if kind == "mbox":
        return MessageStream(_iter_mbox(path, max_bytes), None)
    raise SourceError(f"not an .eml file, mbox file or Maildir folder: {path}")


def _kind(path: str | Path) -> Literal["message", "mbox"] | None:
    """A file by its first line (a byte order mark skipped): ``From `` starts an mbox, a
    header line a single message, and so does an Outlook ``.msg`` mail item; anything
    else holds no mail (an Outlook contact, appointment or task included)."""
    with open(path, "rb") as fh:
        first = fh.readline(1000).removeprefix(b"\xef\xbb\xbf")
    if first.startswith(b"From "):
        return "mbox"
    if is_msg(first):
        return "message" if _outlook_mail(path) else None
    if not _HEADER_LINE.match(first):
        return None
    # named an mbox but starting with a header: its first "From " line was lost (cut off by
    # a tool, or messages appended to a file written without one); any other name is one
    # message, whatever "From " paragraphs (a pasted raw mail) its body holds
    return "mbox" if str(path).lower().endswith(_MBOX_SUFFIXES) else "message"


_MBOX_SUFFIXES = (".mbox", ".mbx")  # (Eudora: .mbx)


def _outlook_mail(path: str | Path) -> bool:
    try:
        return is_mail_class(message_class(str(path)))
    except NotReadable:
        return False  # not even a compound file: nothing says it held mail


def _is_eml(name: str) -> bool:
    """``Path(name).suffix.lower()`` is ``.eml`` or Apple Mail's ``.emlx`` (so a file named
    just ``.eml`` is not one)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in (".eml", ".emlx")


_LEFT_OUT = re.compile(
    r"(?i)^\.?(junk|spam|bulk|bulk mail|junk[ -]?e-?mail|junk mail|trash|deleted|"
    r"deleted items|deleted messages|papierkorb|gelöschte elemente|gelöschte objekte|"
    r"unerwünscht)(\.mbox|\.mbx|\.sbd)?$")
"""Names of folders (and mbox files) of junk or deleted mail, as mail programs name them
(Thunderbird, Outlook, Apple Mail, Dovecot's Maildir++, in English and German): inside a
folder being imported they are left out -- spam senders would become customers, deleted
mail would come back -- and named in the summary; imported when named themselves."""
_MAX_DEPTH = 32


class _Tree:
    """A folder's mail, however it is kept, sub-folders included (sorted by name: a
    folder's files before its sub-folders):

    * a Maildir (``cur/`` and ``new/``): their files, then its Maildir++ sub-folders
      (``.Sent/``, hidden, with their own ``cur/`` and ``new/``);
    * an Apple Mail ``.mbox`` bundle (``Inbox.mbox/mbox`` beside ``Info.plist``): its mbox;
    * any other folder: ``*.eml``/``*.emlx`` files as they are, any other file by its first
      line (a header line: one message, as other tools' corpora name them ``.txt``,
      ``.msg`` or nothing; an Outlook mail item; ``From ``: an mbox, as Thunderbird keeps
      its folders -- its sub-folders in ``Inbox.sbd/``), then its sub-folders. Files that
      are neither (Outlook contacts or appointments, indexes such as ``.msf``, pictures …)
      are ``skipped``; hidden files and folders are not looked at.

    Junk and deleted mail (:data:`_LEFT_OUT`) below the folder named is ``left_out``. A
    folder reached twice (a link to a folder above) is read once."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.files: list[str] = []
        self.mboxes: list[str] = []
        self.maildirs: list[str] = []
        self.skipped: list[str] = []
        self.left_out: list[str] = []
        self._seen: set[str] = set()

    def walk(self, folder: str, rel: str, depth: int) -> None:
        real = os.path.realpath(folder)
        if real in self._seen or depth > _MAX_DEPTH:
            return
        self._seen.add(real)
        with os.scandir(folder) as found:
            entries = sorted((e.name, e.is_dir()) for e in found)
        dirs = {name for name, is_dir in entries if is_dir}
        if "cur" in dirs and "new" in dirs:
            for sub in ("cur", "new"):
                self.maildirs.append(os.path.join(folder, sub))
                self.files += _files(Path(folder) / sub, lambda name: not name.startswith("."))
            self._below(folder, rel, [d for d in sorted(dirs) if d.startswith(".")
                                      and os.path.isdir(os.path.join(folder, d, "cur"))],
                        depth)
            return
        if folder.lower().endswith(".mbox") and os.path.isfile(os.path.join(folder, "mbox")):
            self.mboxes.append(os.path.join(folder, "mbox"))
            return
        for name, is_dir in entries:
            if is_dir or name.startswith("."):
                continue
            full = os.path.join(folder, name)
            try:
                kind = "message" if _is_eml(name) else _kind(full)
            except OSError:
                kind = None
            if kind == "message":
                self.files.append(full)
            elif kind == "mbox" and _LEFT_OUT.match(name):
                self.left_out.append(rel + name)
            elif kind == "mbox":
                self.mboxes.append(full)
            elif os.path.isfile(full):
                self.skipped.append(rel + name)
        self._below(folder, rel, [d for d in sorted(dirs) if not d.startswith(".")], depth)

    def _below(self, folder: str, rel: str, names: list[str], depth: int) -> None:
        for name in names:
            if _LEFT_OUT.match(name):
                self.left_out.append(rel + name + "/")
            else:
                self.walk(os.path.join(folder, name), f"{rel}{name}/", depth + 1)


def _files(folder: Path, wanted: Callable[[str], bool]) -> list[str]:
    """Absolute paths of the regular files in ``folder`` (symlinks followed) whose name is
    ``wanted``, sorted by name: one ``scandir``, no ``Path`` object per file."""
    base = str(folder.absolute())
    with os.scandir(base) as entries:
        names = sorted(e.name for e in entries if wanted(e.name) and e.is_file())
    return [os.path.join(base, name) for name in names]


def _read(path: str | Path, max_bytes: int | None) -> bytes:
    try:
        with open(path, "rb") as fh:  # a str path: no Path object per message
            if str(path)[-5:].lower() == ".emlx":
                return _emlx(fh, max_bytes)
            # read(n) allocates n bytes first: ask for what the file holds, at most
            # max_bytes + 1 (the size limit is 25 MB, a mail a few KB)
            size = os.fstat(fh.fileno()).st_size
            data = fh.read() if max_bytes is None or size <= max_bytes else fh.read(
                max_bytes + 1)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if is_msg(data) and (max_bytes is None or len(data) <= max_bytes):
        try:  # an Outlook .msg: the mail in it, as it arrived
            return to_mime(data)
        except NotReadable:
            return data  # quarantined by the parser, with these bytes
    return data


def _emlx(fh: BinaryIO, max_bytes: int | None) -> bytes:
    """Apple Mail's ``.emlx``: a line with the message's length in bytes, the message, then
    Apple's property list (left out). Without a length line the file is read as it is."""
    first = fh.readline(32)
    if not first.strip().isdigit():
        rest = fh.read() if max_bytes is None else fh.read(max_bytes + 1 - len(first))
        return first + rest
    length = int(first)
    return fh.read(length if max_bytes is None else min(length, max_bytes + 1))


def _iter_single(path: Path, max_bytes: int | None) -> Iterator[RawMessage]:
    yield RawMessage(_read(path, max_bytes), str(path.absolute()))


def _iter_files(files: list[str], maildir: bool | frozenset[str], max_bytes: int | None
                ) -> Iterator[RawMessage]:
    for file in files:
        yield from read_files([file], maildir=maildir, max_bytes=max_bytes)


class _MboxMessage:
    """One message being collected; stops storing bytes beyond the size limit."""

    def __init__(self, limit: int | None, separator: bytes = b"") -> None:
        self.lines: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.envelope = _envelope_sender(separator)

    def add(self, line: bytes) -> None:
        if self.limit is not None and self.size > self.limit:
            return
        self.lines.append(line)
        self.size += len(line)

    def raw(self) -> bytes:
        lines = self.lines
        if lines and lines[-1] in _BLANK:  # the blank line that separates messages
            lines = lines[:-1]
        if self.envelope is not None and lines and not _names_a_sender(lines):
            # only the "From " line says who sent it (Tika's and some archives' messages
            # without headers of their own): kept as the Return-Path a delivery would add
            ending = b"\r\n" if lines[0].endswith(b"\r\n") else b"\n"
            lines = [b"Return-Path: <" + self.envelope + b">" + ending, *lines]
        data = b"".join(lines)
        return data if self.limit is None else data[: self.limit + 1]


_ENVELOPE = re.compile(rb"^From <?([^\s<>@\"]{1,200}@[A-Za-z0-9.-]{1,253})>? ")
_SENDER_LINE = re.compile(rb"(?i)^(?:from|sender|reply-to|return-path):")


def _envelope_sender(separator: bytes) -> bytes | None:
    """The address of an mbox ``From addr date`` line (not ``MAILER-DAEMON``, no ``@``)."""
    match = _ENVELOPE.match(separator)
    return match.group(1) if match else None


def _names_a_sender(lines: list[bytes]) -> bool:
    """Whether the message's own header names a sender (From, Sender, Reply-To or
    Return-Path)."""
    for line in lines:
        if line in _BLANK:
            return False
        if _SENDER_LINE.match(line):
            return True
    return False


def _iter_mbox(path: Path, max_bytes: int | None) -> Iterator[RawMessage]:
    origin = f"mbox:{path.absolute()}#"
    number = 0
    current: _MboxMessage | None = None
    candidate: bytes | None = None  # a "From " line waiting for the next line's verdict
    previous_blank = True
    with path.open("rb") as fh:
        for line in _lines(fh):
            if current is None and candidate is None and not line.startswith(b"From ") \
                    and _HEADER_LINE.match(line):  # a first message without its "From " line
                number += 1
                current = _MboxMessage(max_bytes)
            if candidate is not None:
                if _HEADER_LINE.match(line) or current is None:
                    if current is not None:
                        yield RawMessage(current.raw(), f"{origin}{number}")
                    number += 1
                    current = _MboxMessage(max_bytes, candidate)
                else:  # a body line that merely starts with "From "
                    current.add(candidate)
                candidate = None
            if line.startswith(b"From ") and (previous_blank or current is None):
                candidate = line
                previous_blank = False
                continue
            previous_blank = line in _BLANK
            if current is not None:
                current.add(line[1:] if _ESCAPED_FROM.match(line) else line)
    if current is not None:
        if candidate is not None:
            current.add(candidate)
        yield RawMessage(current.raw(), f"{origin}{number}")


def _lines(fh: BinaryIO, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Lines of a binary file, each at most ``chunk`` bytes (a huge line cannot exhaust
    memory; its pieces pass through as ordinary lines)."""
    first = True
    while line := fh.readline(chunk):
        yield line.removeprefix(b"\xef\xbb\xbf") if first else line
        first = False
