"""Office documents built by hand from their specifications, for search tests: a PDF with
a text layer (ISO 32000: catalog, page tree, one page per line group, a Type 1 standard font
with WinAnsi encoding, a content stream, the cross-reference table), a Word document
(ECMA-376: ``word/document.xml`` in a package with its content types), an Excel workbook
(shared strings and numbers typed into cells) and an OpenDocument text (``content.xml``)."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def pdf(*pages: list[str]) -> bytes:
    """A PDF with one page per list of lines, each line as real text (extractable)."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    font = 3 + 2 * len(pages)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for i, lines in enumerate(pages):
        stream = b"BT /F1 12 Tf 14 TL 72 770 Td " + b" ".join(
            _pdf_string(line) + b" Tj T*" for line in lines) + b" ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
                       f"<< /Font << /F1 {font} 0 R >> >> /Contents {4 + 2 * i} 0 R >>"
                       .encode())
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream
                       + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                   b"/Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            f"%%EOF\n").encode()
    return bytes(out)


def _package(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
         'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
         '//schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
         'Target="{target}"/></Relationships>')


def docx(*paragraphs: str) -> bytes:
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>'
                   for p in paragraphs)
    return _package({
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Override PartName="/word/document.'
            'xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
            'document.main+xml"/></Types>'),
        "_rels/.rels": _RELS.format(target="word/document.xml"),
        "word/document.xml": (f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}">'
                              f"<w:body>{body}</w:body></w:document>"),
    })


def xlsx(strings: list[str], numbers: list[int]) -> bytes:
    """One sheet: column A the shared strings, column B the numbers."""
    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    rows = "".join(
        f'<row r="{i + 1}"><c r="A{i + 1}" t="s"><v>{i}</v></c>'
        + (f'<c r="B{i + 1}"><v>{numbers[i]}</v></c>' if i < len(numbers) else "") + "</row>"
        for i in range(max(len(strings), len(numbers))))
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    return _package({
        "_rels/.rels": _RELS.format(target="xl/workbook.xml"),
        "xl/workbook.xml": f'<workbook xmlns="{main}"><sheets><sheet name="Tabelle1" '
                           f'sheetId="1"/></sheets></workbook>',
        "xl/sharedStrings.xml": f'<sst xmlns="{main}">{shared}</sst>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><sheetData>{rows}'
                                    f"</sheetData></worksheet>",
    })


def odt(*paragraphs: str) -> bytes:
    text = "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    return _package({
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:'
            'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:'
            f'opendocument:xmlns:text:1.0"><office:body><office:text>{text}</office:text>'
            "</office:body></office:document-content>"),
    })
