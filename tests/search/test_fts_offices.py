"""FTS5: an index holding one office's documents searches without the office token (the
fast path), and stays office-tight the moment another office's document arrives, and for an
index written before the office list existed."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from search.backend import RELEVANCE_CANDIDATES
from search.fts import FtsBackend
from search.query import SearchFilters, SearchRequest, parse
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_n = count(1)


def entry(office: str, body: str, channel: Channel = Channel.NOTE) -> Entry:
    n = next(_n)
    when = T0 + timedelta(minutes=n)
    system = channel is Channel.NOTIFICATION
    return Entry(id=f"O{n:05d}", seq=seq_base(when) + n % 1000, office_id=office,
                 customer_id=f"C-{office}", channel=channel,
                 direction=Direction.OUTBOUND if system else Direction.INTERNAL,
                 kind="notification" if system else "note", visibility=Visibility.INTERNAL,
                 occurred_at=when, recorded_at=when, body=body)


@pytest.fixture
async def fts(tmp_path: Path) -> AsyncIterator[FtsBackend]:
    backend = FtsBackend(tmp_path / "search.sqlite3")
    await backend.open()
    yield backend
    await backend.close()


async def found(fts: FtsBackend, office: str, q: str, **filters: object) -> dict[str, list[int]]:
    """Hits of both orders (they take different query paths)."""
    out = {}
    for order in ("newest", "relevance"):
        page = await fts.search(SearchRequest(
            query=parse(q), order=order,
            filters=SearchFilters(office_id=office, **filters)))  # type: ignore[arg-type]
        out[order] = sorted(h.seq for h in page.hits)
    return out


def both(seqs: list[int]) -> dict[str, list[int]]:
    return {"newest": sorted(seqs), "relevance": sorted(seqs)}


async def test_one_office_index_still_hides_bookkeeping_unless_asked(fts: FtsBackend) -> None:
    note = entry("A", "Rückruf wegen Vertrag")
    sent = entry("A", "Benachrichtigung Vertrag versendet", Channel.NOTIFICATION)
    await fts.index([note, sent])
    assert await found(fts, "A", "Vertrag") == both([note.seq])
    assert await found(fts, "A", "Vertrag", include_system=True) == both([note.seq, sent.seq])
    assert await found(fts, "A", "Vertrag", channels=(Channel.NOTIFICATION,)) == both([sent.seq])
    assert await found(fts, "A", "Vertrag -Rückruf", include_system=True) == both([sent.seq])
    assert await found(fts, "B", "Vertrag", include_system=True) == both([])


@pytest.mark.parametrize("channel", [Channel.NOTE, Channel.NOTIFICATION])
async def test_a_second_office_is_kept_apart_from_its_first_document(
        fts: FtsBackend, channel: Channel) -> None:
    mine = entry("A", "Schaden am Dach gemeldet")
    assert await found(fts, "A", "Schaden", include_system=True) == both([])
    await fts.index([mine])
    assert await found(fts, "A", "Schaden", include_system=True) == both([mine.seq])
    theirs = entry("B", "Schaden am Auto gemeldet", channel)
    await fts.index([theirs])
    assert await found(fts, "A", "Schaden", include_system=True) == both([mine.seq])
    assert await found(fts, "A", "Schaden") == both([mine.seq])
    assert await found(fts, "B", "Schaden", include_system=True) == both([theirs.seq])
    await fts.delete([theirs.seq])  # gone again: office A still sees only its own
    assert await found(fts, "A", "Schaden", include_system=True) == both([mine.seq])


async def test_an_index_from_before_the_office_list_keeps_offices_apart(tmp_path: Path) -> None:
    path = tmp_path / "search.sqlite3"
    first = FtsBackend(path)
    await first.open()
    mine = entry("A", "Kündigung der Hausratversicherung")
    theirs = entry("B", "Kündigung eingegangen", Channel.NOTIFICATION)
    await first.index([mine, theirs])
    await first.close()
    with sqlite3.connect(path) as conn:  # as an index written before the list existed
        conn.execute("DELETE FROM search_meta WHERE key = 'offices'")
    again = FtsBackend(path)
    await again.open()
    try:
        assert await found(again, "A", "Kündigung", include_system=True) == both([mine.seq])
        assert await found(again, "B", "Kündigung", include_system=True) == both([theirs.seq])
        assert await found(again, "B", "Kündigung") == both([])
    finally:
        await again.close()


async def test_relevance_over_many_matches_ranks_alike_with_and_without_filters(
        fts: FtsBackend) -> None:
    """More matches than relevance ranks (the newest RELEVANCE_CANDIDATES) in a one-office
    index (ranked in one pass) rank exactly as with a filter that changes nothing (ranked in
    two steps); bookkeeping stays out."""
    filler = ["Antrag", "Rückruf", "Termin", "Schreiben", "Unterlagen", "Frist"]
    docs = [entry("A", f"Vertrag {filler[i % 6]} {'und Rechnung ' * (i % 5)}Nummer {i}")
            for i in range(RELEVANCE_CANDIDATES + 300)]
    best = entry("A", "Vertrag Vertrag Vertrag gekündigt")
    noise = [entry("A", "Vertrag Vertrag Vertrag Vertrag versendet", Channel.NOTIFICATION)
             for _ in range(5)]
    await fts.index([*docs[:1000], best, *noise, *docs[1000:]])

    async def ranked(**filters: object) -> list[tuple[int, float | None]]:
        out: list[tuple[int, float | None]] = []
        cursor = None
        while True:
            page = await fts.search(SearchRequest(
                query=parse("Vertrag"), order="relevance", limit=200, cursor=cursor,
                filters=SearchFilters(office_id="A", **filters)))  # type: ignore[arg-type]
            out += [(h.seq, h.score) for h in page.hits]
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    plain = await ranked()
    assert plain[0][0] == best.seq
    newest = sorted(e.seq for e in [*docs, best])[-RELEVANCE_CANDIDATES:]
    assert sorted(seq for seq, _ in plain) == newest
    assert plain == await ranked(customer_id="C-A")
    assert plain == await ranked(visibility=Visibility.INTERNAL)
