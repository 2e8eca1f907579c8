"""Search that understands German (and English), for every backend (``backend`` fixture of
``tests/search/conftest.py``): word forms, exact spellings first, "did you mean" from the
office's own words only, automatic bookkeeping left out of a default search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from search.backend import SearchBackend
from search.query import SearchFilters, SearchRequest, parse
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility
from timeline.text import fold

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_n = count(1)


def entry(body: str, *, office: str = "OFFICEA", minutes: int = 0, subject: str = "",
          channel: Channel = Channel.EMAIL, kind: str = "email",
          meta: dict[str, Any] | None = None) -> Entry:
    n = next(_n)
    when = T0 + timedelta(minutes=minutes)
    return Entry(id=f"L{n:06d}", seq=seq_base(when) + n % 1000, office_id=office,
                 customer_id="CUST1", channel=channel, direction=Direction.INBOUND, kind=kind,
                 visibility=Visibility.PUBLISHED, occurred_at=when, recorded_at=when,
                 subject=subject, body=body, meta=meta or {})


async def hits(backend: SearchBackend, q: str, *, order: str = "newest",
               office: str = "OFFICEA", **filters: Any) -> list[int]:
    page = await backend.search(SearchRequest(
        query=parse(q), filters=SearchFilters(office_id=office, **filters), order=order,
        limit=50))
    return [h.seq for h in page.hits]


# ------------------------------------------------------------------------------ word forms
@pytest.mark.parametrize("written,query", [
    ("Kündigung", "Kündigungen"), ("Kündigungen", "Kündigung"),
    ("Verträge", "Vertrag"), ("Vertrag", "Verträge"), ("Vertraege", "Vertrag"),
    ("Beiträge", "Beitrag"), ("Beitrag", "Beiträge"),
    ("Schadensmeldungen", "Schadensmeldung"), ("Schadensmeldung", "Schadensmeldungen"),
    ("Schäden", "Schaden"),
], ids=lambda v: str(v))
async def test_german_word_forms_find_each_other(backend: SearchBackend, written: str,
                                                 query: str) -> None:
    target = entry(f"Wir haben Ihre {written} erhalten und melden uns.")
    other = entry("Wir haben Ihre Adresse erhalten und melden uns.", minutes=1)
    await backend.index([target, other])
    assert await hits(backend, query) == [target.seq]


async def test_a_quoted_word_finds_only_that_form(backend: SearchBackend) -> None:
    plural = entry("Die Verträge liegen bei.")
    singular = entry("Der Vertrag liegt bei.", minutes=1)
    await backend.index([plural, singular])
    assert await hits(backend, "Verträge") == [singular.seq, plural.seq]
    assert await hits(backend, '"Verträge"') == [plural.seq]
    assert await hits(backend, "liegt -Verträge") == []  # excluding a word excludes its forms


async def test_english_entries_are_stemmed_as_english(backend: SearchBackend) -> None:
    detected = entry("Dear team, please find the insured claims attached. Kind regards")
    declared = entry("Meetings rescheduled.", meta={"language": "en"}, minutes=1)
    await backend.index([detected, declared])
    assert await hits(backend, "claim") == [detected.seq]
    assert await hits(backend, "insurance") == [detected.seq]
    assert await hits(backend, "meeting") == [declared.seq]
    assert await hits(backend, "reschedule") == [declared.seq]


async def test_the_generic_word_finds_compounds(backend: SearchBackend) -> None:
    hausrat = entry("Ihre Hausratversicherung wurde angepasst.")
    kfz = entry("Die Kfz-Versicherungen sind bezahlt.", minutes=1)
    unrelated = entry("Ihre Hausratsachen wurden angepasst.", minutes=2)
    await backend.index([hausrat, kfz, unrelated])
    assert await hits(backend, "Versicherung") == [kfz.seq, hausrat.seq]
    assert await hits(backend, "Versicherungen") == [kfz.seq, hausrat.seq]


@pytest.mark.parametrize(("word", "compound"), [
    # the end of a compound (its head) ...
    ("Erhöhung", "Die Beitragserhöhung kommt zum Januar."),
    ("Unfall", "Verkehrsunfall auf der A7 gemeldet."),
    ("Haftpflicht", "Die Privathaftpflicht ist gekündigt."),
    ("Kasko", "Vollkasko mit 300 EUR Selbstbeteiligung."),
    ("Erinnerung", "Zahlungserinnerungen wurden verschickt."),
    ("Schutz", "Der Rechtsschutz übernimmt die Kosten."),
    ("Bericht", "Der Unfallbericht liegt vor."),
    # ... and the part before it
    ("Hausrat", "Ihre Hausratversicherung wurde angepasst."),
    ("Beitrag", "Die Beitragserhöhung kommt zum Januar."),
    ("Miete", "Der Mietvertrag liegt bei."),
    ("Haftpflicht", "Haftpflichtschaden vom Dienstag."),
    ("Kündigung", "Die Kündigungsfrist beträgt drei Monate."),
])
async def test_a_part_of_a_compound_finds_it(backend: SearchBackend, word: str,
                                             compound: str) -> None:
    found = entry(compound)
    other = entry("Ihre Unterlagen sind vollständig.", minutes=1)
    await backend.index([found, other])
    assert await hits(backend, word) == [found.seq]


@pytest.mark.parametrize("quoted", ['„Verträge“', '“Verträge”', '«Verträge»', '"Verträge"'])
async def test_typographic_quotes_are_phrase_quotes(backend: SearchBackend, quoted: str
                                                    ) -> None:
    plural = entry("Die Verträge liegen vor.")
    singular = entry("Der Vertrag liegt vor.", minutes=1)
    await backend.index([plural, singular])
    assert await hits(backend, quoted) == [plural.seq]  # that spelling only
    assert await hits(backend, "„Verträge") == [singular.seq, plural.seq]  # a lone „: a word


@pytest.mark.parametrize(("written", "typed"), [
    ("Ihr Vertrag HR-20391 ist verlängert.", "HR20391"),
    ("Ihr Vertrag HR-20391 ist verlängert.", "hr 20391"),
    ("Schadennummer KS7781 vergeben.", "KS-7781"),
    ("Schadennummer KS7781 vergeben.", "ks/7781"),
    ("Police VS-2026/123 anbei.", "vs2026/123"),
])
async def test_a_reference_number_is_found_however_it_is_typed(backend: SearchBackend,
                                                               written: str, typed: str
                                                               ) -> None:
    found = entry(written)
    other = entry("Vertrag HR-20392 und Schaden KS7782, Police VS-2026/124.", minutes=1)
    await backend.index([found, other])
    assert await hits(backend, typed) == [found.seq]
    assert await hits(backend, f"Kündigung OR {typed}") == [found.seq]
    if " " not in typed:  # excluded in every spelling
        assert await hits(backend, f"Schaden OR Police OR Vertrag -{typed}") == [other.seq]


async def test_exact_spelling_ranks_before_other_forms(backend: SearchBackend) -> None:
    """A short entry with another form would win on term statistics alone."""
    forms_only = entry("Verträge", minutes=5)
    exact = entry("Der Vertrag wurde nach langer Prüfung und vielen Rückfragen durch den "
                  "Kunden heute endlich unterschrieben zurückgeschickt, sagt die Kollegin "
                  "aus dem Innendienst am Telefon.", minutes=1)
    filler = [entry(f"Andere Sache {i}", minutes=10 + i) for i in range(3)]
    await backend.index([forms_only, exact, *filler])
    assert await hits(backend, "Vertrag", order="relevance") == [exact.seq, forms_only.seq]
    assert await hits(backend, "Verträge", order="relevance") == [forms_only.seq, exact.seq]


# ------------------------------------------------------------------------------ suggestions
async def test_a_typo_is_answered_with_the_office_word(backend: SearchBackend) -> None:
    await backend.index([entry("Ihre Kündigung ist eingegangen."),
                         entry("Kündigung bestätigt", minutes=1)])
    assert await hits(backend, "Kündigng") == []
    suggestions = await backend.suggest("OFFICEA", "Kündigng")
    assert suggestions and fold(suggestions[0]) == "kundigung"


async def test_suggestions_keep_the_rest_of_the_query(backend: SearchBackend) -> None:
    await backend.index([entry("Der Vertrag zum Jahresende ist gekündigt.")])
    suggestions = await backend.suggest("OFFICEA", 'Vertrg "zum Jahresnde"')
    assert suggestions and fold(suggestions[0]) == fold('vertrag "zum jahresende"')
    assert suggestions[0].count('"') == 2


async def test_known_words_get_no_suggestion(backend: SearchBackend) -> None:
    await backend.index([entry("Kündigung bestätigt")])
    assert await backend.suggest("OFFICEA", "Kündigungen") == []
    assert await backend.suggest("OFFICEA", "Xylophon") == []


async def test_suggestions_never_use_another_offices_words(backend: SearchBackend) -> None:
    await backend.index([entry("Kündigung der Hausratversicherung", office="OFFICEB"),
                         entry("Kundennummer geändert", office="OFFICEA")])
    assert await backend.suggest("OFFICEB", "Kündigng")
    mine = await backend.suggest("OFFICEA", "Kündigng")
    assert all("kundigung" not in fold(s) for s in mine)
    assert await backend.suggest("OFFICEC", "Kündigng") == []


# ------------------------------------------------------------------------------ bookkeeping
async def test_bookkeeping_entries_stay_out_of_a_default_search(
        backend: SearchBackend) -> None:
    mail = entry("Kündigung zum Jahresende", subject="Kündigung")
    sent = entry("About: Kündigung", subject="Notification sent to the portal inbox",
                 channel=Channel.NOTIFICATION, kind="notification", minutes=1)
    await backend.index([mail, sent])
    assert await hits(backend, "Kündigung") == [mail.seq]
    assert await hits(backend, "Kündigung", order="relevance") == [mail.seq]
    assert await hits(backend, "notification") == []
    assert await hits(backend, "Kündigung", include_system=True) == [sent.seq, mail.seq]
    assert await hits(backend, "Kündigung", channels=(Channel.NOTIFICATION,)) == [sent.seq]
    assert await hits(backend, "Kündigung", channels=(Channel.EMAIL, Channel.NOTIFICATION)
                      ) == [sent.seq, mail.seq]

