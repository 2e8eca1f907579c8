"""Broken MIME structure loses nothing: every part is found, or kept, and a note says so.

Each case is built the way real senders break it (a reused or wrong boundary, a missing
closing delimiter, doubled CRs, an unknown transfer encoding ...); the assertions are what a
user sees: the body text, each attachment's name and exact bytes, and ``parse_notes``
(stored as ``meta["parse_notes"]`` of the entry).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.email.inbound import MailIngest
from connectors.email.parse import MailParseError, ParsedMail, parse_message
from tests.conftest import Hub

DATA = Path(__file__).parent / "data" / "mime"
PDF = (DATA / "pdf.bin").read_bytes()
EXE = (DATA / "exe.bin").read_bytes()
HEAD = (b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\nSubject: Test\n"
        b"Message-ID: <m1@example.com>\nMIME-Version: 1.0\n")


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def pdf_part(name: bytes = b"a.pdf", boundary: bytes = b"B", cte: bytes = b"base64") -> bytes:
    return (b"--" + boundary + b"\nContent-Type: application/pdf; name=\"" + name + b"\"\n"
            b"Content-Transfer-Encoding: " + cte + b"\n\n" + b64(PDF))


def files(parsed: ParsedMail) -> list[tuple[str, bytes]]:
    return [(a.filename, a.data) for a in parsed.attachments]


def noted(parsed: ParsedMail, *words: str) -> bool:
    return any(all(w in note for w in words) for note in parsed.parse_notes)


# --------------------------------------------------------------------------- reused boundaries


def test_nested_multipart_reusing_the_outer_boundary_keeps_every_attachment() -> None:
    parsed = parse_message((DATA / "reused-boundary.eml").read_bytes())
    assert parsed.text == "Sehr geehrte Damen und Herren, anbei die Rechnung."
    assert parsed.html is not None and "<b>Rechnung</b>" in parsed.html
    assert files(parsed) == [("Rechnung-4711.pdf", PDF), ("update.exe", EXE)]
    assert noted(parsed, "reused the boundary '==MIX=='", "separated again")


def test_reused_boundary_without_an_inner_closing_delimiter() -> None:
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b'Content-Type: multipart/alternative; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\n\nSee attached.\n"
                  + pdf_part(b"invoice.pdf") + b"--B--\n")
    parsed = parse_message(raw)
    assert parsed.text == "See attached."
    assert files(parsed) == [("invoice.pdf", PDF)]
    assert noted(parsed, "reused the boundary 'B'")


def test_reused_boundary_three_levels_deep() -> None:
    raw = HEAD + (
        b'Content-Type: multipart/mixed; boundary="X"\n\n--X\n'
        b'Content-Type: multipart/alternative; boundary="X"\n\n--X\n'
        b"Content-Type: text/plain; charset=utf-8\n\nGr\xc3\xbc\xc3\x9fe\n--X\n"
        b'Content-Type: multipart/related; boundary="X"\n\n--X\n'
        b'Content-Type: text/html; charset=utf-8\n\n<p>Hallo <img src="cid:logo"></p>\n--X\n'
        b"Content-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
        + b64(b"\x89PNG-logo") + b"--X--\n--X--\n" + pdf_part(b"after.pdf", b"X") + b"--X--\n")
    parsed = parse_message(raw)
    assert parsed.text == "Grüße"
    assert [(a.filename, a.data, a.inline) for a in parsed.attachments] == [
        ("image-1.png", b"\x89PNG-logo", True), ("after.pdf", PDF, False)]


def test_well_formed_mail_has_no_notes() -> None:
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\nThis is a multi-part '
                  b"message in MIME format.\n\n--B\nContent-Type: text/plain\n\nHi\n"
                  + pdf_part() + b"--B--\n")
    parsed = parse_message(raw)
    assert (parsed.text, files(parsed), parsed.parse_notes) == ("Hi", [("a.pdf", PDF)], ())


# --------------------------------------------------------------------------- wrong boundaries


def test_wrong_declared_boundary_is_detected_and_parsed() -> None:
    parsed = parse_message((DATA / "wrong-boundary.eml").read_bytes())
    assert parsed.text == "Grüße, anbei der Scan.\n-- \nScanner im 2. Stock"
    assert files(parsed) == [("scan-0815.pdf", PDF)]
    assert "JVBER" not in parsed.text  # no raw base64 in the body
    assert noted(parsed, "'----=_Part_12_DECLARED' does not occur")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (b'multipart/mixed; boundary="WRONG"', pdf_part(b"only.pdf", b"REAL")),
        (b"multipart/mixed", pdf_part(b"only.pdf", b"REAL")),
        (b'multipart/mixed; boundary="WRONG"',
         b"-----Original Message-----\nFrom: Bob\n\n> -----Original Message-----\nFrom: Eve\n"
         b"\n" + pdf_part(b"only.pdf", b"REAL") + b"--REAL--\n"),
    ],
    ids=["one-part-no-closing-delimiter", "no-boundary-parameter", "quoted-outlook-headers"],
)
def test_single_part_behind_a_wrong_or_missing_boundary(content_type: bytes, body: bytes
                                                        ) -> None:
    parsed = parse_message(HEAD + b"Content-Type: " + content_type + b"\n\n" + body)
    assert files(parsed)[0] == ("only.pdf", PDF)
    assert "JVBER" not in parsed.text
    assert noted(parsed, "delimiter lines")


def test_declared_boundary_belongs_to_the_nested_part() -> None:
    """The top level declares the inner boundary: the outer parts land before the first
    and after the last delimiter the stdlib knows, and are read from there."""
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="IN"\n\n--OUT\n'
                  b'Content-Type: multipart/alternative; boundary="IN"\n\n--IN\n'
                  b"Content-Type: text/plain\n\nBody\n--IN--\n"
                  + pdf_part(b"outer.pdf", b"OUT") + b"--OUT--\n")
    parsed = parse_message(raw)
    assert parsed.text == "Body"
    assert files(parsed) == [("outer.pdf", PDF)]
    assert noted(parsed, "after the closing boundary", "recovered")


def test_missing_content_type_header_with_mime_parts() -> None:
    raw = HEAD + b"\n--b1\nContent-Type: text/plain\n\nHallo\n" + pdf_part(boundary=b"b1")
    parsed = parse_message(raw)
    assert (parsed.text, files(parsed)) == ("Hallo", [("a.pdf", PDF)])
    assert noted(parsed, "no Content-Type header")


@pytest.mark.parametrize(
    ("declared", "line_end"),
    [(b'"B "', b" \n"), (b"B", b" \t\n"), (b'"B"', b"\r\n"), (b"B", b"\r\r\n")],
    ids=["declared-with-space", "delimiters-with-whitespace", "crlf", "doubled-cr"],
)
def test_delimiter_whitespace_and_line_ends(declared: bytes, line_end: bytes) -> None:
    body = (b"--B" + line_end + b"Content-Type: text/plain\n\nHallo\n"
            + pdf_part().replace(b"--B\n", b"--B" + line_end) + b"--B--" + line_end)
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=" + declared + b"\n\n" + body
    if line_end.endswith(b"\r\n"):  # every line ends so
        raw = raw.replace(line_end, b"\n").replace(b"\n", line_end)
    parsed = parse_message(raw)
    assert parsed.text == "Hallo"
    assert files(parsed) == [("a.pdf", PDF)]
    assert noted(parsed, "CR CR LF") == line_end.endswith(b"\r\r\n")


def test_mixed_crlf_and_lf() -> None:
    raw = (HEAD.replace(b"\n", b"\r\n") + b'Content-Type: multipart/mixed; boundary="B"\n\r\n'
           b"--B\r\nContent-Type: text/plain\n\r\nZeile 1\r\nZeile 2\n" + pdf_part()
           + b"--B--\r\n")
    parsed = parse_message(raw)
    assert (parsed.text, files(parsed)) == ("Zeile 1\nZeile 2", [("a.pdf", PDF)])


def test_missing_closing_delimiter_keeps_everything_and_says_so() -> None:
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\n\nHallo\n" + pdf_part())
    parsed = parse_message(raw)
    assert (parsed.text, files(parsed)) == ("Hallo", [("a.pdf", PDF)])
    assert noted(parsed, "closing boundary is missing")


# --------------------------------------------------------------------------- text outside parts


def test_text_after_the_closing_delimiter_is_kept_as_an_attachment() -> None:
    footer = b"_______________\nListe: info@example.org\nAbmelden: https://example.org/u\n"
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\n\nHallo\n--B--\n" + footer)
    parsed = parse_message(raw)
    assert parsed.text == "Hallo"
    assert files(parsed) == [("epilogue.txt", footer)]
    assert noted(parsed, "after the closing boundary", "'epilogue.txt'")


def test_a_preamble_with_content_is_kept_a_mime_notice_is_not_before_or_after() -> None:
    preamble = b"---- Original mail message -----\nFrom: x@example.com\nDate: 1988-08-12\n\n"
    template = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n%s--B\n'
                       b"Content-Type: text/plain\n\nHallo\n--B--\n")
    kept = parse_message(template % preamble)
    assert files(kept) == [("preamble.txt", preamble[:-1])]  # the last \n is the delimiter's
    assert noted(kept, "before the first boundary")
    notice = parse_message(template % b"This is a multi-part message in MIME format.\n\n")
    assert (files(notice), notice.parse_notes) == ([], ())
    closing = parse_message(template % b"" + b"That was a multi-part message in MIME format.\n")
    assert (files(closing), closing.parse_notes) == ([], ())  # (mime4j's test mails)


def test_attachment_inside_an_alternative_that_is_not_shown() -> None:
    raw = HEAD + (b'Content-Type: multipart/alternative; boundary="A"\n\n--A\n'
                  b'Content-Type: multipart/mixed; boundary="M"\n\n--M\n'
                  b"Content-Type: text/html\n\n<p>first</p>\n" + pdf_part(b"hidden.pdf", b"M")
                  + b"--M--\n--A\nContent-Type: text/html\n\n<p>second</p>\n--A--\n")
    parsed = parse_message(raw)
    assert parsed.text == "second"
    assert files(parsed) == [("hidden.pdf", PDF)]


# --------------------------------------------------------------------------- transfer encodings


def test_loosely_spelled_transfer_encoding_is_decoded() -> None:
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\nContent-Transfer-Encoding: Quoted-Printable;\n\n"
                  b"Gr=C3=BC=C3=9Fe\n" + pdf_part(cte=b"Base64 ") + b"--B--\n")
    parsed = parse_message(raw)
    assert (parsed.text, files(parsed), parsed.parse_notes) == ("Grüße", [("a.pdf", PDF)], ())


def test_unknown_transfer_encoding_keeps_the_bytes_as_sent() -> None:
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\n\nHallo\n" + pdf_part(cte=b"x-gzip64")
                  + b"--B--\n")
    parsed = parse_message(raw)
    assert files(parsed) == [("a.pdf", b64(PDF).rstrip(b"\n"))]
    assert noted(parsed, "'a.pdf'", "unknown transfer encoding 'x-gzip64'")


def test_damaged_base64_is_decoded_and_its_raw_text_kept() -> None:
    encoded = base64.b64encode(PDF)
    damaged = encoded[:8] + b"!*" + encoded[8:]
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\n\nHallo\n--B\n"
                  b'Content-Type: application/pdf; name="a.pdf"\n'
                  b"Content-Transfer-Encoding: base64\n\n" + damaged + b"\n--B--\n")
    parsed = parse_message(raw)
    assert files(parsed) == [("a.pdf", PDF), ("a.pdf.base64.txt", damaged)]
    assert noted(parsed, "'a.pdf'", "2 character(s) outside the base64 alphabet")


def test_cut_short_base64_is_decoded_as_far_as_it_goes() -> None:
    encoded = base64.b64encode(PDF)[:41]  # 41 = 4 * 10 + 1: one character of a group
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b'Content-Type: application/pdf; name="a.pdf"\n'
                  b"Content-Transfer-Encoding: base64\n\n" + encoded + b"\n")
    parsed = parse_message(raw)
    assert files(parsed) == [("a.pdf", PDF[:30]), ("a.pdf.base64.txt", encoded)]
    assert noted(parsed, "cut short") and noted(parsed, "closing boundary is missing")


# --------------------------------------------------------------------------- what the agent sees


async def test_repairs_reach_the_entry_meta_and_its_attachments(hub: Hub) -> None:
    delivered = await MailIngest(hub.state.ingest).deliver(
        hub.office.id, (DATA / "reused-boundary.eml").read_bytes(), "test")
    assert delivered.outcome == "created" and delivered.result.entry is not None
    entry_id = delivered.result.entry.id
    status, entry = await hub.agent.get(f"/entries/{entry_id}")
    assert status == 200
    assert any("reused the boundary '==MIX=='" in n for n in entry["meta"]["parse_notes"])
    assert [a["name"] for a in entry["attachments"]] == ["Rechnung-4711.pdf", "update.exe"]
    for index, want in enumerate((PDF, EXE)):
        status, data = await hub.agent.get(f"/entries/{entry_id}/attachments/{index}")
        assert (status, data) == (200, want)


# --------------------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["reused-boundary.eml", "wrong-boundary.eml"]),
       st.integers(min_value=0), st.binary(max_size=60), st.integers(min_value=0, max_value=80),
       st.sampled_from([b"", b"--==MIX==\n", b"--==MIX==--\n", b"\r\r\n",
                        b'Content-Type: multipart/mixed; boundary="==MIX=="\n\n']))
def test_mutated_broken_mime_is_parsed_without_internal_errors(
        name: str, position: int, insert: bytes, cut: int, structure: bytes) -> None:
    """Damaged again at random: still a ParsedMail, or a parse error that names the
    problem -- never an internal error of the repairs."""
    base = (DATA / name).read_bytes()
    at = position % len(base)
    raw = base[:at] + structure + insert + base[at + cut:]
    try:
        parsed = parse_message(raw)
    except MailParseError as exc:
        assert not exc.reason.startswith("unreadable message"), exc.reason
    else:
        assert all(a.filename for a in parsed.attachments)


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\r\n\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"],
                         ids=["bom", "blank-line-then-bom", "bom-then-blank-line"])
def test_a_byte_order_mark_before_the_headers(prefix: bytes) -> None:
    """A message saved by a Windows tool as "UTF-8 with BOM": read, not quarantined as
    having no headers."""
    parsed = parse_message(prefix + HEAD + b"\nHallo\n")
    assert parsed.text == "Hallo" and parsed.from_email
    assert noted(parsed, "byte order mark")


# --------------------------------------------------------------------------- headers as saved

KERIO = (b"---- Original email message ----\n"
         b"Return-Path: bounce@mail.example.cz\n"
         b"X-Spam-Status: No, hits=0.0 required=5.0\n"
         b"tests=BAYES_00: -1.665, HTML_MESSAGE: 0.001,\n"
         b"Received: from mail.example.cz ([192.0.2.1])\n"
         b"by mx.example.cz with ESMTP\n"
         b"for helpdesk@example.cz;\n"
         b"Thu, 2 Aug 2018 16:58:16 +0200\n"
         b"To: helpdesk@example.cz\n"
         b"Subject: Contact from Server\n"
         b"From: peter@example.cz\n"
         b"Content-Type: text/plain; charset=utf-8\n"
         b"Date: Thu, 2 Aug 2018 16:58:28 +0200\n\n"
         b"Po zavol\xc3\xa1n\xc3\xad uv\xc3\xa1d\xc3\xad\n")


def test_a_banner_line_and_unindented_folded_headers() -> None:
    """As a Kerio mail server saves a message (from Zammad's corpus): a banner above the
    headers, and folded header lines that lost their indent -- the standard parser ends the
    headers at the first of them, taking the sender from Return-Path and losing the
    subject."""
    mail = parse_message(KERIO)
    assert mail.from_email == "peter@example.cz"
    assert mail.subject == "Contact from Server"
    assert mail.text == "Po zavolání uvádí"
    assert noted(mail, "line before the headers", "Original email message")
    assert noted(mail, "not indented")


def test_headers_in_the_obsolete_syntax_with_space_before_the_colon() -> None:
    """RFC 5322 (4.5) keeps ``Subject : …`` as obsolete syntax a receiver must accept (old
    mail programs wrote it; Apache mime4j's test set has it): the standard parser took the
    first such line for the start of the body -- no headers at all (quarantined), or the
    subject and everything below it lost."""
    first = parse_message(b"From : anna@example.com\r\nSubject : Hallo\r\n"
                          b"Date    :     Mon, 2 Mar 2026 10:00:00 +0100\r\n\r\nText\r\n")
    assert (first.from_email, first.subject, first.text) == ("anna@example.com", "Hallo",
                                                             "Text")
    assert first.date is not None and first.date.day == 2
    assert noted(first, "obsolete syntax")
    middle = parse_message(b"From: anna@example.com\nSubject : Vertrag 4711\n"
                           b"To: service@example.com\n\nText\n")
    assert (middle.subject, middle.to, middle.text) == ("Vertrag 4711",
                                                        ("service@example.com",), "Text")
    # a body that follows the headers without a blank line keeps its own " :" as written
    body = parse_message(b"From: anna@example.com\nSubject: Termin\nHallo,\n"
                         b"Hinweis : bitte anrufen\n")
    assert body.subject == "Termin" and "Hinweis : bitte anrufen" in body.text
    assert not noted(body, "obsolete syntax")


def test_a_body_that_starts_without_a_blank_line_is_not_taken_for_headers() -> None:
    raw = (b"From: anna@example.com\nSubject: Termin\nHallo Herr Meier,\n"
           b"Betreff: Vertrag 4711\nGruss: Anna\n\nZweiter Absatz\n")
    mail = parse_message(raw)
    assert mail.subject == "Termin"
    assert not noted(mail, "not indented")
    assert "Hallo Herr Meier," in mail.text and "Betreff: Vertrag 4711" in mail.text


def test_an_eml_attached_as_a_plain_file_is_shown_as_a_forwarded_message() -> None:
    """Webmail and files dragged from the desktop attach a saved mail as
    application/octet-stream, not message/rfc822: the agent should not have to download it
    to read it."""
    inner = (b"From: Versicherung AG <schaden@versicherung.example>\r\n"
             b"Subject: Ihr Schaden 4711\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n"
             b"--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Wir regulieren den Schaden.\r\n--in\r\nContent-Type: application/pdf; "
             b"name=Bescheid.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + b64(PDF) + b"--in--\r\n")
    raw = HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                  b"Content-Type: text/plain\n\nSiehe Anhang.\n--B\n"
                  b'Content-Type: application/octet-stream; name="Ihr Schaden 4711.eml"\n'
                  b"Content-Transfer-Encoding: base64\n\n" + b64(inner) + b"--B\n"
                  b'Content-Type: application/octet-stream; name="notiz.eml"\n\n'
                  b"nur ein Text, keine Mail\n--B--\n")
    parsed = parse_message(raw)
    assert parsed.text.startswith("Siehe Anhang.")
    assert "---------- Forwarded message ----------\nFrom: Versicherung AG" in parsed.text
    assert "Wir regulieren den Schaden." in parsed.text
    assert files(parsed) == [("Bescheid.pdf", PDF), ("Ihr Schaden 4711.eml", inner),
                             ("notiz.eml", b"nur ein Text, keine Mail")]
    assert noted(parsed, "a saved e-mail", "forwarded")
