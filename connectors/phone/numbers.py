"""Phone numbers as PBXs send them: E.164 with or without ``+``, as a SIP/tel URI, or
withheld (``anonymous``, ``sip:anonymous@anonymous.invalid``, an empty field)."""

from __future__ import annotations

from timeline.errors import InvalidInput
from timeline.identity import (
    WITHHELD,
    international_digits,
    is_withheld,
    normalise_phone,
    phone_text,
)

__all__ = ["WITHHELD", "customer_number", "display_number", "e164_or_raw", "is_extension",
           "is_withheld"]

ANONYMOUS = "anonymous"
"""How a withheld number is kept in a call's state, however the PBX wrote it."""


def customer_number(raw: str | None, region: str) -> str | None:
    """The number to look the customer up by: ``492111234567`` or ``49 211 1234567``
    (international without ``+``, as many PBXs send it) becomes ``+492111234567`` unless
    the digits are how the office's region writes a national number
    (``timeline.identity.international_digits``); a withheld number is ``anonymous``."""
    if raw is None:
        return None
    if is_withheld(raw):
        return ANONYMOUS
    try:
        value = phone_text(raw)
    except InvalidInput:
        return raw.strip()
    return international_digits(value, region)


def e164_or_raw(raw: str | None, region: str) -> str | None:
    """E.164 when the number can be read (``+491711234567``), ``anonymous`` when it was
    withheld, else as the PBX sent it."""
    value = customer_number(raw, region)
    if value is None or value == ANONYMOUS:
        return value
    try:
        return normalise_phone(value, region)
    except InvalidInput:
        return value


def display_number(number: str | None) -> str:
    if not number or is_withheld(number):
        return "a withheld number"
    return number


MAX_EXTENSION = 6
"""Digits of an extension at most (PBXs number them with 2 to 6 digits)."""


def is_extension(raw: str | None, region: str) -> bool:
    """Whether a PBX's number is one of the office's own extensions (``201``, ``**610``):
    a few digits that are no valid number of ``region``."""
    if raw is None or is_withheld(raw):
        return False
    try:
        value = phone_text(raw)
    except InvalidInput:
        return False
    digits = value.lstrip("*#")
    if not (digits.isascii() and digits.isdigit() and 2 <= len(digits) <= MAX_EXTENSION):
        return False
    try:
        normalise_phone(digits, region)
    except InvalidInput:
        return True
    return False
