"""Files uuencoded into a mail's text (``begin 644 name`` … ``end``), as mail programs and
news readers sent them before MIME and some scripts still do: taken out of the text and
kept as attachments, as mature mail programs show them. A block that does not decode stays
in the text as it was."""

from __future__ import annotations

import binascii
import mimetypes
import re
from dataclasses import dataclass

from .decode import safe_filename

_BLOCK = re.compile(r"(?m)^begin [0-7]{3,4}(?:[ \t]+(?P<name>[^\r\n]*?))?[ \t]*\r?\n"
                    r"(?P<lines>(?:[^\r\n]*\r?\n)*?)end[ \t]*$")
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

    def take(match: re.Match[str]) -> str:
        if len(files) >= _MAX_BLOCKS:
            return match.group(0)
        data = _decode(match.group("lines"))
        if data is None:
            return match.group(0)
        name = safe_filename((match.group("name") or "").strip()) or \
            f"uuencoded-{len(files) + 1}.bin"
        kind = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        files.append(UuFile(name, kind, data))
        return f"[{name}]"

    return _BLOCK.sub(take, text), files


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
