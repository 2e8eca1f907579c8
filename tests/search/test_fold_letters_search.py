"""Search finds names written with letters that do not decompose (``Łukasz``, ``Søren Ærø``,
``Œuvre``) by the way agents type them, and the other way round, on every backend; snippets
mark the word as written and suggestions spell it as the office writes it."""

from __future__ import annotations

from search.backend import SearchBackend
from search.query import parse
from search.snippet import snippet
from tests.search.test_backend_contract import entry, hits
from timeline.text import fold


async def test_names_are_found_as_agents_type_them(backend: SearchBackend) -> None:
    pole = entry("Rückruf von Łukasz Wójcik wegen der Police")
    dane = entry("Søren Ærø hat die Unterlagen geschickt", minutes=1)
    art = entry("Œuvre complète, Kunstversicherung", minutes=2)
    typed = entry("Termin mit Lukasz Wojcik", minutes=3)
    await backend.index([pole, dane, art, typed])
    assert sorted(await hits(backend, "Lukasz Wojcik")) == sorted([pole.seq, typed.seq])
    assert sorted(await hits(backend, "Łukasz")) == sorted([pole.seq, typed.seq])
    assert await hits(backend, '"Lukasz Wojcik" Police') == [pole.seq]  # a phrase survives
    assert await hits(backend, "Soren Aeroe") == [dane.seq]
    assert await hits(backend, "Soeren") == [dane.seq]
    assert await hits(backend, "Oeuvre") == [art.seq]
    assert await hits(backend, "Wójc*") == [typed.seq, pole.seq]
    suggestions = await backend.suggest("OFFICEA", "Sorenn")
    assert suggestions and fold(suggestions[0]) == "soren"


def test_the_snippet_marks_the_name_as_written() -> None:
    shown = snippet("Rückruf von Łukasz Wójcik, Søren Ærø", parse("Lukasz Wojcik Aeroe"))
    assert shown == ("Rückruf von <mark>Łukasz</mark> <mark>Wójcik</mark>, Søren "
                     "<mark>Ærø</mark>")
