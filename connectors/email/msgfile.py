"""Outlook's ``.msg`` files (a mail dragged out of Outlook onto the desktop) as RFC 5322 mail.

A ``.msg`` is an OLE compound file of MAPI properties (MS-OXMSG), read here with
``olefile``. :func:`to_mime` rebuilds the message the way it arrived: the original Internet
headers where Outlook kept them (``PR_TRANSPORT_MESSAGE_HEADERS``: sender, recipients, date,
Message-ID, the ``Received`` trail), else headers from the properties; the plain text, the
HTML, or the text of the RTF body; every attachment, and an attached Outlook item as a
forwarded message. The result then goes through the same parser as any mail, so a
``.msg`` import gives the same entry as the same mail by IMAP (and the same Message-ID: a
second import, or the mail arriving both ways, is a duplicate).

Items that are not mail (contacts, appointments, tasks, notes) are told apart by their
message class (:func:`message_class`), so an import can name them instead of storing them.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import HeaderParser
from email.policy import compat32
from typing import Any, TypeVar

from .decode import type_of_name
from .tnef import compressed_rtf_text

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAIL_CLASSES = ("ipm.note", "ipm.schedule.meeting", "ipm.post", "report.", "ipm.outlook.recall")
"""Message classes (prefixes) that are mail; ``IPM.Contact``, ``IPM.Appointment``,
``IPM.Task``, ``IPM.StickyNote``, ``IPM.DistList`` … are not."""

_MAX_DEPTH = 4  # attached items inside attached items
_TOP, _EMBEDDED, _SUB = 32, 24, 8  # header sizes of the property streams (MS-OXMSG 2.4)
_PT_UNICODE, _PT_STRING8, _PT_BINARY = 0x001F, 0x001E, 0x0102
_PT_LONG, _PT_SYSTIME = 0x0003, 0x0040
_ATTACH_EMBEDDED = 5
# headers rebuilt from the properties, not copied from the transport headers
_CONTENT = re.compile(r"(?i)^(content-|mime-version$)")
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


class NotReadable(Exception):
    """The file is not an Outlook item we can read (damaged, or not OLE)."""


def is_msg(head: bytes) -> bool:
    """An OLE compound file (the first bytes of a file are enough)."""
    return head.startswith(OLE_SIGNATURE)


def message_class(source: bytes | str) -> str:
    """The item's message class (``IPM.Note``, ``IPM.Contact`` …), ``""`` for an OLE file
    that is no Outlook item (an old Word or Excel file); raises :class:`NotReadable`.
    ``source``: the file's bytes, or its path (olefile then reads only the directory and
    the small class stream, not the whole file)."""
    return _reading(source, _class)


def is_mail_class(klass: str) -> bool:
    return klass.strip().lower().startswith(MAIL_CLASSES) or klass.strip().upper() == "IPM"


def to_mime(data: bytes) -> bytes:
    """The mail in a ``.msg`` file as RFC 5322 bytes -- the same bytes for the same file
    (a mail without a Message-ID is known again by them); raises :class:`NotReadable`."""
    return _reading(data, lambda ole: _mime(ole, data))


def mail_from_msg(data: bytes) -> bytes | None:
    """:func:`to_mime` of an Outlook mail item, ``None`` for an item that is no mail (a
    contact, an appointment): the file opened once for both; raises :class:`NotReadable`."""
    return _reading(data, lambda ole: _mime(ole, data) if is_mail_class(_class(ole)) else None)


def _class(ole: Any) -> str:
    if not ole.exists("__properties_version1.0"):
        return ""
    return _Item(ole, [], _TOP).text(0x001A) or "IPM.Note"


def _mime(ole: Any, data: bytes) -> bytes:
    message = _message(_Item(ole, [], _TOP), 0)
    stem = "=_msg_" + hashlib.sha256(data).hexdigest()[:24]
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(f"{stem}_{number}")
    return message.as_bytes(policy=compat32)


T = TypeVar("T")


def _head(source: bytes | str) -> bytes:
    if isinstance(source, bytes):
        return source[:8]
    try:
        with open(source, "rb") as fh:
            return fh.read(8)
    except OSError as exc:
        raise NotReadable(f"cannot read {source} ({exc.strerror or exc})") from exc


def _reading(source: bytes | str, read: Callable[[Any], T]) -> T:
    """``read`` of the open file; whatever goes wrong in a damaged file is
    :class:`NotReadable` (never another exception: an import must go on)."""
    import olefile  # only Outlook files pay for the import

    if not is_msg(_head(source)):
        raise NotReadable("not an Outlook file (no OLE signature)")
    try:
        ole = olefile.OleFileIO(source)
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError …
        raise NotReadable(f"not a readable Outlook file ({type(exc).__name__})") from exc
    try:
        return read(ole)
    except RecursionError as exc:
        raise NotReadable("damaged Outlook item (nested too deeply)") from exc
    except Exception as exc:  # a property that is not what its type says, a broken stream
        raise NotReadable(f"damaged Outlook item ({type(exc).__name__})") from exc
    finally:
        ole.close()


# --------------------------------------------------------------------------- OLE properties


class _Item:
    """The properties of one object: the message, an attachment, a recipient."""

    def __init__(self, ole: Any, path: list[str], header: int,
                 codepage: str = "cp1252") -> None:
        self.ole, self.path = ole, path
        self.fixed = self._fixed(header)
        self.codepage = _codepage(self.long(0x3FFD) or self.long(0x3FDE)) or codepage

    def _stream(self, name: str) -> bytes | None:
        full = [*self.path, name]
        if not self.ole.exists(full):
            return None
        data: bytes = self.ole.openstream(full).read()
        return data

    def _fixed(self, header: int) -> dict[int, tuple[int, bytes]]:
        raw = self._stream("__properties_version1.0") or b""
        out: dict[int, tuple[int, bytes]] = {}
        for at in range(header, len(raw) - 15, 16):
            kind, prop = struct.unpack_from("<HH", raw, at)
            out[prop] = (kind, raw[at + 8:at + 16])
        return out

    def text(self, prop: int) -> str | None:
        data = self._stream(f"__substg1.0_{prop:04X}{_PT_UNICODE:04X}")
        if data is not None:
            return data.decode("utf-16-le", "replace").split("\x00", 1)[0]
        data = self._stream(f"__substg1.0_{prop:04X}{_PT_STRING8:04X}")
        if data is not None:
            return data.split(b"\x00", 1)[0].decode(self.codepage, "replace")
        return None

    def binary(self, prop: int) -> bytes | None:
        return self._stream(f"__substg1.0_{prop:04X}{_PT_BINARY:04X}")

    def long(self, prop: int) -> int | None:
        found = self.fixed.get(prop)
        if found is None or found[0] != _PT_LONG:
            return None
        value: int = struct.unpack_from("<I", found[1])[0]
        return value

    def time(self, prop: int) -> datetime | None:
        found = self.fixed.get(prop)
        if found is None or found[0] != _PT_SYSTIME:
            return None
        ticks = struct.unpack_from("<Q", found[1])[0]
        try:
            return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
        except OverflowError:
            return None

    def children(self, prefix: str) -> list[list[str]]:
        """Sub-storages (``__attach_version1.0_#…``, ``__recip_version1.0_#…``) in order."""
        depth = len(self.path)
        names = {entry[depth] for entry in self.ole.listdir(streams=True, storages=True)
                 if len(entry) > depth + 1 and entry[:depth] == self.path
                 and entry[depth].startswith(prefix)}
        return [[*self.path, name] for name in sorted(names)]


def _codepage(number: int | None) -> str | None:
    if not number:
        return None
    name = {65001: "utf-8", 1200: "utf-16-le", 20127: "ascii", 28591: "latin-1",
            28605: "iso8859-15", 50220: "iso2022_jp", 51932: "euc_jp"}.get(number,
                                                                           f"cp{number}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


# --------------------------------------------------------------------------- the message


def _message(item: _Item, depth: int) -> Message:
    body = _body(item)
    files = [_attachment(item, path, depth) for path in item.children("__attach_version1.0_#")]
    content: Message = body
    if files:
        mixed = MIMEMultipart("mixed")
        mixed.attach(body)
        for part in files:
            mixed.attach(part)
        content = mixed
    for name, value in _headers(item):
        content[name] = value
    return content


def _headers(item: _Item) -> list[tuple[str, str]]:
    transport = item.text(0x007D)  # PR_TRANSPORT_MESSAGE_HEADERS: as the mail arrived
    kept: list[tuple[str, str]] = []
    if transport and transport.strip():
        parsed = HeaderParser(policy=compat32).parsestr(transport.lstrip())
        kept = [(name, _ascii(str(value))) for name, value in parsed.items()
                if not _CONTENT.match(name)]
    have = {name.lower() for name, _ in kept}
    made: list[tuple[str, str]] = []

    def add(name: str, value: str | None) -> None:
        if value and name.lower() not in have:
            made.append((name, value))

    add("From", _address(item.text(0x0C1A) or item.text(0x0042), _sender(item)))
    recipients = _recipients(item)
    add("To", ", ".join(recipients.get(1, [])) or None)
    add("Cc", ", ".join(recipients.get(2, [])) or None)
    when = item.time(0x0039) or item.time(0x0E06)  # submitted, else delivered
    add("Date", email.utils.format_datetime(when) if when else None)
    add("Subject", _encoded(item.text(0x0037)))
    add("Message-ID", item.text(0x1035))
    add("In-Reply-To", item.text(0x1042))
    add("References", item.text(0x1039))
    return kept + made


def _sender(item: _Item) -> str | None:
    for smtp in (0x5D01, 0x5D02):  # PR_SENDER_SMTP_ADDRESS, PR_SENT_REPRESENTING_SMTP…
        if found := item.text(smtp):
            return found
    for kind, address in ((0x0C1E, 0x0C1F), (0x0064, 0x0065)):
        if (item.text(kind) or "").upper() == "SMTP" and (found := item.text(address)):
            return found
    exchange = (item.text(0x0C1F) or "").lower()  # an Exchange (X.500) address: the SMTP
    if exchange:  # address of a recipient with the same one (a mail to oneself, a reply-all)
        for path in item.children("__recip_version1.0_#"):
            recipient = _Item(item.ole, path, _SUB, item.codepage)
            if (recipient.text(0x3003) or "").lower() == exchange and \
                    (found := recipient.text(0x39FE)):
                return found
    return None


def _recipients(item: _Item) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for path in item.children("__recip_version1.0_#"):
        recipient = _Item(item.ole, path, _SUB, item.codepage)
        address = recipient.text(0x39FE)
        if not address and (recipient.text(0x3002) or "").upper() == "SMTP":
            address = recipient.text(0x3003)
        shown = _address(recipient.text(0x3001), address)
        if shown:
            out.setdefault(recipient.long(0x0C15) or 1, []).append(shown)
    return out


def _address(name: str | None, address: str | None) -> str | None:
    name = (name or "").strip()
    if not address:  # a name alone (an Exchange sender): the parser finds no address in it
        return _encoded(email.utils.quote(name) if name.isascii() else name) if name else None
    if not name or name.strip("'\"").lower() == address.lower():
        return address
    return email.utils.formataddr((name, address), charset="utf-8")


def _encoded(text: str | None) -> str | None:
    if text is None:
        return None
    return text if text.isascii() else Header(text, "utf-8").encode()


def _ascii(value: str) -> str:
    """A transport header as Outlook kept it; raw non-ASCII (rare) encoded as RFC 2047."""
    value = value.strip()
    return value if value.isascii() else Header(value, "utf-8").encode()


def _body(item: _Item) -> Message:
    plain = item.text(0x1000)
    html = _html(item)
    if not (plain and plain.strip()) and html is None:
        plain = compressed_rtf_text(item.binary(0x1009) or b"")  # PR_RTF_COMPRESSED
    plain_part = MIMEText((plain or "").replace("\r\n", "\n"), "plain", "utf-8")
    if html is None:
        return plain_part
    if not (plain and plain.strip()):
        return html
    alternative = MIMEMultipart("alternative")
    alternative.attach(plain_part)
    alternative.attach(html)
    return alternative


def _html(item: _Item) -> Message | None:
    """The HTML body as a part. PR_HTML is bytes in the Internet code page: they go as
    they are, with that code page declared, and the parser reads them as any HTML part
    (a ``<meta charset>`` inside, a wrong declaration, mixed text)."""
    data = item.binary(0x1013)
    if data is None:
        text = item.text(0x1013)
        return MIMEText(text, "html", "utf-8") if text else None
    if not data.strip():
        return None
    part = MIMEBase("text", "html")
    part.set_payload(data)
    encode_base64(part)
    charset = _codepage(item.long(0x3FDE))
    if charset:
        part.set_param("charset", charset)
    return part


def _attachment(item: _Item, path: list[str], depth: int) -> Message:
    attached = _Item(item.ole, path, _SUB, item.codepage)
    name = (attached.text(0x3707) or attached.text(0x3704) or attached.text(0x3001) or "")
    embedded = [*path, "__substg1.0_3701000D"]
    if attached.long(0x3705) == _ATTACH_EMBEDDED and item.ole.exists(embedded) \
            and depth < _MAX_DEPTH:
        inner = _message(_Item(item.ole, embedded, _EMBEDDED, item.codepage), depth + 1)
        part: Message = MIMEMessage(inner)
    else:
        data = attached.binary(0x3701) or b""
        ctype = (attached.text(0x370E) or "").strip().lower()
        if "/" not in ctype:  # no MIME type kept: as the file name says
            ctype = type_of_name(name)
        maintype, _, subtype = ctype.partition("/")
        part = MIMEBase(maintype, subtype)
        part.set_payload(data)
        encode_base64(part)
        content_id = attached.text(0x3712)
        if content_id:
            part["Content-ID"] = f"<{content_id.strip('<>')}>"
    if name:
        part.add_header("Content-Disposition", "attachment",
                        filename=name if name.isascii() else ("utf-8", "", name))
    else:
        part.add_header("Content-Disposition", "attachment")
    return part
