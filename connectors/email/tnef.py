"""Outlook's ``winmail.dat`` (TNEF, ``application/ms-tnef``): the files and the text inside.

Outlook and Exchange wrap a "rich text" message's attachments (and often its only body, as
compressed RTF) in one TNEF file that no other mail program, and no customer, can open.
:func:`unpack` reads it with ``tnefparse``: every file inside becomes an attachment of its
own (an attached Outlook item's files too), and the text -- plain, HTML or RTF (decompressed
by ``compressed_rtf``, RTF read by ``striprtf``) -- is there for a message that has no other
body. Whatever cannot be read is left to the caller, which keeps ``winmail.dat`` as sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from timeline.doctext import rtf_text

from .decode import safe_filename, type_of_name
from .htmltext import html_to_text

SIGNATURE = b"\x78\x9f\x3e\x22"
"""The first four bytes of every TNEF stream (0x223E9F78, little-endian)."""
CONTENT_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
NAMES = frozenset({"winmail.dat", "win.dat"})
_MAX_DEPTH = 4  # attached Outlook items inside attached Outlook items
_MAX_RTF = 16 * 1024 * 1024  # an RTF body's size once decompressed

logging.getLogger("tnefparse").setLevel(logging.CRITICAL)  # it warns of every odd attribute


@dataclass
class Unpacked:
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(file name, content type, bytes) of every file inside, in order."""
    text: str = ""
    """The message text TNEF carries (plain, else HTML as text, else RTF as text)."""
    unread: list[str] = field(default_factory=list)
    """Attached Outlook items inside that hold no file or text we can show (a contact
    group, a calendar item): the caller keeps the stream as sent beside the files."""
    damaged: bool = False
    """A checksum did not match or the stream ends inside an attribute: something inside
    may be missing, so the caller keeps the stream as sent beside what was read."""


def is_tnef(content_type: str, filename: str | None, data: bytes) -> bool:
    """A TNEF stream: its signature, declared as TNEF or named as Outlook names it."""
    if not data.startswith(SIGNATURE):
        return False
    return content_type in CONTENT_TYPES or (filename or "").strip().lower() in NAMES


def unpack(data: bytes) -> Unpacked | None:
    """The files and text of a TNEF stream; ``None`` when it cannot be read or holds
    nothing (the caller then keeps the stream itself)."""
    from tnefparse import TNEF  # only mail from Outlook pays for the import

    try:
        tnef = TNEF(data, do_checksum=True)  # a wrong checksum is noted, not refused
        out = Unpacked(text=_text(tnef))
        _files(tnef, out, 0)
        read = 6 + sum(obj.length for obj in tnef.objects)
        out.damaged = read < len(data) - TNEF.MIN_OBJ_SIZE or read > len(data) or not all(
            obj.good_checksum for obj in tnef.objects)
    except Exception:
        return None
    if not out.files and not out.text.strip():
        return None  # (an item that holds only unread items is kept as sent, too)
    return out


def _files(tnef: Any, out: Unpacked, depth: int) -> None:
    for attachment in tnef.attachments:
        name = safe_filename(_name(attachment)) or f"attachment-{len(out.files) + 1}"
        embedded = getattr(attachment, "embed", None)
        if embedded is not None and depth < _MAX_DEPTH:  # an attached Outlook item
            text = _text(embedded)
            before = len(out.files)
            if text.strip():
                out.files.append((f"{name}.txt", "text/plain", text.encode("utf-8")))
            _files(embedded, out, depth + 1)
            if len(out.files) == before:
                out.unread.append(name)
            continue
        data = attachment.data if isinstance(attachment.data, bytes) else b""
        ctype = type_of_name(name)
        out.files.append((name, ctype, data))


def _name(attachment: Any) -> str:
    """The long file name, else the short one (8-bit names in the item's code page)."""
    try:
        name = attachment.long_filename()
    except Exception:  # a damaged or 8-bit name property: read the short one here
        name = ""
    if not name:
        name = getattr(attachment, "_name", b"")
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            name = name.decode(attachment.codepage or "cp1252", "replace")
    return str(name or "").replace("\x00", "")


def _text(tnef: Any) -> str:
    body = tnef.body
    if isinstance(body, bytes):
        body = body.decode("cp1252", "replace")
    if isinstance(body, str) and body.strip("\x00").strip():
        return body.replace("\x00", "").replace("\r\n", "\n")
    html = tnef.htmlbody
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    if isinstance(html, str) and html.strip():
        return html_to_text(html)
    compressed = getattr(tnef, "_rtfbody", None)
    return compressed_rtf_text(compressed) if isinstance(compressed, bytes) else ""


def compressed_rtf_text(compressed: bytes) -> str:
    """The text of an Outlook body in compressed RTF (MS-OXRTFCP), as TNEF and ``.msg``
    files carry it; ``""`` for one too short, or larger than ``_MAX_RTF`` once expanded."""
    if len(compressed) <= 16 or int.from_bytes(compressed[4:8], "little") > _MAX_RTF:
        return ""  # (bytes 4-8: its declared raw size)
    from compressed_rtf import decompress

    return rtf_text(decompress(compressed + b"\x00"))

