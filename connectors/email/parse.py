"""Turn one raw RFC 5322 message into a :class:`ParsedMail` (pure: no storage, no network).

The stdlib ``email`` package (``policy.compat32``) gives the MIME structure; this module adds
what real mail needs on top: lenient charset handling, lenient RFC 2047 / RFC 2231 decoding,
HTML-to-text, format=flowed, forwarded messages, stable ids for messages without one, and
repairs of broken structure (:mod:`.structure`) and charsets (:mod:`.decode`). Nothing is
silently lost: what cannot be read is kept as an attachment, and every repair or guess is
listed in ``ParsedMail.parse_notes``. Whatever goes wrong ends as :class:`MailParseError` --
never another exception type.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from email.errors import CloseBoundaryNotFoundDefect, MissingHeaderBodySeparatorDefect
from email.message import Message
from functools import cached_property
from urllib.parse import unquote

from .authors import form_author, list_author
from .binhex import BinHexFile, is_binhex, named, take_binhexed, unbinhex
from .classify import classify, machine_account
from .dates import message_date
from .decode import (
    addresses,
    decode_text,
    decode_words,
    filename_param,
    header_values,
    safe_filename,
    synth_filename,
)
from .errors import MailParseError, MessageTooLarge
from .htmltext import clean_html, html_to_text, unflow
from .msgfile import NotReadable, is_msg, mail_from_msg
from .originals import FALLBACK_NAME, Originals, eml_name
from .smime import is_pkcs7, open_pkcs7
from .sniff import binary_type, specific_type
from .spam import spam_verdict
from .structure import (
    closing_with_junk,
    decoded_payload,
    encoded_message,
    find_parts,
    parser,
    reused_boundary,
    separate_boundaries,
    split_parts,
)
from .tnef import is_tnef, unpack
from .uuencode import take_uuencoded

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORWARD_SEPARATOR",
    "MailParseError",
    "MessageTooLarge",
    "ParsedAttachment",
    "ParsedMail",
    "decode_words",
    "html_to_text",
    "normalize_email",
    "parse_message",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
FORWARD_SEPARATOR = "---------- Forwarded message ----------"
_MAX_DEPTH = 12  # nesting of multiparts / forwarded messages we follow
_MAX_PARTS = 2000  # MIME parts; parsing cost grows with them
_MAX_OUTLOOK_LEVEL = 3  # Outlook items attached to Outlook items … that are opened
_MAYBE_PKCS7 = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime",
                          "application/octet-stream"})
_PART_HEADER = re.compile(rb"^content-type:", re.IGNORECASE | re.MULTILINE)
_BODY_TYPES = ("text/plain", "text/html")
_RENDERINGS = frozenset({"text/enriched", "text/richtext", "text/x-amp-html", "text/watch-html",
                         "text/x-watch-html"})
"""Other renderings of a text that one of ``_BODY_TYPES`` shows in a multipart/alternative
(RFC 2046 §5.1.4: show the best, ignore the rest): not kept as files. A calendar invitation
or any other part is no rendering and stays a file."""
_MESSAGE_TYPES = ("message/rfc822", "message/global")
_NOT_BLANK = re.compile(rb"\S")
_ID_RE = re.compile(r"<([^<>\s]+)>")
_CID_RE = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_MIME_NOTICE = re.compile(r"mime|multi-?part", re.IGNORECASE)
_HEADER_LIKE = re.compile(rb"^[!-9;-~]{1,80}:", re.MULTILINE)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # decoded, never empty (synthesised when the message gives none)
    content_type: str
    data: bytes
    inline: bool  # an image shown inline (Content-Disposition inline or referenced by cid:)
    content_id: str | None
    text: str | None = None  # the file's searchable text, when read (chronik import)
    forwarded: bool = False
    """The forwarded mail itself (``<Subject>.eml``), kept beside its text and files: not
    part of what makes two messages the same (a mail stored before it was kept, delivered
    again, is a duplicate -- not "another message with the same Message-ID")."""


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    from_email: str
    from_display_name: str
    from_header: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    auto: str | None  # None | "auto_reply" | "bounce" | "bulk"
    bounced_recipients: tuple[str, ...]
    size: int
    # what was broken and how it was read (a repair, a guess, or bytes kept as an
    # attachment because they could not be read); empty for well-formed mail
    parse_notes: tuple[str, ...] = ()
    spam: str | None = None
    """The header by which a spam filter on the way marked it as spam (``spam.py``)."""

    @cached_property
    def content_sha256(self) -> str:
        """What makes two messages "the same": sender, subject, text and attachment bytes
        (computed once, in the parser process when it asks, and pickled with the result)."""
        digest = hashlib.sha256()
        for part in (self.from_email.lower(), self.subject, self.text):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        for att in self.attachments:
            if not att.forwarded:
                digest.update(hashlib.sha256(att.data).digest())
        return digest.hexdigest()


def normalize_email(address: str) -> str:
    """The comparison form of an address: trimmed, no brackets or trailing dot, lower case."""
    return address.strip().strip("<>").strip().rstrip(".").lower()


def parse_message(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedMail:
    """Parse one raw message; raise :class:`MailParseError` (only) when that is impossible."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MailParseError("input is not bytes")
    size = len(raw)
    if size > max_bytes:
        raise MessageTooLarge(size, max_bytes)
    data = bytes(raw)
    if not data.strip():
        raise MailParseError("empty message")
    if is_msg(data):  # what import could not turn into mail (see .msgfile)
        raise MailParseError("an Outlook .msg file that could not be read (damaged)")
    try:
        return _parse(data, max_bytes)
    except MailParseError:
        raise
    except (Exception, RecursionError) as exc:  # the one boundary: map everything else
        raise MailParseError(f"unreadable message ({type(exc).__name__})") from exc


# --------------------------------------------------------------------------- the message


def _parse(data: bytes, max_bytes: int) -> ParsedMail:
    parts = sum(1 for _ in _PART_HEADER.finditer(data))
    if parts > _MAX_PARTS:
        raise MailParseError(f"too many MIME parts ({parts}, at most {_MAX_PARTS})")
    notes: list[str] = []
    mime = data.lstrip(b"\r\n")
    if mime.startswith(b"\xef\xbb\xbf"):  # a byte order mark, as Windows tools save text
        mime = mime[3:].lstrip(b"\r\n")
        notes.append("a UTF-8 byte order mark before the headers was left out")
    if mime.count(b"\r\r\n", 0, 4096) > 1:  # CRLF converted to CRLF again: each line would
        mime = mime.replace(b"\r\r\n", b"\r\n")  # be followed by an empty one, ending headers
        notes.append("line ends written as CR CR LF read as CR LF")
    if mime[:1] in (b" ", b"\t") and _HEADER_LIKE.match(mime.lstrip(b" \t")):
        mime = mime.lstrip(b" \t")  # (the parser takes such a first line for the continuation
        notes.append("white space before the first header was left out")  # of nothing)
    if not _HEADER_LIKE.match(mime) and not mime.startswith(b"From "):
        banner, found = _headers_after_banner(mime)
        if found is not None:  # "---- Original email message ----" as some tools save it
            mime = found
            notes.append(f"a line before the headers was left out: {banner!r}")
    msg = parser().parsebytes(mime)
    if not list(msg.raw_items()) or any(
            isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
        repaired = _obsolete_colons(mime)
        if repaired is not None:  # "Subject : …" (RFC 5322's obsolete syntax)
            mime = repaired
            msg = parser().parsebytes(mime)
            notes.append("header names followed by white space before the colon (obsolete "
                         "syntax) were read as headers")
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
        repaired = _unindented_continuations(mime)
        if repaired is not None:  # a header folded without indenting its next line
            mime = repaired
            msg = parser().parsebytes(mime)
            notes.append("header lines that were not indented were read as continuations")
    if not list(msg.raw_items()):
        raise MailParseError("no message headers found")
    if not any(name in msg for name in ("from", "sender", "reply-to")):
        rejoined = _headers_after_blank_lines(mime)
        if rejoined is not None:  # (only then: a mail that has a sender keeps its body)
            mime = rejoined
            msg = parser().parsebytes(mime)
            notes.append("blank lines inside the headers were left out")
    tree = split_parts(msg)
    repaired = _unindented_in_parts(tree, mime)
    if repaired is not None:
        mime = repaired
        msg = parser().parsebytes(mime)
        tree = split_parts(msg)
        notes.append("header lines of a part that were not indented were read as continuations")
    reused = reused_boundary(msg, mime)
    if reused is not None:
        mime = separate_boundaries(mime)
        msg = parser().parsebytes(mime)
        tree = split_parts(msg)
        notes.append(f"a nested multipart reused the boundary {reused!r} of the multipart "
                     "around it: its parts were separated again")
    if (closed := closing_with_junk(tree[0], mime)) is not None:
        mime = closed[0]
        msg = parser().parsebytes(mime)
        notes.append(f"a closing delimiter of {closed[1]!r} followed by other characters on its "
                     "line was read as the closing delimiter")
    hint = _charset_hint(msg)
    from_values = header_values(msg, "from", hint)
    auto, bounced = classify(msg)
    sender = _sender(msg, hint, notes, listed=auto == "bulk")
    if sender is None:
        raise MailParseError("no sender address (From, Sender, Reply-To or Return-Path)")
    body = _Body(notes, Originals(max_bytes))
    body.originals.register(msg, mime)
    _walk(msg, body, 0)
    attachments = body.finish_attachments()
    if auto is None and machine_account(sender[1]):  # root@, postmaster@, noreply@ …
        auto = "auto_reply"
    subject = _header_text(msg, "subject", hint, notes)
    return ParsedMail(
        message_id=_message_id(msg, data, hint),
        from_email=sender[1],
        from_display_name=sender[0],
        from_header=decode_words(from_values[0], hint).strip() if from_values else "",
        to=_address_list(msg, "to", hint, notes),
        cc=_address_list(msg, "cc", hint, notes),
        subject=subject,
        date=message_date(msg, header_values(msg, "date", hint), notes),
        in_reply_to=next(iter(_ids(header_values(msg, "in-reply-to", hint))), None),
        references=_ids(header_values(msg, "references", hint)),
        text=body.text(),
        html=body.html(),
        attachments=attachments,
        auto=auto,
        bounced_recipients=bounced,
        size=len(data),
        parse_notes=tuple(dict.fromkeys(notes)),
        spam=spam_verdict(msg),
    )


_BANNER_LINES = 3  # lines a tool may write above a saved message
_SENDER_HEADER = re.compile(rb"(?im)^(from|return-path|received|sender|date|message-id):")


def _headers_after_banner(mime: bytes) -> tuple[str, bytes | None]:
    """A message saved below a line or two of text (a mail server's "Original email
    message" banner): the text, and the message from its first header line on -- only
    when what follows is clearly a header block (three header lines, one naming the
    sender, the date or the route)."""
    lines = mime[:4096].splitlines(keepends=True)
    offset = 0
    for number, line in enumerate(lines[:_BANNER_LINES + 1]):
        block = lines[number:number + 3]
        if len(block) == 3 and all(_HEADER_LIKE.match(b) for b in block) and \
                any(_SENDER_HEADER.match(b) for b in block) and number > 0:
            banner = b" ".join(x.strip() for x in lines[:number]).decode("utf-8", "replace")
            return banner[:200], mime[offset:]
        offset += len(line)
    return "", None


_KNOWN_HEADER = re.compile(
    rb"(?i)^(x-[\w-]+|from|to|cc|bcc|subject|date|message-id|in-reply-to|references|"
    rb"reply-to|sender|return-path|received|mime-version|content-[\w-]+|dkim-signature|"
    rb"authentication-results|list-[\w-]+|precedence|auto-submitted|delivered-to|"
    rb"envelope-to|user-agent|organization|importance|thread-[\w-]+|arc-[\w-]+):")


def _unindented_continuations(mime: bytes) -> bytes | None:
    """Headers where a folded line lost its indent (``Received: from x`` / ``by y with
    ESMTP``): the standard parser ends the headers there, and To, Subject and From below
    become body text. When header lines follow such lines before the blank line, they are
    indented again. ``None`` when nothing like that is there."""
    head = _header_block(mime)
    lines = head.splitlines(keepends=True)
    loose = [n for n, line in enumerate(lines) if n and line.strip()
             and line[:1] not in b" \t" and not _HEADER_LIKE.match(line)]
    if not loose or not any(_KNOWN_HEADER.match(line) for line in lines[loose[-1] + 1:]):
        return None  # (a body that began without a blank line has no such headers below)
    for n in loose:
        lines[n] = b" " + lines[n]
    return b"".join(lines) + mime[len(head):]


_BLANK_LINES = re.compile(rb"(?:[ \t]*\r?\n)+")
_SENDER_LINE = re.compile(rb"(?im)^(from|sender|reply-to)[ \t]*:")


def _headers_after_blank_lines(mime: bytes) -> bytes | None:
    """Headers that go on after blank or white-space lines (the mail gem's
    raw_email_with_nested_attachment_and_whitespace_in_headers, an Apple Mail message: a
    blank and a spaces-only line after ``Message-Id``, with From, To, Subject and the
    content type below): the headers read as ended there, and the mail was quarantined
    for having no sender. The lines after the blank ones are taken back into the headers
    when they are all header lines (or their continuations) and name the sender; ``None``
    otherwise."""
    head = _header_block(mime)
    blank = _BLANK_LINES.match(mime, len(head))
    if blank is None or blank.end() >= len(mime):
        return None
    more = _header_block(mime[blank.end():])
    lines = more.splitlines()
    if not lines or not _SENDER_LINE.search(more) or not all(
            line[:1] in b" \t" or _HEADER_LIKE.match(line) for line in lines):
        return None
    end = b"\r\n" if mime.startswith(b"\r\n", len(head)) else b"\n"  # (as the headers end)
    return head + end + mime[blank.end():]


def _unindented_in_parts(tree: tuple[list[Message], list[Message]], mime: bytes
                         ) -> bytes | None:
    """The same repair in the headers of the parts (enmime's bad-header-wrap: ``name="x.zip"``
    on its own line under ``Content-Type: …;``): the part's headers ended there, and its
    file took in its own ``Content-Disposition`` line and came out damaged. Each part's
    header block after a delimiter is repaired as the message's are; ``None`` when no part
    has such headers (the parser says so: a part without a blank line after its headers).
    ``tree``: the message's multiparts and leaves (:func:`split_parts`)."""
    multiparts, leaves = tree
    if not multiparts or not any(isinstance(d, MissingHeaderBodySeparatorDefect)
                                 for leaf in leaves for d in leaf.defects):
        return None
    boundaries = [b.encode("ascii", "surrogateescape") for part in multiparts
                  if (b := part.get_boundary())]
    if not boundaries:
        return None
    delimiter = re.compile(rb"^--(?:" + b"|".join(re.escape(b) for b in boundaries)
                           + rb")[ \t]*\r?\n", re.MULTILINE)
    pieces, pos = [], 0
    for match in delimiter.finditer(mime):
        head = _header_block(mime[match.end():])
        fixed = _unindented_continuations(head)
        if fixed is not None:
            pieces += [mime[pos:match.end()], fixed]
            pos = match.end() + len(head)
    return None if not pieces else b"".join(pieces) + mime[pos:]


_OBSOLETE_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:")


def _obsolete_colons(mime: bytes) -> bytes | None:
    """Headers in RFC 5322's obsolete syntax, white space between the name and the colon
    (``Subject : …``, which a receiver must still accept): the standard parser takes the
    first such line for the start of the body. The header block with the colons moved up
    to the names, up to the first line that is no header (a body may follow without a blank
    line); ``None`` when it has no such line."""
    head = _header_block(mime)  # not the whole message: mail can be big
    lines = head.splitlines(keepends=True)
    fixed = 0
    for number, line in enumerate(lines):
        if line[:1] in b" \t" or _HEADER_LIKE.match(line):
            continue
        if not _OBSOLETE_NAME.match(line):
            break
        lines[number] = _OBSOLETE_NAME.sub(rb"\1:", line, count=1)
        fixed += 1
    return b"".join(lines) + mime[len(head):] if fixed else None


def _header_block(mime: bytes) -> bytes:
    """The message up to the blank line that ends its headers (all of it without one)."""
    end = re.search(rb"\r?\n\r?\n", mime)
    return mime[:end.start() if end else len(mime)]


def _charset_hint(msg: Message) -> str | None:
    """The first declared body charset: the best guess for raw 8-bit bytes in headers."""
    for number, part in enumerate(msg.walk()):
        charset = part.get_content_charset()
        if charset and charset not in ("us-ascii", "ascii"):
            return charset
        if number > 20:
            break
    return None


def _sender(msg: Message, hint: str | None, notes: list[str], *, listed: bool = False
            ) -> tuple[str, str] | None:
    """The sender's (display name, address): ``From`` (else ``Sender``, ``Reply-To``,
    ``Return-Path``) -- the author when a list (``listed``: list mail) or a web form sent
    it in their name."""
    for name in ("from", "sender", "reply-to", "return-path"):
        found: list[str] = []
        for value in header_values(msg, name, hint, found):
            for display, address in addresses(value, hint, found):
                if "@" in address:
                    if found:
                        notes.extend(f"{name.title()} header: {n}" for n in dict.fromkeys(found))
                    if name == "from":
                        author = list_author(msg, display, address, hint) if listed else None
                        if author is not None:  # a list that sends posts as its own
                            notes.append(f"the mailing list {address} sent it as its own; the "
                                         f"author {author[1]} is taken from {author[2]}")
                            return author[0], author[1]
                        person = form_author(msg, address, hint)
                        if person is not None:  # a web form, answered by Reply-To
                            notes.append(f"sent from the no-reply address {address}: the "
                                         f"sender {person[1]} is taken from Reply-To")
                            return person
                    return display, address
    return None


def _address_list(msg: Message, name: str, hint: str | None, notes: list[str]
                  ) -> tuple[str, ...]:
    found: dict[str, None] = {}
    guesses: list[str] = []
    for value in header_values(msg, name, hint, guesses):
        found.update((a, None) for _, a in addresses(value, hint, guesses) if "@" in a)
    if guesses:
        notes.extend(f"{name.title()} header: {n}" for n in dict.fromkeys(guesses))
    return tuple(found)


def _header_text(msg: Message, name: str, hint: str | None,
                 notes: list[str] | None = None) -> str:
    """The first ``name`` header decoded (Subject and the like), on one line."""
    found: list[str] = []
    values = header_values(msg, name, hint, found)
    if not values:
        return ""
    text = decode_words(values[0], hint, found).strip("\r\n")
    if notes is not None:
        notes.extend(f"{name.title()} header: {n}" for n in dict.fromkeys(found))
    return re.sub(r"[\r\n]+", " ", text).replace("\t", " ")


def _ids(values: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}  # (in order, each once: a References header repeats ids)
    for value in values:
        found.update(dict.fromkeys(_ID_RE.findall(value)
                                   or [t for t in value.split() if "@" in t]))
    return tuple(found)


def _message_id(msg: Message, data: bytes, hint: str | None) -> str:
    """The Message-ID without brackets; a stable derived id when it is missing or ambiguous.

    The derived id hashes the message without its trace headers (Received, Return-Path,
    Delivered-To, ...), so the same message delivered twice over different routes (or
    stored with CRLF instead of LF) still gets the same id.
    """
    values = header_values(msg, "message-id", hint)
    ids = set(_ids(values)) or {v.strip("<> ") for v in values if re.fullmatch(r"<?\S+>?", v)}
    ids.discard("")  # "Message-ID: <>", as some scripts write it: no id
    if len(ids) == 1:
        return ids.pop()
    digest = hashlib.sha256()
    for name in ("from", "to", "cc", "date", "subject", "in-reply-to", "references"):
        for value in header_values(msg, name, hint):
            digest.update(f"{name}:{' '.join(value.split())}\n".encode("utf-8", "surrogatepass"))
    body = re.split(rb"\r?\n\r?\n", data, maxsplit=1)
    digest.update(b"\n" + (body[1] if len(body) > 1 else b"").replace(b"\r\n", b"\n"))
    return f"sha256-{digest.hexdigest()}@chronik.invalid"


# --------------------------------------------------------------------------- the body


class _Body:
    """Collects body text, HTML, attachments and notes while walking the MIME tree."""

    def __init__(self, notes: list[str], originals: Originals, *, in_copy: bool = False
                 ) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        # (attachment part, inside related), or bytes kept because they could not be read
        self.parts: list[tuple[Message, bool] | ParsedAttachment] = []
        self.notes = notes  # shared with the message and every nested body
        self.outlook_texts: list[str] = []  # the text inside winmail.dat files
        self.inline_files: list[Message] = []  # named text parts not marked attachment
        self.originals = originals  # the forwarded messages (shared, like the notes)
        self.in_copy = in_copy  # inside a forwarded message kept as a file already

    def child(self, *, in_copy: bool = False) -> _Body:
        """A body for a nested part (``in_copy``: one whose bytes are kept as a file)."""
        return _Body(self.notes, self.originals, in_copy=in_copy or self.in_copy)

    def text(self) -> str:
        """The body text (after :meth:`finish_attachments`: winmail.dat's text stands in
        for a message that has no other)."""
        joined = "\n\n".join(t.strip("\n") for t in self.texts if t.strip())
        if not joined.strip():
            joined = "\n\n".join(t.strip("\n") for t in self.outlook_texts if t.strip())
        if not joined.strip() and self.inline_files:  # a mail that is only text files its
            joined = "\n\n".join(  # sender's program shows inline: what the reader sees
                t.strip("\n") for t in (
                    html_to_text(_part_text(p, "text/html", self, file_kept=True))
                    if p.get_content_type() == "text/html"
                    else _part_text(p, "text/plain", self, file_kept=True)
                    for p in self.inline_files) if t.strip())
        return joined.strip("\n")

    def html(self) -> str | None:
        if not self.htmls:
            return None
        return clean_html("\n".join(self.htmls))

    def keep(self, data: bytes, name: str, content_type: str, why: str) -> None:
        """Keep bytes that could not be read as an attachment, and say so."""
        self.parts.append(ParsedAttachment(name, content_type, data, False, None))
        self.notes.append(f"{why}: kept as attachment {name!r}")

    def finish_attachments(self, level: int = 0) -> tuple[ParsedAttachment, ...]:
        """The attachments; Outlook's wrappers opened (``level``: how deep inside attached
        Outlook items this body is)."""
        cids = {unquote(c).strip("<>").lower() for h in self.htmls for c in _CID_RE.findall(h)}
        out: list[ParsedAttachment] = []
        for number, item in enumerate(self.parts, start=1):
            if isinstance(item, ParsedAttachment):
                out.append(item)
                continue
            attachment, raw = _attachment(item[0], number, item[1], cids, self.notes)
            if raw is None and is_binhex(attachment.content_type, attachment.filename,
                                         attachment.data):
                out.extend(self._binhex(attachment))
                continue
            if raw is None and is_tnef(attachment.content_type, attachment.filename,
                                       attachment.data):
                out.extend(self._outlook(attachment))
                continue
            if raw is None and level < _MAX_OUTLOOK_LEVEL and (
                    is_msg(attachment.data) or _saved_message(attachment)):
                out.extend(self._attached_message(attachment, level))
                continue
            out.append(attachment)
            if raw is not None:
                out.append(ParsedAttachment(f"{attachment.filename}.base64.txt", "text/plain",
                                            raw, False, None))
        return tuple(out)

    def _binhex(self, attachment: ParsedAttachment) -> list[ParsedAttachment]:
        """The file inside a BinHex attachment, or the attachment as sent when none can be
        read (and beside the file when it is damaged)."""
        found = unbinhex(attachment.data)
        found = named(found, attachment.filename) if found is not None else None
        if found is None:
            self.notes.append(f"{attachment.filename!r} (BinHex) holds nothing that could be "
                              "read: kept as sent")
            return [attachment]
        self.notes.append(_binhex_note(found, f"{attachment.filename!r} (BinHex) opened"))
        opened = ParsedAttachment(found.name, found.content_type, found.data, False, None)
        return [opened] if found.intact else [opened, attachment]

    def _outlook(self, attachment: ParsedAttachment) -> list[ParsedAttachment]:
        """The files of an Outlook winmail.dat, or the file as sent when it cannot be
        read."""
        unpacked = unpack(attachment.data)
        if unpacked is None:
            self.notes.append(f"{attachment.filename!r} (Outlook TNEF) holds nothing that "
                              "could be read: kept as sent")
            return [attachment]
        self.outlook_texts.append(unpacked.text)
        self.notes.append(f"{attachment.filename!r} (Outlook TNEF) unpacked: "
                          f"{len(unpacked.files)} file(s)"
                          + (", text" if unpacked.text.strip() else ""))
        files = [ParsedAttachment(name, ctype, data, False, None)
                 for name, ctype, data in unpacked.files]
        if unpacked.damaged:
            self.notes.append(f"{attachment.filename!r} also kept as sent: it is damaged (a "
                              "checksum does not match or it is cut short)")
        elif unpacked.unread:
            self.notes.append(f"{attachment.filename!r} also kept as sent: Outlook item(s) "
                              f"without a file or text inside ({', '.join(unpacked.unread)})")
        if unpacked.damaged or unpacked.unread:
            files.append(attachment)
        return files

    def _attached_message(self, attachment: ParsedAttachment, level: int
                          ) -> list[ParsedAttachment]:
        """A mail attached as a file -- an Outlook ``.msg`` (Outlook's "forward as
        attachment"), or an ``.eml`` sent as a plain file rather than ``message/rfc822``
        (webmail, a file dragged from the desktop): its text as a forwarded message, its
        files beside the others, and the file as sent (an ``.eml`` as ``message/rfc822``,
        so that it opens as mail and its text is not read for search a second time)."""
        if is_msg(attachment.data):
            try:
                mime = mail_from_msg(attachment.data)
            except NotReadable:
                mime = None
            if mime is None:  # not mail (a contact, an appointment), or unreadable
                return [attachment]
            what = "an Outlook item"
        else:
            mime = attachment.data
            attachment = replace(attachment, content_type="message/rfc822")
            what = "a saved e-mail"
        inner = parser().parsebytes(mime)
        self.originals.register(inner, mime)
        sub = self.child(in_copy=True)  # (the file holds whatever it forwards in turn)
        _walk(inner, sub, 1)
        files = sub.finish_attachments(level + 1)
        self.texts.append(_forward_header(inner) + sub.text())
        self.notes.append(f"{attachment.filename!r} ({what}) shown as a forwarded message; "
                          "also kept as sent")
        return [*files, attachment]


def _saved_message(attachment: ParsedAttachment) -> bool:
    """An ``.eml`` file attached as a file: named so, and starting with mail headers of its
    own (one naming a sender or a date)."""
    if not attachment.filename.lower().endswith(".eml") or attachment.content_type not in (
            "application/octet-stream", "message/rfc822", "text/plain", "application/eml"):
        return False
    head = attachment.data[:4096].lstrip(b"\r\n").removeprefix(b"\xef\xbb\xbf")
    return bool(_HEADER_LIKE.match(head)) and _SENDER_HEADER.search(head) is not None


def _walk(part: Message, body: _Body, depth: int, related: bool = False) -> None:
    ctype = part.get_content_type()
    maintype = ctype.partition("/")[0]
    if depth > _MAX_DEPTH:
        if ctype in _MESSAGE_TYPES:  # (not read: kept as a file, named by its subject)
            _deepest(part, body)
        else:
            body.parts.append((part, related))
        return
    if ctype in _MESSAGE_TYPES:
        _forwarded(part, body, depth)
        return
    if maintype == "message":  # delivery-status, disposition-notification, ...
        body.parts.append((part, related))
        return
    if part.is_multipart():
        children = [p for p in part.get_payload() if isinstance(p, Message)]
        if ctype == "multipart/encrypted":  # PGP/MIME: the parts are kept as files
            body.notes.append("an encrypted message (PGP/MIME): it can only be read with the "
                              "recipient's private key; kept as sent")
        if ctype == "multipart/alternative":
            _alternative(children, body, depth)
        else:
            for child in children:
                _walk(child, body, depth + 1, related or ctype == "multipart/related")
        _leftovers(part, body, depth, related)
        return
    if maintype == "multipart" or (depth == 0 and _headerless_multipart(part)):
        _broken_multipart(part, body, depth)
        return
    if ctype in _MAYBE_PKCS7 and is_pkcs7(ctype, filename_param(part)) and \
            _opaque_smime(part, body, depth):
        return
    if _is_body_part(part, ctype):
        if ctype == "text/html":
            html = _part_text(part, ctype, body)
            body.htmls.append(html)
            body.texts.append(html_to_text(html))
        else:
            text, files = take_uuencoded(_part_text(part, ctype, body))
            for found in files:
                body.parts.append(ParsedAttachment(found.name, found.content_type, found.data,
                                                   False, None))
                body.notes.append(f"a file uuencoded in the text: kept as attachment "
                                  f"{found.name!r}")
            text, binhexed = take_binhexed(text)
            for hqx in binhexed:
                body.parts.append(ParsedAttachment(hqx.name, hqx.content_type, hqx.data,
                                                   False, None))
                body.notes.append(_binhex_note(hqx, "a file in BinHex in the text"))
            body.texts.append(text)
        return
    if ctype in _BODY_TYPES and part.get_content_disposition() != "attachment":
        body.inline_files.append(part)
    elif ctype in _BODY_TYPES and _EXCHANGE_PIECE.fullmatch(filename_param(part) or ""):
        _exchange_piece(part, ctype, body)
    body.parts.append((part, related))


def _binhex_note(found: BinHexFile, what: str) -> str:
    if found.intact:
        return f"{what}: kept as attachment {found.name!r}"
    return (f"{what}, damaged (a checksum is wrong or it is cut short): kept as attachment "
            f"{found.name!r} as far as it decodes, and as sent")


_EXCHANGE_PIECE = re.compile(r"(?i)att\d{5}\.(?:htm|txt)")


def _exchange_piece(part: Message, ctype: str, body: _Body) -> None:
    """Exchange's ``ATT00001.htm``: text that Apple Mail's sender wrote after an attached
    picture or file, which Exchange moves out of the body into a file -- the rest of the
    message (and often of the conversation) was only in attachments no one opens."""
    text = _part_text(part, ctype, body, file_kept=True)
    if ctype == "text/html":
        shown = html_to_text(text)
        if shown.strip():
            body.htmls.append(text)
    else:
        shown = text
    if shown.strip():
        body.texts.append(shown)
        body.notes.append(f"{filename_param(part)!r} (the rest of the text, which Exchange "
                          "moved out of the body) shown in the text; also kept as sent")


def _opaque_smime(part: Message, body: _Body, depth: int) -> bool:
    """An S/MIME part: signed content read as the part's own (the ``smime.p7m`` kept),
    an encrypted one kept with a note. False: not S/MIME after all, a file like others."""
    data, _, raw = decoded_payload(part)
    opened = open_pkcs7(data) if raw is None else None
    if opened is None:
        return False
    if opened[0] == "encrypted":
        body.notes.append("an S/MIME encrypted message: it can only be read with the "
                          "recipient's private key; kept as sent")
    else:
        body.notes.append("an S/MIME signed message: the signed content is shown (the "
                          "signature is kept as sent, not verified)")
        signed = parser().parsebytes(opened[1])
        body.originals.register(signed, opened[1])
        _walk(signed, body, depth + 1)
    body.parts.append((part, False))  # the signature (or the ciphertext), as sent
    return True


def _is_body_part(part: Message, ctype: str) -> bool:
    if ctype not in _BODY_TYPES:
        return False
    if part.get_content_disposition() == "attachment":
        return False
    return filename_param(part) is None


def _alternative(children: list[Message], body: _Body, depth: int) -> None:
    """Prefer text/plain for ``text``; keep the richest part for ``html`` and its images.

    The other renderings are dropped (text/enriched, Gmail's AMP, Apple Watch HTML: see
    :data:`_RENDERINGS`), but not the attachments inside them: a multipart alternative that
    is not shown may still hold a file nobody else carries. A part that is no rendering (a
    calendar invitation) stays a file.
    """
    types = [c.get_content_type() for c in children]
    plain = [c for c, t in zip(children, types, strict=True)
             if t == "text/plain" and _is_body_part(c, t)]
    rich = [c for c, t in zip(children, types, strict=True)  # (a named HTML part is a file,
            if (t == "text/html" and _is_body_part(c, t)) or c.is_multipart()]  # kept once)
    renderings: list[Message] = []
    for other, ctype in zip(children, types, strict=True):  # other renderings are dropped
        if not (_is_body_part(other, ctype) or other.is_multipart()):
            if ctype in _RENDERINGS and other.get_content_disposition() != "attachment":
                renderings.append(other)
                continue
            body.parts.append((other, False))
            if ctype in _BODY_TYPES and other.get_content_disposition() != "attachment":
                body.inline_files.append(other)
    rich_body = body.child()
    if rich:
        _walk(rich[-1], rich_body, depth + 1)
    for unused in rich[:-1]:
        if unused.is_multipart():
            unused_body = body.child()
            _walk(unused, unused_body, depth + 1)
            rich_body.parts.extend(unused_body.parts)
    plain_text = ""
    for candidate in reversed(plain):  # the last with any text (a cut-off mail's last part
        plain_text = _part_text(candidate, "text/plain", body)  # is empty)
        if plain_text.strip():
            break
    if plain_text.strip():
        body.texts.append(plain_text)
    else:
        body.texts.extend(rich_body.texts)
    body.htmls.extend(rich_body.htmls)
    body.parts.extend(rich_body.parts)
    if not (plain_text.strip() or any(t.strip() for t in rich_body.texts) or rich_body.htmls):
        body.parts.extend((rendering, False) for rendering in renderings)  # (nothing else
        # shows the text: kept as files, as before)


def _forwarded(part: Message, body: _Body, depth: int) -> None:
    """A forwarded message (``message/rfc822``, ``message/global``): its From, Date, Subject
    and To lines and its text in the body, its files beside the mail's own, and the message
    itself kept as ``<Subject>.eml``, the bytes as its sender's program attached them (an
    agent sends it on, archives it, shows its headers). A forwarded part that cannot be
    read leaves the mail around it as it is, with a note."""
    inner, data = _inner(part, body)
    kept = _original(part, inner, data, body)  # (before the ones inside it: they are copies)
    sub = body.child(in_copy=kept is not None)
    try:
        _walk(inner, sub, depth + 1)
        shown = _forward_header(inner) + sub.text()
    except (Exception, RecursionError) as exc:  # (whatever a bug does on odd input: the
        where = (f"kept as {kept.filename!r}" if kept is not None  # mail around it stays)
                 else "in the forwarded mail around it")
        body.notes.append(f"a forwarded message could not be read ({type(exc).__name__}): "
                          f"its text is not shown; its bytes are {where}")
        sub.parts = []
        shown = FORWARD_SEPARATOR
    body.texts.append(shown)
    body.parts.extend(sub.parts)
    if kept is not None:
        body.parts.append(kept)


def _deepest(part: Message, body: _Body) -> None:
    """A forwarded message nested deeper than the parser follows: kept as a file, unread."""
    inner, data = _inner(part, body)
    kept = _original(part, inner, data, body)
    if kept is not None:
        body.notes.append(f"a forwarded message nested more than {_MAX_DEPTH} levels deep is "
                          f"not shown; it is kept as {kept.filename!r}")
        body.parts.append(kept)


def _inner(part: Message, body: _Body) -> tuple[Message, bytes | None]:
    """The forwarded message in ``part``, and its bytes when they are not those of the part
    (a message sent in base64 or quoted-printable, decoded)."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    data: bytes | None = None
    encoded = encoded_message(part)
    if encoded is not None:  # sent in base64 or quoted-printable: the stdlib read the
        data = encoded[0]  # encoded text as the message
        span = body.originals.span(part) if encoded[1] == "quoted-printable" else None
        if span is not None:  # (without the line end that belongs to the delimiter after it)
            data = binascii.a2b_qp(span[0][span[1]:span[2]])
        inner = parser().parsebytes(data)
        body.notes.append(f"a forwarded message ({part.get_content_type()}) sent in "
                          f"{encoded[1]}: decoded" + (f" ({encoded[2]})" if encoded[2] else ""))
    if not isinstance(inner, Message):
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        inner = parser().parsebytes(data)
    if data is not None:
        body.originals.register(inner, data)
    return inner, data


def _original(part: Message, inner: Message, data: bytes | None, body: _Body
              ) -> ParsedAttachment | None:
    """The forwarded message ``part`` as a file: ``<Subject>.eml`` (else the name its
    sender gave, else ``forwarded-message.eml``), ``message/rfc822``, its bytes as they
    stand in the message (``data``: as decoded). ``None`` for an empty one, and for a copy
    inside a forwarded message kept already that would take the copies past the message
    size limit (noted: it is in the outer file)."""
    exact = True
    span = body.originals.span(part) if data is None else (data, 0, len(data))
    if span is None:  # inside a part found by a repair: as the parser read it
        data, exact = _reassembled(inner), False
        span = (data, 0, len(data))
    source, start, end = span
    if not _NOT_BLANK.search(source, start, end):
        return None
    hint = _charset_hint(inner)
    given = re.sub(r"(?i)\.(eml|msg)$", "", safe_filename(filename_param(part) or ""))
    name = eml_name(_header_text(inner, "subject", hint), eml_name(given, FALLBACK_NAME))
    if body.in_copy and not body.originals.fits(end - start):
        body.notes.append(f"the forwarded message {name!r} inside another one is not kept as a "
                          f"file of its own ({end - start} bytes: the copies would pass the "
                          f"size limit of {body.originals.budget} bytes); it is in the outer "
                          "one")
        return None
    body.originals.count(end - start)
    name = body.originals.unique(name)
    if not exact:
        body.notes.append(f"the forwarded message {name!r} is kept as the parser read it (its "
                          "exact bytes could not be told apart in the damaged structure)")
    return ParsedAttachment(name, "message/rfc822", source[start:end], False, None,
                            forwarded=True)


def _reassembled(inner: Message) -> bytes:
    try:
        return inner.as_bytes()
    except (Exception, RecursionError):  # (a header the generator cannot write)
        return b""


def _forward_header(inner: Message) -> str:
    """The separator and the forwarded message's From, Date, Subject and To lines."""
    hint = _charset_hint(inner)
    lines = [FORWARD_SEPARATOR]
    for name in ("From", "Date", "Subject", "To"):
        value = _header_text(inner, name.lower(), hint)
        if value:
            lines.append(f"{name}: {value}")
    return "\n".join(lines) + "\n\n"


def _leftovers(part: Message, body: _Body, depth: int, related: bool) -> None:
    """What the stdlib left outside the parts of a multipart: a missing closing delimiter,
    and text before the first or after the closing delimiter. Parts found there (a wrong
    or reused boundary) are read; other text is kept as an attachment."""
    ctype = part.get_content_type()
    if any(isinstance(d, CloseBoundaryNotFoundDefect) for d in part.defects):
        body.notes.append(f"{ctype}: the closing boundary is missing (the message may be cut "
                          "short); everything up to the end was kept")
    for where, text in (("before the first", part.preamble), ("after the closing",
                                                              part.epilogue)):
        if not text or not text.strip():
            continue
        if len(text) < 400 and _MIME_NOTICE.search(text) and \
                len(text.strip().splitlines()) <= 3:
            continue  # "This is a multi-part message in MIME format." ("That was …" after)
        raw = text.encode("ascii", "surrogateescape")
        found = find_parts(raw, preferred=part.get_boundary(), strict=True,
                           read=body.originals.register)
        if found is not None:
            children: list[Message | str] = [
                p for p in found.get_payload() if isinstance(p, Message) and _has_content(p)]
            if children:
                body.notes.append(f"{len(children)} part(s) {where} boundary of {ctype} "
                                  "recovered")
            found.set_payload(children)
            _walk(found, body, depth + 1, related)
            continue
        name = "preamble.txt" if where == "before the first" else "epilogue.txt"
        body.keep(raw, name, "text/plain", f"text {where} boundary of {ctype} "
                  f"({len(raw)} bytes)")


def _has_content(part: Message) -> bool:
    payload = part.get_payload()
    return bool(payload) if isinstance(payload, list) else bool(str(payload).strip())


def _headerless_multipart(part: Message) -> bool:
    """A MIME message without a Content-Type header whose body still holds MIME parts."""
    if part.get("content-type") is not None or part.get("mime-version") is None:
        return False
    payload = part.get_payload()
    return isinstance(payload, str) and re.search(
        r"^--\S+[ \t]*\r?\nContent-Type:", payload, re.IGNORECASE | re.MULTILINE) is not None


def _broken_multipart(part: Message, body: _Body, depth: int) -> None:
    """A multipart whose boundary did not match: find it from the body, else show text."""
    data, _, _ = decoded_payload(part)
    ctype = part.get_content_type()
    found = find_parts(data, ctype if ctype.startswith("multipart/") else "multipart/mixed",
                       read=body.originals.register)
    declared = part.get_boundary()
    if found is not None:
        if part.get("content-type") is None:
            body.notes.append("no Content-Type header, but the body holds MIME parts: read "
                              "as multipart/mixed")
        elif declared is None:
            body.notes.append(f"{part.get_content_type()} without a boundary parameter: the "
                              "parts were found by their delimiter lines")
        else:
            body.notes.append(f"the declared boundary {declared!r} does not occur: the parts "
                              "were found by their delimiter lines")
        _walk(found, body, depth + 1)
        return
    if not data.strip():
        return
    text, note = decode_text(data, part.get_content_charset())
    if _HEADER_LIKE.search(data):  # drop MIME part headers that ended up in the text
        text = re.sub(r"(?im)^(content-[\w-]+|mime-version):.*\n(?:[ \t].*\n)*", "", text)
    body.notes.append(f"{part.get_content_type()} without parts: its body is shown as text"
                      + (f" ({note})" if note else ""))
    body.texts.append(text)


def _part_text(part: Message, ctype: str, body: _Body, *, file_kept: bool = False) -> str:
    """The text of a text part ("" for a file sent as text: kept as an attachment, unless
    ``file_kept``, the part being one already)."""
    data, transfer_note, raw = decoded_payload(part)
    charset = part.get_content_charset()
    kind = binary_type(data, charset) if raw is None else None
    if kind is not None:
        if not file_kept:
            name = safe_filename(filename_param(part) or "") or \
                synth_filename(kind, len(body.parts) + 1)
            body.keep(data, name, kind, f"a {ctype} part that holds a file ({kind}), not text")
        return ""
    if charset is None and ctype == "text/html":
        meta = re.search(rb"""<meta[^>]+charset=["']?([\w.:-]+)""", data[:4096], re.IGNORECASE)
        charset = meta.group(1).decode("ascii").lower() if meta else None
    text, note = decode_text(data, charset)
    for why in (transfer_note, note):
        if why:
            body.notes.append(f"{ctype} body: {why}")
    kind = "html" if ctype == "text/html" else "text"
    if raw is not None:
        body.keep(raw, f"body-{kind}.base64.txt", "text/plain", f"the undecodable {ctype} body")
    elif note and "U+FFFD" in note:  # bytes the declared multi-byte charset cannot show
        body.keep(data, f"body-{kind}.bin", "application/octet-stream",
                  f"the {ctype} body as sent")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if ctype == "text/plain" and str(part.get_param("format", "")).lower() == "flowed":
        text = unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return text


_LOCATION_NAME = re.compile(r"[^/\\?#]+\.[A-Za-z0-9]{1,8}")


def _location_name(part: Message) -> str | None:
    """The file name in a part's ``Content-Location`` (``…/images/logo.gif``), as a web page
    saved or sent from a browser (MHTML) names its images and style sheets: without it they
    were ``image-1.gif``, ``attachment-2.css``, …"""
    location = part.get("content-location")
    if not isinstance(location, str) or not location.strip():
        return None
    path = re.split(r"[?#]", " ".join(location.split()), maxsplit=1)[0]
    path = re.sub(r"^[A-Za-z][\w+.-]*://[^/]*", "", path)  # not the host's name
    last = unquote(re.split(r"[/\\]", path)[-1]).strip()
    if not _LOCATION_NAME.fullmatch(last) or last.lower().startswith(("cid:", "mid:")):
        return None
    return safe_filename(last) or None


def _attachment(part: Message, number: int, related: bool, cids: set[str], notes: list[str]
                ) -> tuple[ParsedAttachment, bytes | None]:
    """The attachment, and the raw text of a damaged encoding (kept next to it)."""
    ctype = part.get_content_type()
    content_id = (part.get("content-id") or "").strip().strip("<>").strip() or None
    payload, note, raw = decoded_payload(part)
    given = safe_filename(filename_param(part) or "") or _location_name(part)
    sent_as = ctype
    if raw is None:
        ctype = specific_type(ctype, given, payload)
        if ctype.startswith("text/"):
            ctype = binary_type(payload, part.get_content_charset()) or ctype
    name = given or synth_filename(ctype, number)
    if ctype == "application/applefile" and not name.lower().endswith(".applefile"):
        # Apple Mail's Finder data beside the file itself (multipart/appledouble), sent
        # under the file's own name: two "Foto.jpg", one of which no program opens
        name = f"{name}.applefile"
    if sent_as.startswith("text/") and ctype != sent_as:
        notes.append(f"attachment {name!r}: sent as {sent_as}, but it is a file ({ctype})")
    if note:
        notes.append(f"attachment {name!r}: {note}"
                     + (f"; the raw text is kept as {name + '.base64.txt'!r}" if raw else ""))
    disposition = part.get_content_disposition()
    referenced = content_id is not None and content_id.lower() in cids
    inline = ctype.startswith("image/") and (
        disposition == "inline" or referenced or (related and disposition is None and
                                                  content_id is not None)
    )
    return ParsedAttachment(name, ctype, payload, inline, content_id), raw
