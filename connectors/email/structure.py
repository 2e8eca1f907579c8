"""Repairs of broken MIME structure, so that no part of a message is silently lost.

Part of the parsing layer (pure: no storage, no network); used by :mod:`.parse`, which runs
the stdlib parser first and calls these only when its result shows the damage (a nested
multipart reusing an enclosing boundary, a multipart without parts, text after the closing
boundary, a transfer encoding that did not decode): well-formed mail pays nothing.

- :func:`separate_boundaries`: a nested multipart that reuses the boundary of a multipart
  around it (a malware trick) makes the stdlib end the outer multipart at the inner closing
  delimiter; everything after it would be dropped. The raw bytes are rewritten so that each
  nested multipart has a boundary of its own, then parsed again.
- :func:`find_parts`: the parts of a byte range whose boundary is wrong or missing, found
  from the delimiter lines that are followed by part headers.
- :func:`decoded_payload`: the bytes of a part, transfer encoding undone leniently, with a
  note when the encoding was unknown or damaged.
"""

from __future__ import annotations

import binascii
import re
from collections import Counter
from collections.abc import Callable
from email import policy
from email.errors import CloseBoundaryNotFoundDefect
from email.message import Message
from email.parser import BytesParser
from typing import Any

__all__ = ["IndexedMessage", "decoded_payload", "encoded_message", "find_parts", "parser",
           "raw_values", "reused_boundary", "separate_boundaries"]

_HEADER_LINE = re.compile(rb"[!-9;-~]{1,80}:")
_BOUNDARY_PARAM = re.compile(rb"""(?<![\w-])(boundary[ \t]*=[ \t]*)("[^"]*"|[^;\s]+)""",
                             re.IGNORECASE)
_CANDIDATE = re.compile(rb"^--([^\r\n]{1,200}?)[ \t]*\r?\n(?=([!-9;-~]{1,80}):)", re.MULTILINE)
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\s]")


class IndexedMessage(Message):
    """A ``compat32`` message whose header lookups are dictionary accesses.

    The stdlib's ``Message.get`` compares every header name of the part, lower-cased, on
    each call, and ``get_param`` parses the whole parameter list again each time; reading a
    message asks ~30 such questions per part. Here the headers are indexed by lower-cased
    name once, and parameter lists parsed once per header, both rebuilt whenever the header
    list changes (any mutation replaces the list or changes its length; ``replace_header``,
    the one that does neither, drops the index itself). Answers are the stdlib's, except
    for a content type written in quotes or without its major type (:func:`_lenient_type`).
    """

    _index_key: tuple[int, int] = (0, -1)
    _index: dict[str, list[tuple[str, Any]]]
    _params: dict[str, Any]

    def _lookup(self) -> dict[str, list[tuple[str, Any]]]:
        headers = self._headers  # type: ignore[attr-defined]
        key = (id(headers), len(headers))
        if self._index_key != key:
            index: dict[str, list[tuple[str, Any]]] = {}
            for name, value in headers:
                index.setdefault(name.lower(), []).append((name, value))
            self._index, self._params, self._index_key = index, {}, key
        return self._index

    def get(self, name: str, failobj: Any = None) -> Any:
        found = self._lookup().get(name.lower())
        if not found:
            return failobj
        return self.policy.header_fetch_parse(*found[0])

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def get_all(self, name: str, failobj: Any = None) -> Any:
        found = self._lookup().get(name.lower())
        if not found:
            return failobj
        return [self.policy.header_fetch_parse(k, v) for k, v in found]

    def get_content_type(self) -> str:
        self._lookup()
        key = "\0type:" + self._default_type  # type: ignore[attr-defined]
        found = self._params.get(key)
        if found is None:
            found = self._params[key] = _lenient_type(self, super().get_content_type())
        return str(found)

    def raw(self, name: str) -> list[Any]:
        """The raw values of header ``name`` (lower case), in order."""
        return [v for _k, v in self._lookup().get(name, ())]

    def replace_header(self, _name: str, _value: Any) -> None:
        super().replace_header(_name, _value)
        self._index_key = (0, -1)

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        self._lookup()
        cached = self._params.get(header)
        if cached is None:
            cached = super()._get_params_preserve(_NO_HEADER, header)  # type: ignore[misc]
            self._params[header] = cached
        return failobj if cached is _NO_HEADER else list(cached)


_NO_HEADER: Any = object()
_BARE_TYPES = {"html": "text/html", "text": "text/plain", "plain": "text/plain"}


def _lenient_type(part: Message, standard: str) -> str:
    """The content type as its sender meant it where the standard reading gives up: a type
    in quotes (``"text/html"``, as scripts write it) had become a file named ``.bin`` with
    the body gone, and a bare ``html`` was shown as plain text with its tags. A type
    followed by something else without a ``;`` (``application/pdf name="x.pdf"``,
    ``text/plain>``: enmime's test mails) is that type: the whole value had become the
    type, and the text a file. Any other value is answered as the stdlib does."""
    if standard != "text/plain" and '"' not in standard and "'" not in standard:
        if _MEDIA_TYPE.fullmatch(standard):
            return standard  # (what nearly every part has: nothing more to look at)
        return _type_before_junk(standard)
    values = raw_values(part, "content-type")
    if not values or not isinstance(values[0], str):
        return standard
    written = values[0].partition(";")[0].strip()
    if "/" in written and written[:1] not in ("\"", "'"):
        return _type_before_junk(standard)  # (a plain "text/plain", or a type and junk)
    if written[:1] in ("\"", "'"):
        written = written.strip("\"' \t").lower()
        if written.count("/") == 1 and all(written.partition("/")[::2]) and \
                not re.search(r"\s", written):
            return written
        return "text/plain"  # (the stdlib's default for a type it cannot read)
    return _BARE_TYPES.get(written.lower(), standard) if "/" not in written else standard


_MEDIA_TYPE = re.compile(r"[!#$%&*+.0-9a-z^_`{|}~-]+/[!#$%&*+.0-9a-z^_`{|}~-]+")
"""type/subtype in RFC 2045's token characters (lower case, as the stdlib answers)."""


def _type_before_junk(standard: str) -> str:
    found = _MEDIA_TYPE.match(standard)
    return found.group() if found else "text/plain"  # (the stdlib's default)


def raw_values(msg: Message, name: str) -> list[Any]:
    """The raw values of header ``name`` (lower case) of ``msg``, in order."""
    if isinstance(msg, IndexedMessage):
        return msg.raw(name)
    return [value for key, value in msg.raw_items() if key.lower() == name]


def parser() -> BytesParser[Message]:
    """The MIME structure only. ``compat32`` keeps headers as raw strings (decoded leniently
    by :mod:`.decode`); ``policy.default``'s header objects cost ~1 ms per part. Parts are
    :class:`IndexedMessage`."""
    return BytesParser(_class=IndexedMessage, policy=policy.compat32)


# --------------------------------------------------------------------------- reused boundaries


def reused_boundary(msg: Message, data: bytes) -> str | None:
    """The first boundary that a nested multipart reuses from a multipart around it
    (``data``: the raw message, for a cheap first look: it needs two boundary parameters)."""
    if data.count(b"oundary=") + data.count(b"OUNDARY=") < 2:
        return None

    def visit(part: Message, around: tuple[str, ...]) -> str | None:
        payload = part.get_payload() if part.is_multipart() else None  # (a leaf's get_payload
        # looks through its whole text)
        nested = bool(around) and "multipart" in str(part.get("content-type", "")).lower()
        boundary = part.get_boundary() if nested or isinstance(payload, list) else None
        if nested and boundary in around:
            return boundary
        if isinstance(payload, list):
            inside = (*around, boundary) if boundary is not None else around
            for child in payload:
                if isinstance(child, Message) and (found := visit(child, inside)):
                    return found
        return None
    return visit(msg, ())


class _Rewriter:
    """One pass over the lines: a stack of open multiparts, innermost last, each with the
    boundary it declared and the one written out (renamed when an outer one has it)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.out: list[bytes] = []
        self.stack: list[tuple[bytes, bytes]] = []
        self.renamed = 0

    def run(self) -> bytes:
        headers: list[bytes] | None = []  # collecting a header block; None in a body
        for line in self.data.splitlines(keepends=True):
            if headers is not None:
                if not line.strip(b"\r\n"):
                    headers = self._header_block(headers)
                    self.out.append(line)
                    continue
                continuation = headers and line[:1] in (b" ", b"\t")
                if continuation or _HEADER_LINE.match(line) or (
                        not self.out and not headers and line.startswith(b"From ")):
                    headers.append(line)
                    continue
                headers = self._header_block(headers)  # the block ended without a blank line
            delimiter = self._delimiter(line) if line.startswith(b"--") and self.stack else None
            if delimiter is None:
                self.out.append(line)
                continue
            index, closing = delimiter
            eol = line[len(line.rstrip(b"\r\n")):]
            self.out.append(b"--" + self.stack[index][1] + (b"--" if closing else b"") + eol)
            del self.stack[index if closing else index + 1:]
            headers = None if closing else []
        if headers:
            self._header_block(headers)
        return b"".join(self.out)

    def _delimiter(self, line: bytes) -> tuple[int, bool] | None:
        name = line[2:].rstrip(b" \t\r\n")
        for closing, wanted in ((False, name), (True, name[:-2] if name.endswith(b"--") else None)):
            for index in range(len(self.stack) - 1, -1, -1):
                if self.stack[index][0] == wanted:
                    return index, closing
        return None

    def _header_block(self, lines: list[bytes]) -> list[bytes] | None:
        """Write the block (its boundary renamed if reused); [] when a message follows."""
        block = b"".join(lines)
        part = parser().parsebytes(block + b"\n", headersonly=True)
        boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
        if boundary is not None:
            declared = boundary.encode("ascii", "surrogateescape")
            written = declared
            if any(d == declared for d, _ in self.stack):
                self.renamed += 1
                written = b"%s=_chronik_%d" % (declared, self.renamed)
                while written in self.data:
                    written += b"_"
                block, count = _BOUNDARY_PARAM.subn(
                    lambda m: m.group(1) + b'"' + written + b'"', block, count=1)
                if count == 0:
                    written = declared
            self.stack.append((declared, written))
        self.out.append(block)
        return [] if part.get_content_type() in ("message/rfc822", "message/global") else None


def separate_boundaries(data: bytes) -> bytes:
    """``data`` with every nested multipart that reuses an enclosing boundary given one of
    its own. A reused boundary is read as the innermost multipart's until that multipart's
    closing delimiter; the next delimiter continues the multipart around it."""
    return _Rewriter(data).run()


def line_end(data: bytes) -> bytes:
    """The line end a raw message uses (CRLF as sent over SMTP, or LF as stored), for a
    line written into it."""
    return b"\r\n" if b"\r\n" in data[:4096] else b"\n"


def split_parts(msg: Message) -> tuple[list[Message], list[Message]]:
    """The multiparts and the leaves of ``msg`` (cheaper than ``walk()``: a leaf's
    ``get_payload`` looks through its whole text; the repair checks run on all mail)."""
    multiparts: list[Message] = []
    leaves: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.is_multipart():
            multiparts.append(part)
            stack.extend(p for p in part.get_payload() if isinstance(p, Message))
        else:
            leaves.append(part)
    return multiparts, leaves


def closing_with_junk(multiparts: list[Message], data: bytes) -> tuple[bytes, str] | None:
    """``data`` with a closing delimiter that has other characters after it on its line
    (``--B-->``) ended there, and the boundary; None when there is none to repair.

    RFC 2046 (5.1.1) lets a reader take a delimiter by its start; Python's parser wants the
    whole line, so the multipart ran on to the end of the message and its last file took in
    what followed (enmime's epilogue-sample: "Potentially malicious content" after
    ``--B-->`` became part of an attached page). Only the closing delimiter of a multipart
    whose closing delimiter was not found is repaired, and only when the characters after
    it are no other multipart's boundary (``B--x`` may be one). ``multiparts``: those of
    the message (:func:`split_parts`)."""
    missing = [boundary for part in multiparts
               if any(isinstance(d, CloseBoundaryNotFoundDefect) for d in part.defects)
               and (boundary := part.get_boundary()) is not None]
    if not missing:
        return None
    boundaries = {b for part in multiparts if (b := part.get_boundary()) is not None}
    for boundary in missing:
        raw = boundary.encode("ascii", "surrogateescape")
        for match in re.finditer(rb"^--" + re.escape(raw) + rb"--([^\s].*)$", data, re.MULTILINE):
            rest = match.group(1).decode("ascii", "surrogateescape")
            if any((boundary + "--" + rest).startswith(b) for b in boundaries if b != boundary):
                continue
            return data[:match.start(1)] + line_end(data) + data[match.start(1):], boundary
    return None


# --------------------------------------------------------------------------- lost boundaries


def find_parts(data: bytes, content_type: str = "multipart/mixed",
               preferred: str | None = None, strict: bool = False,
               read: Callable[[Message, bytes], None] | None = None) -> Message | None:
    """``data`` (a multipart body with a wrong or missing boundary, or text left after a
    closing delimiter) read as a ``content_type`` multipart, or None when it holds no parts.
    The boundary is ``preferred`` if its delimiter lines are there, else the one whose
    delimiter lines are most often followed by part headers (``Content-*`` ones count ten
    times: a quoted "-----Original Message-----" is followed by "From:"); ``strict``: only
    those count (for text that is not declared to hold parts). ``read`` is told the
    multipart found and the bytes it was parsed from."""
    candidates: Counter[bytes] = Counter()
    for match in _CANDIDATE.finditer(data):
        if match.group(2)[:8].lower() == b"content-":
            candidates[match.group(1)] += 10
        elif not strict:
            candidates[match.group(1)] += 1
    if not candidates:
        return None
    boundary = candidates.most_common(1)[0][0]
    if preferred and (wanted := preferred.encode("ascii", "surrogateescape")) in candidates:
        boundary = wanted
    if b'"' in boundary or b"\\" in boundary:
        return None
    header = b"Content-Type: %s; boundary=\"%s\"\n\n" % (content_type.encode(), boundary)
    source = header + data
    found = parser().parsebytes(source)
    payload: object = found.get_payload()
    if not isinstance(payload, list):
        return None
    if read is not None:
        read(found, source)
    return found


# --------------------------------------------------------------------------- transfer encodings

_ENCODINGS = {"base64": "base64", "base-64": "base64", "quoted-printable": "quoted-printable",
              "quotedprintable": "quoted-printable", "quoted printable": "quoted-printable",
              "7bit": "7bit", "7-bit": "7bit", "8bit": "8bit", "8-bit": "8bit",
              "binary": "binary", "x-uuencode": "x-uuencode", "uuencode": "x-uuencode",
              "uue": "x-uuencode", "x-uue": "x-uuencode"}


def _words(raw: bytes) -> bool:
    """True if at least half of the lines written hold a space inside them."""
    written = [line.strip() for line in raw.splitlines() if line.strip()]
    return bool(written) and sum(b" " in line for line in written) * 2 >= len(written)


def decoded_payload(part: Message) -> tuple[bytes, str | None, bytes | None]:
    """The bytes of a non-multipart part: (data, note, undecodable raw text or None).

    A transfer encoding spelled loosely ("Base64 ", "base-64") is understood; an unknown one
    keeps the bytes as sent. Base64 with characters outside its alphabet, or cut short, is
    decoded as far as it goes, and its raw text is returned too so that it can be kept.
    """
    if part.is_multipart():  # message/delivery-status and the like: a list of blocks
        return _raw(part), None, None
    raw_name = str(part.get("content-transfer-encoding", ""))
    name = raw_name.strip().strip("\"';").strip().lower()
    encoding = _ENCODINGS.get(name) if name else "7bit"
    if encoding is None:
        return _raw(part), f"unknown transfer encoding {raw_name.strip()!r}: kept as sent", None
    if encoding == "base64":
        return _base64(_raw(part))
    if name and encoding != raw_name.lower():
        part.replace_header("content-transfer-encoding", encoding)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b"", None, None


def encoded_message(part: Message) -> tuple[bytes, str, str | None] | None:
    """A ``message/rfc822`` part sent in base64 or quoted-printable (GroupWise forwards so;
    RFC 2046 allows only 7bit, 8bit and binary there): the stdlib parses the encoded text as
    the message, so the forwarded mail showed as base64 and its attachments were lost.
    Returns (the decoded message, the encoding, a note on damage) -- ``None`` for a message
    part sent as the standard wants."""
    raw_name = str(part.get("content-transfer-encoding", ""))
    encoding = _ENCODINGS.get(raw_name.strip().strip("\"';").strip().lower())
    if encoding not in ("base64", "quoted-printable"):
        return None
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and len(payload) == 1 else None
    text = getattr(inner, "_payload", None)
    if isinstance(inner, Message) and not inner.keys() and isinstance(text, str):
        raw = text.encode("ascii", "surrogateescape")  # the text as it came
    else:  # (quoted-printable text whose first lines look like headers)
        raw = _raw(part)
    if encoding == "base64":
        data, note, _ = _base64(raw)
        return data, encoding, note
    return binascii.a2b_qp(raw), encoding, None


def _raw(part: Message) -> bytes:
    """The payload bytes exactly as parsed. (``get_payload()`` would decode 8-bit bytes in
    the part's charset with U+FFFD for what does not fit: the stored string is the source.)"""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    try:
        return part.as_bytes().split(b"\n\n", 1)[-1]
    except (ValueError, LookupError, TypeError, UnicodeError):
        return b""


def _base64(raw: bytes) -> tuple[bytes, str | None, bytes | None]:
    if b" " in raw.lstrip()[:200].split(b"\n", 1)[0].strip() and _words(raw):
        # words, not base64 (whose lines never hold a space): a sender that declared base64
        # for plain text (enmime's mime-bad-content-transfer-encoding) showed noise
        return raw, "declared base64, but the text is not encoded: read as it is", None
    compact = b"".join(raw.split())
    try:
        return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4), strict_mode=True), \
            None, None
    except (binascii.Error, ValueError):
        pass
    lines = raw.splitlines()
    # A line that starts with "--" is no base64 (the alphabet has no "-"): a boundary the
    # parser did not take for one (a mistyped or stray delimiter); its "=" would end the data.
    kept = [line for line in lines if not line.lstrip().startswith(b"--")]
    stray = len(lines) - len(kept)
    compact = b"".join(b"".join(kept).split())
    junk = _B64_JUNK.findall(compact)
    data, cut = bytearray(), False
    for run in _B64_JUNK.sub(b"", compact).split(b"="):  # "=" ends a run (padding): runs
        if len(run) % 4 == 1:  # of separately encoded pieces are joined, not lost
            run, cut = run[:-1], True
        if run:
            data += binascii.a2b_base64(run + b"=" * (-len(run) % 4))
    problems = ([f"{len(junk)} character(s) outside the base64 alphabet skipped"] if junk
                else []) + ([f"{stray} line(s) that look like a MIME boundary skipped"]
                            if stray else []) + (["it is cut short"] if cut else [])
    if not problems:  # padding inside the text, and the like: decoded as it is
        return bytes(data), None, None
    return bytes(data), f"damaged base64 ({', '.join(problems)})", raw
