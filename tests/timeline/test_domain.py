"""Publish policy, tone guard, identity normalisation, folding."""

from __future__ import annotations

import pytest

from timeline.errors import InvalidInput
from timeline.identity import normalise_email, normalise_phone
from timeline.models import Visibility
from timeline.policy import KindPreset, PresetSource, decide, preset
from timeline.text import fold, fold_tokens
from timeline.tone import check

PUB, INT = Visibility.PUBLISHED, Visibility.INTERNAL


@pytest.mark.parametrize("raw", [
    "0171 1234567", "+49 171 1234567", "0049-171/1234567", "(0171) 123 45 67",
    "+49 (0)171 1234567", "0049 171 1234567", "01711234567",
], ids=lambda s: s)
def test_phone_formats_normalise_to_e164(raw: str) -> None:
    assert normalise_phone(raw, "DE") == "+491711234567"


def test_phone_uses_office_region() -> None:
    assert normalise_phone("030 1234567", "DE") == "+49301234567"
    assert normalise_phone("01 234 5678", "AT") == "+4312345678"


@pytest.mark.parametrize("raw", ["", "abc", "12", "+49 171 1234567 999 999 999 999"])
def test_bad_phone_is_invalid_input(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_phone(raw, "DE")


@pytest.mark.parametrize("raw", [
    "Erika Mustermann <Erika@Example.DE>", '"Mustermann, Erika" <erika@example.de>',
    "mailto:erika@example.de", "mailto:Erika%40example.de?subject=Hallo",
    "erika@example.de.", "erika@example.de;", "Erika@Example.DE (privat)",
    "erika@example.de\u200b", "eri\u00adka@example.de",
], ids=["display-name", "quoted-name", "mailto", "mailto-encoded", "trailing-dot",
        "trailing-semicolon", "comment", "zero-width-space", "soft-hyphen"])
def test_email_as_people_copy_it(raw: str) -> None:
    assert normalise_email(raw) == "erika@example.de"


def test_two_email_addresses_in_one_value_are_refused() -> None:
    with pytest.raises(InvalidInput, match="more than one e-mail address"):
        normalise_email("Erika <erika@example.de>, Max <max@example.de>")


def test_email_casefolded() -> None:
    assert normalise_email(" <Erika.Mustermann@Example.DE> ") == "erika.mustermann@example.de"
    with pytest.raises(InvalidInput):
        normalise_email("not-an-address")


@pytest.mark.parametrize("a,b", [("Kündigung", "kundigung"), ("Kündigung", "Kuendigung"),
                                 ("Müller", "Mueller"), ("Muller", "Müller"),
                                 ("Straße", "Strasse"), ("GRÜSSE", "grüße")])
def test_folding_equates_german_spellings(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_system_default_is_publish_and_notify_for_notes_and_documents() -> None:
    for kind in ("note", "phone_note", "document"):
        d = preset(kind, {}, {})
        assert (d.visibility, d.notify) == (PUB, True)
        assert d.notify_source is PresetSource.SYSTEM


def test_office_overrides_system_agent_overrides_office() -> None:
    office = {"document": KindPreset(notify=False)}
    d = preset("document", {}, office)
    assert (d.visibility, d.notify, d.notify_source) == (PUB, False, PresetSource.OFFICE)
    agent = {"document": KindPreset(notify=True)}
    d = preset("document", agent, office)
    assert (d.notify, d.notify_source) == (True, PresetSource.AGENT)
    assert d.visibility_source is PresetSource.SYSTEM


def test_request_always_wins_and_implications() -> None:
    office = {"note": KindPreset(visibility=INT, notify=False)}
    d = decide("note", {}, office, None, True)  # notify implies published
    assert (d.visibility, d.notify) == (PUB, True)
    assert d.visibility_source is PresetSource.REQUEST
    d = decide("note", {}, {}, INT, None)  # internal implies no notification
    assert (d.visibility, d.notify) == (INT, False)
    assert d.notify_source is PresetSource.REQUEST
    d = decide("note", {}, office, PUB, None)  # published, notify from office
    assert (d.visibility, d.notify, d.notify_source) == (PUB, False, PresetSource.OFFICE)
    with pytest.raises(ValueError, match="notify requires"):
        decide("note", {}, {}, INT, True)


def test_internal_preset_never_notifies() -> None:
    d = preset("note", {"note": KindPreset(visibility=INT)}, {"note": KindPreset(notify=True)})
    assert (d.visibility, d.notify) == (INT, False)


@pytest.mark.parametrize("text,expected", [
    ("Herr K. ist ein Besserwisser und unsympathisch", ["Besserwisser", "unsympathisch"]),
    ("Typischer Bildzeitungsleser, Querulant", ["Typischer Bildzeitungsleser", "Querulant"]),
    ("Der Kunde ist ein Noergler.", ["Noergler"]),
    ("He was annoying and an idiot", ["annoying", "idiot"]),
], ids=["de", "phrase", "umlaut-spelling", "en"])
def test_tone_guard_finds_derogatory_words(text: str, expected: list[str]) -> None:
    assert [h.text for h in check(text)] == expected


@pytest.mark.parametrize("text", [
    "Kundin bittet um Rückruf wegen der Kündigung.",
    "Gesellschaft mit beschränkter Haftung",
    "Der Sturm hat das Dach beschädigt; kein Fehler (fault) des Kunden.",
], ids=["neutral", "gmbh", "false-friends"])
def test_tone_guard_leaves_neutral_text_alone(text: str) -> None:
    assert check(text) == []


def test_tone_guard_office_words() -> None:
    assert [h.text for h in check("ein echter Meckerer", ("meckerer*",))] == ["Meckerer"]


@pytest.mark.parametrize(("text", "words"), [
    ("Mu\u0308ller, Kündigung.", ["muller", "kundigung"]),  # decomposed and precomposed
    ("Frau\u00a0Müller\u3000Straße", ["frau", "muller", "strasse"]),  # odd spaces separate
    ("\ufb01nal ½ Preis", ["final", "1", "2", "preis"]),  # ligature; ½ is two numbers
    ("e-mail_adresse (Vertrag)", ["e", "mail", "adresse", "vertrag"]),
    ("", []),
])
def test_folded_words_are_the_same_the_first_and_every_later_time(
        text: str, words: list[str]) -> None:
    assert fold_tokens(text) == words
    assert fold_tokens(text) == words  # remembered stretches give the same words
    assert fold_tokens(f"{text} {text}") == words + words
