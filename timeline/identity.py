"""Normalising identities: e-mail case-folded, phones to E.164 with the office's region."""

from __future__ import annotations

import re
from functools import lru_cache

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
    email = value.strip().strip("<>").strip()
    if _CONTROL.search(email) or not _EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {value!r}")
    return email.casefold()


@lru_cache(maxsize=4096)
def normalise_phone(value: str, region: str) -> str:
    """E.164 for any common way of writing a number (``0171 1234567``, ``0049-171/1234567``)."""
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 40:
        raise InvalidInput(f"not a phone number: {value!r}")
    cleaned = international_digits(cleaned, region)
    try:
        number = phonenumbers.parse(cleaned, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {value!r}") from exc
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 5:
        raise InvalidInput(f"not a possible phone number: {value!r}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


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
