"""File names as uploaded or attached: one rule for every path (agent uploads, portal
messages, e-mail attachments, Telegram files) before a name is stored or mailed."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 200
"""Characters; well below every file system's 255 bytes for common scripts."""

_SEPARATORS = re.compile(r"[/\\]")
_SPACE = re.compile(r"\s+")


def safe_file_name(name: str, fallback: str = "file") -> str:
    """The base name of ``name``: no directories (``../../etc/passwd`` is ``passwd``), no
    control or format characters (NUL, CR/LF, bidi overrides), no leading dots, single
    spaces, Unicode kept, at most ``MAX_NAME`` characters with the extension kept."""
    base = _SEPARATORS.split(unicodedata.normalize("NFC", name))[-1]
    base = "".join(" " if ch in "\t\r\n" else ch for ch in base
                   if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
                   or ch in "\t\r\n")
    base = _SPACE.sub(" ", base).strip().lstrip(".").strip()
    if len(base) > MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            base = stem[: MAX_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            base = base[:MAX_NAME].rstrip()
    return base or fallback
