"""Phone numbers in full text are found however they are written, on every backend (FTS5 and
the search engine): a note's ``0171 / 123 45 67`` by ``+49 171 1234567``, a signature's
``+49 (0)171 1234567`` by ``01711234567`` — and nothing else by them (another number, an
IBAN, amounts and dates stay words)."""

from __future__ import annotations

import pytest

from search.backend import SearchBackend
from search.phones import PhoneForms, numbers
from search.query import SearchFilters, SearchRequest, parse
from search.snippet import Highlighter
from tests.search.test_backend_contract import entry


async def _germany(_office: str) -> str | None:
    return "DE"


WRITTEN = [
    "Bitte Rückruf unter 0171 / 123 45 67, danke",
    "Mit freundlichen Grüßen, Tel. +49 (0)171 1234567",
    "Handy: 01711234567 (nur abends)",
    "Neue Nummer 0049-171/1234567",
]
OTHERS = [
    "Rückruf unter 0171 7654321 erbeten",
    "IBAN DE89 3704 0044 0532 0130 00, Betrag 1711,23 EUR am 4.9.2025",
    "Vertrag 171 1234567 ohne Vorwahl",  # no area code or country: not a number
]


async def _found(backend: SearchBackend, q: str) -> set[int]:
    page = await backend.search(SearchRequest(query=parse(q, "DE"),
                                              filters=SearchFilters(office_id="OFFICEA"),
                                              limit=50))
    return {h.seq for h in page.hits}


@pytest.mark.parametrize("typed", ["+49 171 1234567", "0171 1234567", "(0171) 123 45 67",
                                   "0049 171 1234567", "+491711234567", "0171-1234567"])
async def test_a_number_finds_every_way_it_is_written(backend: SearchBackend,
                                                      typed: str) -> None:
    docs = [entry(t, minutes=i) for i, t in enumerate(WRITTEN + OTHERS)]
    await backend.index(await PhoneForms(_germany).annotate(docs))
    assert await _found(backend, typed) == {d.seq for d in docs[:len(WRITTEN)]}


async def test_a_number_combines_with_words_and_or(backend: SearchBackend) -> None:
    docs = [entry(t, minutes=i) for i, t in enumerate(WRITTEN + OTHERS)]
    await backend.index(await PhoneForms(_germany).annotate(docs))
    assert await _found(backend, "Rückruf +49 171 1234567") == {docs[0].seq}
    assert await _found(backend, "0171 7654321 OR +49 171 1234567") == {
        d.seq for d in docs[:len(WRITTEN) + 1]}
    # unannotated (indexed before numbers were): the number as typed still finds itself
    plain = entry("Durchwahl 030 2345678", minutes=30)
    await backend.index([plain])
    assert await _found(backend, "030 2345678") == {plain.seq}


def test_what_is_and_is_not_a_number() -> None:
    assert numbers(" ".join(WRITTEN), "DE") == ["+491711234567"]
    assert numbers(" ".join(OTHERS), "DE") == ["+491717654321"]
    assert numbers("Tel. 0171 1234567 / 030 2345678", "DE") == ["+491711234567",
                                                                 "+49302345678"]
    assert numbers("0664 1234567", "AT") == ["+436641234567"]
    query = parse("2025 2026 Kündigung", "DE")  # years are words
    assert [t.words for c in query.must for t in c.terms] == [("2025",), ("2026",),
                                                              ("kundigung",)]


def test_the_snippet_marks_the_number_as_it_is_written() -> None:
    marks = Highlighter(parse("+49 171 1234567", "DE"))
    assert marks.snippet(WRITTEN[0]) == ("Bitte Rückruf unter <mark>0171</mark> / "
                                         "<mark>123</mark> <mark>45</mark> <mark>67</mark>, danke")
    assert marks.snippet(WRITTEN[1]) == ("Mit freundlichen Grüßen, Tel. +<mark>49</mark> "
                                         "(<mark>0</mark>)<mark>171</mark> <mark>1234567</mark>")
    assert marks.held(WRITTEN[2]) == frozenset({0})
    assert marks.held(OTHERS[0]) == frozenset()
    assert "<mark>" not in marks.snippet(OTHERS[0])
