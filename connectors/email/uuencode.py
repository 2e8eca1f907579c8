"""Files uuencoded into a mail's text (``begin 644 name`` … ``end``), as mail programs and
news readers sent them before MIME and some scripts still do: taken out of the text and
kept as attachments, as mature mail programs show them. A block that does not decode stays
in the text as it was."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from .decode import safe_filename, type_of_name

_BEGIN = re.compile(r"(?m)^begin [0-7]{3,4}(?:[ \t]+(?P<name>[^\r\n]*?))?[ \t]*\r?\n")
_END = re.compile(r"(?m)^end[ \t]*$")
_MAX_BLOCKS = 50


@dataclass(frozen=True)
class UuFile:
    name: str
    content_type: str
    data: bytes


def take_uuencoded(text: str) -> tuple[str, list[UuFile]]:
    """``text`` without its uuencoded files, and the files (in order)."""
    if "begin " not in text:
        return text, []
    files: list[UuFile] = []
    out: list[str] = []
    done = 0  # text up to here is in ``out``
    begin = _BEGIN.search(text)
    # Each block ends at the first "end" line after its "begin" line; one pass over the
    # text (a lazy regular expression over lines scanned to the end again for each
    # "begin" line without an "end": a mail of such lines took minutes)
    while begin is not None and len(files) < _MAX_BLOCKS:
        end = _END.search(text, begin.end())
        if end is None:
            break
        data = _decode(text[begin.end():end.start()])
        if data is not None:
            name = safe_filename((begin.group("name") or "").strip()) or \
                f"uuencoded-{len(files) + 1}.bin"
            kind = type_of_name(name)
            files.append(UuFile(name, kind, data))
            out.append(text[done:begin.start()] + f"[{name}]")
            done = end.end()
        begin = _BEGIN.search(text, end.end())
    return "".join(out) + text[done:], files


def _decode(lines: str) -> bytes | None:
    out = bytearray()
    for line in lines.splitlines():
        if not line.strip():
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            try:  # trailing garbage some encoders write: decode the length the line says
                length = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
                out += binascii.a2b_uu(line[:length])
            except (binascii.Error, IndexError):
                return None
    return bytes(out) if out else None
