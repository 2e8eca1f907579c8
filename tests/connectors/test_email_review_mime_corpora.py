"""Faults found by running other mail parsers' test messages through Chronik's parser.

The messages themselves are not copied here (``bench/fetch_mail_corpora.py`` fetches them,
``bench/check_mail_corpora.py`` runs them): each case is hand-made with the construction
of the message that showed the fault, named in the test's docstring. The assertions are
what an agent sees on the timeline: body text, attachment names and bytes, ``parse_notes``.
"""

from __future__ import annotations

import base64
import html
import quopri
import time

import pytest

from connectors.email.parse import ParsedMail, parse_message

HEAD = (b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\n"
        b"Subject: Fwd: Angebot\nMessage-ID: <fw1@example.com>\nMIME-Version: 1.0\n")
PDF = b"%PDF-1.4\n" + bytes(range(256)) + b"\n%%EOF\n"
INNER = (b"From: Bernd Berg <bernd@example.net>\nTo: anna@example.com\n"
         b"Subject: Angebot 2024\nDate: Thu, 27 Jun 2013 13:27:12 +0200\nMIME-Version: 1.0\n"
         b'Content-Type: multipart/mixed; boundary="IN"\n\n--IN\n'
         b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
         b"Gr\xc3\xbc\xc3\x9fe, anbei das Angebot.\n--IN\n"
         b'Content-Type: application/pdf; name="Angebot.pdf"\n'
         b'Content-Disposition: attachment; filename="Angebot.pdf"\n'
         b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(PDF) + b"--IN--\n")


def forward(cte: bytes, encoded: bytes) -> bytes:
    return HEAD + (b'Content-Type: multipart/mixed; boundary="OUT"\n\n--OUT\n'
                   b"Content-Type: text/plain\n\nsiehe unten\n--OUT\n"
                   b"Content-Type: message/rfc822\nContent-Transfer-Encoding: " + cte +
                   b"\n\n" + encoded + b"\n--OUT--\n")


@pytest.mark.parametrize(("cte", "encode"), [
    (b"base64", base64.encodebytes),
    (b"Base64 ", base64.encodebytes),
    (b"quoted-printable", quopri.encodestring),
], ids=["base64", "loose-base64", "quoted-printable"])
def test_forwarded_message_sent_base64_encoded_is_read(cte: bytes, encode: object) -> None:
    """GroupWise sends a forwarded mail as ``message/rfc822`` in base64 (Tika's
    testGroupWiseEml.eml; mime4j's multi-2gifs-base64.msg and base64encoded-rfc822message*):
    the stdlib parses the base64 text as the message, so the timeline showed lines of base64
    under "Forwarded message" and the forwarded attachments were lost."""
    assert callable(encode)
    parsed = parse_message(forward(cte, encode(INNER)))
    assert "siehe unten" in parsed.text
    assert "From: Bernd Berg <bernd@example.net>" in parsed.text
    assert "Subject: Angebot 2024" in parsed.text
    assert "Grüße, anbei das Angebot." in parsed.text
    assert "RnJvbTog" not in parsed.text and "=C3=BC" not in parsed.text
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("Angebot.pdf", "application/pdf", PDF), ("Angebot 2024.eml", "message/rfc822", INNER)]
    assert any("forwarded message" in n and "decoded" in n for n in parsed.parse_notes)


def test_forwarded_message_in_base64_inside_one_in_base64() -> None:
    """mime4j's base64encoded-rfc822message-nested.msg: each level is decoded."""
    middle = (b"From: Carla <carla@example.org>\nSubject: Weiter\nMIME-Version: 1.0\n"
              b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
              + base64.encodebytes(INNER))
    parsed = parse_message(forward(b"base64", base64.encodebytes(middle)))
    assert "Subject: Weiter" in parsed.text and "Subject: Angebot 2024" in parsed.text
    assert "Grüße, anbei das Angebot." in parsed.text
    assert [a.data for a in parsed.attachments] == [PDF, INNER, middle]  # each mail decoded


def test_forwarded_message_sent_as_the_standard_wants_gets_no_note() -> None:
    parsed = parse_message(forward(b"7bit", INNER.replace(b"8bit", b"8bit")))
    assert "Grüße, anbei das Angebot." in parsed.text
    assert [a.data for a in parsed.attachments] == [PDF, INNER]
    assert not any("forwarded message" in n for n in parsed.parse_notes)


# --------------------------------------------------------------------------- charset labels

LABELLED = [
    # (label as mail programs write it, codec that writes the bytes, text)
    ("windows-31j", "cp932", "お世話になっております。山田です。"),  # JavaMail, Japanese
    ("x-windows-949", "cp949", "안녕하세요 고객님, 감사합니다"),  # Java, Korean
    ("ks_c_5601-1989", "cp949", "안녕하세요 고객님, 감사합니다"),
    ("x-euc-jp", "euc_jp", "お世話になっております"),
    ("cn-big5", "big5", "您好，謝謝您的來信"),
    ("csgb2312", "gb2312", "您好，谢谢您的来信"),
    ("x-mac-cyrillic", "mac-cyrillic", "Привет, спасибо за письмо"),
    ("x-mac-ce", "mac-latin2", "Dzień dobry, dziękuję za list"),
    ("iso-8859-6-i", "iso8859-6", "مرحبا، شكرا لرسالتك"),
    ("iso-8859-8-e", "iso8859-8", "שלום, תודה על המכתב"),
    ("cp-850", "cp850", "Grüße aus Köln, schöne Woche"),
    ("win-1250", "cp1250", "Dobrý den, děkuji za dopis"),
    ("x-cp1251", "cp1251", "Привет, спасибо за письмо"),
    ("koi8", "koi8-r", "Привет, спасибо за письмо"),
    ("utf8mb4", "utf-8", "Grüße 😀 aus Köln"),
]


@pytest.mark.parametrize(("label", "codec", "text"), LABELLED, ids=[c[0] for c in LABELLED])
def test_charset_labels_other_mail_programs_write_are_read(label: str, codec: str,
                                                            text: str) -> None:
    """Labels that browsers and mail programs accept (the WHATWG Encoding Standard's, and
    Java's: JavaMail writes "windows-31j" for Japanese) but Python's codecs do not know were
    read as UTF-8 or Windows-1252: Japanese, Korean or Chinese mail showed as "‚¨\\x90¢˜b…"
    in its body and subject (probed after the charset tests of mime4j and CPython)."""
    encoded = base64.b64encode(text.encode(codec)).decode()
    raw = (f"From: Kunde <kunde@example.com>\nTo: hub@example.org\nMIME-Version: 1.0\n"
           f"Subject: =?{label}?B?{encoded}?=\nMessage-ID: <cs@example.com>\n"
           f"Content-Type: text/plain; charset=\"{label}\"\n"
           f"Content-Transfer-Encoding: 8bit\n\n").encode() + text.encode(codec) + b"\n"
    parsed = parse_message(raw)
    assert parsed.text == text
    assert parsed.subject == text
    assert not any("unknown charset" in n for n in parsed.parse_notes)


def test_a_label_nobody_knows_is_still_read_with_a_note() -> None:
    raw = (b"From: Kunde <kunde@example.com>\nTo: hub@example.org\nSubject: x\n"
           b"Content-Type: text/plain; charset=x-no-such-thing\n\nGr\xfc\xdfe\n")
    parsed = parse_message(raw)
    assert parsed.text == "Grüße"
    assert any("unknown charset 'x-no-such-thing'" in n for n in parsed.parse_notes)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(("header", "expected"), [
    ("Tue, 1 Jul 103 10:52:37 +0200", "2003-07-01T10:52:37+02:00"),
    ("Sat, 1 Jan 100 00:00:01 -0500", "2000-01-01T00:00:01-05:00"),
    ("Tue, 29 Feb 100 10:00:00 +0000", "2000-02-29T10:00:00+00:00"),  # 2000 is a leap year
    ("1 Jul 103 10:52:37 EDT", "2003-07-01T10:52:37-04:00"),
], ids=["2003", "2000", "leap-day", "no-weekday"])
def test_three_digit_year_is_read_as_rfc_5322_says(header: str, expected: str) -> None:
    """Programs that counted years from 1900 wrote 2003 as "103" (old mbox archives; RFC
    5322 4.3: 1900 plus the three digits). The standard parser read the year 103: the mail
    sorted 1900 years before the rest of the history, or its date was dropped."""
    parsed = parse_message(f"From: a@example.com\nSubject: x\nDate: {header}\n\nHallo\n"
                           .encode())
    assert parsed.date is not None and parsed.date.isoformat() == expected
    assert any("three-digit year" in n for n in parsed.parse_notes)


def test_two_and_four_digit_years_are_left_alone() -> None:
    for header, year in (("Tue, 01 Jul 03 10:52:37 +0200", 2003),
                         ("Thu, 01 Jul 99 10:52:37 +0200", 1999),
                         ("Tue, 1 Jul 2003 10:52:37 +0200", 2003)):
        parsed = parse_message(f"From: a@example.com\nDate: {header}\n\nHallo\n".encode())
        assert parsed.date is not None and parsed.date.year == year
        assert parsed.parse_notes == ()


# --------------------------------------------------------------------------- sender names


@pytest.mark.parametrize(("header", "name"), [
    ("Müller, Anna <anna@example.com>", "Müller, Anna"),
    ("Müller, Dr. Anna <anna@example.com>", "Müller, Dr. Anna"),
    ("=?utf-8?Q?M=C3=BCller?=, Anna <anna@example.com>", "Müller, Anna"),
    ("Anna, <anna@example.com>", "Anna"),
    ('"Müller, Anna" <anna@example.com>', "Müller, Anna"),
], ids=["plain", "title", "encoded-surname", "trailing-comma", "quoted"])
def test_sender_name_with_an_unquoted_comma_is_kept_whole(header: str, name: str) -> None:
    """"Last, First <addr>" without quotes (as Outlook shows names, and as scripts and
    Lotus Notes write them; mail-parser's mail_test_18 tests the encoded form): the comma
    split the name, so the sender showed as "Anna" -- the surname was lost."""
    parsed = parse_message(f"From: {header}\nTo: Schmidt, Bernd <bernd@example.org>, "
                           f"Weber, Carla <carla@example.org>\nSubject: x\n\nHallo\n".encode())
    assert (parsed.from_display_name, parsed.from_email) == (name, "anna@example.com")
    assert parsed.to == ("bernd@example.org", "carla@example.org")


def test_a_list_of_addresses_is_still_a_list() -> None:
    parsed = parse_message(b"From: a@example.com, Anna <anna@example.com>\n"
                           b"To: bernd@example.org, Carla <carla@example.org>\n\nHallo\n")
    assert (parsed.from_display_name, parsed.from_email) == ("", "a@example.com")
    assert parsed.to == ("bernd@example.org", "carla@example.org")


@pytest.mark.parametrize("gap", [b"\n   \n\n", b"\n\n", b"\r\n \r\n"])
def test_headers_that_go_on_after_blank_lines_are_headers(gap: bytes) -> None:
    """Ruby's mail gem, raw_email_with_nested_attachment_and_whitespace_in_headers (an
    Apple Mail message): a blank and a spaces-only line after ``Message-Id``, with From,
    To, Subject and the content type below; the mail was quarantined as having no sender."""
    raw = (b"Mime-Version: 1.0\nMessage-Id: <m@example.com>\n" + gap
           + b"Content-Type: text/plain;\n\tcharset=utf-8\nTo: Anna <anna@example.org>\n"
           b"Subject: Testing\nFrom: Jamis Buck <jamis@example.com>\n\nHere is a test.\n")
    parsed = parse_message(raw)
    assert (parsed.from_email, parsed.subject, parsed.text) == (
        "jamis@example.com", "Testing", "Here is a test.")


def test_a_body_that_begins_with_header_lines_stays_the_body() -> None:
    """Only a mail without a sender in its headers is repaired: an inline forward right
    after the headers stays the text."""
    raw = (b"From: anna@example.com\nSubject: Fwd\n\nFrom: Bernd <bernd@example.org>\n"
           b"Subject: Schaden\n\nDie Scheibe ist kaputt.\n")
    parsed = parse_message(raw)
    assert (parsed.from_email, parsed.subject) == ("anna@example.com", "Fwd")
    assert parsed.text.startswith("From: Bernd <bernd@example.org>")


def test_a_file_named_only_by_filename_on_its_content_type_keeps_that_name() -> None:
    """The mail gem's attachment_with_filename: ``Content-Type: image/jpeg;
    filename="Photo25.jpg"`` (no Content-Disposition, no ``name``) became ``image-1.jpg``."""
    raw = HTML_HEAD + (b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                       b"Content-Type: text/plain\n\nDas Foto.\n--B\n"
                       b'Content-Type: image/jpeg; filename="Photo25.jpg"\n'
                       b"Content-Transfer-Encoding: base64\n\n/9j/4AAQ\n--B--\n")
    assert [a.filename for a in parse_message(raw).attachments] == ["Photo25.jpg"]


def test_two_addresses_without_the_comma_between_them_are_two() -> None:
    """enmime's malformed-multiple-address-header-values: the first address was read as part
    of the second's name, and the sender became the second ("Bob Dunite <bob@extern> Bobby
    Dunite" at bobby@…)."""
    parsed = parse_message(b"From: Bob Dunite <bob@example.com> Bobby Dunite <bobby@example.com>"
                           b"\nTo: Anna <anna@example.org> Bernd <bernd@example.org>\n\nHallo\n")
    assert (parsed.from_display_name, parsed.from_email) == ("Bob Dunite", "bob@example.com")
    assert parsed.to == ("anna@example.org", "bernd@example.org")


# --------------------------------------------------------------------------- HTML bodies

HTML_HEAD = b"From: Kunde <kunde@example.com>\nTo: hub@example.org\nSubject: x\nMIME-Version: 1.0\n"


@pytest.mark.parametrize("part", [
    b'Content-Type: text/html; charset=utf-8; name="message.html"\n\n<p>Gr\xc3\xbc\xc3\x9fe, '
    b"<b>Anna</b></p>\n",
    b"Content-Type: text/html; charset=utf-8\nContent-Disposition: inline; "
    b'filename="message.htm"\n\n<p>Gr\xc3\xbc\xc3\x9fe, <b>Anna</b></p>\n',
], ids=["name", "inline-filename"])
def test_mail_whose_only_body_is_a_named_html_part_shows_its_text(part: bytes) -> None:
    """The HTML counterpart of the named text part (``msg.txt``) that mail programs show
    inline: the entry had no text at all, only a ``message.html`` file."""
    raw = HTML_HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n' + part + \
        b'--B\nContent-Type: application/pdf; name="a.pdf"\n\n%PDF-1.4\n--B--\n'
    parsed = parse_message(raw)
    assert parsed.text == "Grüße, Anna"
    assert parsed.attachments[0].filename.startswith("message.htm")
    assert len(parsed.attachments) == 2


def test_named_html_rendering_in_an_alternative_is_kept_once() -> None:
    """A named text/html part in multipart/alternative was kept twice (once as a rendering
    that is not shown, once as the "richest" rendering's file)."""
    raw = HTML_HEAD + (b'Content-Type: multipart/alternative; boundary="B"\n\n--B\n'
                       b"Content-Type: text/plain\n\nHallo Welt\n--B\n"
                       b'Content-Type: text/html; name="x.html"\n\n<p>Hallo Welt</p>\n--B--\n')
    parsed = parse_message(raw)
    assert parsed.text == "Hallo Welt"
    assert [a.filename for a in parsed.attachments] == ["x.html"]


@pytest.mark.parametrize("content_type", [b'"text/html"', b"'text/html'", b"html",
                                          b'"text/html; charset=utf-8"'])
def test_content_type_written_loosely_is_read_as_meant(content_type: bytes) -> None:
    """``Content-Type: "text/html"`` (scripts quote it) became an ``attachment-1.bin`` and
    the mail had no text; a bare ``html`` showed its tags as plain text."""
    parsed = parse_message(HTML_HEAD + b"Content-Type: " + content_type +
                           b"\n\n<p>Hallo <b>Welt</b></p>\n")
    assert parsed.text == "Hallo Welt"
    assert parsed.html is not None and "<b>Welt</b>" in parsed.html
    assert parsed.attachments == ()


def test_quoted_multipart_type_keeps_its_parts() -> None:
    raw = HTML_HEAD + (b'Content-Type: "multipart/mixed"; boundary="B"\n\n--B\n'
                       b"Content-Type: text/plain\n\nHallo Welt\n--B\n"
                       b'Content-Type: application/pdf; name="a.pdf"\n\n%PDF-1.4\n--B--\n')
    parsed = parse_message(raw)
    assert parsed.text == "Hallo Welt"
    assert [(a.filename, a.data) for a in parsed.attachments] == [("a.pdf", b"%PDF-1.4")]


# --------------------------------------------------------------------------- hostile sizes


def _seconds(raw: bytes) -> tuple[float, ParsedMail]:
    started = time.process_time()
    parsed = parse_message(raw)
    return time.process_time() - started, parsed


@pytest.mark.parametrize("html", [
    b"<div>" * 64000 + b"Hallo <b>Welt</b>" + b"</div>" * 64000,
    b"<blockquote>" * 64000 + b"Hallo <b>Welt</b>",
], ids=["closed", "unclosed"])
def test_deeply_nested_html_is_cleaned_in_bounded_time(html: bytes) -> None:
    """The sanitiser's time grows with tags times depth: 64,000 nested elements (380-700
    KB, one hostile mail) held the parser 13-17 s, a few MB for hours. Tags deeper than
    512 levels are left out of the HTML shown; the text stays."""
    seconds, parsed = _seconds(HTML_HEAD + b"Content-Type: text/html\n\n" + html)
    assert seconds < 5
    assert parsed.text.endswith("Hallo Welt")
    assert parsed.html is not None and "Hallo Welt" in parsed.html  # (the <b> was deep)


def test_html_nested_as_deep_as_real_mail_is_left_as_it_is() -> None:
    html = b"<div>" * 500 + b"Hallo" + b"</div>" * 500 + b"<p>x</p>" * 5000
    parsed = parse_message(HTML_HEAD + b"Content-Type: text/html\n\n" + html)
    assert parsed.html is not None and parsed.html.count("<div>") == 500


def test_many_begin_lines_without_end_do_not_stall_the_parser() -> None:
    """A uuencode ``begin 644 name`` line without an ``end`` line made the search scan to
    the end of the text for every such line: 8,000 of them (96 KB) took 20 s."""
    body = b"begin 644 x\n" * 50000 + b"Gruss\n"
    seconds, parsed = _seconds(b"From: a@example.com\nSubject: x\n\n" + body)
    assert seconds < 5
    assert parsed.text.count("begin 644 x") == 50000 and parsed.attachments == ()


def test_uuencoded_file_before_a_begin_line_without_end_is_still_found() -> None:
    block = b"begin 644 a.txt\n" + b"#86)C\n" + b"`\nend\n"
    body = b"Hallo\n" + block + b"begin 600 other\nmore\n"
    parsed = parse_message(b"From: a@example.com\nSubject: x\n\n" + body)
    assert [(a.filename, a.data) for a in parsed.attachments] == [("a.txt", b"abc")]
    assert parsed.text == "Hallo\n[a.txt]\nbegin 600 other\nmore"


def test_a_huge_list_of_name_parts_is_read_in_linear_time() -> None:
    """Joining "Last, First" names must not copy the header once per comma."""
    raw = (b"From: a@example.com\nTo: " + b"Muller, " * 100000 + b"Anna <x@example.com>\n"
           b"Subject: x\n\nHallo\n")
    seconds, parsed = _seconds(raw)
    assert seconds < 5
    assert parsed.to == ("x@example.com",)


@pytest.mark.parametrize("run", [b"&nbsp;&zwnj;", b"&amp;&nbsp;", b"\xc2\xa0&amp;"],
                         ids=["nbsp", "amp", "raw"])
def test_a_long_run_of_escaped_characters_is_cleaned_in_bounded_time(run: bytes) -> None:
    """The sanitiser's time grew with the square of a text run holding characters it
    escapes again: 300,000 ``&nbsp;&zwnj;`` (3.6 MB, a newsletter's invisible preview
    padding gone wild) took 8 s, 4.8 MB 15 s, a 50 MB mail would hold a worker for most of
    an hour. The run now reaches it in 4 KB pieces; nothing of the text changes."""
    body = b"<p>Hallo</p>" + run * 400000 + b"<p>Ende</p>"
    seconds, parsed = _seconds(HTML_HEAD + b"Content-Type: text/html; charset=utf-8\n\n" + body)
    assert seconds < 5
    assert parsed.html is not None
    shown = html.unescape(parsed.html.replace("<wbr>", ""))
    assert shown.count("\xa0") == 400000
    assert shown.startswith("<p>Hallo</p>") and shown.endswith("<p>Ende</p>")


# --------------------------------------------------------------------------- file names


def test_parts_named_only_by_content_location_keep_that_name() -> None:
    """A web page sent from a browser (MHTML; Tika's testRFC822_oddfrom, saved by Internet
    Explorer) names its images and style sheets only in ``Content-Location``: they were
    ``image-1.gif``, ``attachment-2.css``, ``attachment-6.bin``."""
    raw = HTML_HEAD + (
        b'Content-Type: multipart/related; boundary="B"; type="text/html"\n\n--B\n'
        b"Content-Type: text/html\nContent-Location: http://www.example.gov/air/\n\n"
        b'<p>Air Permit Programs <img src="images/logo%20seal.gif"></p>\n--B\n'
        b"Content-Type: image/gif\nContent-Transfer-Encoding: base64\n"
        b"Content-Location: http://www.example.gov/air/images/logo%20seal.gif\n\n"
        b"R0lGODlh\n--B\nContent-Type: text/css\n"
        b"Content-Location: http://www.example.gov/styles/epa.css?v=3\n\nbody {}\n--B\n"
        b"Content-Type: application/octet-stream\n"
        b"Content-Location: http://www.example.gov/tracker?id=4\n\nx\n--B--\n")
    parsed = parse_message(raw)
    assert "Air Permit Programs" in parsed.text
    assert [a.filename for a in parsed.attachments] == [
        "logo seal.gif", "epa.css", "attachment-3.bin"]


def test_a_part_header_folded_without_indent_is_a_continuation() -> None:
    """enmime's bad-header-wrap: ``name="…zip"`` on its own line under ``Content-Type: …;``
    ended the part's headers, and the file took in its own Content-Disposition line: a
    62-byte damaged ``attachment-1.bin`` and its raw base64 beside it."""
    raw = HTML_HEAD + (
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
        b"Content-Type: text/plain\n\nAnbei das Archiv.\n--B\n"
        b"Content-Transfer-Encoding: base64\n"
        b"Content-Type: application/x-zip-compressed; x-unix-mode=0600;\n"
        b'name="Unterlagen.zip"\n'
        b'Content-Disposition: attachment; filename="Unterlagen.zip"\n\n'
        b"UEsDBAo=\n\n--B\nHallo, ein Teil ohne Kopf,\ndessen Text gleich beginnt.\n--B--\n")
    parsed = parse_message(raw)
    assert next((a.filename, a.content_type, a.data) for a in parsed.attachments) == (
        "Unterlagen.zip", "application/x-zip-compressed", b"PK\x03\x04\n")
    assert parsed.text == ("Anbei das Archiv.\n\nHallo, ein Teil ohne Kopf,\n"
                           "dessen Text gleich beginnt.")  # (a part without headers: as it was)


@pytest.mark.parametrize("words", [
    "Guten Tag, anbei die Police.\nMit freundlichen Gruessen\nAnna Alt",
    "Bitte Rueckruf\nDanke Anna Alt",  # (valid base64 once its spaces are taken out)
])
def test_plain_text_declared_base64_is_read_as_written(words: str) -> None:
    """enmime's mime-bad-content-transfer-encoding: words under ``Content-Transfer-Encoding:
    base64`` were "decoded" into a screen of noise ("¦Z(Í×œ¶x…")."""
    raw = HTML_HEAD + (b"Content-Type: text/plain; charset=utf-8\n"
                       b"Content-Transfer-Encoding: base64\n\n" + words.encode() + b"\n")
    parsed = parse_message(raw)
    assert parsed.text == words
    assert any("not encoded" in note for note in parsed.parse_notes)


def test_a_closing_delimiter_with_characters_after_it_closes() -> None:
    """enmime's epilogue-sample: ``--B-->`` (RFC 2046 lets a reader take a delimiter by its
    start) was no closing delimiter for Python's parser, so the last file took in what
    followed it: "Potentially malicious content" became part of the attached page."""
    raw = HTML_HEAD + (
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
        b"Content-Type: text/plain\n\nA text section\n--B\n"
        b'Content-Type: text/html; name="test.html"\nContent-Transfer-Encoding: base64\n'
        b"Content-Disposition: attachment; filename=test.html\n\nPGh0bWw+Cg==\n\n"
        b"--B-->\nPotentially malicious content\n")
    parsed = parse_message(raw)
    files = {a.filename: a for a in parsed.attachments}
    assert parsed.text == "A text section"
    assert files["test.html"].data == b"<html>\n"
    assert b"Potentially malicious content" in files["epilogue.txt"].data


def test_a_nested_boundary_that_starts_like_a_closing_delimiter_is_left_alone() -> None:
    """``--B--x`` is the delimiter of an inner multipart whose boundary is ``B--x``: a mail
    cut short (no closing delimiter of ``B``) keeps both of its parts."""
    raw = HTML_HEAD + (
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
        b'Content-Type: multipart/alternative; boundary="B--x"\n\n--B--x\n'
        b"Content-Type: text/plain\n\nErster Teil\n--B--x--\n--B\n"
        b'Content-Type: text/plain; name="zwei.txt"\n'
        b"Content-Disposition: attachment; filename=zwei.txt\n\nZweiter Teil\n")
    parsed = parse_message(raw)
    assert parsed.text == "Erster Teil"
    assert [a.data for a in parsed.attachments] == [b"Zweiter Teil"]


@pytest.mark.parametrize("blank", [b" ", b"\t", b"  "])
def test_white_space_before_the_first_header_is_left_out(blank: bytes) -> None:
    """enmime's bad-header-start: `` From: …`` as the first line was taken for the
    continuation of no header, and the mail quarantined as having no sender."""
    raw = blank + (b"From: Anna Alt <anna@example.com>\nSubject: Schaden\n\n"
                   b"Die Scheibe ist kaputt.\n")
    parsed = parse_message(raw)
    assert (parsed.from_display_name, parsed.subject, parsed.text) == (
        "Anna Alt", "Schaden", "Die Scheibe ist kaputt.")


def test_a_type_followed_by_junk_without_a_semicolon_is_that_type() -> None:
    """enmime's mime-bad-content-type (a hotel's invoice mail) and ctype-invalid-characters:
    ``application/pdf name="…"`` became the file's whole type, and ``text/plain>`` moved
    the text into a file ``attachment-1.txt``."""
    raw = HTML_HEAD + (
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
        b"Content-Type: text/plain>\n\nAnbei die Rechnung.\n--B\n"
        b'Content-Type: application/pdf name="Rechnung_4711.pdf"\n'
        b'Content-Disposition: attachment; filename="Rechnung_4711.pdf"\n'
        b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--B--\n")
    parsed = parse_message(raw)
    assert parsed.text == "Anbei die Rechnung."
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("Rechnung_4711.pdf", "application/pdf")]


@pytest.mark.parametrize(("content_type", "name"), [
    ("text/rtf", "attachment-1.rtf"), ("text/enriched", "attachment-1.txt"),
    ("text/x-log", "attachment-1.txt"),
    ("application/x-unknown", "attachment-1.rtf"),  # a type that says nothing: the header's
])
def test_unnamed_text_parts_get_a_name_a_program_opens(content_type: str, name: str) -> None:
    """CPython's msg_37 (``text/x-one``) and Tika's text/rtf parts were ``attachment-N.bin``:
    a download the agent's computer would not open as the text it is."""
    raw = HTML_HEAD + (f'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
                       f"Content-Type: text/plain\n\nHallo\n--B\n"
                       f"Content-Type: {content_type}\n\n{{\\rtf1 x}}\n--B--\n").encode()
    assert [a.filename for a in parse_message(raw).attachments] == [name]


def _alternative_mail(*parts: tuple[str, str]) -> bytes:
    body = "".join(f"--A\nContent-Type: {ctype}; charset=utf-8\n\n{text}\n"
                   for ctype, text in parts)
    return HTML_HEAD + (f'Content-Type: multipart/alternative; boundary="A"\n\n{body}--A--\n'
                        ).encode()


@pytest.mark.parametrize("rendering", [
    "text/enriched", "text/richtext", "text/x-amp-html", "text/watch-html"])
def test_other_renderings_of_the_text_are_no_attachments(rendering: str) -> None:
    """RFC 2046's text/enriched (Stalwart's and Dovecot's test mails), Gmail's AMP part and
    Apple's Watch rendering beside the plain and HTML text showed as a file
    ``attachment-1.txt`` of markup: the same text again, shown as something sent along."""
    raw = _alternative_mail(("text/plain", "Der Termin ist am Montag."),
                            (rendering, "<bold>Der Termin</bold> ist am Montag."),
                            ("text/html", "<p><b>Der Termin</b> ist am Montag.</p>"))
    parsed = parse_message(raw)
    assert parsed.text == "Der Termin ist am Montag."
    assert not parsed.attachments


def test_a_rendering_that_alone_holds_the_text_is_kept() -> None:
    raw = _alternative_mail(("text/plain", ""), ("text/enriched", "<bold>Nur hier</bold>"))
    assert [a.filename for a in parse_message(raw).attachments] == ["attachment-1.txt"]


@pytest.mark.parametrize("ending", [b"--A\n", b"--A\nContent-Type: text/plain\n\n\n--A--\n"],
                         ids=["cut-off-after-a-delimiter", "empty-last-plain-part"])
def test_an_empty_last_plain_alternative_does_not_hide_the_text(ending: bytes) -> None:
    """Inbucket's mime-errors (from enmime): an alternative cut off right after a delimiter
    ends in an empty part, and the whole text was lost (no text, no file)."""
    raw = HTML_HEAD + (b'Content-Type: multipart/alternative; boundary="A"\n\n--A\n'
                       b"Content-Type: text/plain; charset=utf-8\n\nDer Schaden ist gemeldet.\n"
                       + ending)
    assert parse_message(raw).text == "Der Schaden ist gemeldet."


def test_a_calendar_invitation_in_an_alternative_stays_a_file() -> None:
    raw = _alternative_mail(("text/plain", "Einladung: Beratung"),
                            ("text/calendar", "BEGIN:VCALENDAR\nEND:VCALENDAR"))
    assert [a.content_type for a in parse_message(raw).attachments] == ["text/calendar"]


# --------------------------------------------------------------------------- Exchange pieces


def test_text_exchange_moved_into_att_files_is_part_of_the_text() -> None:
    """Apple Mail writes text after an attached picture; Exchange moves that text out of
    the body into ``ATT00001.htm`` files (mail-parser's mail_test_7: the forwarded
    conversation went on in three of them). The timeline showed the text only up to the
    first picture."""
    raw = HTML_HEAD + (
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n'
        b'Content-Type: multipart/alternative; boundary="A"\n\n--A\n'
        b"Content-Type: text/plain; charset=utf-8\n\nHier das Foto vom Schaden:\n--A\n"
        b"Content-Type: text/html; charset=utf-8\n\n<p>Hier das Foto vom Schaden:</p>\n"
        b"--A--\n--B\n"
        b'Content-Type: image/jpeg; name="image001.jpg"\n'
        b'Content-Disposition: attachment; filename="image001.jpg"\n'
        b"Content-Transfer-Encoding: base64\n\n/9j/4AAQ\n--B\n"
        b'Content-Type: text/html; charset=utf-8; name="ATT00001.htm"\n'
        b'Content-Disposition: attachment; filename="ATT00001.htm"\n\n'
        b"<p>Wie Sie sehen, ist die <b>T\xc3\xbcr</b> kaputt.</p>\n--B\n"
        b'Content-Type: text/plain; charset=utf-8; name="ATT00002.txt"\n'
        b'Content-Disposition: attachment; filename="ATT00002.txt"\n\n'
        b"Gruss, Anna\n--B\n"
        b'Content-Type: text/html; name="notes.htm"\n'
        b'Content-Disposition: attachment; filename="notes.htm"\n\n<p>Eigene Datei</p>\n'
        b"--B--\n")
    parsed = parse_message(raw)
    assert parsed.text == ("Hier das Foto vom Schaden:\n\nWie Sie sehen, ist die Tür kaputt."
                           "\n\nGruss, Anna")
    assert parsed.html is not None and "<b>Tür</b>" in parsed.html
    assert [a.filename for a in parsed.attachments] == [
        "image001.jpg", "ATT00001.htm", "ATT00002.txt", "notes.htm"]
    assert any("ATT00001.htm" in n and "Exchange" in n for n in parsed.parse_notes)


def test_encoded_word_without_a_charset_is_decoded() -> None:
    """``=??Q?Re=3A_…?=`` (MIME-tools' infinite.msg, from a list server of 1998): the
    subject showed as the raw encoded word."""
    raw = (b"From: a@example.com\nSubject: =??Q?Re=3A_=5Bcacomp-l=5D_Bras=EDlia?=\n"
           b"To: =??B?w4RyZ2Vy?= <b@example.com>\n\nx\n")
    parsed = parse_message(raw)
    assert parsed.subject == "Re: [cacomp-l] Brasília"
    assert parsed.to == ("b@example.com",)
