"""The search-backend contract, for every backend (``backend`` fixture of
``tests/search/conftest.py``: SQLite FTS5 and the search engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.attachments import AttachmentTexts
from search.backend import HitPage, SearchBackend, Total
from search.fts import FtsBackend
from search.query import QueryError, SearchFilters, SearchRequest, parse
from tests.support.documents import docx
from timeline.blobs import BlobStore
from timeline.ids import seq_base
from timeline.models import Attachment, Channel, Direction, Entry, Visibility

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_n = 0


def entry(body: str, *, office: str = "OFFICEA", customer: str = "CUST1",
          channel: Channel = Channel.EMAIL, kind: str = "email", minutes: int = 0,
          visibility: Visibility = Visibility.PUBLISHED, subject: str = "") -> Entry:
    global _n
    _n += 1
    when = T0 + timedelta(minutes=minutes)
    return Entry(id=f"E{_n:06d}", seq=seq_base(when) + _n % 1000, office_id=office,
                 customer_id=customer, channel=channel, direction=Direction.INBOUND, kind=kind,
                 visibility=visibility, occurred_at=when, recorded_at=when, subject=subject,
                 body=body)


async def hits(backend: SearchBackend, q: str, *, order: str = "newest", limit: int = 50,
               **filters: object) -> list[int]:
    f = SearchFilters(office_id=str(filters.pop("office", "OFFICEA")), **filters)  # type: ignore[arg-type]
    page = await backend.search(SearchRequest(query=parse(q), filters=f, order=order,
                                              limit=limit))
    return [h.seq for h in page.hits]


def seqs(entries: Sequence[Entry]) -> list[int]:
    return [e.seq for e in entries]


class Batches:
    """A rebuild's source: these batches of entries, in turn."""

    def __init__(self, *batches: list[Entry]) -> None:
        self.items = list(batches)

    def __aiter__(self) -> Batches:
        return self

    async def __anext__(self) -> list[Entry]:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)


async def test_words_phrases_prefix_exclusion_or(backend: SearchBackend) -> None:
    a = entry("Ich möchte meine Hausratversicherung kündigen", minutes=1)
    b = entry("Die Kündigung ist eingegangen, vielen Dank", minutes=2)
    c = entry("Vielen Dank für die schnelle Hilfe", minutes=3)
    await backend.index([a, b, c])
    assert await hits(backend, '"kündigung"') == [b.seq]  # quoted: this form only
    assert await hits(backend, "kündig*") == [b.seq, a.seq]
    assert await hits(backend, '"vielen dank"') == [c.seq, b.seq]
    assert await hits(backend, '"dank vielen"') == []
    assert await hits(backend, "vielen -kündigung") == [c.seq]
    assert await hits(backend, "hilfe OR hausratversicherung") == [c.seq, a.seq]
    assert await hits(backend, "dank hilfe") == [c.seq]


@pytest.mark.parametrize(("query", "want"), [
    # operators as typed into other search boxes
    ("hilfe ODER hausratversicherung", "ca"), ("hilfe | hausratversicherung", "ca"),
    ("vielen AND dank", "cb"), ("vielen UND dank", "cb"), ("+vielen +dank", "cb"),
    ("vielen NOT kündigung", "c"), ("vielen NICHT kündigung", "c"), ("vielen !kündigung", "c"),
    ('dank -"schnelle hilfe"', "b"), ('dank NOT "schnelle hilfe"', "b"),
    # lower case "oder"/"und"/"nicht" stay words to look for
    ("hilfe oder hausratversicherung", ""),
])
async def test_operators_as_other_search_boxes_write_them(backend: SearchBackend, query: str,
                                                          want: str) -> None:
    a = entry("Ich möchte meine Hausratversicherung kündigen", minutes=1)
    b = entry("Die Kündigung ist eingegangen, vielen Dank", minutes=2)
    c = entry("Vielen Dank für die schnelle Hilfe", minutes=3)
    await backend.index([a, b, c])
    named = {"a": a.seq, "b": b.seq, "c": c.seq}
    assert await hits(backend, query) == [named[n] for n in want]


@pytest.mark.parametrize("query", ["kundigung", "Kuendigung", "KÜNDIGUNG"])
async def test_german_folding(backend: SearchBackend, query: str) -> None:
    e = entry("Ihre Kündigung")
    await backend.index([e])
    assert await hits(backend, query) == [e.seq]


@pytest.mark.parametrize("written,query", [("Müller", "Muller"), ("Mueller", "Müller"),
                                           ("Muller", "Mueller"), ("Straße", "strasse"),
                                           ("Strasse", "Straße")])
async def test_names_and_sharp_s(backend: SearchBackend, written: str, query: str) -> None:
    e = entry(f"Herr {written} ruft an")
    await backend.index([e])
    assert await hits(backend, query) == [e.seq]


async def test_subject_and_attachment_names_are_searchable(backend: SearchBackend) -> None:
    e = entry("siehe Anhang", subject="Rechnung März")
    await backend.index([e])
    assert await hits(backend, "marz") == [e.seq]


async def test_attachments_contents_are_searchable(backend: SearchBackend,
                                                   tmp_path: Path) -> None:
    """The indexer hands a backend entries carrying their files' text
    (``search/attachments.py``); new documents and a rebuilt index find the words in it."""
    blobs = BlobStore(tmp_path / "blobs")
    texts = AttachmentTexts(blobs)
    data = docx("Versicherungsschein VS-4711", "Schadensmeldungen bitte an die Zentrale")
    sha = await blobs.put(data)
    e = entry("siehe Anhang", subject="Unterlagen").model_copy(update={"attachments": (
        Attachment(name="Police.docx", content_type="application/octet-stream",
                   size=len(data), sha256=sha),)})
    other = entry("Versicherungsschein liegt bei", minutes=1)
    await backend.index(await texts.with_texts([e, other]))
    assert await hits(backend, "4711") == [e.seq]
    assert await hits(backend, "versicherungsschein") == [other.seq, e.seq]
    assert await hits(backend, "Schadensmeldung") == [e.seq]  # a word form, as in text
    assert await hits(backend, '"an die zentrale"') == [e.seq]

    async def source() -> AsyncIterator[Sequence[Entry]]:
        yield await texts.with_texts([e])
    assert await backend.rebuild(source()) == 1
    assert await hits(backend, "4711") == [e.seq]


async def test_office_scope_is_absolute(backend: SearchBackend) -> None:
    mine = entry("Vertrag verlängert", office="OFFICEA")
    theirs = entry("Vertrag verlängert", office="OFFICEB")
    await backend.index([mine, theirs])
    assert await hits(backend, "vertrag", office="OFFICEA") == [mine.seq]
    assert await hits(backend, "vertrag", office="OFFICEB") == [theirs.seq]
    assert await hits(backend, "vertrag", office="OFFICEC") == []


async def test_filters(backend: SearchBackend) -> None:
    e1 = entry("Angebot", customer="C1", channel=Channel.EMAIL, kind="email", minutes=1)
    e2 = entry("Angebot", customer="C2", channel=Channel.PHONE, kind="phone_note", minutes=2,
               visibility=Visibility.INTERNAL)
    e3 = entry("Angebot", customer="C1", channel=Channel.NOTE, kind="note", minutes=60 * 48)
    await backend.index([e1, e2, e3])
    assert await hits(backend, "angebot", customer_id="C1") == [e3.seq, e1.seq]
    assert await hits(backend, "angebot", channels=(Channel.PHONE, Channel.NOTE)) == [
        e3.seq, e2.seq]
    assert await hits(backend, "angebot", kinds=("phone_note",)) == [e2.seq]
    assert await hits(backend, "angebot", visibility=Visibility.INTERNAL) == [e2.seq]
    assert await hits(backend, "angebot", since=T0 + timedelta(hours=1)) == [e3.seq]
    assert await hits(backend, "angebot", until=T0 + timedelta(hours=1)) == [e2.seq, e1.seq]


async def test_newest_first_cursor_pages_have_no_gaps(backend: SearchBackend) -> None:
    entries = [entry(f"Termin Nummer {i}", minutes=i) for i in range(23)]
    await backend.index(entries)
    f = SearchFilters(office_id="OFFICEA")
    got: list[int] = []
    cursor = None
    while True:
        page = await backend.search(SearchRequest(query=parse("termin"), filters=f, limit=10,
                                                  cursor=cursor))
        got += [h.seq for h in page.hits]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert got == sorted(seqs(entries), reverse=True)


@pytest.mark.parametrize("order", ["newest", "relevance"])
async def test_total_counts_every_page_exactly_or_says_more_than(backend: SearchBackend,
                                                                 order: str) -> None:
    await backend.index([entry(f"Termin Nummer {i}", minutes=i) for i in range(23)]
                        + [entry("Termin intern", kind="note", minutes=30),
                           entry("Termin", office="OFFICEB", minutes=31)])
    f = SearchFilters(office_id="OFFICEA", kinds=("email",))

    async def page(count_up_to: int, cursor: str | None = None) -> HitPage:
        return await backend.search(SearchRequest(
            query=parse("termin"), filters=f, order=order, limit=10, cursor=cursor,
            count_up_to=count_up_to))

    first = await page(100)
    assert first.total == Total(23) and len(first.hits) == 10 and first.next_cursor
    assert (await page(100, first.next_cursor)).total == Total(23)  # all pages, not the rest
    assert (await page(23)).total == Total(23)
    assert (await page(22)).total == Total(22, exact=False)  # "more than 22"
    assert (await page(5, first.next_cursor)).total == Total(5, exact=False)
    assert (await page(0)).total is None
    gone = await backend.search(SearchRequest(query=parse("xylophon"), filters=f, order=order,
                                              count_up_to=100))
    assert gone.hits == [] and gone.total == Total(0)


async def test_relevance_order_and_pages(backend: SearchBackend) -> None:
    weak = [entry(f"Schaden gemeldet, Akte {i} mit viel anderem Text dazu", minutes=i)
            for i in range(12)]
    strong = entry("Schaden Schaden Schaden", minutes=-5)
    await backend.index([*weak, strong])
    ranked = await hits(backend, "schaden", order="relevance", limit=100)
    assert ranked[0] == strong.seq and sorted(ranked) == sorted(seqs([*weak, strong]))
    f = SearchFilters(office_id="OFFICEA")
    got, cursor = [], None
    while True:
        page = await backend.search(SearchRequest(query=parse("schaden"), filters=f,
                                                  order="relevance", limit=5, cursor=cursor))
        got += [h.seq for h in page.hits]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert got == ranked


async def test_relevance_pages_hold_while_others_write(backend: SearchBackend) -> None:
    """Every write shifts BM25 scores (document count, mean length, word frequencies of
    the whole index, other offices too): paging on must still give each hit exactly once,
    and what matches only after the first page waits for a new search."""
    filler = "mit etwas anderem Text dazu " * 3
    found = [entry(f"Zebrafink {'Zebrafink ' * (i % 4)}Meldung {i} {filler[: i * 5]}",
                   minutes=i) for i in range(43)]
    await backend.index(found)
    f = SearchFilters(office_id="OFFICEA")
    got: list[int] = []
    cursor = None
    for page_no in range(20):
        page = await backend.search(SearchRequest(query=parse("zebrafink"), filters=f,
                                                  order="relevance", limit=7, cursor=cursor))
        got += [h.seq for h in page.hits]
        # between pages: unrelated notes elsewhere, longer ones here, and new matches
        await backend.index([
            *(entry(f"Notiz {page_no}-{j} " + "lang " * 40 * j, office="OFFICEB",
                    minutes=100 + page_no * 10 + j) for j in range(5)),
            entry(f"Zebrafink neu {page_no}", minutes=500 + page_no),
            entry("Zebrafink " * 6 + f"zweite {page_no}", minutes=-50 - page_no)])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    first = {e.seq for e in found}
    assert len(got) == len(set(got)), "a hit came twice"
    assert first <= set(got), f"missing {len(first - set(got))} of {len(first)}"
    assert all(s <= max(first) for s in got), "a match newer than the first page's"


async def test_reindexing_replaces_and_delete_removes(backend: SearchBackend) -> None:
    e = entry("alter Text")
    await backend.index([e])
    await backend.index([e.model_copy(update={"body": "neuer Text"})])
    assert await hits(backend, "alter") == []
    assert await hits(backend, "neuer") == [e.seq]
    await backend.delete([e.seq])
    assert await hits(backend, "neuer") == []


async def test_rebuild_swaps_in_exactly_the_source(backend: SearchBackend) -> None:
    stale = entry("veraltet")
    await backend.index([stale])
    keep = [entry(f"Police {i}", minutes=i) for i in range(5)]
    assert await backend.rebuild(Batches(keep[:3], keep[3:])) == 5
    assert await hits(backend, "veraltet") == []
    assert sorted(await hits(backend, "police")) == sorted(seqs(keep))


async def test_word_forms_survive_repeated_rebuilds(backend: SearchBackend) -> None:
    """A rebuild writes each word's forms once; a second rebuild in the same process (and
    documents sharing words across batches) still finds every entry by another form."""
    docs = [entry("Die Kündigung liegt vor", minutes=1), entry("Kündigung erhalten", minutes=2),
            entry("Zwei Verträge gekündigt", minutes=3)]
    await backend.index(docs)  # the live index knows these words already
    for _ in range(2):
        assert await backend.rebuild(Batches(docs[:1], docs[1:])) == 3
        # (gekündigt too: a verb and its noun find each other)
        assert sorted(await hits(backend, "Kündigungen")) == sorted(seqs(docs))
        assert await hits(backend, "Vertrag") == [docs[2].seq]


@pytest.mark.parametrize("query", [
    'NEAR(a b)', "a AND", "body:x", "{scope}:ooffice", "^start", "x'); DROP TABLE entries;--",
    "a + b", "(unclosed", "col:val*", '"" ""', "OR OR", "* *", "-", "a NOT b", "ü*",
])
async def test_hostile_queries_never_leak_syntax(backend: SearchBackend, query: str) -> None:
    await backend.index([entry("harmlos")])
    try:
        await hits(backend, query)
    except QueryError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
async def test_any_text_is_a_result_or_a_query_error(backend: SearchBackend, text: str) -> None:
    try:
        await hits(backend, text)
    except QueryError:
        pass


async def test_compact_after_delete_keeps_the_rest_searchable(backend: SearchBackend,
                                                               tmp_path: Path) -> None:
    """``compact`` (after an erasure) drops deleted documents physically; for FTS5 no byte
    of the index files still holds their words."""
    gone = entry("Vergessenwort bitte loeschen", subject="Vergessenwort")
    kept = entry("Bleibewort bleibt")
    await backend.index([gone, kept])
    await backend.delete([gone.seq])
    await backend.compact()
    await backend.compact()  # idempotent
    assert await hits(backend, "Vergessenwort") == []
    assert await hits(backend, "Bleibewort") == [kept.seq]
    if isinstance(backend, FtsBackend):
        assert _files_holding(tmp_path, b"vergessenwort") == []


def _files_holding(folder: Path, word: bytes) -> list[str]:
    return [p.name for p in folder.glob("search.sqlite3*") if word in p.read_bytes().lower()]


async def test_hyphenated_and_joined_spellings_find_each_other(backend: SearchBackend) -> None:
    """German and English write one word with and without its hyphen: either finds both."""
    email = [entry("Bitte per E-Mail antworten", minutes=1), entry("Ihre Email kam an",
                                                                    minutes=2)]
    banking = [entry("Das Online-Banking ist gesperrt", minutes=3),
               entry("Onlinebanking gesperrt", minutes=4)]
    others = [entry("Mail an Erika geschickt", minutes=5), entry("Online-Termin und Banking",
                                                                 minutes=6)]
    await backend.index(email + banking + others)
    for q in ("Email", "E-Mail", "e-mail"):
        assert sorted(await hits(backend, q)) == sorted(seqs(email)), q
    for q in ("Onlinebanking", "Online-Banking"):
        assert sorted(await hits(backend, q)) == sorted(seqs(banking)), q
    assert await hits(backend, '"E-Mail"') == [email[0].seq]  # quoted: as written
