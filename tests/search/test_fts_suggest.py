"""FTS5 spelling suggestions: ranked by the asking office's own usage, never an erased word."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from search.fts import FtsBackend
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
_n = count(1)


def entry(body: str, office: str) -> Entry:
    n = next(_n)
    when = T0 + timedelta(minutes=n)
    return Entry(id=f"S{n:05d}", seq=seq_base(when) + n % 1000, office_id=office,
                 customer_id="C", channel=Channel.NOTE, direction=Direction.INTERNAL,
                 kind="note", visibility=Visibility.INTERNAL, occurred_at=when,
                 recorded_at=when, body=body)


@pytest.fixture
async def fts(tmp_path: Path) -> AsyncIterator[FtsBackend]:
    backend = FtsBackend(tmp_path / "search.sqlite3")
    await backend.open()
    yield backend
    await backend.close()


async def test_ranked_by_how_often_this_office_uses_a_word(fts: FtsBackend) -> None:
    # "wohnug" is one edit from both "wohnung" and "wohnuhg"
    await fts.index([*(entry("Wohnung besichtigt", "A") for _ in range(3)),
                     entry("Wohnuhg", "A"),
                     *(entry("Wohnuhg", "B") for _ in range(10))])
    assert await fts.suggest("A", "Wohnug") == ["wohnung", "wohnuhg"]
    assert await fts.suggest("B", "Wohnug") == ["wohnuhg"]
    assert await fts.suggest("A", "Wohnug", limit=1) == ["wohnung"]


async def test_an_erased_word_is_never_suggested(fts: FtsBackend) -> None:
    gone = entry("Geheimprojekt Falkenstein", "A")
    await fts.index([gone, entry("Falkenberg", "A")])
    assert await fts.suggest("A", "Falkenstien") == ["falkenstein"]
    await fts.delete([gone.seq])
    assert await fts.suggest("A", "Falkenstien") == []


async def test_two_unknown_words_are_corrected_together(fts: FtsBackend) -> None:
    await fts.index([entry("Rechnung der Werkstatt", "A")])
    assert await fts.suggest("A", "Rechnnug Werkstat") == ["rechnung werkstatt"]
    # words that exclude or expand stay as typed
    assert await fts.suggest("A", "Rechnnug -Werkstat Werk*") == ["rechnung -Werkstat Werk*"]
