"""Text in broken charsets reads correctly, is never replaced by U+FFFD, and says what was
repaired -- while correct text (the Zammad corpus, plain Windows-1252 German) is left alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.email.decode import decode_text
from connectors.email.parse import ParsedMail, parse_message
from tests.support.shared import MISSING_CORPUS, ZAMMAD_CORPUS

DATA = Path(__file__).parent / "data" / "mime"
HEAD = b"From: Anna Alt <anna@example.com>\nTo: hub@example.org\nMessage-ID: <m1@example.com>\n"
TEXT_CHANGING = ("mixed in one text", "encoded twice", "cannot be meant")  # repairs that
# alter text


def text_mail(charset: str | None, body: bytes, ctype: str = "text/plain",
              subject: bytes = b"Test") -> bytes:
    declared = f"; charset={charset}" if charset else ""
    return (HEAD + b"Subject: " + subject + b"\nMIME-Version: 1.0\nContent-Type: "
            + f"{ctype}{declared}".encode() + b"\nContent-Transfer-Encoding: 8bit\n\n" + body)


def noted(parsed: ParsedMail, *words: str) -> bool:
    return any(all(w in note for w in words) for note in parsed.parse_notes)


# ------------------------------------------------------------------ UTF-8 and Latin-1 mixed


def test_utf8_and_latin1_in_one_part_each_read_in_its_own_charset() -> None:
    parsed = parse_message((DATA / "mixed-utf8-latin1.eml").read_bytes())
    assert parsed.text == "¡Atención! La reunión es mañana.\n\n> Viele Grüße aus Köln, Jürgen"
    assert parsed.from_display_name == "Lucía Gómez"  # raw Latin-1 bytes in the header
    assert noted(parsed, "text/plain body", "UTF-8 and Windows-1252 mixed")


@pytest.mark.parametrize("charset", [None, "utf-8", "iso-8859-1", "us-ascii", "x-unknown"])
def test_mixed_text_whatever_the_declared_charset(charset: str | None) -> None:
    body = "Atención".encode() + b" / Gr\xfc\xdfe / " + "señor".encode() + b" \x80 5\n"
    parsed = parse_message(text_mail(charset, body))
    assert parsed.text == "Atención / Grüße / señor € 5"
    assert "\ufffd" not in parsed.text
    assert noted(parsed, "mixed in one text")


@pytest.mark.parametrize("quote", [
    "Łukasz Wójcik", "Привет и в мир", "你好，合同", "Danke 👍 – 5 €", "Termin ✓"])
def test_utf8_quoted_in_latin1_text_is_read_as_utf8(quote: str) -> None:
    """A name in Polish, a Russian or Chinese quote, an emoji: UTF-8 inside Latin-1 text."""
    body = b"Gr\xfc\xdfe aus K\xf6ln\n> " + quote.encode() + b"\n"
    parsed = parse_message(text_mail("iso-8859-1", body))
    assert parsed.text == f"Grüße aus Köln\n> {quote}"
    assert noted(parsed, "mixed in one text")


def test_mostly_utf8_with_one_latin1_byte_loses_nothing() -> None:
    body = ("Größenangaben für Überweisungen " * 5).encode() + b"Stra\xdfe\n"
    parsed = parse_message(text_mail("utf-8", body))
    assert parsed.text.endswith("Überweisungen Straße")
    assert "\ufffd" not in parsed.text


def test_mixed_html_part() -> None:
    body = "<p>Atención</p>".encode() + b"<p>Gr\xfc\xdfe</p>\n"
    parsed = parse_message(text_mail("iso-8859-1", body, "text/html"))
    assert parsed.text == "Atención\n\nGrüße"
    assert parsed.html is not None and "Atención" in parsed.html and "Grüße" in parsed.html


@pytest.mark.parametrize(
    ("charset", "body", "text"),
    [
        # German Windows-1252: "ß" + closing quote and "ß" + "…" are valid UTF-8 byte pairs
        # (NKo letters), yet no one means them so
        ("windows-1252", b"\x84Gru\xdf\x93 aus der Stra\xdfe\x85 \x96 Ma\xdf\x94", None),
        ("iso-8859-1", b"Gr\xfc\xdfe aus K\xf6ln, \xc4rger \xfcber \xd6l", None),
        ("windows-1251", "Привет, ВЁЛ ДЁМ".encode("cp1251"), None),
        (None, b"Gr\xfc\xdfe", "no charset declared: read as Windows-1252"),
        # French as Word types it: "é\u00a0»", "é…”" and "É’" are valid UTF-8 (a Chinese
        # character, an IPA letter), and were read so in the middle of the text
        ("windows-1252", "C’est réglé\u00a0», dit-il. «\u00a0CAFÉ\u00a0» réglé…” "
         "ÉTÉ’24".encode("cp1252"), None),
        # ... even when all of the text's bytes happen to be valid UTF-8
        ("windows-1252", "et voilà\u00a0»".encode("cp1252"), None),
    ],
    ids=["cp1252-quotes-after-sharp-s", "latin1-umlauts", "cp1251-capitals", "undeclared",
         "cp1252-french-typography", "cp1252-valid-utf8-by-chance"],
)
def test_single_byte_text_is_not_repaired(charset: str | None, body: bytes,
                                          text: str | None) -> None:
    codec = {"windows-1251": "cp1251", None: "cp1252"}.get(charset, "cp1252")
    parsed = parse_message(text_mail(charset, body))
    assert parsed.text == body.decode(codec)
    assert not any(n for n in parsed.parse_notes if any(w in n for w in TEXT_CHANGING))
    if text:
        assert noted(parsed, text)


@pytest.mark.parametrize(("charset", "codec", "words", "name"), [
    (None, "cp1251", "Узнай как зарабатывать от 1000$ в неделю!", "Windows-1251"),
    ("iso-8859-1", "koi8_r", "Здравствуйте! Прошу прислать договор.", "KOI8-R"),
    ("windows-1252", "cp1253", "Καλημέρα σας, η σύμβαση είναι έτοιμη.", "Windows-1253"),
])
def test_cyrillic_or_greek_declared_western_or_not_at_all_is_read(
        charset: str | None, codec: str, words: str, name: str) -> None:
    """django-mailbox's test mail: a Russian subject in raw Windows-1251 came out as
    "Óçíàé êàê …". Western text never has nearly all its letters accented; such text is
    read in the Cyrillic or Greek charset it fits (subject and body)."""
    raw = text_mail(charset, words.encode(codec), subject=words.encode(codec))
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.text) == (words, words)
    assert noted(parsed, f"read as {name}")


@pytest.mark.parametrize(("codec", "words", "name"), [
    ("big5", "顏氏家訓，是中國古代一部家訓。請問保險合約何時到期？", "Big5"),
    ("gbk", "您好，请问保险合同什么时候到期？谢谢。", "GB18030"),
    ("euc-kr", "안녕하세요, 보험 계약은 언제 만료됩니까? 감사합니다.", "EUC-KR"),
    ("shift_jis", "こんにちは、保険契約はいつ満了しますか？", "Shift_JIS"),
])
@pytest.mark.parametrize("charset", [None, "us-ascii"])
def test_chinese_korean_or_japanese_body_without_its_charset_is_read(
        charset: str | None, codec: str, words: str, name: str) -> None:
    """enmime's chardet-success-big-5: a Big5 body declared us-ascii came out as "ÃC¬O®a°V"
    (and was called UTF-8 and Windows-1252 mixed)."""
    parsed = parse_message(text_mail(charset, words.encode(codec)))
    assert parsed.text == words
    assert noted(parsed, f"read as {name}")


@pytest.mark.parametrize(("charset", "words"), [
    ("gb2312", "发票 2026/17"), ("big5", "發票 2026/17"), ("euc-kr", "계약서 2026/17")])
def test_raw_8bit_headers_of_a_chinese_or_korean_mail_are_read_in_its_charset(
        charset: str, words: str) -> None:
    """Raw GB2312, Big5 or EUC-KR bytes in Subject and From (as Japanese mail already was):
    "发票" came out as "·¢Æ±" although the body declared the charset."""
    raw = text_mail(charset, words.encode(charset), subject=words.encode(charset)).replace(
        b"From: Anna Alt", b"From: " + words.split()[0].encode(charset))
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.text) == (words, words)
    assert parsed.from_display_name == words.split()[0]


@pytest.mark.parametrize("text", [
    "Sehr geehrte Frau Müller, anbei die Unterlagen. Grüße aus Köln",
    "Ärger über Öl: Überweisung für Straße",  # many umlauts, still mostly plain letters
    "À bientôt, ça été très réussi. Señor Núñez, añadió Çağrı",
])
def test_western_text_with_many_accents_stays_western(text: str) -> None:
    parsed = parse_message(text_mail("iso-8859-1", text.encode("cp1252", "replace")))
    assert parsed.text == text.encode("cp1252", "replace").decode("cp1252")
    assert not noted(parsed, "cannot be meant")


# --------------------------------------------------------------------------- UTF-8 encoded twice


@pytest.mark.parametrize("charset", ["utf-8", None])
def test_c1_controls_in_utf8_read_as_windows_1252(charset: str | None) -> None:
    """enmime's non-mime-missing-charset: Windows-1252's "€" converted to UTF-8 as if it were
    Latin-1 (C2 80) showed as an invisible control character."""
    body = "Beitrag: 5 \x80 im Monat, \x84danke\x93 \x96 Grüße".encode()
    parsed = parse_message(text_mail(charset, body))
    assert parsed.text == "Beitrag: 5 € im Monat, „danke“ – Grüße"
    assert noted(parsed, "C1 control characters")


def test_double_encoded_utf8_body_is_repaired() -> None:
    twice = "¡Atención! Grüße, señor".encode().decode("cp1252").encode()
    parsed = parse_message(text_mail("utf-8", twice + b"\n"))
    assert parsed.text == "¡Atención! Grüße, señor"
    assert noted(parsed, "text/plain body", "encoded twice")


@pytest.mark.parametrize(
    "subject",
    [b"=?utf-8?Q?Atenci=C3=83=C2=B3n_bitte?=", "AtenciÃ³n bitte".encode()],
    ids=["encoded-word", "raw-8bit"],
)
def test_double_encoded_subject_is_repaired(subject: bytes) -> None:
    parsed = parse_message(text_mail("utf-8", b"Hallo\n", subject=subject))
    assert parsed.subject == "Atención bitte"
    assert noted(parsed, "Subject header", "encoded twice")


def test_text_that_only_looks_like_mojibake_stays() -> None:
    body = "SÃO PAULO – Ações, Â bientôt, ©2024 Çà".encode()
    parsed = parse_message(text_mail("utf-8", body))
    assert parsed.text == body.decode()
    assert parsed.parse_notes == ()


# --------------------------------------------------------------------------- declared charsets


def test_unknown_and_contradicted_charsets_are_noted() -> None:
    unknown = parse_message(text_mail("x-mac-klingon", b"Gr\xfc\xdfe\n"))
    assert unknown.text == "Grüße"
    assert noted(unknown, "unknown charset 'x-mac-klingon'", "Windows-1252")
    contradicted = parse_message(text_mail("us-ascii", "Grüße".encode()))
    assert contradicted.text == "Grüße"
    assert noted(contradicted, "declared us-ascii, but the bytes are UTF-8")


def test_bytes_a_declared_multibyte_charset_cannot_show_are_kept() -> None:
    body = "中文".encode("gb18030") + b"\xff\xfe\x80 Ende\n"
    parsed = parse_message(text_mail("gb2312", body))
    assert parsed.text.startswith("中文") and parsed.text.endswith("Ende")
    assert [(a.filename, a.data) for a in parsed.attachments] == [("body-text.bin", body)]
    assert noted(parsed, "not gb2312 shown as U+FFFD")
    assert noted(parsed, "'body-text.bin'")


def test_raw_8bit_from_header_is_noted() -> None:
    raw = (b"From: J\xfcrgen M\xfcller <j@example.com>\nTo: hub@example.org\n"
           b"Subject: x\n\nHallo\n")
    parsed = parse_message(raw)
    assert parsed.from_display_name == "Jürgen Müller"
    assert noted(parsed, "From header", "raw 8-bit bytes", "Windows-1252")


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=400), st.sampled_from([None, "utf-8", "iso-8859-1", "us-ascii",
                                                 "windows-1252", "x-unknown"]))
def test_single_byte_or_undeclared_text_never_becomes_replacement_chars(
        data: bytes, charset: str | None) -> None:
    text, _ = decode_text(data, charset)
    assert text.count("\ufffd") == data.count("\ufffd".encode())


# --------------------------------------------------------------------------- false repairs


CORPUS = sorted(ZAMMAD_CORPUS.glob("*.eml")) if ZAMMAD_CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS, reason=MISSING_CORPUS)
@pytest.mark.parametrize("eml", CORPUS, ids=[p.stem.split("-")[0] for p in CORPUS])
def test_no_text_repair_fires_on_the_zammad_corpus(eml: Path) -> None:
    """Real, correctly encoded mail: none of the repairs that change text may fire."""
    notes = parse_message(eml.read_bytes()).parse_notes
    assert [n for n in notes if any(w in n for w in TEXT_CHANGING)] == []


# --------------------------------------------------------------------------- Japanese mail

JIS_WITH_NEC = b'\x1b$B!!-!#1ET#38)$N03$H!"\x1b(B'  # "　①１都３県の鯵と、" (Windows' CP50220)


def test_iso_2022_jp_with_windows_characters_is_read() -> None:
    """Python's codecs refuse the circled digits and NEC kanji Windows writes into
    ISO-2022-JP; the escapes must not be shown as text (they are valid UTF-8 too)."""
    text, note = decode_text(JIS_WITH_NEC, "ISO-2022-JP")
    assert (text, note) == ("\u3000①１都３県の鯵と、", None)
    raw = (b"From: info@example.jp\nSubject: =?ISO-2022-JP?B?GyRCLSEbKEI=?=\n"
           b"Content-Type: text/plain; charset=ISO-2022-JP\n\n" + JIS_WITH_NEC + b"\n")
    mail = parse_message(raw)
    assert mail.text == "\u3000①１都３県の鯵と、" and mail.subject == "①"


def test_shift_jis_labelled_iso_2022_jp_is_read_as_shift_jis() -> None:
    name = "ツール EXAMPLE".encode("cp932")
    import base64

    raw = (b"From: =?ISO-2022-JP?B?" + base64.b64encode(name) + b"?= <bar@example.org>\n"
           b"Subject: " + "ツール".encode("cp932") + b"\n"
           b"Content-Type: text/plain; charset=iso-2022-jp\n\n"
           + "こんにちは".encode("iso2022_jp") + b"\n")
    mail = parse_message(raw)
    assert mail.from_display_name == "ツール EXAMPLE"
    assert mail.subject == "ツール"
    assert mail.text == "こんにちは"
