"""Files sent as text: a picture, PDF or archive in a part that says ``text/plain``.

Some programs label whatever they attach ``text/plain`` (a misconfigured scanner, a script
that mails a file, a web form that forwards an upload, malware hiding its payload). Shown as
text, such a part is a screen of mojibake in the timeline and in the search index, and the
file itself is lost: nobody can open the picture. The test here is the one version-control
systems use (control bytes where text has none), so it does not depend on the declared
charset being right; the file's real type comes from its magic number (``filetype``, which also
tells an Excel workbook from a Word document inside their zip), read only for data that
already failed as text.
"""

from __future__ import annotations

import codecs
import mimetypes

import filetype  # type: ignore[import-untyped]

_SAMPLE = 8192
"""Bytes looked at: enough for any file's header and a fair share of its body."""
_CONTROL = bytes([*range(0x00, 0x09), *range(0x10, 0x1B), *range(0x1C, 0x20), 0x7F])
"""Bytes no text in an ASCII-compatible charset holds (TAB, LF, VT, FF, CR, the shifts SO
and SI of ISO-2022-KR and the ESC of ISO-2022-JP are text)."""
_TEXT = bytes(b for b in range(256) if b not in _CONTROL)
_HEAD = 64
"""Bytes at the start that hold a control byte in every file (its header: sizes, versions,
flags) and in no text that starts as text."""
_MIN_CONTROL = 4
"""Fewer control bytes than this are a stray NUL in a text, not a file."""
_SHARE = 20
"""Without a known file header: at least one byte in this many a control byte (compressed
or encrypted data has one in ten)."""
_UNKNOWN = "application/octet-stream"
_WIDE = ("utf-16", "utf-32")
_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # (the UTF-32 marks start with these)


def binary_type(data: bytes, charset: str | None = None) -> str | None:
    """The content type of ``data`` when it is a file rather than text (``image/gif``, or
    ``application/octet-stream`` for data of no known kind), else ``None``. ``charset``:
    the declared one (UTF-16 and UTF-32 text is full of NUL bytes)."""
    if data.startswith(b"%PDF-"):  # a PDF without compressed streams has no control byte
        return "application/pdf"
    sample = data[:_SAMPLE]
    control = len(sample.translate(None, _TEXT))
    if control < _MIN_CONTROL:  # nearly every text: one pass in C
        return None
    if _wide_text(sample, charset):
        return None
    if not sample[:_HEAD].translate(None, _TEXT):  # text with binary bytes further on (a
        return None  # commit mail's diff of a picture), or "BMW …" (a bitmap's "BM"): text
    known = _magic(data)
    if known is not None:
        return known
    return _UNKNOWN if control * _SHARE >= len(sample) else None


GENERIC = frozenset({
    "application/octet-stream", "binary/octet-stream", "application/binary",
    "application/download", "application/x-download", "application/force-download",
    "application/unknown", "application/x-unknown", "application/x-octet-stream",
})
"""Types that say only "a file": some phones, webmailers and scanners send every
attachment so. A picture sent so showed no thumbnail, a PDF no preview."""


def specific_type(content_type: str, filename: str | None, data: bytes) -> str:
    """``content_type``, or for a :data:`GENERIC` one the type the file's name says (what
    the sender's and the reader's systems go by), else the type its header names."""
    if content_type not in GENERIC:
        return content_type
    named = mimetypes.guess_type(filename, strict=False)[0] if filename else None
    return named or _magic(data) or content_type


def _wide_text(sample: bytes, charset: str | None) -> bool:
    """UTF-16 or UTF-32 text: declared, marked, or shaped so (every other byte NUL)."""
    if sample.startswith(_BOMS):
        return True
    if charset:
        try:
            if codecs.lookup(charset.strip().strip("\"'")).name.startswith(_WIDE):
                return True
        except LookupError:
            pass
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    wide, narrow = max(even, odd), min(even, odd)
    return wide * 10 >= len(sample) * 4 and narrow * 20 <= len(sample)  # 80 % against 10 %


def _magic(data: bytes) -> str | None:
    """The type a file's header names (``None``: no header this library knows)."""
    kind = filetype.guess(data[:_SAMPLE])
    return str(kind.mime) if kind is not None else None
