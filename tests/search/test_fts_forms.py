"""FTS5 word forms live in a side table: it never keeps a word no document holds any more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from search.fts import FtsBackend
from search.query import SearchFilters, SearchRequest, parse
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
_n = count(1)


def entry(body: str) -> Entry:
    n = next(_n)
    when = T0 + timedelta(minutes=n)
    return Entry(id=f"F{n:05d}", seq=seq_base(when) + n % 1000, office_id="A",
                 customer_id="C", channel=Channel.NOTE, direction=Direction.INTERNAL,
                 kind="note", visibility=Visibility.INTERNAL, occurred_at=when,
                 recorded_at=when, body=body)


@pytest.fixture
async def fts(tmp_path: Path) -> AsyncIterator[FtsBackend]:
    backend = FtsBackend(tmp_path / "search.sqlite3")
    await backend.open()
    yield backend
    await backend.close()


def files_holding(folder: Path, word: bytes) -> list[str]:
    return [p.name for p in folder.glob("search.sqlite3*") if word in p.read_bytes().lower()]


async def found(fts: FtsBackend, q: str) -> list[int]:
    page = await fts.search(SearchRequest(query=parse(q), filters=SearchFilters(office_id="A")))
    return [h.seq for h in page.hits]


@pytest.mark.parametrize("how", ["erased", "edited"])
async def test_a_word_that_leaves_the_index_leaves_its_forms(fts: FtsBackend, tmp_path: Path,
                                                             how: str) -> None:
    gone = entry("Die Geheimprojekte Falkenhorst bleiben intern")
    kept = entry("Die Verträge bleiben intern")
    await fts.index([gone, kept])
    assert await found(fts, "Geheimprojekt") == [gone.seq]
    if how == "erased":
        await fts.delete([gone.seq])
    else:
        await fts.index([gone.model_copy(update={"body": "Die Akte bleibt intern"})])
    await fts.compact()
    assert await found(fts, "Geheimprojekt") == []
    assert files_holding(tmp_path, b"geheimprojekt") == []
    assert await found(fts, "Vertrag") == [kept.seq]  # the others keep their forms


async def test_a_word_seen_again_after_it_left_gets_its_forms_back(fts: FtsBackend) -> None:
    first = entry("Die Gutachten liegen vor")
    await fts.index([first])
    await fts.delete([first.seq])
    again = entry("Die Gutachten liegen wieder vor")
    await fts.index([again])
    assert await found(fts, "Gutachtens") == [again.seq]
