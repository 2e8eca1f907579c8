"""The text of a document file, for search: PDF (pypdf), Word/Excel/PowerPoint (OOXML),
OpenDocument, RTF, HTML and plain text.

Bounded: files over ``max_bytes`` are not read, a PDF is read up to ``MAX_PAGES`` pages, a
zip member over ``MAX_MEMBER_BYTES`` unpacked is skipped (zip bombs), and the text is cut at
``max_chars``. Never raises: a damaged, encrypted or unknown file has no text (``""``).
Scanned pages (images) have none either -- there is no OCR.
"""

from __future__ import annotations

import codecs
import html
import io
import logging
import re
import zipfile
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
_SUFFIXES = {
    "pdf": "pdf", "txt": "text", "csv": "text", "tsv": "text", "md": "text", "log": "text",
    "htm": "html", "html": "html", "xhtml": "html", "rtf": "rtf",
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
    if ctype in _HTML:
        return "html"
    if ctype in _TEXT:
        return "text"
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _SUFFIXES.get(suffix)


def document_text(name: str, content_type: str, data: bytes, *, max_bytes: int = MAX_BYTES,
                  max_chars: int = MAX_CHARS) -> str:
    """The searchable text of one file (see the module's docstring); ``""`` when it has
    none that can be read."""
    kind = kind_of(name, content_type)
    if data.startswith(b"%PDF-"):
        kind = "pdf"  # whatever the sender called it
    elif data.startswith(b"PK\x03\x04") and kind not in (None, "zip"):
        kind = "zip"
    elif data.startswith(b"{\\rtf"):
        kind = "rtf"
    if kind is None or not data or len(data) > max_bytes:
        return ""
    try:
        text = _READERS[kind](data, max_chars)
    except Exception:  # a damaged file of any kind has no text, never a crash
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


_READERS = {"pdf": _pdf, "zip": _zip, "rtf": _rtf, "html": _html, "text": _text}


def readable(name: str, content_type: str) -> bool:
    """Whether a file of this name and type may have text to find (see :func:`kind_of`)."""
    return kind_of(name, content_type) is not None


def worth_reading(name: str, content_type: str, size: int, max_bytes: int) -> bool:
    """Whether to read a file of this name, type and size for search."""
    return 0 < size <= max_bytes and readable(name, content_type)
