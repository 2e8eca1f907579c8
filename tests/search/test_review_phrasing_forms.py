"""German verbs and the nouns made from them find each other, on every backend: an agent
searching ``Kündigung`` finds the note "Kunde hat gekündigt", ``melden`` finds "Schaden
gemeldet", ``Erhöhung`` finds "Beitrag erhöht" -- and the reverse. A quoted word still finds
only its own spelling, and nouns that merely look like a participle (``Gericht``) do not
join a verb."""

from __future__ import annotations

import pytest

from search.analysis import verb_form
from search.backend import SearchBackend
from tests.search.test_backend_contract import entry, hits

TEXTS = [
    "Kunde hat die Lebensversicherung gekündigt, Rückkaufswert folgt",  # 0
    "Wildschaden am Freitag gemeldet, Teilkasko greift",  # 1
    "Der Beitrag wurde zum Januar erhöht",  # 2
    "Antrag auf Zahnzusatz storniert",  # 3
    "Unterlagen beim Versicherer eingereicht",  # 4
    "Die Kündigung der Hausratversicherung ist eingegangen",  # 5
    "Schadensmeldung Glasbruch, Meldung an den Versicherer",  # 6
    "Ihr Vertrag ist zum 1. Mai angemeldet",  # 7
    "Termin beim Gericht verschoben",  # 8
]


@pytest.mark.parametrize(("typed", "found"), [
    ("Kündigung", {0, 5}), ("kuendigung lebensversicherung", {0}), ("kündigen", {0, 5}),
    ("gekündigt", {0, 5}), ("Meldung Wildschaden", {1}), ("melden", {1, 6}),
    ("gemeldet", {1, 6}), ("Erhöhung Beitrag", {2}), ("erhöhen", {2}),
    ("Stornierung", {3}), ("stornieren", {3}), ("Einreichung", {4}), ("einreichen", {4}),
    ("Anmeldung", {7}), ("anmelden", {7}),
    ('"gekündigt"', {0}), ('"Kündigung"', {5}),  # quoted: this spelling only
    ("richten", set()), ("Gericht", {8}),
])
async def test_verbs_and_their_nouns_find_each_other(backend: SearchBackend, typed: str,
                                                     found: set[int]) -> None:
    docs = [entry(t, minutes=i) for i, t in enumerate(TEXTS)]
    await backend.index(docs)
    assert set(await hits(backend, typed)) == {docs[i].seq for i in found}


async def test_the_spelling_as_typed_ranks_first(backend: SearchBackend) -> None:
    verb = entry("Kunde hat gekündigt", minutes=2)
    noun = entry("Kündigung liegt vor", minutes=1)
    await backend.index([verb, noun])
    assert await hits(backend, "gekündigt", order="relevance") == [verb.seq, noun.seq]
    assert await hits(backend, "Kündigung", order="relevance") == [noun.seq, verb.seq]


@pytest.mark.parametrize("word", ["gericht", "gehalt", "gesicht", "zeitung", "markt",
                                  "vertrag", "kundigungsfrist", "dienst"])
def test_words_that_only_look_like_verb_forms(word: str) -> None:
    assert verb_form(word) is None


COMPOUNDS = [
    "Privathaftpflichtversicherung für die Familie abgeschlossen",  # 0
    "Hausratversicherungsvertrag liegt unterschrieben vor",  # 1
    "Wohngebäudeversicherung: Sturmschaden am Dach",  # 2
    "Rechtsschutz für den Arbeitsrechtsstreit",  # 3
]


@pytest.mark.parametrize(("typed", "found"), [
    ("Haftpflicht", {0}), ("Haftpflichtversicherung", {0}), ("Privathaftpflicht", {0}),
    ("Versicherungsvertrag", {1}), ("Hausrat", {1}), ("Vertrag", {1}),
    ("Gebäude", {2}), ("Gebäudeversicherung", {2}), ("Versicherung", {0, 1, 2}),
    ('"Haftpflicht"', set()),
])
async def test_a_part_of_a_long_compound_finds_it(backend: SearchBackend, typed: str,
                                                  found: set[int]) -> None:
    docs = [entry(t, minutes=i) for i, t in enumerate(COMPOUNDS)]
    await backend.index(docs)
    assert set(await hits(backend, typed)) == {docs[i].seq for i in found}
