"""A labelled set for the tone guard and the internal-marker check: how agents really write
about customers in notes (German and English, phrasings beyond the lexicon's own words,
hyphenated compounds), and what an insurance office writes factually that must never be
flagged (claims about roofs, pipes, scratches, thieves; "entitled to", "nicht ganz dicht").
Changes to the lexicon are judged by this set, not guessed."""

from __future__ import annotations

import pytest

from timeline.disclosure import check as disclosure
from timeline.tone import check

DEROGATORY = [
    "Der spinnt doch, ruft jeden Tag an.",
    "this guy is nuts",
    "Typischer Bild-Leser, glaubt alles.",
    "Kunde ist schwer von Begriff.",
    "So ein Meckerfritze!",
    "nightmare client, avoid",
    "Problem-Kunde, bitte Vorsicht",
    "Frau S. ist eine Zimtzicke.",
    "Der Kerl ist ein Vollpfosten.",
    "Der hat einen Vogel, ehrlich.",
    "Versicherungsbetrüger, sage ich",
    "Kunde geht mir auf die Nerven.",
    "Sie ist total irre.",
    "Der Alte ist doch senil.",
    "Wieder dieser Querkopf.",
    "Kunde ist arrogant und überheblich.",
    "Der lügt wie gedruckt.",
    "He's a complete moron.",
    "She is a drama queen.",
    "What a buffoon.",
    "The customer is a scammer.",
    "Honestly, this client is a total muppet.",
    "He is off his rocker.",
    "Old fart keeps calling.",
    "Sozialschmarotzer",
    "Der Kunde ist ein richtiger Stinkstiefel.",
]

FACTUAL = [
    "Die Heizung spinnt seit Montag, Techniker kommt.",
    "Das Fenster ist nicht ganz dicht, Wasser drang ein.",
    "Dachschaden nach dem Sturm vom 3. März.",
    "Ein hässlicher Kratzer am Kotflügel, Gutachten folgt.",
    "Kollision mit einem Vogel auf der A7.",
    "Verkalkter Boiler, Austausch nötig.",
    "Falls ich mich irre, melden Sie sich bitte.",
    "You are entitled to a refund of the premium.",
    "The thief broke in through the back door.",
    "It was a freak accident on the ice.",
    "The phone was lying on the table when it fell.",
    "Dense fog caused the collision.",
    "Noise from the flat above is a nuisance, says the tenant.",
    "A pest control company was called.",
    "The door came unhinged in the storm.",
    "A cuckoo clock was damaged.",
    "Fag burn on the sofa, photo attached.",
    "Hexenschuss nach dem Unfall, Arztbericht anbei.",
    "Die Firma sitzt in Frechen.",
    "Ein Irrtum der Sachbearbeitung, wir entschuldigen uns.",
    "Die Schnauze des Hundes wurde genäht (Tierkrankenversicherung).",
    "I know this has been an absolute nightmare for you.",
    "We understand you are fed up with the delays.",
    "Ihre E-Mail-Adresse haben wir geändert.",
    "Die Wohnung unter uns ist ebenfalls betroffen.",
    "The wall between us and the neighbours is damaged.",
    "Sehr geehrte Frau Müller-Lüdenscheidt, anbei die Police.",
    "Nach dem Umzug sind nicht alle Tassen im Schrank heil geblieben.",
    "The hinge has a screw loose, the door does not close.",
    "Die Schüssel hat einen Sprung.",
]


@pytest.mark.parametrize("text", DEROGATORY)
def test_derogatory_wording_is_found(text: str) -> None:
    assert check(text), text


@pytest.mark.parametrize("text", FACTUAL)
def test_factual_claims_wording_is_left_alone(text: str) -> None:
    assert check(text) == [], [h.text for h in check(text)]
    assert disclosure(text) == []


def test_a_hyphenated_hit_is_shown_as_written() -> None:
    assert [h.text for h in check("Typischer Bild-Leser")] == ["Typischer Bild-Leser"]
    assert [h.text for h in check("Ein Problem-Kunde")] == ["Problem-Kunde"]


@pytest.mark.parametrize("text", [
    "Just between us: the discount is a goodwill gesture.",
    "Between you and me, he will not get more.",
    "Off the record, the claim looks fishy.",
    "Ganz unter uns: zu teuer.",
    "Bitte nicht dem Kunden sagen, dass wir prüfen.",
])
def test_more_ways_of_marking_a_text_internal_are_found(text: str) -> None:
    assert [h.kind for h in disclosure(text)] == ["internal_marker"]
