"""Turn one raw RFC 5322 message into a :class:`ParsedMail` (pure: no storage, no network).

The stdlib ``email`` package (``policy.default``) gives the MIME structure; this module adds
what real mail needs on top: lenient charset handling, lenient RFC 2047 / RFC 2231 decoding,
HTML-to-text, format=flowed, forwarded messages, stable ids for messages without one.
Whatever goes wrong ends as :class:`MailParseError` -- never another exception type.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import mimetypes
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote

import nh3

from .classify import classify
from .errors import MailParseError, MessageTooLarge

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MailParseError",
    "MessageTooLarge",
    "ParsedAttachment",
    "ParsedMail",
    "normalize_email",
    "parse_message",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
FORWARD_SEPARATOR = "---------- Forwarded message ----------"
_MAX_DEPTH = 12  # nesting of multiparts / forwarded messages we follow
_MAX_PARTS = 2000  # MIME parts; parsing cost grows with them (~1 ms each with policy.default)
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
    from_values = _header_values(msg, "from", hint)
    sender = _sender(msg, hint)
    if sender is None:
        raise MailParseError("no sender address (From, Sender, Reply-To or Return-Path)")
    body = _Body()
    _walk(msg, body, 0)
    auto, bounced = classify(msg)
    subjects = _header_values(msg, "subject", hint)
    return ParsedMail(
        message_id=_message_id(msg, data, hint),
        from_email=sender[1],
        from_display_name=sender[0],
        from_header=decode_words(from_values[0], hint).strip() if from_values else "",
        to=_address_list(msg, "to", hint),
        cc=_address_list(msg, "cc", hint),
        subject=_header_text(subjects[0], hint) if subjects else "",
        date=_date(_header_values(msg, "date", hint)),
        in_reply_to=next(iter(_ids(_header_values(msg, "in-reply-to", hint))), None),
        references=_ids(_header_values(msg, "references", hint)),
        text=body.text(),
        html=body.html(),
        attachments=body.finish_attachments(),
        auto=auto,
        bounced_recipients=bounced,
        size=len(data),
    )


def _bytes_parser() -> BytesParser[EmailMessage]:
    return BytesParser(_class=EmailMessage, policy=policy.default)


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
        for value in _header_values(msg, name, hint):
            for display, address in _addresses(value, hint):
                if "@" in address:
                    return display, address
    return None


def _address_list(msg: Message, name: str, hint: str | None) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in _header_values(msg, name, hint):
        found.update((a, None) for _, a in _addresses(value, hint) if "@" in a)
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
    values = _header_values(msg, "message-id", hint)
    ids = set(_ids(values)) or {v.strip("<> ") for v in values if re.fullmatch(r"<?\S+>?", v)}
    if len(ids) == 1:
        return ids.pop()
    digest = hashlib.sha256()
    for name in ("from", "to", "cc", "date", "subject", "in-reply-to", "references"):
        for value in _header_values(msg, name, hint):
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
    return _filename_param(part) is None


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
        values = _header_values(inner, name.lower(), hint)
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
    name = _safe_filename(_filename_param(part) or "") or _synth_filename(ctype, number)
    disposition = part.get_content_disposition()
    referenced = content_id is not None and content_id.lower() in cids
    inline = part.get_content_maintype() == "image" and (
        disposition == "inline" or referenced or (related and disposition is None and
                                                  content_id is not None)
    )
    return ParsedAttachment(name, ctype, payload, inline, content_id)


# --------------------------------------------------------------------------- charsets

_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "big5": "big5hkscs", "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "us-ascii": "ascii", "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874",
    "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "iso-2022-jp": "iso2022_jp_ext",
    "unicode-1-1-utf-7": "utf-7", "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
}
_BLOCKED_CODECS = {"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode", "mbcs"}
_SEVEN_BIT = ("utf-7", "utf-16", "utf-32", "iso2022", "hz")  # not ASCII-compatible as is
_MULTIBYTE = re.compile(r"utf|gb|big5|cp9[345]\d|euc|shift|iso2022|hz|johab")


def _codec(charset: str | None) -> str | None:
    """The Python codec for a declared charset, or None when unknown or unusable."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    try:
        info = codecs.lookup(_CHARSET_ALIASES.get(name, name))
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _BLOCKED_CODECS:
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, hint: str | None = None) -> str:
    """Decode text whose declared charset may be missing, unknown or simply wrong.

    A declared multi-byte charset is tried first; for single-byte or missing declarations
    valid UTF-8 wins (mislabelled UTF-8 is common, accidental valid UTF-8 in Latin-1 text is
    not), then the declared charset, the hint, Windows-1252 and finally Latin-1.
    """
    declared = _codec(charset)
    if data.isascii() and not (declared or "").startswith(_SEVEN_BIT):
        return data.decode("ascii")
    if declared is not None and declared != "ascii" and _MULTIBYTE.search(declared):
        order = [declared] if declared == "utf-8" else [declared, "utf-8"]
    else:
        order = ["utf-8"] + ([declared] if declared not in (None, "ascii") else [])
    hinted = _codec(hint)
    order += [c for c in (hinted, "cp1252") if c is not None and c not in order and c != "ascii"]
    for name in order:
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            if name == "utf-8" and (mostly := _mostly_utf8(data)) is not None:
                return mostly
        except LookupError:
            continue
    if declared is not None and declared != "ascii" and _MULTIBYTE.search(declared):
        return data.decode(declared, "replace")
    return data.decode("latin-1")


def _mostly_utf8(data: bytes) -> str | None:
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return text if good >= 4 * bad else None


# --------------------------------------------------------------------------- headers

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?([^?\s\"]+)\?([QqBb])\?(.*?)\?=")
_QUOTED_PAIR = re.compile(r"\\(.)")


def _header_values(msg: Message, name: str, hint: str | None = None) -> list[str]:
    """All raw values of header ``name``: 8-bit bytes decoded, unfolded, RFC 2047 kept."""
    values: list[str] = []
    for key, value in msg.raw_items():
        if key.lower() != name:
            continue
        text = str(value)
        if re.search("[\udc80-\udcff]", text):  # raw 8-bit bytes in the header
            text = decode_bytes(text.encode("utf-8", "surrogateescape"), None, hint)
        text = re.sub(r"\r?\n(?=[ \t])", "", text)
        values.append(_CONTROL.sub("", text.replace("\r", "").replace("\n", "")).strip())
    return values


def decode_words(value: str, hint: str | None = None) -> str:
    """Decode RFC 2047 encoded words leniently.

    Accepts words inside quotes, words with spaces, bad base64 padding and unknown
    charsets; joins the bytes of adjacent words in the same charset before decoding, so a
    character split across two words survives.
    """
    out: list[str] = []
    pending: tuple[str, bytearray] | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            out.append(decode_bytes(bytes(pending[1]), pending[0], hint))
            pending = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos:match.start()]
        if gap and (pending is None or gap.strip()):
            flush()
            out.append(gap)
        charset = match.group(1).split("*")[0].lower()
        if match.group(2) in "Bb":
            data = _b64(match.group(3))
        else:
            raw = match.group(3).replace("_", " ").encode("utf-8", "surrogateescape")
            data = re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
        if pending is not None and pending[0] == charset:
            pending[1].extend(data)
        else:
            flush()
            pending = (charset, bytearray(data))
        pos = match.end()
    flush()
    out.append(value[pos:])
    return _CONTROL.sub("", "".join(out))


def _b64(text: str) -> bytes:
    clean = re.sub(r"[^A-Za-z0-9+/]", "", text)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


def _addresses(value: str, hint: str | None = None) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address-list header, leniently.

    Encoded words are protected while splitting, so a comma inside one does not split it;
    ``Name | [Org] <a@b>`` and ``a@b (Name)`` work; group syntax is flattened.
    """
    words: list[str] = []

    def protect(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"\x00{len(words) - 1}\x00"

    def restore(text: str) -> str:
        return re.sub("\x00(\\d+)\x00", lambda m: words[int(m.group(1))], text)

    result: list[tuple[str, str]] = []
    for item in _split_list(_ENCODED_WORD.sub(protect, value.replace("\x00", ""))):
        item = re.sub(r'^\s*[^"<>()@,:]*:(?!:)', "", item).strip()  # group "Team: ..."
        angle = re.search(r"<([^<>]*)>[^<>]*$", item)
        if angle:
            address, name = angle.group(1), item[:angle.start()] + item[angle.end():]
        else:
            comments = re.findall(r"\(([^()]*)\)", item)
            address = re.sub(r"\([^()]*\)", "", item)
            name = comments[0] if comments else ""
        address = re.sub(r"\s+", "", address).strip('"').removeprefix("mailto:")
        name = re.sub(r"\([^()]*\)", "", name) if angle else name
        result.append((_display_name(restore(name), hint), restore(address)))
    return [(n, a) for n, a in result if a and not re.search(r"[\s<>]", a)]


def _split_list(value: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = paren = 0
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or paren):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch in "()":
            paren = max(0, paren + (1 if ch == "(" else -1))
        elif ch in "<>" and not paren:
            angle = 1 if ch == "<" else 0
        elif ch in ",;" and not angle and not paren:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    return [i for i in items if i.strip()]


def _display_name(name: str, hint: str | None) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = _QUOTED_PAIR.sub(r"\1", name[1:-1])
    else:  # stray quotes, as in '"Müller" Bernd'
        name = name.replace('"', "")
    name = decode_words(name, hint)
    name = re.sub(r"[ \t\r\n]+", " ", name).strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()
    return name


# --------------------------------------------------------------------------- filenames

_EXTENSIONS = {"application/octet-stream": ".bin", "text/plain": ".txt", "image/jpeg": ".jpg",
               "message/rfc822": ".eml", "message/delivery-status": ".txt",
               "text/rfc822-headers": ".txt", "text/html": ".html"}


def _filename_param(part: Message) -> str | None:
    """The decoded filename (RFC 2231, RFC 2047, raw 8-bit) of a part, if it has one."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        for value in _header_values(part, header)[:1]:
            holder = Message()
            holder["X"] = value
            raw = holder.get_param(param, None, header="X")
            if isinstance(raw, tuple):
                charset, _, text = raw
                name = decode_bytes(str(text).encode("latin-1", "replace"), charset)
            elif raw is not None:
                name = collapse_rfc2231_value(raw)
            else:
                continue
            name = decode_words(name).strip()
            if name:
                return name
    return None


def _safe_filename(name: str) -> str:
    name = _CONTROL.sub("", re.split(r"[/\\]", name)[-1]).replace("\t", " ")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 16 else name[:255]
    return name


def _synth_filename(content_type: str, number: int) -> str:
    ext = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"
    return f"{'image' if content_type.startswith('image/') else 'attachment'}-{number}{ext}"


# --------------------------------------------------------------------------- text forms

_BLOCK = {"address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset",
          "figcaption", "figure", "footer", "form", "header", "li", "main", "nav", "section",
          "tr", "caption"}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table",
              "pre", "hr"}
_SKIP = {"script", "style", "head", "title", "noscript", "template"}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_HTML_PARSER_LIMIT = 1024 * 1024  # above this the regex rendering is used (10x faster)


class _HtmlText(HTMLParser):
    """HTML to readable text: blocks become lines, script/style/head are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip: list[str] = []
        self.pre = 0
        self.newlines = 0  # newlines at the end of the output so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip.clear()
        elif tag in _SKIP:
            self.skip.append(tag)
        elif tag == "br":
            self.out.append("\n")
            self.newlines += 1
        elif tag in ("td", "th"):
            self.out.append(" ")
        self._block(tag)
        self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag in self.skip:
            while self.skip and self.skip.pop() != tag:
                pass
        self._block(tag)
        self.pre = max(0, self.pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = _CONTROL.sub("", data).replace("\xa0", " ")
        if data.strip():
            self.newlines = 0
        if self.pre:
            self.out.append(data.replace(" ", "\x01").replace("\t", "\x02"))
        else:
            self.out.append(_SPACES.sub(" ", data))

    def _block(self, tag: str) -> None:
        wanted = 2 if tag in _PARAGRAPH else 1 if tag in _BLOCK else 0
        if self.newlines < wanted:
            self.out.append("\n" * (wanted - self.newlines))
            self.newlines = wanted

    def text(self) -> str:
        return _tidy("".join(self.out))


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r" {2,}", " ", re.sub(r"\n{3,}", "\n\n", text))
    return text.replace("\x01", " ").replace("\x02", "\t").strip()


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document or fragment."""
    if len(html) > _HTML_PARSER_LIMIT:
        return _html_to_text_fast(html)
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _html_to_text_fast(html: str) -> str:
    """The same rendering by regular expressions, for huge documents (``<pre>`` is not kept)."""
    text = _SPACES.sub(" ", _CONTROL.sub("", html))
    text = re.sub(r"(?is)<!--.*?-->|<(script|style|head|title|noscript|template)\b.*?</\1\s*>",
                  "", text)
    text = re.sub(r"(?i)<br\b[^>]*>", "\n", text)
    text = re.sub(rf"(?i)</?(?:{'|'.join(_PARAGRAPH)})\b[^>]*>", "\n\n", text)
    text = re.sub(rf"(?i)</?(?:{'|'.join(_BLOCK)})\b[^>]*>", "\n", text)
    text = re.sub(r"(?i)<t[dh]\b[^>]*>", " ", text)
    text = unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")
    return _tidy(text)


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth."""
    lines: list[str] = []
    current: str | None = None
    depth = 0
    for line in text.split("\n"):
        level = len(line) - len(line.lstrip(">"))
        content = line[level:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if current is not None and level == depth:
            current += content
        else:
            if current is not None:
                lines.append(_quoted(depth, current))
            current, depth = content, level
        if not soft:
            lines.append(_quoted(depth, current))
            current = None
    if current is not None:
        lines.append(_quoted(depth, current))
    return "\n".join(lines)


def _quoted(depth: int, content: str) -> str:
    content = content if content == "-- " else content.rstrip(" ")
    return (">" * depth + (" " + content if content else "")) if depth else content
