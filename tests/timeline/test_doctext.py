"""The text of attached documents, for search (``timeline/doctext.py``): files built from
the formats' specifications, Apache Tika's published test documents (real files from Word,
PowerPoint, Excel, OpenOffice and PDF producers; ``deploy/ci/testdata.sh``), and damaged
input, which has no text but never raises."""

from __future__ import annotations

import random
import zipfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import pytest

from tests.support.documents import docx, odt, pdf, xlsx
from timeline import doctext
from timeline.doctext import document_text

TIKA = Path(__file__).resolve().parents[2] / ".cache" / "testdata" / "tika-3.3.1" / \
    "test-documents"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_pdf_text_layer_with_umlauts_and_pages() -> None:
    data = pdf(["Versicherungsschein Nr. VS-4711-0815", "Kündigung zum 31.12. (fristgerecht)"],
               ["Seite 2: Hausratversicherung für Erika Müller"])
    text = document_text("Police.pdf", "application/pdf", data)
    assert "Versicherungsschein Nr. VS-4711-0815" in text
    assert "Kündigung zum 31.12. (fristgerecht)" in text
    assert "Hausratversicherung für Erika Müller" in text
    # sent as "a file" or under another name: the bytes say it is a PDF
    assert document_text("scan", "application/octet-stream", data) == text


def test_office_documents_paragraphs_as_lines() -> None:
    text = document_text("Brief.docx", DOCX, docx("Sehr geehrte Frau Müller,",
                                                  "Ihr Schaden <Nr. 88> & mehr"))
    assert text == "Sehr geehrte Frau Müller,\nIhr Schaden <Nr. 88> & mehr"
    sheet = document_text("Beiträge.xlsx", "application/octet-stream",
                          xlsx(["Police", "Beitrag"], [47110815, 250]))
    assert "Police" in sheet and "Beitrag" in sheet and "47110815" in sheet
    assert " 0 " not in f" {sheet} ", "a shared-string index is not text"
    assert document_text("Übersicht.odt", "application/vnd.oasis.opendocument.text",
                         odt("Übersicht der Verträge", "Zeile zwei")) == \
        "Übersicht der Verträge\nZeile zwei"


def test_rtf_html_and_plain_text_in_their_encodings() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Arial;}}\f0 Schadensmeldung f\'fcr " \
          rb"Herrn M\'fcller\par Nr. 4711\par}"
    assert document_text("Meldung.rtf", "application/rtf", rtf) == \
        "Schadensmeldung für Herrn Müller\nNr. 4711"
    page = (b"<html><head><title>Kopf</title><style>p{color:red}</style></head><body>"
            b"<h1>Beitragsrechnung</h1><p>Betrag: 250&nbsp;&euro;</p><script>x()</script>"
            b"</body></html>")
    text = document_text("Rechnung.html", "text/html", page)
    assert "Beitragsrechnung" in text and "Betrag: 250 €" in text
    assert "Kopf" not in text and "color" not in text and "x()" not in text
    assert document_text("liste.csv", "text/csv", "Name;Ort\nMüller;Köln\n".encode("cp1252")) \
        == "Name;Ort\nMüller;Köln"
    assert document_text("notiz.txt", "text/plain", "\ufeffÄnderung".encode()) == "Änderung"


def test_files_without_text_to_find() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    assert document_text("foto.png", "image/png", png) == ""
    assert document_text("archiv.zip", "application/zip", docx("versteckt")) == ""
    assert not doctext.readable("foto.jpg", "image/jpeg")
    assert doctext.readable("Police.PDF", "application/octet-stream")
    assert doctext.readable("Brief", DOCX)


def test_limits_size_characters_and_zip_bombs(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pdf(["Vertrag " * 40])
    assert document_text("a.pdf", "application/pdf", data, max_bytes=len(data) - 1) == ""
    assert len(document_text("a.pdf", "application/pdf", data, max_chars=50)) == 50
    monkeypatch.setattr(doctext, "MAX_MEMBER_BYTES", 1000)
    big = docx("Schaden " * 500)  # its document.xml unpacks to more than 1000 bytes
    assert document_text("a.docx", DOCX, big) == ""
    assert document_text("b.docx", DOCX, docx("klein")) == "klein"


def test_damaged_files_have_no_text_and_never_raise() -> None:
    """Every byte position of real files cut or flipped: text or ``""``, never an error."""
    rng = random.Random(7)
    samples = [("a.pdf", "application/pdf", pdf(["Kündigung", "Vertrag 4711"])),
               ("a.docx", DOCX, docx("Kündigung", "Vertrag")),
               ("a.xlsx", "application/octet-stream", xlsx(["Police"], [1])),
               ("a.rtf", "application/rtf", rb"{\rtf1\ansi K\'fcndigung\par}")]
    for name, ctype, data in samples:
        for _ in range(60):
            damaged = bytearray(data)
            if rng.random() < 0.5:
                del damaged[rng.randrange(1, len(damaged)):]
            else:
                for _ in range(rng.randint(1, 8)):
                    damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            assert isinstance(document_text(name, ctype, bytes(damaged)), str)
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:p><w:t>ok</w:t>")  # not even well-formed
    assert document_text("c.docx", DOCX, buffer.getvalue()) == "ok"


@pytest.mark.skipif(not (TIKA / "testPDF.pdf").is_file(),
                    reason="Apache Tika's test documents not fetched (deploy/ci/testdata.sh "
                           "needs Maven Central)")
@pytest.mark.parametrize(("name", "expected"), [
    ("testPDF.pdf", "Apache Tika is a toolkit for detecting and extracting metadata"),
    ("testPDF_protected.pdf", "RETHINKING THE FINANCIAL NETWORK"),  # encrypted, no password
    ("testWORD.docx", "This is a sample Microsoft Word Document"),
    ("testPPT.pptx", "This is a test file data with the same content as every other file"),
    ("testEXCEL.xlsx", "Sample Excel Worksheet - Numbers and their Squares"),
    ("testOpenOffice2.odt", "This is a sample Open Office document, written in NeoOffice"),
    ("testFooter.ods", "Data 1"),
    ("testRTF.rtf", "Test d’indexation Word"),
    ("testWORD.doc", "This is a sample Microsoft Word Document"),  # Word 97-2003
    ("test_TIKA-1251.doc", "Ansvar- og oppgavefordeling – Ansvarsvakt Formål:"),
    ("testWORD_boldHyperlink.doc", "This is a bold hyper link; bold, I say."),  # a field
    ("testWORD_protected_passtika.doc", ""),  # encrypted
    ("testEXCEL.xls", "Sample Excel Worksheet - Numbers and their Squares"),  # Excel 97
    # German, 432 shared strings over two records (a CONTINUE record), numbers typed
    ("testEXCEL_WORKBOOK_in_capitals.xls", "Inventarliste für GALIPLAN Aktien Global AMI*"),
    ("testEXCEL_WORKBOOK_in_capitals.xls", "S&P 500 E-mini Future Dezember 2006"),
    ("testEXCEL_WORKBOOK_in_capitals.xls", "-221596.1"),
    ("testEXCEL_protected_passtika.xls", ""),
    ("testOCR.pdf", ""),  # a scanned page: no text layer (no OCR)
    ("testODTnotaZipFile.odt", ""),
    ("testWORD_truncated.docx", ""),
])
def test_real_documents_from_apache_tika(name: str, expected: str) -> None:
    text = document_text(name, "application/octet-stream", (TIKA / name).read_bytes())
    if expected:
        assert expected in " ".join(text.split()), text[:300]
    else:
        assert text == ""


def test_a_time_limit_where_a_timer_signal_can_stop_the_reading() -> None:
    """The import's parser processes read with a time limit (a hostile file that loops must
    not stop an import): past it the file has no text. In a thread no signal can interrupt,
    so there is no limit (the indexer reads in a process it can replace instead)."""
    data = pdf(["Kündigung " * 30] * 40)
    assert document_text("a.pdf", "application/pdf", data, timeout=1e-6) == ""
    assert "Kündigung" in document_text("a.pdf", "application/pdf", data, timeout=30)
    with ThreadPoolExecutor(1) as pool:
        in_thread = pool.submit(document_text, "a.pdf", "application/pdf", data,
                                timeout=1e-6).result()
    assert "Kündigung" in in_thread
