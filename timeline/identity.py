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


_URI = re.compile(r"^<?(?:sips?:([^@;>]+)(?:@[^>]*)?|tel:([^;>]+)(?:;[^>]*)?)>?$", re.I)
_LETTER = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=4096)
def normalise_phone(value: str, region: str) -> str:
    """E.164 for any common way of writing a number (``0171 1234567``, ``0049-171/1234567``),
    also as a PBX names the caller (``sip:0301234567@pbx;user=phone``, ``tel:…;phone-context=…``)
    and as people note it down (``030 1234567 (privat)``, ``Mobil: 0171 2345678``: the words
    around it are not the number — read as keypad letters they would make a different one).
    Two numbers in one value are refused (``InvalidInput``) rather than one guessed."""
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 60:
        raise InvalidInput(f"not a phone number: {value!r}")
    uri = _URI.match(cleaned)
    if uri:
        cleaned = (uri.group(1) or uri.group(2)).strip()
    cleaned = international_digits(cleaned, region)
    if _LETTER.search(cleaned):
        found = _numbers_in_text(cleaned, region)
        if len(found) > 1:
            raise _several(value)
        if found:
            return found[0]
        if any(c.islower() for c in cleaned):  # "0171 abc": a typo, not keypad letters
            raise _refused(value, cleaned, region, "letters in a phone number (a vanity "
                           "number is written in capitals: 0800 FLOWERS)")
    try:
        number = phonenumbers.parse(cleaned, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise _refused(value, cleaned, region, "not a phone number") from exc
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 5:
        raise _refused(value, cleaned, region, "not a possible phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _several(value: str) -> InvalidInput:
    return InvalidInput(f"more than one phone number in {value!r}: enter one per field")


def _refused(value: str, cleaned: str, region: str, why: str) -> InvalidInput:
    """Why ``value`` is no number: it holds several (``030 1234567 / 0171 2345678``), or
    ``why``."""
    if len(_numbers_in_text(cleaned, region)) > 1:
        return _several(value)
    return InvalidInput(f"{why}: {value!r}")


def _numbers_in_text(text: str, region: str) -> list[str]:
    """The possible numbers written in ``text`` (phonenumbers' matcher, which skips words
    and extensions), E.164, each once, in order."""
    found: list[str] = []
    for match in phonenumbers.PhoneNumberMatcher(text, region.upper(),
                                                 leniency=phonenumbers.Leniency.POSSIBLE):
        number = match.number
        if len(str(number.national_number)) < 5 or not phonenumbers.is_possible_number(number):
            continue  # "Durchwahl 12"
        e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if e164 not in found:
            found.append(e164)
    return found


def international_digits(value: str, region: str) -> str:
    """``491711234567`` (international without ``+``, as many PBXs and CRMs send it) becomes
    ``+491711234567`` when that is a valid number and the digits are not how the office's
    region writes a national number (in Germany national numbers start with the trunk
    prefix 0; in the US ``2125551234`` stays national). Anything else is returned as it is."""
    if not value.isdigit() or value.startswith("0") or not _valid("+" + value, region):
        return value
    if not _valid(value, region):
        return "+" + value
    national = phonenumbers.parse(value, region.upper())
    written = phonenumbers.format_number(national, phonenumbers.PhoneNumberFormat.NATIONAL)
    trunk = _trunk_prefix(region)
    if trunk and re.sub(r"\D", "", written).startswith(trunk):
        return "+" + value  # the region writes national numbers with its trunk prefix
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
