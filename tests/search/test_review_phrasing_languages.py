"""An English query finds the office's German texts and the reverse (``search.translations``),
through the search service on every backend -- ranked after the words as typed and their
own forms, marked in the snippet; quoted words, prefixes and exclusions stay as typed."""

from __future__ import annotations

import pytest

from search.backend import SearchBackend
from search.query import SearchFilters
from tests.search.test_backend_contract import entry, hits
from tests.search.test_service_contract import Office
from tests.search.test_service_contract import office as office  # the fixture

GERMAN = {
    "kuendigung": "Die Kündigung Ihrer Kfz-Haftpflicht wurde bestätigt.",
    "lastschrift": "Lastschrift vom Konto des Kunden zurückgegeben.",
    "hausrat": "Hausratversicherung für die neue Wohnung abgeschlossen.",
    "werkstatt": "Reparatur in der Werkstatt, Selbstbeteiligung 300 €.",
}
ENGLISH = {
    "cancel": "The customer cancelled the household contents policy in March.",
    "debit": "The direct debit for March was returned by the bank.",
    "claim": "We have received your claim regarding the car accident.",
}


async def _keys(office: Office, q: str, texts: dict[int, str]) -> list[str]:
    found = await office.service.search(q, SearchFilters(office_id="OFFICEA"),
                                        order="relevance")
    return [texts[f.entry.seq] for f in found.items]


@pytest.mark.parametrize(("typed", "want"), [
    ("cancellation Kfz-Haftpflicht", ["kuendigung"]),
    ("direct debit returned", ["debit"]),  # English as typed; German needs "zurückgegeben"
    ("debit Konto", ["lastschrift"]),
    ("household insurance", ["hausrat"]),
    ("Kündigung household", ["cancel"]),
    ("Lastschrift returned", ["debit"]),
    ("Schaden Unfall", ["claim"]),
    ("repair garage", ["werkstatt"]), ("excess", ["werkstatt"]),
    # as typed only: quoted, prefix
    ('"cancellation"', []), ("cancellat*", []),
])
async def test_a_query_in_the_other_language(office: Office, typed: str,
                                             want: list[str]) -> None:
    texts = {}
    for i, (key, text) in enumerate([*GERMAN.items(), *ENGLISH.items()]):
        texts[(await office.add(text, minutes=i)).seq] = key
    assert await _keys(office, typed, texts) == want


async def test_translations_rank_after_the_typed_words_and_their_forms(office: Office) -> None:
    texts = {}
    for i, (key, text) in enumerate([
            ("typed", "Ihre Schadensmeldung ist eingegangen"),
            ("form", "Zwei Schadensmeldungen sind offen"),
            ("english", "Claim: damage report received, claim damage claim")]):
        texts[(await office.add(text, minutes=10 - i)).seq] = key
    assert await _keys(office, "Schadensmeldung", texts) == ["typed", "form", "english"]
    found = await office.service.search("claim", SearchFilters(office_id="OFFICEA"),
                                        order="relevance")
    assert texts[found.items[0].entry.seq] == "english"
    assert all("<mark>Schadensmeldung" in f.snippet for f in found.items[1:])


async def test_an_excluded_word_is_not_translated(office: Office) -> None:
    german = await office.add("Kündigung der Kfz-Versicherung")
    await office.add("Cancellation of the car insurance")
    found = await office.service.search("Kündigung -car", SearchFilters(office_id="OFFICEA"))
    assert [f.entry.seq for f in found.items] == [german.seq]


async def test_relevance_pages_go_through_the_translated_tier(office: Office) -> None:
    texts = ["Kündigung erhalten", "Kündigungen liegen vor", "Kunde hat gekündigt",
             "Cancellation received", "We cancel the policy", "Kündigung und Storno",
             "Termination of contract"]
    for i, text in enumerate(texts):
        await office.add(text, minutes=i)
    filters = SearchFilters(office_id="OFFICEA")
    whole = await office.service.search("Kündigung", filters, order="relevance", limit=50)
    seen, cursor = [], None
    while True:
        page = await office.service.search("Kündigung", filters, order="relevance", limit=2,
                                           cursor=cursor)
        seen += [f.entry.seq for f in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f.entry.seq for f in whole.items]
    assert len(seen) == len(texts)


@pytest.mark.parametrize(("text", "typed"), [
    ("Policy cancelled, callback wanted", "cancel"),
    ("Claims rejected after review", "rejection"),
    ("Premiums increased again", "increase premium"),
    ("Kündigungen eingegangen", "Kündigung"),  # and German stays German
])
async def test_a_short_note_without_function_words_is_stemmed_both_ways(
        backend: SearchBackend, text: str, typed: str) -> None:
    e = entry(text)
    await backend.index([e])
    assert await hits(backend, typed) == [e.seq]
