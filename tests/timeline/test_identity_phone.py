"""Phone numbers as they really arrive: a ``+`` lost in a URL, a country code with blanks,
Unicode blanks pasted from documents, extensions, local numbers without their area code,
and withheld callers named by a SIP URI."""

from __future__ import annotations

import pytest

from timeline.errors import InvalidInput
from timeline.identity import international_digits, is_withheld, normalise_phone

ERIKA = "+491711234567"


@pytest.mark.parametrize("raw", [
    " 49 171 1234567", "49 171 1234567", "49-171-1234567", "(49) 1711234567",
    '"491711234567"', "%2B491711234567", "%2b49 171 1234567", "Tel.: 49 171 1234567",
    "49/171/1234567", "491711234567",
], ids=["unencoded-plus", "blanks", "dashes", "parenthesised", "quoted", "double-encoded",
        "double-encoded-lower", "label", "slashes", "digits"])
def test_a_country_code_without_plus_is_international_however_it_is_spaced(raw: str) -> None:
    """Each of these was ``+49491711234567`` (a valid number in Ostfriesland: a stranger)."""
    assert normalise_phone(raw, "DE") == ERIKA


def test_national_numbers_stay_national() -> None:
    assert normalise_phone("04917 11234567", "DE") == "+49491711234567"  # the real one
    assert normalise_phone("212 555 1234", "US") == "+12125551234"
    assert normalise_phone("(212) 555-1234", "US") == "+12125551234"
    assert international_digits("030 1234567", "DE") == "030 1234567"


@pytest.mark.parametrize("space", ["\u202f", "\u2009", "\u2007", "\u2002", "\u2000",
                                   "\u200a", "\u205f", "\u00a0", "\u3000"],
                         ids=lambda s: f"U+{ord(s):04X}")
def test_unicode_blanks_pasted_from_documents(space: str) -> None:
    assert normalise_phone(f"0171{space}1234567", "DE") == ERIKA
    assert normalise_phone(f"+49{space}171{space}123{space}45{space}67", "DE") == ERIKA


def test_typographic_dashes_and_full_width_digits() -> None:
    assert normalise_phone("０１７１ １２３４５６７", "DE") == ERIKA
    assert normalise_phone("＋４９ １７１ １２３４５６７", "DE") == ERIKA
    assert normalise_phone("0171\u20131234567", "DE") == ERIKA
    assert normalise_phone("0171\u22121234567", "DE") == ERIKA


def test_an_extension_after_a_dash_is_not_part_of_a_mobile_number() -> None:
    """``0171 1234567-12`` made ``+49171123456712``, no number anyone can have; a Berlin
    number with its direct-dial digits is one number and stays whole."""
    assert normalise_phone("0171 1234567-12", "DE") == ERIKA
    assert normalise_phone("030 1234567-12", "DE") == "+4930123456712"


@pytest.mark.parametrize(("raw", "why"), [
    ("2345678", "a local number without its area code"),
    ("1234567", "a local number without its area code"),
    ("171 1234567", "a local number without its area code"),
    ("0171 12", r"not a (valid|possible) phone number"),
    ("+49 171 1", "not a possible phone number"),
    ("4915123456789\x00", "control characters"),
])
def test_impossible_and_incomplete_numbers_are_refused(raw: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        normalise_phone(raw, "DE")


@pytest.mark.parametrize("raw", [
    "anonymous", "Unbekannt", "sip:anonymous@anonymous.invalid",
    '"Anonymous" <sip:anonymous@anonymous.invalid>', "<sip:anonymous@pbx.example>",
    "tel:unknown", "", "  "])
def test_withheld_numbers_are_named_so(raw: str) -> None:
    assert is_withheld(raw)
    with pytest.raises(InvalidInput, match=r"withheld number|not a phone number"):
        normalise_phone(raw, "DE")
    if raw.strip():
        with pytest.raises(InvalidInput, match="withheld number"):
            normalise_phone(raw, "DE")


def test_a_sip_uri_of_a_number_is_no_withheld_caller() -> None:
    assert not is_withheld("sip:01711234567@pbx;user=phone")
    assert normalise_phone('"Erika" <sip:+491711234567@pbx.example>', "DE") == ERIKA
