"""An FTS5 index written before word forms existed is upgraded on open: no manual reindex."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from search.backend import document_scope, document_text
from search.fts import FtsBackend
from search.query import SearchFilters, SearchRequest, parse
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility
from timeline.sqlite_db import SqliteDb

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
V1 = ("CREATE VIRTUAL TABLE entry_fts USING fts5(body, scope, "
      "tokenize = 'unicode61 remove_diacritics 2');")


def entry(i: int, body: str) -> Entry:
    when = T0 + timedelta(minutes=i)
    return Entry(id=f"U{i:05d}", seq=seq_base(when) + i, office_id="OFFICE", customer_id="C",
                 channel=Channel.EMAIL, direction=Direction.INBOUND, kind="email",
                 visibility=Visibility.PUBLISHED, occurred_at=when, recorded_at=when, body=body)


async def write_v1_index(path: Path, entries: list[Entry]) -> None:
    """What the previous release left on disk: schema version 1, two columns."""
    db = SqliteDb(path, [(1, V1)], name="old-search")
    await db.open()
    # the previous release gave bookkeeping the plain office token
    rows = [(e.seq, document_text(e), document_scope(e).removeprefix("s")) for e in entries]

    def run(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO entry_fts (rowid, body, scope) VALUES (?,?,?)", rows)
    await db.write(run)
    await db.close()


async def found(backend: FtsBackend, q: str, include_system: bool = False) -> list[int]:
    page = await backend.search(SearchRequest(query=parse(q), filters=SearchFilters(
        office_id="OFFICE", include_system=include_system), limit=5000))
    return sorted(h.seq for h in page.hits)


async def test_an_old_index_is_reanalysed_on_open(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "search.sqlite3"
    old = [entry(i, f"Vertrag Nummer {i}") for i in range(2500)]  # more than one batch
    plural = entry(9999, "Die Verträge liegen bei")
    sent = entry(9998, "About: Verträge").model_copy(update={
        "channel": Channel.NOTIFICATION, "kind": "notification"})
    await write_v1_index(path, [*old, plural, sent])
    backend = FtsBackend(path)
    with caplog.at_level(logging.WARNING, logger="search.fts"):
        await backend.open()
    try:
        assert "re-analysing 2502 documents" in caplog.text
        assert await found(backend, "Verträge") == sorted([*(e.seq for e in old), plural.seq])
        assert await found(backend, '"Verträge"') == [plural.seq]
        assert await found(backend, '"Verträge"', include_system=True) == sorted(
            [plural.seq, sent.seq])
        await backend.index([entry(10000, "Neue Beiträge")])
        assert len(await found(backend, "Beitrag")) == 1
    finally:
        await backend.close()
    caplog.clear()
    again = FtsBackend(path)
    with caplog.at_level(logging.WARNING, logger="search.fts"):
        await again.open()
    try:
        assert "re-analysing" not in caplog.text  # once only
        assert len(await found(again, "Vertrag")) == 2501
    finally:
        await again.close()


async def test_a_new_index_needs_no_upgrade(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    backend = FtsBackend(tmp_path / "search.sqlite3")
    with caplog.at_level(logging.WARNING, logger="search.fts"):
        await backend.open()
    await backend.close()
    assert caplog.text == ""
