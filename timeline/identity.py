"""Normalising identities: e-mail case-folded, phones to E.164 with the office's region."""

from __future__ import annotations

import re
import unicodedata
from email.utils import getaddresses
from functools import lru_cache
from urllib.parse import unquote

import phonenumbers

from timeline.errors import InvalidInput
from timeline.models import IdentityKind

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TELEGRAM_CHAT = re.compile(r"^-?[1-9][0-9]{0,19}$")


def normalise_telegram(value: str) -> str:
    """A Telegram identity is the numeric chat id (a user's id; negative for a group)."""
    cleaned = value.strip()
    if not _TELEGRAM_CHAT.match(cleaned):
        raise InvalidInput(f"not a Telegram chat id: {value[:60]!r} (Telegram identities are "
                           "numbers such as 123456789, negative for groups; a @username "
                           "cannot be messaged - send the customer a Telegram link instead)")
    return cleaned


@lru_cache(maxsize=4096)  # (an import asks for the same senders again and again)
def normalise_email(value: str) -> str:
    """The comparison form of one address, also as people copy it: from a mail program
    (``Erika Mustermann <erika@example.de>``, ``erika@example.de (privat)``), a link
    (``mailto:``), a list (a trailing ``;``), with a trailing dot on the domain or an
    invisible character pasted along (zero-width space, soft hyphen). Two addresses in one
    value are refused rather than one guessed."""
    text = "".join(ch for ch in value if unicodedata.category(ch) != "Cf").strip()
    if text[:7].lower() == "mailto:":
        text = unquote(text[7:].split("?", 1)[0])
    text = text.strip().rstrip(",;").strip()
    if any(ch in text for ch in '<>(),"'):
        found = [address for _name, address in getaddresses([text]) if address]
        if len(found) > 1:
            raise InvalidInput(f"more than one e-mail address in {value!r}: enter one per field")
        text = found[0] if found else text
    local, at, domain = text.strip().strip("<>").strip().rpartition("@")
    email = local + at + unicode_domain(domain.rstrip("."))
    if _CONTROL.search(email) or not _EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {value!r}")
    return email.casefold()


def unicode_domain(domain: str) -> str:
    """An internationalised domain in one form however it was written: ``müller.de``
    and its ASCII form ``xn--mller-kva.de`` (what most mail programs put in headers) are
    one mailbox's domain. Labels that are not valid punycode stay as they are."""
    if "xn--" not in domain.lower():
        return unicodedata.normalize("NFC", domain)
    labels = []
    for label in domain.split("."):
        if label[:4].lower() == "xn--":
            try:
                label = label.lower().encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return unicodedata.normalize("NFC", ".".join(labels))


def unicode_email(value: str) -> str:
    """A stored e-mail identity in today's form: its domain as Unicode (``xn--`` labels
    decoded). For data migrations of values stored before domains were read that way."""
    local, at, domain = value.rpartition("@")
    return (local + at + unicode_domain(domain)).casefold() if at else value


def ascii_address(address: str) -> str:
    """``address`` with its domain in ASCII (IDNA) form, for SMTP and mail headers, which
    need it unless the server speaks SMTPUTF8; the address as it is when that fails."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return local + at + domain.encode("idna").decode("ascii")
    except UnicodeError:
        return address


WITHHELD = frozenset({"anonymous", "unknown", "restricted", "private", "withheld",
                      "unavailable", "blocked", "clir", "anonym", "unbekannt", "unterdrückt",
                      "unterdrueckt", "privat"})
"""How PBXs (sipgate, Asterisk, 3CX, Fritz!Box, German and English firmware) name a number
the caller withheld (also as the user part of a SIP URI: ``sip:anonymous@anonymous.invalid``,
RFC 3323)."""

_URI = re.compile(r"^<?(?:sips?:([^@;>]+)(?:@[^>]*)?|tel:([^;>]+)(?:;[^>]*)?)>?$", re.I)
_NAME_ADDR = re.compile(r'^(?:"[^"]*"|[^"<>]*)\s*<((?:sips?|tel):[^<>]+)>$', re.I)
"""A SIP name-addr: ``"Anonymous" <sip:anonymous@anonymous.invalid>``."""
_LETTER = re.compile(r"[^\W\d_]")
_SEPARATORS = re.compile(r"[\s\-./()\[\]\"'‘’“”„]")
"""What people and PBXs write between the digits of one number."""
_TRAILING_EXTENSION = re.compile(r"\s*[-/]\s*\d{1,5}\s*$")
"""``0171 1234567-12``: an extension written after a dash (or slash)."""


def phone_text(value: str) -> str:
    """``value`` as a number is read: Unicode blanks pasted from documents (narrow no-break
    space U+202F, thin space U+2009, figure space U+2007, …) are blanks, dashes (U+2010 to
    U+2015, the minus sign) are ``-``, invisible format characters (zero-width space, soft
    hyphen) are dropped, a percent-encoded value (``%2B49…``, what a URL encoded twice
    leaves) is decoded, and a SIP or tel URI (``sip:0171…@pbx;user=phone``,
    ``"Anonymous" <sip:anonymous@anonymous.invalid>``) is its user part. Control
    characters are ``InvalidInput``."""
    chars = []
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        if category in ("Zs", "Zl", "Zp") or ch in "\t\r\n":
            ch = " "
        elif category == "Pd" or ch == "\u2212":
            ch = "-"
        chars.append(ch)
    # full-width digits and signs (０１７１, ＋４９) as the digits they are
    text = unicodedata.normalize("NFKC", "".join(chars)).strip()
    if "%" in text:
        text = unquote(text).strip()
    if _CONTROL.search(text):
        raise InvalidInput(f"control characters in a phone number: {value[:60]!r}")
    name_addr = _NAME_ADDR.match(text)
    if name_addr:
        text = name_addr.group(1).strip()
    uri = _URI.match(text)
    if uri:
        text = unquote(uri.group(1) or uri.group(2)).strip()
    return text


@lru_cache(maxsize=4096)
def is_withheld(value: str | None) -> bool:
    """Whether a PBX's caller field names no number: empty, ``anonymous`` and the other
    words of :data:`WITHHELD`, also inside a SIP URI (``sip:anonymous@anonymous.invalid``).
    Kept per value, as ``normalise_phone`` (a ringing number is asked for again)."""
    if value is None:
        return True
    try:
        text = phone_text(value)
    except InvalidInput:
        return False
    return not text or text.casefold() in WITHHELD


@lru_cache(maxsize=4096)
def normalise_phone(value: str, region: str) -> str:
    """E.164 for any common way of writing a number (``0171 1234567``, ``0049-171/1234567``,
    ``49 171 1234567``), also as a PBX names the caller (``sip:0301234567@pbx;user=phone``,
    ``tel:…;phone-context=…``) and as people note it down (``030 1234567 (privat)``,
    ``Mobil: 0171 2345678``: the words around it are not the number — read as keypad
    letters they would make a different one). Only a valid number of its country is one
    (``0171 1234567-12`` is ``0171 1234567`` with an extension; ``2345678``, a local number
    without its area code, is refused). Two numbers in one value are refused
    (``InvalidInput``) rather than one guessed; so is a withheld number (``anonymous``)."""
    if len(value) > 200:
        raise InvalidInput(f"not a phone number: {value[:60]!r}…")
    cleaned = phone_text(value)
    if cleaned.casefold() in WITHHELD:
        raise InvalidInput(f"withheld number: {value!r}")
    if not cleaned or len(cleaned) > 60:
        raise InvalidInput(f"not a phone number: {value!r}")
    if _LETTER.search(cleaned):
        found = _numbers_in_text(cleaned, region)
        if len(found) > 1:
            raise _several(value)
        if found:
            return found[0]
        if any(c.islower() for c in cleaned):  # "0171 abc": a typo, not keypad letters
            raise _refused_or_several(value, cleaned, region, "letters in a phone number "
                                      "(a vanity number is written in capitals: 0800 FLOWERS)")
    return _e164(value, cleaned, region)


def _e164(value: str, cleaned: str, region: str, *, in_text: bool = False) -> str:
    """The valid number ``cleaned`` writes, E.164 (``InvalidInput`` saying why not;
    ``in_text``: a candidate of :func:`_numbers_in_text`, not checked for several numbers)."""
    def refused(why: str) -> InvalidInput:
        return InvalidInput(f"{why}: {value!r}") if in_text else \
            _refused_or_several(value, cleaned, region, why)

    text = international_digits(cleaned, region)
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise refused("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        shorter = _TRAILING_EXTENSION.sub("", text)
        if shorter != text and _valid(shorter, region):  # "0171 1234567-12"
            number = phonenumbers.parse(shorter, region.upper())
        elif not phonenumbers.is_possible_number(number) or \
                len(str(number.national_number)) < 5:
            raise refused("not a possible phone number")
        elif _no_trunk_prefix(text, region):
            raise _local(value)
        else:
            raise refused("not a valid phone number (check the digits and the area code)")
    if _without_area_code(text, number, region):
        raise _local(value)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _local(value: str) -> InvalidInput:
    return InvalidInput(f"a local number without its area code: {value!r} (write it with "
                        "its area code, or in international form with +)")


def _no_trunk_prefix(text: str, region: str) -> bool:
    """Whether ``text`` is written without ``+`` and without the trunk prefix of a region
    that writes national numbers with one (Germany's ``0``)."""
    trunk = _trunk_prefix(region)
    digits = re.sub(r"\D", "", text)
    return bool(trunk) and not text.lstrip().startswith("+") and not digits.startswith(
        trunk or "")


def _without_area_code(text: str, number: phonenumbers.PhoneNumber, region: str) -> bool:
    """``2345678`` in Germany: national numbers are written with the trunk prefix ``0``
    there, so digits without it (and without ``+``) are a local number whose area code is
    missing — phonenumbers would read the first digits as one (``+49 234 5678``)."""
    trunk = _trunk_prefix(region)
    if not trunk or not _no_trunk_prefix(text, region):
        return False
    if number.country_code != phonenumbers.country_code_for_region(region.upper()):
        return False
    return _written_with_trunk(number, trunk)


def _written_with_trunk(number: phonenumbers.PhoneNumber, trunk: str) -> bool:
    written = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return re.sub(r"\D", "", written).startswith(trunk)


def _several(value: str) -> InvalidInput:
    return InvalidInput(f"more than one phone number in {value!r}: enter one per field")


def _refused_or_several(value: str, cleaned: str, region: str, why: str) -> InvalidInput:
    """Why ``value`` is no number: it holds several (``030 1234567 / 0171 2345678``), or
    ``why``."""
    if len(_numbers_in_text(cleaned, region)) > 1:
        return _several(value)
    return InvalidInput(f"{why}: {value!r}")


def _numbers_in_text(text: str, region: str) -> list[str]:
    """The valid numbers written in ``text`` (phonenumbers' matcher, which skips words
    and extensions; each candidate read as :func:`normalise_phone` reads a number, so
    ``Tel.: 49 171 1234567`` is ``+491711234567``), E.164, each once, in order."""
    found: list[str] = []
    for match in phonenumbers.PhoneNumberMatcher(text, region.upper(),
                                                 leniency=phonenumbers.Leniency.POSSIBLE):
        if len(str(match.number.national_number)) < 5:
            continue  # "Durchwahl 12"
        try:
            e164 = _e164(match.raw_string, match.raw_string, region, in_text=True)
        except InvalidInput:
            continue
        if e164 not in found:
            found.append(e164)
    return found


def written_number(candidate: str, region: str) -> str | None:
    """E.164 of a stretch of a text that writes exactly one valid number
    (``0171 / 123 45 67``), read as :func:`normalise_phone` reads one; ``None`` when it
    writes none or several (cheap: no search for numbers inside it)."""
    try:
        return _e164(candidate, phone_text(candidate), region, in_text=True)
    except InvalidInput:
        return None


def international_digits(value: str, region: str) -> str:
    """``491711234567``, ``49 171 1234567``, ``(49) 1711234567`` (international without
    ``+``, as many PBXs and CRMs send it, or a ``+`` lost in a URL) becomes
    ``+491711234567`` when that is a valid number and the digits are not how the office's
    region writes a national number (in Germany national numbers start with the trunk
    prefix 0; in the US ``2125551234`` stays national). Anything else is returned as it is."""
    text = value.strip()
    digits = _SEPARATORS.sub("", text)
    if text.startswith(("0", "+")) or not (digits.isascii() and digits.isdigit()) \
            or digits.startswith("0") or not _valid("+" + digits, region):
        return value
    if not _valid(digits, region):
        return "+" + digits
    national = phonenumbers.parse(digits, region.upper())
    trunk = _trunk_prefix(region)
    if trunk and _written_with_trunk(national, trunk):
        return "+" + digits  # the region writes national numbers with its trunk prefix
    return value


def _trunk_prefix(region: str) -> str | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    return metadata.national_prefix if metadata else None


def _valid(value: str, region: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(value, region.upper())))
    except phonenumbers.NumberParseException:
        return False


def earlier_forms(kind: IdentityKind, value: str) -> tuple[str, ...]:
    """Other forms earlier versions stored a normalised ``value`` in, for what cannot be
    rewritten on upgrade (the keyed hashes an erasure leaves): an e-mail address with an
    internationalised domain was kept with its ASCII (``xn--``) domain."""
    if kind is IdentityKind.EMAIL:
        ascii_form = ascii_address(value)
        if ascii_form != value:
            return (ascii_form,)
    return ()


def normalise_identity(kind: IdentityKind, value: str, region: str) -> str:
    if kind is IdentityKind.EMAIL:
        return normalise_email(value)
    if kind is IdentityKind.PHONE:
        return normalise_phone(value, region)
    if kind is IdentityKind.TELEGRAM:
        return normalise_telegram(value)
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 200 or _CONTROL.search(cleaned):
        raise InvalidInput(f"not a {kind.value} identity: {value!r}")
    return cleaned
