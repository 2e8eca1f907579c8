"""Phone numbers as PBXs send them: E.164 with or without ``+``, or ``anonymous``."""

from __future__ import annotations

import phonenumbers

from timeline.errors import InvalidInput
from timeline.identity import normalise_phone

WITHHELD = frozenset({"anonymous", "unknown", "restricted", "private", "withheld"})


def customer_number(raw: str | None, region: str) -> str | None:
    """The number to look the customer up by: ``492111234567`` (international without
    ``+``, as many PBXs send it) becomes ``+492111234567`` when it is not a valid national
    number of the office's region; a withheld number stays as it is."""
    if raw is None:
        return None
    value = raw.strip()
    if value.casefold() in WITHHELD or not value.isdigit() or value.startswith("0"):
        return value
    if not _valid("+" + value, region):
        return value
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    trunk = metadata.national_prefix if metadata else None
    if not _valid(value, region) or (trunk and not value.startswith(trunk)):
        return "+" + value
    return value


def e164_or_raw(raw: str | None, region: str) -> str | None:
    """E.164 when the number can be read (``+491711234567``), else as the PBX sent it."""
    value = customer_number(raw, region)
    if value is None or value.casefold() in WITHHELD:
        return value
    try:
        return normalise_phone(value, region)
    except InvalidInput:
        return value


def _valid(value: str, region: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(value, region.upper())))
    except phonenumbers.NumberParseException:
        return False


def display_number(number: str | None) -> str:
    if not number or number.casefold() in WITHHELD:
        return "a withheld number"
    return number
