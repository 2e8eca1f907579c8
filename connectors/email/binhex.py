"""Files in BinHex 4.0 (``.hqx``, ``application/mac-binhex40``), as classic Mac mail programs
(Eudora, Claris Emailer, Outlook Express for Mac) sent attachments, in the text or as a
part: opened to the file inside, as Thunderbird does, instead of a text no Windows program
reads. The standard library's ``binhex`` module is gone since Python 3.11 and no maintained
package replaced it; the format is small (RFC 1741): a 64-character alphabet packing six
bits per character exactly as base64 does, a run-length code, and a header with CRCs.

Only the data fork is kept: the resource fork is Mac OS metadata (icons, window positions)
that no program outside classic Mac OS opens.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from .decode import safe_filename, synthesised, type_of_name

_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TO_BASE64 = bytes.maketrans(_ALPHABET, _BASE64)
_MARK = re.compile(r"(?m)^\(This file must be converted[^\n()]{0,80}\)[ \t]*\r?$")
"""The line before the data: "… with BinHex 4.0", or a variant ("…; you knew that already."
from macutils' ``binhex``)."""
_STREAM = re.compile(r"\s*:([!-9@-r\s]+):")  # (no ":" in the alphabet: the next one ends it)
_MAX_BLOCKS = 50
_RUN = 0x90
_MAX_OUT = 64 << 20
"""Bytes a run-length code may unpack to: two bytes say up to 255 copies, so a mail of
runs would unpack to gigabytes (a bomb); a longer file is kept cut (and so "damaged")."""


@dataclass(frozen=True)
class BinHexFile:
    name: str
    content_type: str
    data: bytes
    intact: bool  # both CRCs right (else: decoded as far as it goes, the original kept too)


def take_binhexed(text: str) -> tuple[str, list[BinHexFile]]:
    """``text`` with each BinHex file replaced by ``[name]``, and the files (in order). A
    block that does not decode stays in the text as it was; so does a damaged one (a CRC
    wrong, cut short), whose file is returned as far as it decodes."""
    if "(This file must be converted" not in text:
        return text, []
    files: list[BinHexFile] = []
    out: list[str] = []
    done = 0
    for number, mark in enumerate(_MARK.finditer(text)):
        if number >= _MAX_BLOCKS:
            break
        stream = _STREAM.match(text, mark.end())
        if mark.start() < done or stream is None:
            continue
        found = read_binhex(stream.group(1).encode("ascii"))
        if found is None:
            continue
        files.append(found)
        if found.intact:  # (a damaged one stays in the text too, as sent)
            out.append(text[done:mark.start()] + f"[{found.name}]")
            done = stream.end()
    return "".join(out) + text[done:], files


def is_binhex(content_type: str, filename: str, data: bytes) -> bool:
    """An attachment in BinHex: by its type, its name or its first line."""
    return content_type == "application/mac-binhex40" or \
        filename.lower().endswith(".hqx") or \
        data[:512].lstrip().startswith(b"(This file must be converted")


def unbinhex(data: bytes) -> BinHexFile | None:
    """The file inside a ``.hqx`` attachment (``None``: none that can be read)."""
    text = data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")  # (Mac: CR)
    mark = _MARK.search(text)
    stream = _STREAM.match(text, mark.end()) if mark is not None else _STREAM.match(text)
    return read_binhex(stream.group(1).encode("ascii")) if stream is not None else None


def read_binhex(encoded: bytes) -> BinHexFile | None:
    """The file in BinHex characters between the two colons."""
    packed = encoded.translate(None, b" \t\r\n\f\v")
    if packed.translate(None, _ALPHABET):
        return None  # characters BinHex does not use: something else between two colons
    packed = packed.translate(_TO_BASE64)
    packed = packed[: len(packed) - len(packed) % 4 if len(packed) % 4 == 1 else len(packed)]
    try:
        raw = _unrun(base64.b64decode(packed + b"=" * (-len(packed) % 4)))
    except (binascii.Error, ValueError):
        return None
    if raw is None or not raw:
        return None
    size = raw[0]
    at = 1 + size + 1 + 4 + 4 + 2  # name, version, type, creator, Finder flags
    if len(raw) < at + 10:
        return None
    name = safe_filename(_name(raw[1:1 + size])) or "binhex.bin"
    data_length = int.from_bytes(raw[at:at + 4], "big")
    header_ok = binascii.crc_hqx(raw[:at + 8], 0) == int.from_bytes(raw[at + 8:at + 10], "big")
    data = raw[at + 10:at + 10 + data_length]
    crc = raw[at + 10 + data_length:at + 12 + data_length]
    intact = header_ok and len(data) == data_length and len(crc) == 2 and \
        binascii.crc_hqx(data, 0) == int.from_bytes(crc, "big")
    if not data and not intact:
        return None
    return BinHexFile(name, type_of_name(name), data, intact)


def named(found: BinHexFile, sent_as: str) -> BinHexFile:
    """``found`` under the name its mail part gave (without ``.hqx``): that name's charset
    is declared (RFC 2231), the one inside BinHex is whatever the encoding program used."""
    given = sent_as[:-4] if sent_as.lower().endswith(".hqx") else sent_as
    if not _GIVEN.fullmatch(given) or synthesised(given) or given == found.name:
        return found
    named_type = type_of_name(given)
    kind = found.content_type if named_type == "application/octet-stream" else named_type
    return BinHexFile(given, kind, found.data, found.intact)


_GIVEN = re.compile(r".+\.\w{1,8}")


def _name(raw: bytes) -> str:
    """A Mac file name: Mac Roman, but UTF-8 from newer encoders."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("mac_roman")


def _unrun(packed: bytes) -> bytes | None:
    """Undo the run-length code: ``b 0x90 n`` is ``b`` n times, ``0x90 0x00`` a 0x90."""
    if _RUN not in packed:
        return packed
    out = bytearray()
    at = 0
    while (mark := packed.find(_RUN, at)) >= 0:
        out += packed[at:mark]
        if mark + 1 >= len(packed):
            return bytes(out)  # cut off after the marker
        count = packed[mark + 1]
        if count == 0:
            out.append(_RUN)
        elif not out:
            return None  # a run of nothing: not BinHex
        else:
            out += bytes([out[-1]]) * (count - 1)
        if len(out) > _MAX_OUT:
            return bytes(out[:_MAX_OUT])
        at = mark + 2
    out += packed[at:]
    return bytes(out)
