"""``timeline.disclosure.check``: what should not reach a customer (payment data, colleagues,
internal addresses, "internal" markers), without crying wolf on ordinary words."""

from __future__ import annotations

from pathlib import Path

import pytest

from timeline.disclosure import DisclosureHit, check


def kinds(text: str, **kw: object) -> list[str]:
    return [h.kind for h in check(text, **kw)]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- IBAN
@pytest.mark.parametrize("iban", [
    "DE89 3704 0044 0532 0130 00",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "NL91 ABNA 0417 1643 00",
    "AT61 1904 3002 3457 3201",
    "BE68 5390 0754 7034",
    "CH93 0076 2011 6238 5295 7",
])
def test_valid_ibans_are_found(iban: str) -> None:
    assert check(f"Bitte auf {iban} überweisen.") == [DisclosureHit("iban", iban)]


def test_an_iban_in_lower_case_is_found() -> None:
    assert kinds("iban: de89 3704 0044 0532 0130 00") == ["iban"]


@pytest.mark.parametrize("iban", [
    "DE88 3704 0044 0532 0130 00",  # checksum off by one
    "DE89 3704 0044 0532 0130 01",  # a digit changed
    "GB82 WEST 1234 5698 7654 33",
])
def test_ibans_with_a_wrong_checksum_are_not(iban: str) -> None:
    assert "iban" not in kinds(f"Konto {iban}")


@pytest.mark.parametrize(("text", "iban"), [
    ("Konto BE68 5390 0754 7034 1000 EUR bis Freitag", "BE68 5390 0754 7034"),
    ("AT61 1904 3002 3457 3201 2024 eröffnet", "AT61 1904 3002 3457 3201"),
    ("IBAN BE68 5390 0754 7034 bitte bis Freitag", "BE68 5390 0754 7034"),
    ("DE89 3704 0044 0532 0130 00 1234", "DE89 3704 0044 0532 0130 00"),
])
def test_an_iban_followed_by_a_number_or_word_is_found(text: str, iban: str) -> None:
    assert check(text) == [DisclosureHit("iban", iban)]


def test_words_that_look_like_a_country_code_are_not_ibans() -> None:
    assert kinds("Vertrag HR-20391, Kennzeichen B-MM 1234, Termin 12.03.2026") == []


# ---------------------------------------------------------------------------- cards
@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
    "5555 5555 5555 4444", "3782 822463 10005",  # Amex, 15 digits
])
def test_luhn_valid_card_numbers_are_found(card: str) -> None:
    assert check(f"Karte {card} belastet") == [DisclosureHit("card", card)]


@pytest.mark.parametrize("number", [
    "4111 1111 1111 1112",  # Luhn fails
    "0000 0000 0000 0000",  # passes Luhn, but one digit repeated is no card
    "0171 1234567",  # a phone number: too short
    "4111 1111 1111",  # 12 digits
    "41111111111111111111",  # 20 digits
    # dates and times that pass Luhn: a pasted screenshot's name warned 1 time in 10
    "2026-12-05 00-07-00", "2026 12 05 00 15 00", "2026-12-05 00-08-17",
    "20261205 001500",  # (two runs of digits: a 14-digit run would need 13 in one)
    "1234 5678 9012 3452",  # passes Luhn, but no card starts with 1
    "4111-1111 1111-1111",  # mixed separators
    "41 1111 1111 1111 11",  # not in a card's groups
])
def test_other_numbers_are_not_cards(number: str) -> None:
    assert "card" not in kinds(f"Nummer {number}")


def test_a_screenshot_named_by_date_and_time_never_looks_like_a_card() -> None:
    """Every minute of a day, as the console names a pasted screenshot."""
    for hour in range(24):
        for minute in range(60):
            for second in (0, 7, 30, 59):
                name = f"Bildschirmfoto 2026-12-05 {hour:02d}-{minute:02d}-{second:02d}.png"
                assert kinds(f"Kunde schickt Bildschirmfoto\n{name}") == [], name


# ---------------------------------------------------------------------------- markers
@pytest.mark.parametrize("text", [
    "Intern: Provision prüfen", "Bitte nicht weitergeben!", "NICHT WEITERGEBEN",
    "Das ist vertraulich.", "streng vertraulich", "Nur intern.", "interne Notiz",
    "nicht an den Kunden", "Internal only", "do not forward this", "Confidential:",
    "Not for the customer",
    # other phrasings
    "Nur für den internen Gebrauch", "zur internen Verwendung", "Bitte nicht weiterleiten",
    "Nicht an Kunden weitergeben", "nicht für den Kunden bestimmt", "Der Kunde darf das nicht "
    "wissen", "Unter uns gesagt: zu teuer", "streng geheim", "Do not share with the customer",
    "Not to be shared with the client", "Don't tell the customer", "Don’t tell the client",
    "staff only", "Internally we agreed on a discount",
])
def test_internal_markers_are_found(text: str) -> None:
    assert kinds(text) == ["internal_marker"]


@pytest.mark.parametrize("text", [
    "Ihr Internet-Tarif", "international versichert", "Internetanschluss",
    "Vertraulichkeit ist uns wichtig", "confidentiality agreement", "Internist Dr. Weber",
    "interessant", "weitergeben dürfen Sie das gern",
])
def test_words_containing_a_marker_are_not_hits(text: str) -> None:
    assert kinds(text) == []


def test_a_marker_is_shown_as_written_in_the_list() -> None:
    assert check("Nicht für den Kunden bestimmt") == [
        DisclosureHit("internal_marker", "nicht für den kunden")]


def test_ordinary_notes_have_no_internal_marker() -> None:
    """The tone guard's corpus of ordinary notes (claims, contracts, appointments)."""
    notes = Path(__file__).parents[1] / "hardening" / "data" / "normal_notes.txt"
    for line in notes.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            assert "internal_marker" not in kinds(line), line


# ---------------------------------------------------------------------------- colleagues
COLLEAGUES = ["Jürgen Groß", "Tom Weber", "Bo"]


@pytest.mark.parametrize("written", [
    "Jürgen Groß", "Juergen Gross", "JURGEN GROSS", "jürgen  groß",
])
def test_colleagues_are_found_in_any_spelling(written: str) -> None:
    assert check(f"Das hat {written} so entschieden.", colleagues=COLLEAGUES) == [
        DisclosureHit("colleague", "Jürgen Groß")]


def test_colleague_names_need_whole_words() -> None:
    assert kinds("Tom Weberknecht und Atom Weber", colleagues=COLLEAGUES) == []


def test_very_short_names_are_not_checked() -> None:
    assert kinds("Bo war da, Bo Svensson auch", colleagues=COLLEAGUES) == []


def test_the_customers_own_name_is_not_a_colleague() -> None:
    text = "Sehr geehrter Herr Tom Weber, Ihre Police ist unterwegs."
    assert kinds(text, colleagues=COLLEAGUES, customer_names=["Tom Weber"]) == []
    assert kinds(text, colleagues=COLLEAGUES, customer_names=["Tom Wéber"]) == []
    assert kinds(text, colleagues=COLLEAGUES) == ["colleague"]


# ---------------------------------------------------------------------------- addresses
def test_internal_addresses_are_found_whatever_the_case() -> None:
    hits = check("Fragen an Tom.Weber@Buero.test oder info@example.org",
                 internal_addresses=["tom.weber@buero.test"])
    assert hits == [DisclosureHit("internal_address", "Tom.Weber@Buero.test")]


def test_internal_domains_cover_every_address_there() -> None:
    hits = check("an a@buero.test, b@BUERO.test und c@kunde.example",
                 internal_domains=["@buero.test"])
    assert [h.text for h in hits] == ["a@buero.test", "b@BUERO.test"]


def test_the_customers_own_address_is_fine() -> None:
    assert check("Wir schreiben an erika@example.de",
                 internal_addresses=["tom@buero.test"]) == []


# ---------------------------------------------------------------------------- together
def test_several_findings_each_once_in_order_of_kind() -> None:
    text = ("Intern: Tom Weber hat die IBAN DE89 3704 0044 0532 0130 00 und die Karte "
            "4111 1111 1111 1111 notiert; Tom Weber fragt tom@buero.test. Intern!")
    hits = check(text, colleagues=COLLEAGUES, internal_addresses=["tom@buero.test"])
    assert [h.kind for h in hits] == ["internal_marker", "colleague", "internal_address",
                                      "iban", "card"]


def test_an_ordinary_note_has_no_findings() -> None:
    text = ("Frau Mustermann zieht nach Hamburg. Wir bieten ihr eine neue Hausrat-Police mit "
            "Glasbruch an; Angebot folgt per E-Mail. Rückruf unter 0171 1234567.")
    assert check(text, colleagues=COLLEAGUES, internal_addresses=["tom@buero.test"],
                 customer_names=["Erika Mustermann"]) == []
