"""The text of a document file, for search: PDF (pypdf), Word/Excel/PowerPoint (OOXML),
OpenDocument, Word and Excel 97-2003 (``.doc``, ``.xls``; olefile), RTF, HTML and plain
text.

Bounded: files over ``max_bytes`` are not read, a PDF is read up to ``MAX_PAGES`` pages, a
zip member over ``MAX_MEMBER_BYTES`` unpacked is skipped (zip bombs), and the text is cut at
``max_chars``. Never raises: a damaged, encrypted or unknown file has no text (``""``).
Scanned pages (images) have none either -- there is no OCR.
"""

from __future__ import annotations

import codecs
import contextlib
import html
import io
import logging
import re
import signal
import struct
import threading
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser

MAX_BYTES = 20 * 1024 * 1024
MAX_CHARS = 200_000
MAX_PAGES = 200
MAX_MEMBER_BYTES = 50 * 1024 * 1024

_PDF = ("application/pdf", "application/x-pdf")
_TEXT = ("text/plain", "text/csv", "text/markdown", "text/x-markdown", "text/tab-separated-values",
         "text/x-log", "application/csv")
_HTML = ("text/html", "application/xhtml+xml")
_RTF = ("application/rtf", "text/rtf", "application/x-rtf")
_WORD97 = ("application/msword", "application/vnd.ms-word")
_EXCEL97 = ("application/vnd.ms-excel", "application/msexcel", "application/x-msexcel")
_SUFFIXES = {
    "pdf": "pdf", "txt": "text", "csv": "text", "tsv": "text", "md": "text", "log": "text",
    "htm": "html", "html": "html", "xhtml": "html", "rtf": "rtf", "doc": "doc", "dot": "doc",
    "xls": "xls", "xlt": "xls",
    "docx": "zip", "docm": "zip", "dotx": "zip", "xlsx": "zip", "xlsm": "zip", "pptx": "zip",
    "pptm": "zip", "ppsx": "zip", "odt": "zip", "ods": "zip", "odp": "zip", "ott": "zip",
}
_OOXML_ZIP = ("application/vnd.openxmlformats-officedocument.",
              "application/vnd.ms-word.", "application/vnd.ms-excel.sheet.macroenabled",
              "application/vnd.ms-powerpoint.", "application/vnd.oasis.opendocument.")


def kind_of(name: str, content_type: str) -> str | None:
    """Which reader a file needs (``pdf``, ``zip``, ``rtf``, ``html``, ``text``), from its
    type and name; ``None``: no text to find (images, audio, archives, unknown)."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in _PDF:
        return "pdf"
    if ctype.startswith(_OOXML_ZIP):
        return "zip"
    if ctype in _RTF:
        return "rtf"
    if ctype in _WORD97:
        return "doc"
    if ctype in _EXCEL97:
        return "xls"
    if ctype in _HTML:
        return "html"
    if ctype in _TEXT:
        return "text"
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _SUFFIXES.get(suffix)


class _TooLong(Exception):
    pass


def _too_long(_signum: int, _frame: object) -> None:
    raise _TooLong


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``_TooLong`` in the block after ``seconds`` (a timer signal: only in a
    process's main thread; elsewhere, and with ``None``, no limit)."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _too_long)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def document_text(name: str, content_type: str, data: bytes, *, max_bytes: int = MAX_BYTES,
                  max_chars: int = MAX_CHARS, timeout: float | None = None) -> str:
    """The searchable text of one file (see the module's docstring); ``""`` when it has
    none that can be read, or (``timeout``, in a process's main thread) when reading it
    takes longer than that many seconds."""
    kind = kind_of(name, content_type)
    if data.startswith(b"%PDF-"):
        kind = "pdf"  # whatever the sender called it
    elif data.startswith(b"PK\x03\x04") and kind not in (None, "zip"):
        kind = "zip"
    elif data.startswith(b"{\\rtf"):
        kind = "rtf"  # (Word saves RTF as .doc too)
    elif kind in ("doc", "xls") and not data.startswith(_OLE):
        kind = None
    if kind is None or not data or len(data) > max_bytes:
        return ""
    try:
        with _time_limit(timeout):
            text = _READERS[kind](data, max_chars)
    except Exception:  # a damaged (or too slow) file of any kind has no text, never a crash
        return ""
    text = _BLANKS.sub("\n\n", _SPACES.sub(" ", text.replace("\x00", ""))).strip()
    return text[:max_chars]


_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\s*\n\s*\n\s*")


def _pdf(data: bytes, max_chars: int) -> str:
    from pypdf import PdfReader  # imported when a PDF comes (a second of start-up otherwise)

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files are common and fine
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            reader.decrypt("")  # "owner password only": readable by anyone
        except Exception:  # an unknown password: no text
            return ""
    parts: list[str] = []
    size = 0
    for number, page in enumerate(reader.pages):
        if number >= MAX_PAGES or size >= max_chars:
            break
        text = page.extract_text() or ""
        parts.append(text)
        size += len(text)
    return "\n\n".join(parts)


_ZIP_TEXT = re.compile(
    r"^(?:word/(?:document|footnotes|endnotes|comments|header\d*|footer\d*)\.xml"
    r"|xl/sharedStrings\.xml|xl/worksheets/sheet\d+\.xml|xl/comments\d*\.xml"
    r"|xl/drawings/drawing\d+\.xml"
    r"|ppt/(?:slides/slide\d+|notesSlides/notesSlide\d+)\.xml|content\.xml)$")
_BREAKS = re.compile(r"</(?:w:p|a:p|text:p|text:h|si|row|text:list-item)>|<(?:w:br|w:cr|"
                     r"text:line-break)\b[^>]*/>")
_TABS = re.compile(r"<(?:w:tab|text:tab|text:s)\b[^>]*/>|</(?:c|table:table-cell)>")
_TAGS = re.compile(r"<[^>]*>")
_NUMBER = re.compile(r"(?:\d+/)?(\d+)(?=\.xml$)")
_SHEET_NOISE = re.compile(r'<c\b[^>]*\bt="s"[^>]*>.*?</c>|<f\b[^>]*>.*?</f>|<f\b[^>]*/>', re.S)
"""In a worksheet: cells that point into the shared strings (read from there) and
formulas; what is left are the numbers and inline strings people typed."""


def _member_order(name: str) -> tuple[str, int]:
    m = _NUMBER.search(name)
    return (_NUMBER.sub("", name), int(m.group(1)) if m else 0)


def _zip(data: bytes, max_chars: int) -> str:
    """OOXML (docx, xlsx, pptx) and OpenDocument: the text of the parts people wrote, in
    order (slides and sheets by number), paragraphs as lines."""
    parts: list[str] = []
    size = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = sorted((i for i in archive.infolist() if _ZIP_TEXT.match(i.filename)),
                         key=lambda i: _member_order(i.filename))
        for info in members:
            if size >= max_chars or info.file_size > MAX_MEMBER_BYTES:
                continue
            xml = archive.read(info).decode("utf-8", "replace")
            if info.filename.startswith("xl/worksheets/"):
                xml = _SHEET_NOISE.sub(" ", xml)
            text = html.unescape(_TAGS.sub("", _TABS.sub(" ", _BREAKS.sub("\n", xml))))
            parts.append(text)
            size += len(text)
    return "\n\n".join(parts)


_CODEPAGE = re.compile(rb"\\ansicpg(\d{3,5})")
_IMAGE_REFERENCE = re.compile(r"(?im)^[ \t]*cid:\S+[ \t]*$")  # an inline image's place


def rtf_text(rtf: bytes | str) -> str:
    """The text of an RTF document (Outlook's, also HTML or text encapsulated in RTF), in
    the code page it names (``\\ansicpg``; Windows-1252 if none or unknown)."""
    from striprtf.striprtf import rtf_to_text

    if isinstance(rtf, str):
        rtf = rtf.encode("latin-1", "replace")
    found = _CODEPAGE.search(rtf[:2048])
    encoding = f"cp{found.group(1).decode()}" if found else "cp1252"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "cp1252"
    text: str = rtf_to_text(rtf.decode("latin-1"), encoding=encoding,  # type: ignore[no-untyped-call]
                            errors="replace")
    text = _IMAGE_REFERENCE.sub("", text.replace("\xa0\n", "\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _rtf(data: bytes, max_chars: int) -> str:
    return rtf_text(data[: max_chars * 8])


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                        "table", "section", "article", "blockquote", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html(data: bytes, max_chars: int) -> str:
    reader = _HtmlText()
    reader.feed(_decode(data[: max_chars * 4]))
    reader.close()
    return "".join(reader.parts)


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM, or UTF-16 with one), else Windows-1252: what office
    programs write."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _text(data: bytes, max_chars: int) -> str:
    return _decode(data[: max_chars * 4])


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_WORD_IDENT = 0xA5EC
_CONTROLS = str.maketrans({"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x0e": "\n",
                           "\x07": "\t", "\x1e": "-", "\xa0": " "})
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1f]")


def _doc(data: bytes, max_chars: int) -> str:
    """Word 97-2003: the text of the piece table ([MS-DOC] 2.4.1), 8-bit pieces in
    Windows-1252 and the rest UTF-16; field instructions left out, their results kept;
    nothing of an encrypted file or of Word 6 and older."""
    import olefile  # (imported when a .doc comes)

    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        if not ole.exists("WordDocument"):
            return ""
        word = ole.openstream("WordDocument").read()
        if len(word) < 0x22 or struct.unpack_from("<H", word, 0)[0] != _WORD_IDENT:
            return ""
        flags = struct.unpack_from("<H", word, 0x0A)[0]
        table_name = "1Table" if flags & 0x0200 else "0Table"  # fWhichTblStm
        if flags & 0x0100 or not ole.exists(table_name):  # fEncrypted
            return ""
        table = ole.openstream(table_name).read()
    at = 32  # FibBase, then the counted arrays: FibRgW, FibRgLw, FibRgFcLcb
    at += 2 + 2 * struct.unpack_from("<H", word, at)[0]
    at += 2 + 4 * struct.unpack_from("<H", word, at)[0]
    if struct.unpack_from("<H", word, at)[0] <= 33:
        return ""
    fc_clx, lcb_clx = struct.unpack_from("<II", word, at + 2 + 33 * 8)  # fcClx, lcbClx
    clx = table[fc_clx:fc_clx + lcb_clx]
    i = 0
    while i < len(clx) and clx[i] == 0x01:  # Prc entries (formatting) come first
        i += 3 + struct.unpack_from("<H", clx, i + 1)[0]
    if i + 5 > len(clx) or clx[i] != 0x02:
        return ""
    plc = clx[i + 5:i + 5 + struct.unpack_from("<I", clx, i + 1)[0]]
    pieces = (len(plc) - 4) // 12
    cps = struct.unpack_from(f"<{pieces + 1}I", plc)
    parts: list[str] = []
    size = 0
    for k in range(pieces):
        count = cps[k + 1] - cps[k]
        fc = struct.unpack_from("<I", plc, 4 * (pieces + 1) + 8 * k + 2)[0]
        if count <= 0:
            continue
        if fc & 0x40000000:  # fCompressed: one byte per character
            start = (fc & 0x3FFFFFFF) // 2
            parts.append(word[start:start + count].decode("cp1252", "replace"))
        else:
            parts.append(word[fc:fc + 2 * count].decode("utf-16-le", "replace"))
        size += count
        if size >= max_chars:
            break
    return _NOT_TEXT.sub("", _field_results("".join(parts)).translate(_CONTROLS))


def _field_results(text: str) -> str:
    """Word fields are ``\\x13 instruction \\x14 result \\x15`` (nested, the result
    optional): keep what a reader sees, the results."""
    if "\x13" not in text:
        return text
    out: list[str] = []
    shown: list[bool] = []  # per open field: in its result part yet?
    for char in text:
        if char == "\x13":
            shown.append(False)
        elif char == "\x14" and shown:
            shown[-1] = True
        elif char == "\x15" and shown:
            shown.pop()
        elif all(shown):
            out.append(char)
    return "".join(out)


_XLS_SST, _XLS_CONTINUE, _XLS_FILEPASS = 0x00FC, 0x003C, 0x002F
_XLS_NUMBER, _XLS_RK, _XLS_MULRK = 0x0203, 0x027E, 0x00BD


def _xls(data: bytes, max_chars: int) -> str:
    """Excel 97-2003 (BIFF8, [MS-XLS]): the shared strings (the text people typed) and the
    typed numbers; nothing of an encrypted workbook or of Excel 95 and older."""
    import olefile

    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        if not ole.exists("Workbook"):
            return ""
        stream = ole.openstream("Workbook").read()
    strings: list[str] = []
    numbers: list[str] = []
    sst: list[bytes] | None = None
    at = 0
    while at + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, at)
        body = stream[at + 4:at + 4 + size]
        at += 4 + size
        if kind == _XLS_FILEPASS:
            return ""
        if sst is not None:
            if kind == _XLS_CONTINUE:
                sst.append(body)
                continue
            strings += _shared_strings(sst, max_chars)
            sst = None
        if kind == _XLS_SST and len(body) >= 8:
            sst = [body]
        elif kind == _XLS_NUMBER and len(body) >= 14:
            numbers.append(_number(struct.unpack_from("<d", body, 6)[0]))
        elif kind == _XLS_RK and len(body) >= 10:
            numbers.append(_number(_rk(struct.unpack_from("<I", body, 6)[0])))
        elif kind == _XLS_MULRK and len(body) >= 6:
            numbers += [_number(_rk(struct.unpack_from("<I", body, cell + 2)[0]))
                        for cell in range(4, len(body) - 2, 6)]
    if sst is not None:
        strings += _shared_strings(sst, max_chars)
    return "\n".join(strings) + ("\n\n" + " ".join(numbers) if numbers else "")


def _rk(value: int) -> float:
    """An RK number: a 30-bit integer or the high bits of a double, maybe divided by 100."""
    if value & 2:
        number = float((value >> 2) - (1 << 30) if value & 0x80000000 else value >> 2)
    else:
        number = struct.unpack("<d", struct.pack("<Q", (value & 0xFFFFFFFC) << 32))[0]
    return number / 100 if value & 1 else number


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _shared_strings(records: list[bytes], max_chars: int) -> list[str]:
    """The SST's strings, read across its CONTINUE records: a string's characters may go
    on in the next record, which then starts with a flags byte of its own (8 or 16 bit)."""
    out: list[str] = []
    record, at, size = 0, 8, 0
    data = records[0]

    def skip(count: int) -> bool:
        nonlocal record, at, data
        while count > 0:
            room = len(data) - at
            if count <= room:
                at += count
                return True
            if record + 1 >= len(records):
                return False
            count -= room
            record += 1
            data, at = records[record], 0
        return True

    for _ in range(struct.unpack_from("<I", data, 4)[0]):
        if at + 3 > len(data):
            if record + 1 >= len(records):
                break
            record += 1
            data, at = records[record], 0
        count, flags = struct.unpack_from("<HB", data, at)
        at += 3
        runs = ext = 0
        if flags & 0x08:  # fRichSt
            runs = struct.unpack_from("<H", data, at)[0]
            at += 2
        if flags & 0x04:  # fExtSt (phonetic)
            ext = struct.unpack_from("<I", data, at)[0]
            at += 4
        wide = flags & 0x01
        chars: list[str] = []
        while count > 0:
            width = 2 if wide else 1
            room = (len(data) - at) // width
            if room <= 0:
                if record + 1 >= len(records):
                    break
                record += 1
                data = records[record]
                wide, at = data[0] & 0x01, 1
                continue
            take = min(count, room)
            chars.append(data[at:at + take * width].decode(
                "utf-16-le" if wide else "latin-1", "replace"))
            at += take * width
            count -= take
        out.append("".join(chars))
        size += len(out[-1])
        if size >= max_chars or not skip(4 * runs + ext):
            break
    return out


_READERS = {"pdf": _pdf, "zip": _zip, "rtf": _rtf, "html": _html, "text": _text, "doc": _doc,
            "xls": _xls}


def readable(name: str, content_type: str) -> bool:
    """Whether a file of this name and type may have text to find (see :func:`kind_of`)."""
    return kind_of(name, content_type) is not None


def worth_reading(name: str, content_type: str, size: int, max_bytes: int) -> bool:
    """Whether to read a file of this name, type and size for search."""
    return 0 < size <= max_bytes and readable(name, content_type)
