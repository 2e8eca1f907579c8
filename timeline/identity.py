"""Normalising identities: e-mail case-folded, phones to E.164 with the office's region."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from timeline.errors import InvalidInput
from timeline.models import IdentityKind

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    try:
        number = phonenumbers.parse(cleaned, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {value!r}") from exc
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 5:
        raise InvalidInput(f"not a possible phone number: {value!r}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_identity(kind: IdentityKind, value: str, region: str) -> str:
    if kind is IdentityKind.EMAIL:
        return normalise_email(value)
    if kind is IdentityKind.PHONE:
        return normalise_phone(value, region)
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 200 or _CONTROL.search(cleaned):
        raise InvalidInput(f"not a {kind.value} identity: {value!r}")
    return cleaned
