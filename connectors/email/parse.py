"""Turn one raw RFC 5322 message into a :class:`ParsedMail` (pure: no storage, no network).

The stdlib ``email`` package (``policy.compat32``) gives the MIME structure; this module adds
what real mail needs on top: lenient charset handling, lenient RFC 2047 / RFC 2231 decoding,
HTML-to-text, format=flowed, forwarded messages, stable ids for messages without one.
Whatever goes wrong ends as :class:`MailParseError` -- never another exception type.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

import nh3

from .classify import classify
from .decode import (
    addresses,
    decode_bytes,
    decode_words,
    filename_param,
    header_values,
    safe_filename,
    synth_filename,
)
from .errors import MailParseError, MessageTooLarge
from .htmltext import html_to_text, unflow

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
_PART_HEADER = re.compile(rb"^content-type:", re.IGNORECASE | re.MULTILINE)
_BODY_TYPES = ("text/plain", "text/html")
_ID_RE = re.compile(r"<([^<>\s]+)>")
_CID_RE = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_BOUNDARY_LINE = re.compile(rb"^--([^\r\n]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_HEADER_LIKE = re.compile(rb"^[!-9;-~]{1,80}:", re.MULTILINE)
_NH3_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid", "data"}
_NH3_DROP = {"script", "style", "title", "head", "noscript", "template"}
_NH3_TAGS = set(nh3.ALLOWED_TAGS) - _NH3_DROP


def _nh3_attribute(tag: str, attribute: str, value: str) -> str | None:
    """data: URLs only as embedded images, never as links or other targets."""
    if value.strip().lower().startswith("data:"):
        embedded = tag == "img" and attribute == "src"
        return value if embedded and value.strip().lower().startswith("data:image/") else None
    return value


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # decoded, never empty (synthesised when the message gives none)
    content_type: str
    data: bytes
    inline: bool  # an image shown inline (Content-Disposition inline or referenced by cid:)
    content_id: str | None


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
    try:
        return _parse(data)
    except MailParseError:
        raise
    except (Exception, RecursionError) as exc:  # the one boundary: map everything else
        raise MailParseError(f"unreadable message ({type(exc).__name__})") from exc


# --------------------------------------------------------------------------- the message


def _parse(data: bytes) -> ParsedMail:
    parts = sum(1 for _ in _PART_HEADER.finditer(data))
    if parts > _MAX_PARTS:
        raise MailParseError(f"too many MIME parts ({parts}, at most {_MAX_PARTS})")
    msg = _bytes_parser().parsebytes(data.lstrip(b"\r\n"))
    if not list(msg.raw_items()):
        raise MailParseError("no message headers found")
    hint = _charset_hint(msg)
    from_values = header_values(msg, "from", hint)
    sender = _sender(msg, hint)
    if sender is None:
        raise MailParseError("no sender address (From, Sender, Reply-To or Return-Path)")
    body = _Body()
    _walk(msg, body, 0)
    auto, bounced = classify(msg)
    subjects = header_values(msg, "subject", hint)
    return ParsedMail(
        message_id=_message_id(msg, data, hint),
        from_email=sender[1],
        from_display_name=sender[0],
        from_header=decode_words(from_values[0], hint).strip() if from_values else "",
        to=_address_list(msg, "to", hint),
        cc=_address_list(msg, "cc", hint),
        subject=_header_text(subjects[0], hint) if subjects else "",
        date=_date(header_values(msg, "date", hint)),
        in_reply_to=next(iter(_ids(header_values(msg, "in-reply-to", hint))), None),
        references=_ids(header_values(msg, "references", hint)),
        text=body.text(),
        html=body.html(),
        attachments=body.finish_attachments(),
        auto=auto,
        bounced_recipients=bounced,
        size=len(data),
    )


def _bytes_parser() -> BytesParser[Message]:
    """The MIME structure only. ``compat32`` keeps headers as raw strings: this module decodes
    them itself (leniently), and ``policy.default``'s header objects cost ~1 ms per part."""
    return BytesParser(_class=Message, policy=policy.compat32)


def _charset_hint(msg: Message) -> str | None:
    """The first declared body charset: the best guess for raw 8-bit bytes in headers."""
    for number, part in enumerate(msg.walk()):
        charset = part.get_content_charset()
        if charset and charset not in ("us-ascii", "ascii"):
            return charset
        if number > 20:
            break
    return None


def _sender(msg: Message, hint: str | None) -> tuple[str, str] | None:
    for name in ("from", "sender", "reply-to", "return-path"):
        for value in header_values(msg, name, hint):
            for display, address in addresses(value, hint):
                if "@" in address:
                    return display, address
    return None


def _address_list(msg: Message, name: str, hint: str | None) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in header_values(msg, name, hint):
        found.update((a, None) for _, a in addresses(value, hint) if "@" in a)
    return tuple(found)


def _header_text(value: str, hint: str | None) -> str:
    """A decoded unstructured header (Subject and the like) on one line."""
    text = decode_words(value, hint).strip("\r\n")
    return re.sub(r"[\r\n]+", " ", text).replace("\t", " ")


def _date(values: list[str]) -> datetime | None:
    if not values:
        return None
    try:
        parsed = parsedate_to_datetime(values[0].strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _ids(values: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        ids = _ID_RE.findall(value) or [t for t in value.split() if "@" in t]
        found.extend(i for i in ids if i not in found)
    return tuple(found)


def _message_id(msg: Message, data: bytes, hint: str | None) -> str:
    """The Message-ID without brackets; a stable derived id when it is missing or ambiguous.

    The derived id hashes the message without its trace headers (Received, Return-Path,
    Delivered-To, ...), so the same message delivered twice over different routes (or
    stored with CRLF instead of LF) still gets the same id.
    """
    values = header_values(msg, "message-id", hint)
    ids = set(_ids(values)) or {v.strip("<> ") for v in values if re.fullmatch(r"<?\S+>?", v)}
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
    """Collects body text, HTML and attachments while walking the MIME tree."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.parts: list[tuple[Message, bool]] = []  # (attachment part, inside related)

    def text(self) -> str:
        joined = "\n\n".join(t.strip("\n") for t in self.texts if t.strip())
        return joined.strip("\n")

    def html(self) -> str | None:
        if not self.htmls:
            return None
        return nh3.clean(
            "\n".join(self.htmls),
            tags=_NH3_TAGS,
            clean_content_tags=_NH3_DROP,
            url_schemes=_NH3_SCHEMES,
            attribute_filter=_nh3_attribute,
        )

    def finish_attachments(self) -> tuple[ParsedAttachment, ...]:
        cids = {unquote(c).strip("<>").lower() for h in self.htmls for c in _CID_RE.findall(h)}
        return tuple(_attachment(p, n, related, cids) for n, (p, related) in
                     enumerate(self.parts, start=1))


def _walk(part: Message, body: _Body, depth: int, related: bool = False) -> None:
    ctype = part.get_content_type()
    maintype = ctype.partition("/")[0]
    if depth > _MAX_DEPTH:
        body.parts.append((part, related))
        return
    if ctype in ("message/rfc822", "message/global"):
        _forwarded(part, body, depth)
        return
    if maintype == "message":  # delivery-status, disposition-notification, ...
        body.parts.append((part, related))
        return
    if part.is_multipart():
        children = [p for p in part.get_payload() if isinstance(p, Message)]
        if ctype == "multipart/alternative":
            _alternative(children, body, depth)
        else:
            for child in children:
                _walk(child, body, depth + 1, related or ctype == "multipart/related")
        return
    if maintype == "multipart":
        _broken_multipart(part, body, depth)
        return
    if _is_body_part(part, ctype):
        if ctype == "text/html":
            html = _part_text(part, ctype)
            body.htmls.append(html)
            body.texts.append(html_to_text(html))
        else:
            body.texts.append(_part_text(part, ctype))
        return
    body.parts.append((part, related))


def _is_body_part(part: Message, ctype: str) -> bool:
    if ctype not in _BODY_TYPES:
        return False
    if part.get_content_disposition() == "attachment":
        return False
    return filename_param(part) is None


def _alternative(children: list[Message], body: _Body, depth: int) -> None:
    """Prefer text/plain for ``text``; keep the richest part for ``html`` and its images."""
    types = [c.get_content_type() for c in children]
    plain = [c for c, t in zip(children, types, strict=True)
             if t == "text/plain" and _is_body_part(c, t)]
    rich = [c for c, t in zip(children, types, strict=True)
            if t == "text/html" or c.is_multipart()]
    for other, ctype in zip(children, types, strict=True):  # other renderings are dropped
        if not (_is_body_part(other, ctype) or other.is_multipart()):
            body.parts.append((other, False))
    rich_body = _Body()
    if rich:
        _walk(rich[-1], rich_body, depth + 1)
    plain_text = _part_text(plain[-1], "text/plain") if plain else ""
    if plain_text.strip():
        body.texts.append(plain_text)
    else:
        body.texts.extend(rich_body.texts)
    body.htmls.extend(rich_body.htmls)
    body.parts.extend(rich_body.parts)


def _forwarded(part: Message, body: _Body, depth: int) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):  # e.g. a base64-encoded message/rfc822
        raw = part.get_payload(decode=True)
        inner = _bytes_parser().parsebytes(raw if isinstance(raw, bytes) else b"")
    sub = _Body()
    _walk(inner, sub, depth + 1)
    hint = _charset_hint(inner)
    lines = [FORWARD_SEPARATOR]
    for name in ("From", "Date", "Subject", "To"):
        values = header_values(inner, name.lower(), hint)
        if values:
            lines.append(f"{name}: {_header_text(values[0], hint)}")
    body.texts.append("\n".join(lines) + "\n\n" + sub.text())
    body.parts.extend(sub.parts)


def _broken_multipart(part: Message, body: _Body, depth: int) -> None:
    """A multipart whose boundary did not match: guess it from the body, else show text."""
    raw = part.get_payload(decode=True)
    data = raw if isinstance(raw, bytes) else b""
    candidates = Counter(m.group(1) for m in _BOUNDARY_LINE.finditer(data))
    for boundary, count in candidates.most_common(3):
        if count < 2 or b'"' in boundary:
            continue
        header = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n'
        fixed = _bytes_parser().parsebytes(header + data)
        if fixed.is_multipart() and fixed.get_payload():
            _walk(fixed, body, depth + 1)
            return
    text = decode_bytes(data, part.get_content_charset())
    if _HEADER_LIKE.search(data):  # drop MIME part headers that ended up in the text
        text = re.sub(r"(?im)^(content-[\w-]+|mime-version):.*\n(?:[ \t].*\n)*", "", text)
    body.texts.append(text)


def _part_text(part: Message, ctype: str) -> str:
    raw = part.get_payload(decode=True)
    data = raw if isinstance(raw, bytes) else b""
    charset = part.get_content_charset()
    if charset is None and ctype == "text/html":
        meta = re.search(rb"""<meta[^>]+charset=["']?([\w.:-]+)""", data[:4096], re.IGNORECASE)
        charset = meta.group(1).decode("ascii").lower() if meta else None
    text = decode_bytes(data, charset).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\x00", "")
    if ctype == "text/plain" and str(part.get_param("format", "")).lower() == "flowed":
        text = unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return text


def _attachment(part: Message, number: int, related: bool, cids: set[str]) -> ParsedAttachment:
    ctype = part.get_content_type()
    content_id = (part.get("content-id") or "").strip().strip("<>").strip() or None
    try:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = part.as_bytes().split(b"\n\n", 1)[-1]
    except Exception:  # a broken transfer encoding: keep what the message holds
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    name = safe_filename(filename_param(part) or "") or synth_filename(ctype, number)
    disposition = part.get_content_disposition()
    referenced = content_id is not None and content_id.lower() in cids
    inline = part.get_content_maintype() == "image" and (
        disposition == "inline" or referenced or (related and disposition is None and
                                                  content_id is not None)
    )
    return ParsedAttachment(name, ctype, payload, inline, content_id)
