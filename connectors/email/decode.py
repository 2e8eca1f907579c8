"""Decoding what mail headers and bodies really contain: charsets (declared, missing or
wrong), RFC 2047 encoded words, address lists, RFC 2231 / RFC 2047 / raw 8-bit filenames.

Part of the parsing layer (pure: no storage, no network); used by :mod:`.parse`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import mimetypes
import re
from email.message import Message
from email.utils import collapse_rfc2231_value

import charset_normalizer
import ftfy

from .structure import raw_values

__all__ = [
    "CONTROL_CHARS",
    "addresses",
    "decode_bytes",
    "decode_text",
    "decode_words",
    "filename_param",
    "header_value",
    "header_values",
    "safe_filename",
    "synth_filename",
]

# --------------------------------------------------------------------------- charsets

_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "big5": "big5hkscs", "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "us-ascii": "ascii", "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874",
    "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "iso-2022-jp": "iso2022_jp_ext",
    "unicode-1-1-utf-7": "utf-7", "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
}
_BLOCKED_CODECS = {"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode", "mbcs"}
_SEVEN_BIT = ("utf-7", "utf-16", "utf-32", "iso2022", "hz")  # not ASCII-compatible as is
_MULTIBYTE = re.compile(r"utf|gb|big5|cp9[345]\d|euc|shift|iso2022|hz|johab")
_SURROGATE = re.compile("[\ud800-\udfff]")
"""Half a UTF-16 pair on its own: no character, and no UTF-8 text can hold it."""


_JP_MS = "iso2022_jp_ms"
_JAPANESE = ("cp932", "euc_jis_2004")
_SIBLINGS: dict[str, tuple[str, ...]] = {
    # a declared charset that does not fit: what the same senders really meant. Japanese
    # mail is ISO-2022-JP with Microsoft's extensions (circled digits, NEC/IBM kanji), or
    # Shift_JIS / EUC-JP under the wrong label; the others are declared by their supersets.
    "iso2022_jp_ext": (_JP_MS, *_JAPANESE), "iso2022_jp": (_JP_MS, *_JAPANESE),
    "iso2022_jp_2": (_JP_MS, *_JAPANESE), "cp932": ("euc_jis_2004", _JP_MS),
    "shift_jis_2004": ("cp932", "euc_jis_2004"), "euc_jp": ("euc_jis_2004", "cp932"),
    "euc_jis_2004": ("cp932",),
}
_JIS_ESCAPE = re.compile(rb"\x1b(\$@|\$B|\$\(B|\$\(Q|\(B|\(J|\(I)")


def iso2022_jp_ms(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it (CP50220/50221: with the NEC and IBM characters of
    CP932 such as ①), which Python's codecs refuse: each JIS X 0208 pair is moved to its
    Shift_JIS code and the whole read as CP932. Raises ``UnicodeDecodeError`` for bytes
    that are not ISO-2022-JP (8-bit bytes, other escapes)."""
    escapes = list(_JIS_ESCAPE.finditer(data))
    if not data.isascii() or data.count(b"\x1b") != len(escapes):
        raise UnicodeDecodeError(_JP_MS, data, 0, 1, "not ISO-2022-JP")
    out = bytearray()
    mode = b"(B"
    at = 0
    for match in [*escapes, None]:
        chunk = data[at:match.start() if match else len(data)]
        if mode in (b"$@", b"$B", b"$(B", b"$(Q"):
            if len(chunk) % 2:
                raise UnicodeDecodeError(_JP_MS, data, at, at + len(chunk), "odd JIS pair")
            for first, second in zip(chunk[::2], chunk[1::2], strict=True):
                out += bytes(_jis_to_sjis(first, second))
        elif mode == b"(I":  # half-width katakana
            out += bytes(byte + 0x80 for byte in chunk)
        else:
            out += chunk
        if match is not None:
            mode, at = match.group(1), match.end()
    return out.decode("cp932")


def _jis_to_sjis(first: int, second: int) -> tuple[int, int]:
    lead = ((first + 1) >> 1) + (0x70 if first <= 0x5E else 0xB0)
    if first & 1:
        return lead, second + (0x1F if second <= 0x5F else 0x20)
    return lead, second + 0x7E


_LABELS = {
    # charset names that mail programs write and Python's codecs do not know: the labels
    # of the WHATWG Encoding Standard (what browsers, Thunderbird and webmail accept) and
    # Java's names (JavaMail writes them: "windows-31j" for Japanese, "x-windows-949")
    "windows-31j": "cp932", "cswindows31j": "cp932", "ms932": "cp932", "ms_kanji": "cp932",
    "x-ms-cp932": "cp932", "windows-949": "cp949", "ms949": "cp949", "x-windows-949": "cp949",
    "ks_c_5601-1989": "cp949", "csksc56011987": "cp949", "iso-ir-149": "cp949",
    "ks_c_5601": "cp949", "ksc5601": "cp949", "ksc_5601": "cp949", "korean": "cp949",
    "x-euc-jp": "euc_jp", "x-euc": "euc_jp", "cseucpkdfmtjapanese": "euc_jp",
    "x-x-big5": "big5hkscs", "cn-big5": "big5hkscs", "csbig5": "big5hkscs",
    "x-ms950-hkscs": "big5hkscs", "ms950": "cp950", "x-windows-950": "cp950",
    "csgb2312": "gb18030", "gb_2312-80": "gb18030", "gb_2312": "gb18030", "gb2312-80": "gb18030",
    "csiso58gb231280": "gb18030", "x-euc-cn": "gb18030", "chinese": "gb18030",
    "iso-ir-58": "gb18030", "ms936": "gb18030", "x-mswin-936": "gb18030",
    "x-windows-iso2022jp": "iso-2022-jp", "cp50220": "iso-2022-jp", "cp50221": "iso-2022-jp",
    "cp50222": "iso-2022-jp", "csiso2022jp": "iso-2022-jp",
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "unicode-2-0-utf-8": "utf-8", "unicode11utf8": "utf-8", "unicode20utf8": "utf-8",
    "unicode": "utf-16", "ucs-2": "utf-16", "csunicode": "utf-16", "iso-10646-ucs-2": "utf-16",
    "unicodefeff": "utf-16", "unicodefffe": "utf-16-be",
    "koi": "koi8-r", "koi8": "koi8-r", "koi8r": "koi8-r", "koi8_r": "koi8-r",
    "koi8-ru": "koi8-u", "logical": "iso8859-8", "visual": "iso8859-8",
    "mac-ce": "mac-latin2", "mac-centraleurope": "mac-latin2",
    "mac-ukrainian": "mac-cyrillic", "mac-icelandic": "mac-iceland",
    "ms-ee": "cp1250", "ms-cyrl": "cp1251", "ms-ansi": "cp1252", "ms-greek": "cp1253",
    "ms-turk": "cp1254", "ms-hebr": "cp1255", "ms-arab": "cp1256", "tis620": "cp874",
}
_LABEL_FORMS = (
    # a code page written with a separator or a vendor prefix: "cp-850", "win-1251"
    (re.compile(r"(?:cp|ibm|dos|ms|win(?:dows)?)[-_ ]?(\d{3,5})"), r"cp\1"),
    # ISO 8859 in any spelling, RFC 1556's bidi forms too: "iso-8859-6-i", "iso88591"
    (re.compile(r"(?:iso|csiso)?[-_ ]?8859[-_ ]?(\d{1,2})(?:[-_ ]?[ie])?(?::\d{4})?"),
     r"iso8859-\1"),
    (re.compile(r"(?:iso-?)?latin[-_ ]?(\d{1,2})"), r"latin\1"),
    (re.compile(r"l(\d{1,2})"), r"latin\1"),
)


def _label(name: str) -> str:
    """The name Python's codecs know for a charset label they refuse (see :data:`_LABELS`)."""
    bare = name.removeprefix("x-").removeprefix("x-")  # "x-mac-cyrillic", "x-x-big5"
    for candidate in (name, bare):
        if candidate in _LABELS:
            return _LABELS[candidate]
        for pattern, replacement in _LABEL_FORMS:
            if pattern.fullmatch(candidate):
                return pattern.sub(replacement, candidate)
    return _CHARSET_ALIASES.get(bare, bare.replace("-", "_"))


def _codec(charset: str | None) -> str | None:
    """The Python codec for a declared charset, or None when unknown or unusable."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    try:
        info = codecs.lookup(_CHARSET_ALIASES.get(name, name))
    except (LookupError, ValueError, TypeError):
        try:  # a label other programs know (rare: only unknown labels pay for this)
            alias = _label(name.strip(" ;,\"'"))
            info = codecs.lookup(_CHARSET_ALIASES.get(alias, alias))
        except (LookupError, ValueError, TypeError):
            return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _BLOCKED_CODECS:
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, hint: str | None = None) -> str:
    """Decode text whose declared charset may be missing, unknown or simply wrong."""
    return decode_text(data, charset, hint)[0]


def decode_text(data: bytes, charset: str | None, hint: str | None = None
                ) -> tuple[str, str | None]:
    """The text of ``data`` and, when it was not simply the declared charset, what was done.

    A declared multi-byte charset is tried first; for single-byte or missing declarations
    valid UTF-8 wins (mislabelled UTF-8 is common, accidental valid UTF-8 in Latin-1 text is
    not). Bytes that are not UTF-8 are read as the declared single-byte charset (else the
    hint, else Windows-1252); when the two are mixed in one text (a UTF-8 quote inside a
    Latin-1 reply), each run is read in its own charset, so nothing becomes U+FFFD. UTF-8
    that was encoded twice ("AtenciÃ³n") is repaired with ftfy. Only text that needs it pays
    for the repairs: the checks are one ``isascii`` and one byte search.
    """
    declared = _codec(charset)
    if data.isascii() and not (declared or "").startswith(_SEVEN_BIT):
        return data.decode("ascii"), None
    label = charset.strip().strip("\"'") if charset else None
    if declared is not None and declared != "ascii" and _MULTIBYTE.search(declared):
        seven_bit = declared.startswith(_SEVEN_BIT) and data.isascii()  # UTF-8 proves nothing
        names = [declared, *_SIBLINGS.get(declared, ()),
                 *(() if declared == "utf-8" or seven_bit else ("utf-8",))]
        for name in names:
            try:
                text = iso2022_jp_ms(data) if name == _JP_MS else data.decode(name)
            except UnicodeDecodeError:
                continue
            note = None if name == _JP_MS else _was(label, declared, name)
            if name == "utf-8":
                return _unmangle(text, data, note)
            if _SURROGATE.search(text):  # UTF-7's decoder lets broken pairs through
                text = _SURROGATE.sub("\ufffd", text)
                note = f"characters that are not valid {label} shown as U+FFFD"
            return text, note
        if declared != "utf-8":
            return _SURROGATE.sub("\ufffd", data.decode(declared, "replace")), (
                f"bytes that are not {label} shown as U+FFFD")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:  # valid UTF-8 under a Western label, unless it holds no plausible UTF-8 at all
        if declared not in _WESTERN or _utf8_meant(data):
            return _unmangle(text, data, _was(label, declared, "utf-8"))
    hinted = _codec(hint) if declared is None else None
    if hinted is not None and _MULTIBYTE.search(hinted) and hinted != "utf-8":
        # raw 8-bit in the headers of a Chinese, Japanese or Korean mail: its charset (the
        # strict codecs refuse most Latin-1 bytes, which go on)
        for name in (hinted, *_SIBLINGS.get(hinted, ())):
            if name == _JP_MS or name.startswith(_SEVEN_BIT):
                continue
            try:
                return data.decode(name), _was(label, declared, name)
            except UnicodeDecodeError:
                continue
    single = next((c for c in (declared, _codec(hint)) if c is not None and c != "ascii"
                   and not _MULTIBYTE.search(c)), "cp1252")
    if single in _WESTERN:
        foreign = _not_western(data)
        if foreign is not None:
            return foreign[0], (f"{_NAMES.get(single, single)} cannot be meant (nearly every "
                                f"letter is 8-bit): read as {foreign[1]}")
    text, mixed = _segments(data, single) if single in _WESTERN else (
        data.decode(single, _LATIN1_FALLBACK), False)
    if mixed:
        return _unmangle(text, data, f"UTF-8 and {_NAMES.get(single, single)} mixed in one "
                                     "text: each run read in its own charset")
    return text, _was(label, declared, single)


_WESTERN = {"cp1252", "latin-1", "iso8859-15", "iso8859-1"}
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ASCII_LETTERS = bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))
_NOT_WESTERN = ["cp1251", "koi8_r", "cp1253", "gb18030", "big5hkscs", "cp949", "cp932",
                "euc_jis_2004"]
"""Charsets tried when a text cannot be Western: Cyrillic, Greek, Chinese, Korean and
Japanese."""


def _not_western(data: bytes) -> tuple[str, str] | None:
    """Text in a Cyrillic, Greek, Chinese, Korean or Japanese charset that was declared
    Western or not at all (a Russian subject in raw 8-bit, a Big5 body under "us-ascii"):
    Western text never has most of its letters in the 8-bit range (German: about one in
    twenty), those scripts have nearly all there. Only then, ``charset-normalizer`` picks
    among :data:`_NOT_WESTERN`; ``None`` when the text is not like that or none fits."""
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    if high < 8:
        return None
    plain = len(data) - len(data.translate(None, _ASCII_LETTERS))
    if high < 0.6 * (high + plain):
        return None
    best = charset_normalizer.from_bytes(data, cp_isolation=_NOT_WESTERN).best()
    if best is None or best.encoding in _WESTERN or best.encoding not in _NAMES:
        return None
    return str(best), _NAMES[best.encoding]


_NAMES = {"cp1252": "Windows-1252", "latin-1": "ISO-8859-1", "iso8859-15": "ISO-8859-15",
          "iso8859-1": "ISO-8859-1", "utf-8": "UTF-8", "cp1251": "Windows-1251",
          "koi8_r": "KOI8-R", "cp1253": "Windows-1253", "gb18030": "GB18030",
          "big5hkscs": "Big5", "big5": "Big5", "cp949": "EUC-KR", "euc_kr": "EUC-KR",
          "cp932": "Shift_JIS", "shift_jis": "Shift_JIS", "euc_jis_2004": "EUC-JP",
          "euc_jp": "EUC-JP"}
"""How notes name the charsets Chronik reads with (Python's codec name: the label)."""
_LATIN1_FALLBACK = "chronik-latin1"  # bytes a single-byte charset leaves undefined


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
# UTF-8 of a character read as Windows-1252/Latin-1 and encoded again: "Ã" .. "ô" followed
# by the second reading of a continuation byte (U+0080-U+00BF or a Windows-1252 special)
_TWICE_ENCODED = re.compile(
    rb"\xc3[\x82-\xb4](?:\xc2[\x80-\xbf]|\xc5[\x92\x93\xa0\xa1\xb8\xbd\xbe]|\xc6\x92"
    rb"|\xcb[\x86\x9c]|\xe2\x80[\x93\x94\x98-\x9a\x9c-\x9e\xa0-\xa2\xa6\xb0\xb9\xba]"
    rb"|\xe2\x82\xac|\xe2\x84\xa2)")


def _was(label: str | None, declared: str | None, used: str) -> str | None:
    """A note when the bytes were read in another charset than the declared one."""
    if declared == used or (declared in _WESTERN and used in _WESTERN):
        return None
    name = _NAMES.get(used, used)
    if label is None:
        return None if used == "utf-8" else f"no charset declared: read as {name}"
    if declared is None:
        return f"unknown charset {label!r}: read as {name}"
    return f"declared {label}, but the bytes are {name}"


_C1_AS_WINDOWS = {c: bytes([c]).decode("cp1252") for c in range(0x80, 0xA0)
                  if c not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
"""C1 control characters as Windows-1252 reads their bytes (``–``, ``€``, ``„``): no one
writes C1 controls in mail, so ISO-8859-1 and -15 text holding them is Windows text under a
Western label (as browsers read it)."""


_C1_BYTES = re.compile(b"[\x80-\x9f]")
_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")


def _western(data: bytes, single: str) -> str:
    text = data.decode(single, _LATIN1_FALLBACK)
    return text.translate(_C1_AS_WINDOWS) if _C1_BYTES.search(data) else text


def _segments(data: bytes, single: str) -> tuple[str, bool]:
    """Runs of valid UTF-8 read as UTF-8, every other byte as ``single``; True if mixed.

    Only the sequences :func:`_utf8_meant` picks count as UTF-8.
    """
    out: list[str] = []
    pos = 0
    for match in _utf8_meant(data):
        out.append(_western(data[pos:match.start()], single))
        out.append(match.group().decode("utf-8"))
        pos = match.end()
    out.append(_western(data[pos:], single))
    return "".join(out), pos > 0


def _utf8_meant(data: bytes) -> list[re.Match[bytes]]:
    """The UTF-8 sequences in ``data`` that are plausible next to Western text.

    Alone, that is a Latin letter or sign (``é`` is C3 A9, ``ł`` C5 82), typographic
    punctuation, a symbol or arrow (``€``, ``™``, ``→``, ``✓``: E2 ..), or an emoji: in
    Windows-1252 those bytes read as mojibake ("Ã©", "â€™"). Anything else counts only
    beside another UTF-8 sequence (a Cyrillic or Chinese quote is a run of them):
    single-byte text is full of byte pairs and triples that are valid UTF-8 by chance --
    French ``é\u00a0»`` is a Chinese character, ``É’`` an IPA letter, German ``ß“`` an NKo
    letter, and no one means them so.
    """
    found = list(_UTF8_SEQUENCE.finditer(data))
    return [match for index, match in enumerate(found)
            if _ALONE.match(match.group().decode("utf-8")) or _beside(found, index)]


_ALONE = re.compile("[\u00a0-\u017f\u2010-\u2bff\U0001f000-\U0001faff]")
"""Characters whose UTF-8 counts even alone amid Western text."""


def _beside(found: list[re.Match[bytes]], index: int) -> bool:
    """True if another UTF-8 sequence is at most one (ASCII) byte away."""
    here = found[index]
    return ((index > 0 and here.start() - found[index - 1].end() <= 1)
            or (index + 1 < len(found) and found[index + 1].start() - here.end() <= 1))


def _unmangle(text: str, data: bytes, note: str | None) -> tuple[str, str | None]:
    """Repair UTF-8 that was encoded twice, when the bytes show its signature; C1 control
    characters in UTF-8 (C2 80: Windows-1252's "€" converted as if it were Latin-1) read
    as the Windows-1252 characters they were (invisible before)."""
    if _C1_UTF8.search(data):
        text = text.translate(_C1_AS_WINDOWS)
        c1 = "C1 control characters read as Windows-1252 ('€', '–', '„')"
        note = f"{note}; {c1}" if note else c1
    if _TWICE_ENCODED.search(data) is None:
        return text, note
    fixed = ftfy.fix_encoding(text)
    if fixed == text:
        return text, note
    repaired = "UTF-8 encoded twice (mojibake such as 'Ã³'): repaired"
    return fixed, f"{note}; {repaired}" if note else repaired


# --------------------------------------------------------------------------- headers

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?([^?\s\"]*)\?([QqBb])\?(.*?)\?=")  # (charset may be left out)
_QUOTED_PAIR = re.compile(r"\\(.)")
_RAW_8BIT = re.compile("[\udc80-\udcff]")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")


def header_values(msg: Message, name: str, hint: str | None = None,
                  notes: list[str] | None = None) -> list[str]:
    """All raw values of header ``name``: 8-bit bytes decoded, unfolded, RFC 2047 kept.

    What had to be guessed about raw 8-bit bytes is appended to ``notes`` (when given).
    """
    return [header_value(str(value), hint, notes) for value in raw_values(msg, name)]


def header_value(text: str, hint: str | None = None, notes: list[str] | None = None) -> str:
    """One raw header value as :func:`header_values` gives it."""
    if not text.isascii() and _RAW_8BIT.search(text):  # raw 8-bit bytes in the header
        text, note = decode_text(text.encode("utf-8", "surrogateescape"), None, hint)
        if note and notes is not None:
            notes.append(f"raw 8-bit bytes, {note}")
    if "\n" in text or "\r" in text:
        text = _FOLDING.sub("", text).replace("\r", "").replace("\n", "")
    return CONTROL_CHARS.sub("", text).strip()


def decode_words(value: str, hint: str | None = None, notes: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words leniently.

    Accepts words inside quotes, words with spaces, bad base64 padding and unknown
    charsets; joins the bytes of adjacent words in the same charset before decoding, so a
    character split across two words survives. Charset guesses and repairs are appended to
    ``notes`` (when given).
    """
    if "=?" not in value:  # no encoded word (most headers)
        return CONTROL_CHARS.sub("", value)
    out: list[str] = []
    pending: tuple[str, bytearray] | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            text, note = decode_text(bytes(pending[1]), pending[0], hint)
            out.append(text)
            if note and notes is not None:
                notes.append(note)
            pending = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos:match.start()]
        if gap and (pending is None or gap.strip()):
            flush()
            out.append(gap)
        charset = match.group(1).split("*")[0].lower()
        if match.group(2) in "Bb":
            data = _b64(match.group(3))
        else:
            raw = match.group(3).replace("_", " ").encode("utf-8", "surrogateescape")
            data = re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
        if pending is not None and pending[0] == charset:
            pending[1].extend(data)
        else:
            flush()
            pending = (charset, bytearray(data))
        pos = match.end()
    flush()
    out.append(value[pos:])
    return CONTROL_CHARS.sub("", "".join(out))


def _b64(text: str) -> bytes:
    clean = re.sub(r"[^A-Za-z0-9+/]", "", text)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


_NAMED_ADDRESS = re.compile(r"[^<>\"]*<[^<>\s@\"]+@[^<>\s\"]+>")


def _without_commas(item: str) -> list[str]:
    """``Bob <bob@x> Bobby <bobby@x>``, two addresses without the comma between them (enmime's
    malformed-multiple-address-header-values): each on its own (the first was read as part
    of the second's name, and the sender became the second)."""
    if item.count("@") < 2 or '"' in item:
        return [item]
    pieces = _NAMED_ADDRESS.findall(item)
    if len(pieces) < 2 or "".join(pieces) != item.rstrip():
        return [item]
    return [piece.strip() for piece in pieces]


def addresses(value: str, hint: str | None = None, notes: list[str] | None = None
              ) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address-list header, leniently.

    Encoded words are protected while splitting, so a comma inside one does not split it;
    ``Name | [Org] <a@b>`` and ``a@b (Name)`` work; group syntax is flattened.
    """
    words: list[str] = []

    def protect(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"\x00{len(words) - 1}\x00"

    def restore(text: str) -> str:
        if "\x00" not in text:
            return text
        return _PROTECTED.sub(lambda m: words[int(m.group(1))], text)

    result: list[tuple[str, str]] = []
    items: list[str] = []
    names: list[str] = []  # "Müller, Anna <anna@…>" unquoted (as Outlook shows names): the
    for item in _split_list(_ENCODED_WORD.sub(protect, value.replace("\x00", ""))):
        if _NAME_PART.match(item):  # parts before the comma belong to the name
            names.append(item)
            continue
        if names and "<" in item:
            glue = " " if item.lstrip().startswith("<") else ","
            item = ",".join(names) + glue + item
        else:
            items.extend(names)
        items.append(item)
        names = []
    items.extend(names)
    for item in [piece for written in items for piece in _without_commas(written)]:
        item = _GROUP.sub("", item).strip()  # group "Team: ..."
        angle = _LAST_ANGLE.search(item)
        if angle:
            address, name = angle.group(1), item[:angle.start()] + item[angle.end():]
        else:
            comments = _COMMENT_TEXT.findall(item)
            address = _COMMENT.sub("", item)
            name = comments[0] if comments else ""
            address, name = _unbracketed(address, name)
        address = _SPACES.sub("", address).strip('"').removeprefix("mailto:")
        name = _COMMENT.sub("", name) if angle else name
        result.append((_display_name(restore(name), hint, notes), restore(address)))
    found = [(n, a) for n, a in result if a and not _NOT_IN_ADDRESS.search(a)]
    if words and not any("@" in a for _, a in found):  # the address itself encoded, as
        decoded = decode_words(value, hint)  # broken scripts write "=?UTF-8?B?…?=" for all
        inside = addresses(decoded, hint) if "@" in decoded and "=?" not in decoded else []
        if inside and all(_WHOLE_ADDRESS.match(a) for _, a in inside):
            if notes is not None:
                notes.append("the address was inside an encoded word: decoded first")
            return inside
    return found


def _unbracketed(text: str, name: str) -> tuple[str, str]:
    """An address written without its angle brackets (or with the closing one lost) after a
    name, as broken mailers do: ``Erika Mustermann erika@example.de`` and ``Erika
    <erika@example.de`` are Erika's address, not ``ErikaMustermannerika@example.de``. An
    address broken by spaces (``erika @ example.de``) is joined as before."""
    opened = text.rfind("<")
    if opened >= 0 and "@" in text[opened:]:
        return text[opened + 1:], name or text[:opened]
    words = text.split()
    with_at = [w for w in words if "@" in w]
    if len(words) > 1 and len(with_at) == 1 and _WHOLE_ADDRESS.match(with_at[0]):
        rest = " ".join(w for w in words if w is not with_at[0])
        return with_at[0], name or rest
    return text, name


_WHOLE_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME_PART = re.compile(r'^[^@<>:"()]*(?:[^\W\d_]|\x00\d+\x00)[^@<>:"()]*$')
"""A list item that can only be the first half of a name: letters, no address, no group."""
_PROTECTED = re.compile("\x00(\\d+)\x00")
_GROUP = re.compile(r'^\s*[^"<>()@,:]*:(?!:)')
_LAST_ANGLE = re.compile(r"<([^<>]*)>[^<>]*$")
_COMMENT_TEXT = re.compile(r"\(([^()]*)\)")
_COMMENT = re.compile(r"\([^()]*\)")
_SPACES = re.compile(r"\s+")
_NOT_IN_ADDRESS = re.compile(r"[\s<>]")


def _split_list(value: str) -> list[str]:
    if "," not in value and ";" not in value:  # one item (the usual From and To)
        return [value] if value.strip() else []
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = paren = 0
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or paren):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch in "()":
            paren = max(0, paren + (1 if ch == "(" else -1))
        elif ch in "<>" and not paren:
            angle = 1 if ch == "<" else 0
        elif ch in ",;" and not angle and not paren:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    return [i for i in items if i.strip()]


def _display_name(name: str, hint: str | None, notes: list[str] | None = None) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = _QUOTED_PAIR.sub(r"\1", name[1:-1])
    else:  # stray quotes, as in '"Müller" Bernd'
        name = name.replace('"', "")
    name = decode_words(name, hint, notes)
    name = re.sub(r"[ \t\r\n]+", " ", name).strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()
    return name


# --------------------------------------------------------------------------- filenames

_EXTENSIONS = {"application/octet-stream": ".bin", "text/plain": ".txt", "image/jpeg": ".jpg",
               "message/rfc822": ".eml", "message/delivery-status": ".txt",
               "text/rfc822-headers": ".txt", "text/html": ".html", "text/rtf": ".rtf",
               "message/disposition-notification": ".txt",
               "message/global-disposition-notification": ".txt",
               "message/global-delivery-status": ".txt", "message/feedback-report": ".txt"}


def filename_param(part: Message) -> str | None:
    """The decoded filename (RFC 2231, RFC 2047, raw 8-bit) of a part, if it has one."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name"),
                          ("content-type", "filename")):  # (the last as some programs write)
        for value in header_values(part, header)[:1]:
            if "name" not in value.lower():  # neither filename= nor name= (nor their *=)
                continue
            holder = Message()
            holder["X"] = value
            raw = holder.get_param(param, None, header="X")
            if isinstance(raw, tuple):
                charset, _, text = raw
                name = decode_bytes(str(text).encode("latin-1", "replace"), charset)
            elif raw is not None:
                name = collapse_rfc2231_value(raw)
            else:
                continue
            name = decode_words(name).strip()
            if name:
                return name
    return None


def safe_filename(name: str) -> str:
    name = CONTROL_CHARS.sub("", re.split(r"[/\\]", name)[-1]).replace("\t", " ")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 16 else name[:255]
    return name


def synth_filename(content_type: str, number: int) -> str:
    ext = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or (
        ".txt" if content_type.startswith("text/") else ".bin")  # text opens as text
    return f"{'image' if content_type.startswith('image/') else 'attachment'}-{number}{ext}"


_SYNTHESISED = re.compile(r"(?:image|attachment)-\d+\.\w+")


def synthesised(name: str) -> bool:
    """A name :func:`synth_filename` made up (the message gave none)."""
    return _SYNTHESISED.fullmatch(name) is not None


def type_of_name(name: str) -> str:
    """The content type a file's name says (``application/octet-stream``: none)."""
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
