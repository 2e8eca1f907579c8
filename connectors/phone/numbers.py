"""Phone numbers as PBXs send them: E.164 with or without ``+``, or ``anonymous``."""

from __future__ import annotations

from timeline.errors import InvalidInput
from timeline.identity import international_digits, normalise_phone

WITHHELD = frozenset({"anonymous", "unknown", "restricted", "private", "withheld",
                      "unavailable", "blocked", "clir", "anonym", "unbekannt", "unterdrückt",
                      "unterdrueckt", "privat"})
"""How PBXs (sipgate, Asterisk, 3CX, Fritz!Box, German and English firmware) name a number
the caller withheld."""


def customer_number(raw: str | None, region: str) -> str | None:
    """The number to look the customer up by: ``492111234567`` (international without
    ``+``, as many PBXs send it) becomes ``+492111234567`` unless the digits are how the
    office's region writes a national number (``timeline.identity.international_digits``);
    a withheld number stays as it is."""
    if raw is None:
        return None
    value = raw.strip()
    if value.casefold() in WITHHELD:
        return value
    return international_digits(value, region)


def e164_or_raw(raw: str | None, region: str) -> str | None:
    """E.164 when the number can be read (``+491711234567``), else as the PBX sent it."""
    value = customer_number(raw, region)
    if value is None or value.casefold() in WITHHELD:
        return value
    try:
        return normalise_phone(value, region)
    except InvalidInput:
        return value


def display_number(number: str | None) -> str:
    if not number or number.casefold() in WITHHELD:
        return "a withheld number"
    return number
