"""Forwarded mail kept as a file: ``<Subject>.eml`` (``message/rfc822``), exactly as sent.

Part of the parsing layer (pure: no storage, no network); used by :mod:`.parse`. A mail
forwarded "as attachment" (a ``message/rfc822`` or ``message/global`` part) is shown in the
text and its files become attachments; the forwarded mail itself is kept too, so that an
agent can send it on, archive it or show its headers and HTML. Its bytes are the part's
body as it stands in the message -- found by reading the delimiter lines the way the stdlib
parser does (re-serialising the parsed message would refold headers and change line ends).

- :class:`Originals`: where each forwarded message stands in the bytes it was parsed from
  (found on first use; nothing is done for mail that forwards nothing), and how much of the
  message size limit the kept copies used: a forward of a forward is inside the outer
  ``.eml`` already, so copies are kept while together they stay within the limit.
- :func:`eml_name`: the file name from the subject (characters no file system takes
  replaced, cut to a length every one takes), with a fallback.
"""

from __future__ import annotations

import re
from email.message import Message

__all__ = ["FALLBACK_NAME", "Originals", "eml_name"]

FALLBACK_NAME = "forwarded-message.eml"
_MESSAGE_TYPES = ("message/rfc822", "message/global")
_MAX_DEPTH = 16  # nesting followed when locating parts (the parser follows 12)
_NAME_BYTES = 200  # the name without ".eml", in UTF-8 (file systems take 255)
_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")  # (the stdlib parser's)
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|\Z)")
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f-\x9f\u2028\u2029]')


def eml_name(subject: str, fallback: str = FALLBACK_NAME) -> str:
    """``<subject>.eml`` with what Windows, macOS or a shell would refuse or misread
    replaced by ``_``, leading dots and trailing dots and blanks left out; ``fallback``
    for a subject that leaves nothing."""
    name = " ".join(_UNSAFE.sub("_", subject).split()).lstrip(". ").rstrip(". ")
    if len(name.encode("utf-8", "surrogatepass")) > _NAME_BYTES:
        cut = name.encode("utf-8", "surrogatepass")[:_NAME_BYTES]
        name = cut.decode("utf-8", "ignore").rstrip(". ")
    return f"{name}.eml" if name.strip("_ ") else fallback


class Originals:
    """The forwarded messages of one mail: their exact bytes, and the share of the size
    limit (``budget`` bytes) the copies kept so far used. Shared by every nested body."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._sources: list[tuple[Message, bytes]] = []
        self._indexed = 0
        self._spans: dict[int, tuple[bytes, int, int]] = {}
        self._names: dict[str, int] = {}

    def register(self, msg: Message, data: bytes) -> None:
        """``msg`` was parsed from ``data`` (the message, or one read again from bytes:
        a forward sent in base64, an attached ``.eml``, signed S/MIME content)."""
        self._sources.append((msg, data))

    def span(self, part: Message) -> tuple[bytes, int, int] | None:
        """(source, start, end) of a ``message/rfc822`` part's body -- the forwarded
        message -- or ``None`` when it cannot be located (a part found by a repair)."""
        while self._indexed < len(self._sources):
            msg, data = self._sources[self._indexed]
            self._indexed += 1
            _locate(msg, data, 0, len(data), self._spans, 0)
        return self._spans.get(id(part))

    def fits(self, size: int) -> bool:
        """Whether one more copy of ``size`` bytes keeps the copies within the limit."""
        return self.used + size <= self.budget

    def count(self, size: int) -> None:
        self.used += size

    def unique(self, name: str) -> str:
        """``name``, or ``name (2).eml`` … when a forwarded message of this mail has it."""
        count = self._names.get(name.lower(), 0) + 1
        self._names[name.lower()] = count
        if count == 1:
            return name
        stem = name.removesuffix(".eml")
        return f"{stem} ({count}).eml"


def _body_start(data: bytes, start: int, end: int) -> int:
    """Where the body of the part in ``data[start:end]`` begins: after the blank line that
    ends its headers, or at the first line that is no header (as the stdlib reads it)."""
    pos = start
    while pos < end:
        line = _LINE.match(data, pos, end)
        if line is None or line.end() == pos:
            return end
        text = line.group()
        if not _HEADER_LINE.match(text):
            return line.end() if text in (b"\r\n", b"\n", b"\r") else pos
        pos = line.end()
    return end


def _segments(data: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """The parts of the multipart body ``data[start:end]``: what lies between its delimiter
    lines (each part without the line end before the next delimiter, which RFC 2046 counts
    to the delimiter), up to the closing delimiter or the end."""
    delimiter = re.compile(re.escape(b"--" + boundary) + rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")
    found: list[tuple[int, int]] = []
    opened: int | None = None
    pos = start
    while pos < end:
        match = delimiter.search(data, pos, end)
        if match is None:
            break
        at = match.start()
        pos = match.end() if match.end() > at else at + 1
        if at > start and data[at - 1:at] not in (b"\n", b"\r"):
            continue  # not at the start of a line
        if opened is not None and at > opened:
            found.append((opened, _before_line_end(data, opened, at)))
        opened = None if match.group(1) else match.end()
        if match.group(1):
            return found
    if opened is not None:  # no closing delimiter: the last part runs to the end
        found.append((opened, end))
    return found


def _before_line_end(data: bytes, start: int, end: int) -> int:
    if end - start >= 2 and data[end - 2:end] == b"\r\n":
        return end - 2
    return end - 1 if end > start and data[end - 1:end] in (b"\n", b"\r") else end


def _locate(part: Message, data: bytes, start: int, end: int,
            spans: dict[int, tuple[bytes, int, int]], depth: int) -> None:
    """Record the span of every forwarded message in the part ``data[start:end]``."""
    payload = part.get_payload()
    if depth > _MAX_DEPTH or not isinstance(payload, list) or not payload:
        return
    body = _body_start(data, start, end)
    ctype = part.get_content_type()
    if ctype in _MESSAGE_TYPES:
        inner = payload[0]
        if len(payload) == 1 and isinstance(inner, Message) and _starts_as(inner, data, body,
                                                                           end):
            spans[id(part)] = (data, body, end)
            _locate(inner, data, body, end, spans, depth + 1)
        return
    boundary = part.get_boundary() if ctype.startswith("multipart/") else None
    if boundary is None:
        return
    try:
        encoded = boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return
    children = [p for p in payload if isinstance(p, Message)]
    segments = _segments(data, body, end, encoded)
    if len(segments) != len(children) or len(children) != len(payload):
        return  # read otherwise than by its delimiter lines: not guessed
    for child, (child_start, child_end) in zip(children, segments, strict=True):
        _locate(child, data, child_start, child_end, spans, depth + 1)


def _starts_as(inner: Message, data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` begins as the parsed ``inner`` does (its first header),
    a check that the span is the message the parser read."""
    keys = inner.keys()
    if not keys:
        return True
    head = data[start:min(end, start + 1000)]
    if head.startswith(b"From "):  # an mbox separator line, read as no header
        head = head.partition(b"\n")[2]
    first = keys[0].encode("ascii", "surrogateescape").lower()
    return head[:len(first)].lower() == first
