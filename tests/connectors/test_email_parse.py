"""parse_message / classify on messages built here, one concern per test."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.email.classify import classify
from connectors.email.parse import (
    FORWARD_SEPARATOR,
    MailParseError,
    MessageTooLarge,
    ParsedMail,
    decode_words,
    html_to_text,
    normalize_email,
    parse_message,
)

HEAD = b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\nMessage-ID: <m1@example.com>\n"


def mail(headers: bytes, body: bytes = b"Hello\n", *, head: bytes = HEAD) -> bytes:
    return head + headers + b"\n" + body


def mime(content_type: str, body: bytes, cte: str = "8bit", extra: bytes = b"") -> bytes:
    return mail(
        b"MIME-Version: 1.0\nContent-Type: " + content_type.encode()
        + b"\nContent-Transfer-Encoding: " + cte.encode() + b"\n" + extra,
        body,
    )


# --------------------------------------------------------------------------- charsets


def test_latin1_declared_as_us_ascii() -> None:
    parsed = parse_message(mime("text/plain; charset=us-ascii", b"Gr\xfc\xdfe aus K\xf6ln\n"))
    assert parsed.text == "Grüße aus Köln"


def test_utf8_declared_as_latin1_is_read_as_utf8() -> None:
    parsed = parse_message(mime("text/plain; charset=iso-8859-1", "Grüße".encode()))
    assert parsed.text == "Grüße"


def test_windows_1252_smart_quotes_and_euro() -> None:
    parsed = parse_message(mime("text/plain; charset=windows-1252", b"\x93Preis\x94: 5 \x80\n"))
    assert parsed.text == "“Preis”: 5 €"


def test_latin1_label_with_windows_1252_bytes() -> None:
    parsed = parse_message(mime("text/plain; charset=iso-8859-1", b"5 \x80 \x96 billig\n"))
    assert parsed.text == "5 € – billig"


def test_iso_8859_15_euro() -> None:
    parsed = parse_message(mime("text/plain; charset=iso-8859-15", b"Kosten: 10 \xa4\n"))
    assert parsed.text == "Kosten: 10 €"


@pytest.mark.parametrize(
    ("charset", "body", "text"),
    [
        ("x-unknown-charset", "Grüße".encode(), "Grüße"),
        ("x-unknown-charset", b"Gr\xfc\xdfe", "Grüße"),
        ("utf-8", b"Gr\xfc\xdfe", "Grüße"),  # declared UTF-8, really Latin-1
        ("gb2312", "中文测试".encode("gb18030"), "中文测试"),
        ("unicode_escape", b"a\\x41 \xe4", "a\\x41 ä"),  # not a mail charset: ignored
        ("iso-2022-jp", "日本語".encode("iso2022_jp"), "日本語"),  # 7-bit, yet not ASCII
        ("utf-16", "Grüße".encode("utf-16"), "Grüße"),
        ("utf-16le", "Hello".encode("utf-16-le"), "Hello"),  # only ASCII bytes, yet not ASCII
    ],
    ids=["unknown-utf8", "unknown-latin1", "bad-utf8", "gb2312", "codec-not-charset",
         "iso-2022-jp", "utf-16", "utf-16-ascii-bytes"],
)
def test_charset_fallbacks(charset: str, body: bytes, text: str) -> None:
    assert parse_message(mime(f"text/plain; charset={charset}", body)).text == text


def test_raw_8bit_headers() -> None:
    head = b"From: J\xc3\xbcrgen <j@example.com>\nSubject: Gr\xfc\xdfe\n"
    parsed = parse_message(mail(b"", head=head))
    assert (parsed.from_display_name, parsed.subject) == ("Jürgen", "Grüße")


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?iso-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
        ("=?UTF-8?B?R3LDvMOfZQ==?=", "Grüße"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between words is dropped
        ("Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= again", "Re: Grüße again"),
        ("=?utf-8?B?5Lit?= =?utf-8?B?5paH?=", "中文"),
        ("=?utf-8?B?5Lg=?= =?utf-8?B?reaWhw==?=", "中文"),  # a character split over two words
        ("=?us-ascii?Q?ABC / 123?=", "ABC / 123"),  # spaces inside: malformed but seen
        ("=?utf-8?B?R3LDvMOfZQ?=", "Grüße"),  # missing padding
        ("=?x-unknown?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # unknown charset
        ("=?utf-8*de?Q?Hallo?=", "Hallo"),  # RFC 2231 language tag
        ("=?utf-8?Q?broken", "=?utf-8?Q?broken"),  # not an encoded word at all
    ],
)
def test_rfc2047_lenient(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


def test_encoded_names_and_subject() -> None:
    head = (
        b"From: =?utf-8?B?TcO8bGxlciwgQmVybmQ=?= <Bernd.Mueller@Example.com>\n"
        b"To: \"Doe, John\" <john@example.com>, =?utf-8?Q?M=C3=BCller,_Eva?= <eva@example.com>"
        b", Team: a@example.com, b@example.com;\n"
        b"Cc: undisclosed-recipients:;\n"
        b"Subject: =?iso-8859-1?Q?Best=E4tigung?=\n  =?iso-8859-1?Q?_Ihrer_Anfrage?=\n"
    )
    parsed = parse_message(mail(b"", head=head))
    assert parsed.from_email == "Bernd.Mueller@Example.com"
    assert parsed.from_display_name == "Müller, Bernd"
    assert parsed.from_header == "Müller, Bernd <Bernd.Mueller@Example.com>"
    assert parsed.to == ("john@example.com", "eva@example.com", "a@example.com", "b@example.com")
    assert parsed.cc == ()
    assert parsed.subject == "Bestätigung Ihrer Anfrage"


@pytest.mark.parametrize(
    ("from_header", "email", "name"),
    [
        (b"marc@example.com (Marc Smith)", "marc@example.com", "Marc Smith"),
        (b'"=?GB2312?B?ztI=?=" <me@example.com>', "me@example.com", "我"),
        (b"Max Kohl | [example.com] <kohl@example.com>", "kohl@example.com",
         "Max Kohl | [example.com]"),
        (b"'Martin' <m@example.com>", "m@example.com", "Martin"),
        (b'"a \\"b\\" c" <x@example.com>', "x@example.com", 'a "b" c'),
        (b"<Claudia.Shu@yahoo.com.>", "Claudia.Shu@yahoo.com.", ""),
        # broken mailers: the brackets left out, or the closing one lost
        (b"Erika Mustermann erika@example.de", "erika@example.de", "Erika Mustermann"),
        (b"Erika Mustermann <erika@example.de", "erika@example.de", "Erika Mustermann"),
        (b"erika @ example.de", "erika@example.de", ""),  # an address broken by spaces
    ],
)
def test_from_forms(from_header: bytes, email: str, name: str) -> None:
    parsed = parse_message(mail(b"", head=b"From: " + from_header + b"\n"))
    assert (parsed.from_email, parsed.from_display_name) == (email, name)


def test_sender_falls_back_to_reply_to() -> None:
    head = b'From: "=?GB2312?B?ztI=?=" <>\nReply-To: <reply@example.com>\n'
    parsed = parse_message(mail(b"", head=head))
    assert (parsed.from_email, parsed.from_display_name) == ("reply@example.com", "")
    assert parsed.from_header == '"我" <>'


def test_normalize_email() -> None:
    assert normalize_email(" <Claudia.Shu@Yahoo.com.> ") == "claudia.shu@yahoo.com"


def test_threading_headers() -> None:
    parsed = parse_message(mail(
        b"In-Reply-To: <a@x> (comment)\nReferences: <r1@x>\n <a@x>\tgarbage <r1@x>\n"
    ))
    assert parsed.in_reply_to == "a@x"
    assert parsed.references == ("r1@x", "a@x")


# --------------------------------------------------------------------------- dates and ids


def test_dates() -> None:
    with_zone = parse_message(mail(b"Date: Thu, 3 May 2012 11:36:43 +0200\n"))
    assert with_zone.date == datetime(2012, 5, 3, 11, 36, 43, tzinfo=timezone(timedelta(hours=2)))
    no_zone = parse_message(mail(b"Date: Thu, 3 May 2012 11:36:43 -0000\n"))
    assert no_zone.date == datetime(2012, 5, 3, 11, 36, 43, tzinfo=UTC)
    assert parse_message(mail(b"")).date is None
    assert parse_message(mail(b"Date: next tuesday-ish\n")).date is None


def _without_message_id(extra: bytes = b"", body: bytes = b"Hello\n") -> bytes:
    headers = b"From: a@example.com\nSubject: s\nDate: Thu, 3 May 2012 11:36:43 +0200\n"
    return extra + headers + b"\n" + body


def test_missing_message_id_gives_stable_derived_id() -> None:
    first = parse_message(_without_message_id()).message_id
    assert first.startswith("sha256-") and first.endswith("@chronik.invalid")
    assert parse_message(_without_message_id()).message_id == first
    # the same message over another route, or stored with CRLF: still the same id
    rerouted = _without_message_id(b"Received: from relay.example.net by mx\n")
    assert parse_message(rerouted).message_id == first
    assert parse_message(_without_message_id().replace(b"\n", b"\r\n")).message_id == first
    # a different message: a different id
    assert parse_message(_without_message_id(body=b"Bye\n")).message_id != first


def test_duplicate_or_empty_message_id() -> None:
    same_twice = _without_message_id(b"Message-ID: <a@x>\nMessage-ID: <a@x>\n")
    assert parse_message(same_twice).message_id == "a@x"
    two = _without_message_id(b"Message-ID: <a@x>\nMessage-ID: <b@x>\n")
    assert parse_message(two).message_id.endswith("@chronik.invalid")
    empty = _without_message_id(b"Message-ID:\n")
    assert parse_message(empty).message_id.endswith("@chronik.invalid")


# --------------------------------------------------------------------------- bodies

HTML = """<html><head><title>Newsletter</title><style>p {color: red}</style>
<script>alert("x")</script></head><body>
<h1>Hallo&nbsp;Welt</h1><p>Erster   Absatz
mit Umbruch.</p><div>Zeile&nbsp;1<br>Zeile 2</div>
<p onclick="steal()">Caf&eacute; &amp; &lt;Tee&gt; <a href="javascript:alert(1)">Link</a></p>
<ul><li>eins</li><li>zwei</li></ul><table><tr><td>A</td><td>B</td></tr></table>
<pre>  eingerückt
    mehr</pre></body></html>""".encode()


def test_html_only_becomes_readable_text_and_sanitised_html() -> None:
    parsed = parse_message(mime("text/html; charset=utf-8", HTML))
    assert parsed.text == (
        "Hallo Welt\n\nErster Absatz mit Umbruch.\n\nZeile 1\nZeile 2\n\n"
        "Café & <Tee> Link\n\neins\nzwei\n\nA B\n\n  eingerückt\n    mehr"
    )
    assert parsed.html is not None
    for gone in ("<script", "alert(", "onclick", "javascript:", "Newsletter", "color: red"):
        assert gone not in parsed.html
    assert "<h1>Hallo" in parsed.html


def test_sanitised_html_keeps_embedded_images_but_no_data_links() -> None:
    html = (b'<p><img src="data:image/png;base64,iVBORw0KGgo="><img src="cid:a@b">'
            b'<a href="data:text/html;base64,PHNjcmlwdD4=">x</a><a href="https://ok.example/">y</a>')
    cleaned = parse_message(mime("text/html; charset=utf-8", html)).html
    assert cleaned is not None
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned and 'src="cid:a@b"' in cleaned
    assert "data:text/html" not in cleaned and 'href="https://ok.example/"' in cleaned


def test_html_charset_from_meta() -> None:
    html = b'<html><head><meta charset="windows-1252"></head><body>\x93Hi\x94</body></html>'
    assert parse_message(mime("text/html", html)).text == "“Hi”"


def test_huge_html_is_rendered_quickly_by_the_fast_path() -> None:
    html = "<html><head><title>T</title><script>bad()</script></head><body>" + (
        "<div>Zeile&nbsp;<b>fett</b></div><p>Absatz &amp; mehr</p>\n" * 30_000
    ) + "</body></html>"
    assert len(html) > 1024 * 1024
    text = html_to_text(html)
    assert text.startswith("Zeile fett\n\nAbsatz & mehr\n\nZeile fett")
    assert "bad()" not in text


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<div>a<b>b</div><p>c<script>d") == "ab\n\nc"
    assert html_to_text("<head><title>t</title><body>x") == "x"


ALTERNATIVE = b"""MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: text/plain; charset=utf-8

Plain version
--ALT
Content-Type: text/html; charset=utf-8

<p>HTML <b>version</b></p><script>x()</script>
--ALT--
"""


def test_alternative_prefers_plain_and_keeps_sanitised_html() -> None:
    parsed = parse_message(HEAD + ALTERNATIVE)
    assert parsed.text == "Plain version"
    assert parsed.html == "<p>HTML <b>version</b></p>"


def test_alternative_with_empty_plain_uses_html_text() -> None:
    raw = HEAD + ALTERNATIVE.replace(b"Plain version", b"   ")
    assert parse_message(raw).text == "HTML version"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
RELATED = HEAD + b"""MIME-Version: 1.0
Content-Type: multipart/related; boundary="REL"

--REL
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: text/plain; charset=utf-8

See the logo.
--ALT
Content-Type: text/html; charset=utf-8

<p>See <img src="cid:logo@x"></p>
--ALT--
--REL
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@x>

""" + base64.encodebytes(PNG) + b"""--REL
Content-Type: image/gif
Content-Transfer-Encoding: base64

R0lGODlhAQABAAAAACw=
--REL--
"""


def test_inline_image_in_related() -> None:
    parsed = parse_message(RELATED)
    assert parsed.text == "See the logo."
    assert parsed.html is not None and 'src="cid:logo@x"' in parsed.html
    logo, gif = parsed.attachments
    assert (logo.filename, logo.content_type, logo.data, logo.inline, logo.content_id) == (
        "image-1.png", "image/png", PNG, True, "logo@x"
    )
    assert (gif.filename, gif.inline, gif.content_id) == ("image-2.gif", False, None)


def _attachment_mail(disposition: str, content_type: str = "application/pdf") -> bytes:
    return HEAD + f"""MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="MIX"

--MIX
Content-Type: text/plain; charset=utf-8

Body
--MIX
Content-Type: {content_type}
Content-Disposition: {disposition}
Content-Transfer-Encoding: base64

JVBERi0=
--MIX--
""".encode()


@pytest.mark.parametrize(
    ("disposition", "content_type", "filename"),
    [
        ("attachment; filename*=UTF-8''%C3%9Cbersicht%20M%C3%A4rz.pdf", "application/pdf",
         "Übersicht März.pdf"),
        ("attachment; filename*=iso-8859-1'de'Gr%FC%DFe.pdf", "application/pdf", "Grüße.pdf"),
        ("attachment;\n filename*0*=UTF-8''Sehr%20lange%20%C3%9C;\n filename*1*=berschrift.pdf",
         "application/pdf", "Sehr lange Überschrift.pdf"),
        ('attachment; filename="=?utf-8?Q?Pr=C3=BCfung.pdf?="', "application/pdf", "Prüfung.pdf"),
        ("attachment", 'application/pdf; name="Bericht.pdf"', "Bericht.pdf"),
        ('attachment; filename="../../etc/passwd"', "application/pdf", "passwd"),
        ("attachment", "application/pdf", "attachment-1.pdf"),
        ("attachment", "application/x-chronik-unknown", "attachment-1.bin"),
    ],
    ids=["2231-utf8", "2231-latin1", "2231-continued", "2047-in-quotes", "name-param",
         "path", "none", "none-unknown-type"],
)
def test_attachment_filenames(disposition: str, content_type: str, filename: str) -> None:
    parsed = parse_message(_attachment_mail(disposition, content_type))
    assert parsed.text == "Body"
    (attachment,) = parsed.attachments
    assert attachment.filename == filename
    assert attachment.data == b"%PDF-"
    assert attachment.inline is False


def test_raw_8bit_filename() -> None:
    raw = _attachment_mail('attachment; filename="Gr\xfc\xdfe.pdf"'.encode("latin-1").decode(
        "latin-1"))
    raw = raw.replace("Grüße".encode(), b"Gr\xfc\xdfe")
    assert parse_message(raw).attachments[0].filename == "Grüße.pdf"


def test_text_attachment_is_not_body() -> None:
    parsed = parse_message(_attachment_mail('attachment; filename="notes.txt"', "text/plain"))
    assert parsed.text == "Body"
    assert parsed.attachments[0].filename == "notes.txt"


FORWARD = HEAD + b"""Subject: Fwd: Angebot
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUT"

--OUT
Content-Type: text/plain; charset=utf-8

Siehe unten.
--OUT
Content-Type: message/rfc822
Content-Disposition: attachment

From: =?utf-8?Q?J=C3=BCrgen?= <juergen@example.net>
Subject: Angebot
Date: Mon, 1 Jan 2024 10:00:00 +0100
Content-Type: multipart/mixed; boundary="IN"

--IN
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Preis: 10 =80 =FCber alles
--IN
Content-Type: application/pdf; name="angebot.pdf"
Content-Transfer-Encoding: base64

JVBERi0=
--IN--
--OUT--
"""


def test_forwarded_message_is_in_the_body_with_its_attachments() -> None:
    parsed = parse_message(FORWARD)
    assert parsed.text == (
        f"Siehe unten.\n\n{FORWARD_SEPARATOR}\nFrom: Jürgen <juergen@example.net>\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0100\nSubject: Angebot\n\nPreis: 10 € über alles"
    )
    inner = FORWARD[FORWARD.index(b"From: =?utf-8"):FORWARD.index(b"\n--OUT--")]
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("angebot.pdf", "application/pdf", b"%PDF-"), ("Angebot.eml", "message/rfc822", inner)]
    assert parsed.subject == "Fwd: Angebot"


def test_format_flowed() -> None:
    body = b"Dies ist ein \nlanger Satz.\n> Zitat das \n> weitergeht.\n>\n-- \nSig\n"
    parsed = parse_message(mime("text/plain; charset=utf-8; format=flowed", body))
    assert parsed.text == "Dies ist ein langer Satz.\n> Zitat das weitergeht.\n>\n-- \nSig"
    delsp = parse_message(mime("text/plain; format=flowed; delsp=yes", b"Zusammen \ngesetzt\n"))
    assert delsp.text == "Zusammengesetzt"


def test_quoted_printable_and_crlf() -> None:
    raw = mime("text/plain; charset=utf-8", b"Gr=C3=BC=C3=9Fe=\n und mehr\n", "quoted-printable")
    assert parse_message(raw.replace(b"\n", b"\r\n")).text == (
        "Grüße und mehr"
    )


# --------------------------------------------------------------------------- bad input


def test_empty_and_garbage_input() -> None:
    for raw in (b"", b" \r\n\t ", b"\x00\x01\x02\xff" * 200, b"just some text without headers"):
        with pytest.raises(MailParseError) as info:
            parse_message(raw)
        assert info.value.reason


def test_headers_without_sender_is_an_error() -> None:
    with pytest.raises(MailParseError, match="no sender"):
        parse_message(b"Subject: hi\nTo: a@example.com\n\nbody\n")


def test_not_bytes_is_an_error() -> None:
    with pytest.raises(MailParseError):
        parse_message("From: a@example.com\n\nx")  # type: ignore[arg-type]


def test_huge_message_is_rejected_without_parsing() -> None:
    raw = mail(b"", b"x" * 2000)
    with pytest.raises(MessageTooLarge) as info:
        parse_message(raw, max_bytes=1000)
    assert (info.value.size, info.value.max_bytes) == (len(raw), 1000)
    assert isinstance(info.value, MailParseError)
    assert parse_message(raw, max_bytes=len(raw)).size == len(raw)


BROKEN_BOUNDARY = HEAD + b"""MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="DECLARED"

--ACTUAL
Content-Type: text/plain; charset=utf-8

Der eigentliche Text.
--ACTUAL
Content-Type: application/pdf; name="a.pdf"
Content-Transfer-Encoding: base64

JVBERi0=
--ACTUAL--
"""


def test_broken_boundary_is_recovered() -> None:
    parsed = parse_message(BROKEN_BOUNDARY)
    assert parsed.text == "Der eigentliche Text."
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]


def test_missing_boundary_still_gives_readable_text() -> None:
    raw = HEAD + b"Content-Type: multipart/mixed\n\nJust text, no parts at all.\n"
    assert "Just text, no parts at all." in parse_message(raw).text


@pytest.mark.parametrize(
    "raw",
    [
        HEAD + b"Content-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n",
        HEAD + b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64",
        HEAD + b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nRnJvbTo=",
        HEAD + b"Content-Type: multipart/mixed; boundary=A\n\n" + b"--A\nContent-Type: "
        b"multipart/mixed; boundary=A\n\n" * 300,
        HEAD + b"Content-Type: text/plain; charset=\"\x00\"; format=flowed\n\nx",
        HEAD + b"Content-Disposition: attachment; filename*=bogus''%ZZ\n\nx",
    ],
    ids=["truncated", "bad-base64", "base64-rfc822", "deep-nesting", "nul-charset",
         "bad-2231"],
)
def test_malformed_mime_never_escapes_as_another_exception(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except MailParseError as exc:
        assert exc.reason
    else:
        assert isinstance(parsed, ParsedMail)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_give_parsed_mail_or_parse_error(raw: bytes) -> None:
    try:
        assert isinstance(parse_message(raw), ParsedMail)
    except MailParseError:
        pass


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([FORWARD, RELATED, BROKEN_BOUNDARY, HEAD + ALTERNATIVE]),
       st.integers(min_value=0), st.binary(max_size=40), st.integers(min_value=0, max_value=80))
def test_mutated_messages_give_parsed_mail_or_parse_error(
    base: bytes, position: int, insert: bytes, cut: int
) -> None:
    at = position % len(base)
    raw = base[:at] + insert + base[at + cut:]
    try:
        assert isinstance(parse_message(raw), ParsedMail)
    except MailParseError:
        pass


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        (b"Subject: Frage zum Vertrag\n", None),
        (b"Auto-Submitted: no\n", None),
        (b"Auto-Submitted: auto-replied\n", "auto_reply"),
        (b"Auto-Submitted: auto-generated\n", "auto_reply"),
        (b"X-Autoreply: yes\n", "auto_reply"),
        (b"X-Autorespond: Out of office\n", "auto_reply"),
        (b"Precedence: auto_reply\n", "auto_reply"),
        (b"X-Auto-Response-Suppress: All\n", "auto_reply"),
        (b"X-Loop: hub@example.org\n", "auto_reply"),
        (b"Subject: Automatische Antwort: Ihre Anfrage\n", "auto_reply"),
        (b"Subject: =?iso-8859-1?Q?Abwesenheitsnotiz=3A_Urlaub?=\n", "auto_reply"),
        (b"Subject: Out of Office: Re: invoice\n", "auto_reply"),
        (b"Subject: Automatic reply: invoice\n", "auto_reply"),
        (b"Subject: AUTO: Anna Alt is out of the office (back on 3 May)\n", "auto_reply"),
        (b"Subject: Auto: Anna Alt ist abwesend\n", "auto_reply"),
        (b"Subject: Auto: Schadenmeldung\n", None),
        (b"Subject: AW: Auto: Schadenmeldung vom 3.5.\n", None),
        (b"Subject: Auto: invoice\n", None),
        (b"Subject: Auto: Schadenmeldung\nAuto-Submitted: auto-replied\n", "auto_reply"),
        (b"Subject: AutoReply\n", "auto_reply"),
        (b"Subject: Re: our out of office policy\n", None),
        (b"Precedence: bulk\n", "bulk"),
        (b"Precedence: list\n", "bulk"),
        (b"Precedence: junk\n", "bulk"),
        (b"List-Id: <news.example.com>\n", "bulk"),
        (b"List-Unsubscribe: <mailto:u@example.com>\n", "bulk"),
        (b"List-Id: <l.example.com>\nAuto-Submitted: auto-generated\n", "bulk"),
        (b"List-Id: <l.example.com>\nSubject: Out of Office\n", "auto_reply"),
        # a list's digest or notice, from list software older than List-Id
        (b"List-Post: <mailto:forum@lists.example.com>\n", "bulk"),
        (b"Mailing-List: contact forum-help@example.com; run by ezmlm\n", "bulk"),
        (b"X-Mailman-Version: 2.0.4\nSubject: Forum digest, Vol 1 #2\n", "bulk"),
        (b"X-ML-Name: forum\nSubject: You are not a member (forum ML)\n", "bulk"),
        (b"X-MLServer: fml [fml 4.0.3 release]\nSubject: Loop Alert\n", "bulk"),
        (b"X-Mailing-List: <forum@example.com>\n", "bulk"),
    ],
)
def test_auto_classification(headers: bytes, auto: str | None) -> None:
    parsed = parse_message(mail(headers))
    assert (parsed.auto, parsed.bounced_recipients) == (auto, ())


def _dsn(action: str) -> bytes:
    return b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: hub@example.org
Subject: Undelivered Mail Returned to Sender
Return-Path: <>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; gone@example.com
Original-Recipient: rfc822;Gone@Example.com
Action: """ + action.encode() + b"""
Status: 5.1.1

Final-Recipient: rfc822; fine@example.com
Action: delivered
Status: 2.0.0

Final-Recipient: rfc822; <also-gone@example.net>
Action: failed
Status: 5.0.0
--R
Content-Type: message/rfc822

From: hub@example.org
To: gone@example.com
Subject: Ihre Anfrage

Original text
--R--
"""


def test_dsn_bounce_with_failed_recipients() -> None:
    parsed = parse_message(_dsn("failed"))
    assert parsed.auto == "bounce"
    assert parsed.bounced_recipients == ("Gone@Example.com", "also-gone@example.net")
    assert "Original text" in parsed.text
    assert [a.content_type for a in parsed.attachments] == ["message/delivery-status",
                                                            "message/rfc822"]  # (the original)


def test_dsn_delay_is_not_a_bounce() -> None:
    raw = _dsn("delayed").replace(b"Action: failed", b"Action: delayed")
    assert parse_message(raw).auto == "delivery_report"


@pytest.mark.parametrize(
    ("sender", "subject", "text", "extra", "recipients"),
    [
        ("Mail Delivery System <MAILER-DAEMON@mx.example.org>", "Mail delivery failed",
         "This message was created automatically by mail delivery software.\n\n"
         "A message that you sent could not be delivered to one or more of its\n"
         "recipients. This is a permanent error. The following address(es) failed:\n\n"
         "  lost@example.com\n    host mx.example.com [192.0.2.1]\n"
         "    SMTP error from remote mail server after RCPT TO:<lost@example.com>:\n"
         "    550 5.1.1 User unknown\n", "", ("lost@example.com",)),
        ("MAILER-DAEMON@mail.example.net", "failure notice",
         "Hi. This is the qmail-send program at mail.example.net.\n"
         "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
         "<nobody@example.net>:\nSorry, no mailbox here by that name.\n", "",
         ("nobody@example.net",)),
        ("Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
         "Delivery Status Notification (Failure)",
         "Delivery to the following recipient failed permanently:\n\n"
         "     typo@gmial.com\n\nTechnical details of permanent failure:\n", "",
         ("typo@gmial.com",)),
        ("postmaster@corp.example", "Undeliverable: Angebot",
         "Delivery has failed to these recipients or groups:\n\n"
         "ex@corp.example (ex@corp.example)\nThe e-mail address couldn't be found.\n",
         "Return-Path: <>\n", ("ex@corp.example",)),
        ("Some Relay <relay@example.org>", "Warning", "whatever\n",
         "X-Failed-Recipients: a@example.com, b@example.com\n",
         ("a@example.com", "b@example.com")),
    ],
    ids=["exim", "qmail", "gmail", "exchange", "x-failed-recipients"],
)
def test_non_standard_bounces(
    sender: str, subject: str, text: str, extra: str, recipients: tuple[str, ...]
) -> None:
    raw = (f"From: {sender}\nTo: hub@example.org\nSubject: {subject}\n{extra}\n{text}").encode()
    parsed = parse_message(raw)
    assert (parsed.auto, parsed.bounced_recipients) == ("bounce", recipients)


def test_postmaster_without_bounce_subject_is_a_person() -> None:
    raw = b"From: postmaster@example.com\nSubject: Your account\n\nHello\n"
    assert parse_message(raw).auto is None


def test_classify_accepts_an_email_message() -> None:
    msg = EmailMessage(policy=default_policy)
    msg["From"] = "a@example.com"
    msg["Subject"] = "Abwesenheitsnotiz"
    msg.set_content("bin weg")
    assert classify(msg) == ("auto_reply", ())
    msg2 = EmailMessage(policy=SMTP)
    msg2["From"] = "a@example.com"
    assert classify(msg2) == (None, ())
