"""An index whose text an older release wrote (folding or tokens changed:
``search.analysis.TEXT_VERSION``) is rebuilt from the store by the running indexer, without any
command: search answers from the old index meanwhile, live writes and erasures during the
rebuild are kept, a restart halfway ends with a whole index, and ``chronik reindex`` at the
same time still works. On both backends (SQLite FTS5; the search engine at
``CHRONIK_TEST_SEARCH_URL``, see ``conftest.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import subprocess
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from search import indexer as indexer_module
from search.analysis import TEXT_VERSION
from search.backend import SearchBackend
from search.engine import EngineBackend
from search.engine_query import SETTINGS, mappings_for
from search.fts import FtsBackend
from search.indexer import Indexer, reindex
from search.owners import HOST
from search.query import SearchFilters, SearchRequest, parse
from tests.search.conftest import engine_url, open_engine
from timeline.blobs import BlobStore
from timeline.models import Channel, Direction, Entry, EntryDraft, Visibility
from timeline.service import TimelineService
from timeline.sqlite_store import SqliteStore

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
_WORD = re.compile(r"[^\W_]+")


def text_v1_fold_tokens(text: str) -> list[str]:
    """How text version 1 folded: marks dropped, but ``ł``, ``ø``, ``æ`` … kept."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _WORD.findall(re.sub(r"([aou])e", r"\1", text))


class GatedStore:
    """The store, but a rebuild's first read of entries waits (``read`` is set) until
    ``go``: the rebuild is halfway, its snapshot read and not yet loaded."""

    def __init__(self, store: SqliteStore, *, at_read: int = 1) -> None:
        self.store = store
        self.read = asyncio.Event()
        self.go = asyncio.Event()
        self.reads = 0
        self.at_read = at_read
        """Which read waits (2: the first batch is loaded, the swap not yet made)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def scan_entries(self, after_seq: int, limit: int) -> list[Entry]:
        batch = await self.store.scan_entries(after_seq, limit)
        self.reads += 1
        if self.reads >= self.at_read and not self.go.is_set():
            self.read.set()
            await self.go.wait()
        return batch


class World:
    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.store = SqliteStore(tmp_path / "store.sqlite3")
        self.timeline = TimelineService(self.store, BlobStore(tmp_path / "blobs"))
        self.backend: SearchBackend = FtsBackend(tmp_path / "search.sqlite3")
        self.office = self.customer = ""
        self.minutes = 0

    async def open(self) -> None:
        await self.store.open()
        self.office = (await self.store.create_office("O", "DE")).id
        self.customer = (await self.store.create_customer(self.office, "Kunde", [])).id
        if self.kind == "engine":
            self.backend = await open_engine(refresh=True)
        else:
            await self.backend.open()

    async def restart(self) -> None:
        """The process ends and a new one opens the same index."""
        await self.backend.close()
        if isinstance(self.backend, EngineBackend):
            self.backend = EngineBackend(engine_url(), self.backend.alias, refresh=True)
        else:
            self.backend = FtsBackend(self.tmp_path / "search.sqlite3")
        await self.backend.open()

    async def close(self) -> None:
        if isinstance(self.backend, EngineBackend):
            await self.backend.drop()
        await self.backend.close()
        await self.store.close()

    async def add(self, body: str) -> Entry:
        self.minutes += 1
        entry, _ = await self.timeline.append(EntryDraft(
            office_id=self.office, customer_id=self.customer, channel=Channel.NOTE,
            direction=Direction.INTERNAL, kind="note", visibility=Visibility.INTERNAL,
            occurred_at=T0 + timedelta(minutes=self.minutes), body=body))
        return entry

    async def old_index(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """What the previous release left: every entry indexed with text version 1."""
        with monkeypatch.context() as m:
            m.setattr("search.prepared.fold_tokens", text_v1_fold_tokens)
            m.setattr("search.fts.TEXT_VERSION", 1)
            m.setattr("search.engine.TEXT_VERSION", 1)
            _, covered = await self.store.index_backlog()
            await reindex(self.store, self.backend)
            await self.store.ack_index_through(covered)
        assert await self.backend.text_version() == 1

    async def found(self, q: str) -> list[int]:
        page = await self.backend.search(SearchRequest(
            query=parse(q), filters=SearchFilters(office_id=self.office), limit=100))
        return sorted(h.seq for h in page.hits)


@pytest.fixture(params=["fts5", "engine"])
async def world(request: pytest.FixtureRequest, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    # one process here: its own writes reach the index it loads without the lookup delay
    monkeypatch.setattr("search.engine.TARGETS_TTL", 0.05)
    w = World(request.param, tmp_path)
    await w.open()
    try:
        yield w
    finally:
        await w.close()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    async def poll() -> None:
        while not await check():  # noqa: ASYNC110 (state of the index: no event to wait on)
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), seconds)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_index_of_older_text_is_rebuilt_without_a_command(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    pole = await world.add("Rückruf von Łukasz Wójcik wegen der Police")
    files = [await world.add(f"Vorgang {i} Police") for i in range(4)]
    await world.old_index(monkeypatch)
    assert await world.found("Lukasz") == []  # the old index kept the ł
    assert await world.found("Wojcik") == [pole.seq]

    gated = GatedStore(world.store)
    indexer = Indexer(gated, world.backend, poll_seconds=0.05)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="search.indexer"):
        task = asyncio.create_task(indexer.run())
        try:
            await asyncio.wait_for(gated.read.wait(), 30)
            # halfway: search answers from the old index, the outbox is still drained
            assert await world.found("Wojcik") == [pole.seq]
            late = await world.add("Neuer Termin mit Łukasz")
            indexer.wake()
            await until(lambda: _is(world.found("Termin"), [late.seq]))
            edited = Entry(**{**files[1].model_dump(), "body": "Vorgang 1 Police Nachtrag"})
            await world.backend.index([edited])  # written live: newer than the snapshot
            await world.backend.delete([files[0].seq])  # erased: the snapshot still has it
            gated.go.set()
            await until(lambda: _is(world.backend.text_version(), TEXT_VERSION), 60)
            await until(lambda: _true("rebuild from the store done" in caplog.text))
        finally:
            gated.go.set()
            await stop(task)
    assert await world.found("Lukasz") == sorted([pole.seq, late.seq])
    assert await world.found("Łukasz Wojcik") == [pole.seq]
    assert await world.found("Nachtrag") == [files[1].seq]
    assert await world.found("Police") == sorted([pole.seq, *(f.seq for f in files[1:])])
    assert "rebuilding from the store in the background (text analysis v1 -> v2, 5 entries)" \
        in caplog.text
    assert "rebuild from the store done (6 entries" in caplog.text  # with the late one


async def test_a_restart_halfway_ends_with_a_whole_index(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    pole = await world.add("Rückruf von Łukasz Wójcik wegen der Police")
    files = [await world.add(f"Vorgang {i} Police") for i in range(4)]
    everything = sorted([pole.seq, *(f.seq for f in files)])
    await world.old_index(monkeypatch)
    gated = GatedStore(world.store)
    task = asyncio.create_task(
        Indexer(gated, world.backend).run())  # type: ignore[arg-type]
    await asyncio.wait_for(gated.read.wait(), 30)
    await stop(task)  # the process ends halfway through the rebuild
    with caplog.at_level(logging.WARNING):
        await world.restart()
    assert await world.found("Police") == everything  # the old index, whole
    assert await world.backend.text_version() == 1
    if world.kind == "fts5":
        assert "rebuild from the store was interrupted" in caplog.text
    await asyncio.wait_for(Indexer(world.store, world.backend).keep_text_current(), 60)
    assert await world.found("Lukasz") == [pole.seq]
    assert await world.found("Police") == everything
    assert await world.backend.text_version() == TEXT_VERSION
    if isinstance(world.backend, EngineBackend):
        assert await world.backend.client.alias_indices(world.backend.rebuilding_alias) == []
        assert len(await world.backend.client.alias_indices(world.backend.alias)) == 1
    else:
        conn = sqlite3.connect(world.tmp_path / "search.sqlite3")
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
        assert not {t for t in tables if "rebuild" in t}


def dead_pid() -> int:
    """The id of a process of this host that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_what_a_killed_rebuild_left_is_dropped_when_the_index_is_opened(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A process killed halfway through a rebuild leaves its half-built copy (FTS5: the
    rebuild tables; the engine: an index under ``<alias>-rebuilding``) that every write would
    keep reaching; the next process to open the index on that host drops it."""
    pole = await world.add("Rückruf von Łukasz Wójcik wegen der Police")
    await world.old_index(monkeypatch)
    killed = {"host": HOST, "pid": dead_pid()}
    if isinstance(world.backend, EngineBackend):
        orphan = f"{world.backend.alias}-20260101000000-killed"
        await world.backend.client.create_index(orphan, {
            "settings": SETTINGS, "mappings": mappings_for(TEXT_VERSION, killed),
            "aliases": {world.backend.rebuilding_alias: {}}})
    else:
        gated = GatedStore(world.store)
        task = asyncio.create_task(
            Indexer(gated, world.backend).run())  # type: ignore[arg-type]
        await asyncio.wait_for(gated.read.wait(), 30)
        await stop(task)
        conn = sqlite3.connect(world.tmp_path / "search.sqlite3")
        try:
            conn.execute("UPDATE search_meta SET value = ? WHERE key = 'rebuild'",
                         (json.dumps({"id": "killed", "beat": 0, **killed}),))
            conn.commit()
        finally:
            conn.close()
    with caplog.at_level(logging.WARNING):
        await world.restart()
    assert "ended" in caplog.text
    assert await world.found("Wojcik") == [pole.seq]
    if isinstance(world.backend, EngineBackend):
        assert await world.backend.client.alias_indices(world.backend.rebuilding_alias) == []
    await asyncio.wait_for(Indexer(world.store, world.backend).keep_text_current(), 60)
    assert await world.found("Lukasz") == [pole.seq]


async def test_an_erasure_during_the_rebuild_leaves_no_word_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The erased entry's words as the new text spells them (``lukasz``, only in the index
    being loaded) leave its word forms too, not only those of the old index (``łukasz``)."""
    world = World("fts5", tmp_path)
    await world.open()
    try:
        pole = await world.add("Rückruf von Łukasz Wójcik wegen der Police")
        other = await world.add("Vorgang Police")
        await world.old_index(monkeypatch)
        gated = GatedStore(world.store, at_read=2)
        upgrade = asyncio.create_task(
            Indexer(gated, world.backend).keep_text_current())  # type: ignore[arg-type]
        await asyncio.wait_for(gated.read.wait(), 30)  # loaded, not yet swapped in
        await world.backend.delete([pole.seq])  # the erasure's delete task
        gated.go.set()
        await asyncio.wait_for(upgrade, 60)
        assert await world.found("Lukasz") == [] == await world.found("Rückruf")
        assert await world.found("Police") == [other.seq]
    finally:
        await world.close()
    conn = sqlite3.connect(tmp_path / "search.sqlite3")
    try:
        words = {w for (w,) in conn.execute("SELECT word FROM word_forms")}
    finally:
        conn.close()
    assert words and not words & {"lukasz", "łukasz", "wojcik", "ruckruf"}


@pytest.mark.parametrize("first", ["automatic", "reindex"])
async def test_chronik_reindex_and_the_automatic_rebuild_at_once(
        world: World, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """Whichever starts first, both end and the index is whole and current: ``chronik
    reindex`` takes an automatic rebuild over, an automatic one waits for a running one."""
    monkeypatch.setattr(indexer_module, "RECHECK_SECONDS", 0.05)
    pole = await world.add("Rückruf von Łukasz Wójcik wegen der Police")
    files = [await world.add(f"Vorgang {i} Police") for i in range(3)]
    everything = sorted([pole.seq, *(f.seq for f in files)])
    await world.old_index(monkeypatch)
    gated = GatedStore(world.store)
    if first == "automatic":
        automatic = asyncio.create_task(
            Indexer(gated, world.backend).keep_text_current())  # type: ignore[arg-type]
        await asyncio.wait_for(gated.read.wait(), 30)
        assert await reindex(world.store, world.backend) == 4
        gated.go.set()
        await asyncio.wait_for(automatic, 60)
    else:
        manual = asyncio.create_task(
            reindex(gated, world.backend))  # type: ignore[arg-type]
        await asyncio.wait_for(gated.read.wait(), 30)
        automatic = asyncio.create_task(
            Indexer(world.store, world.backend).keep_text_current())
        await asyncio.sleep(0.3)
        assert await world.found("Wojcik") == [pole.seq]
        gated.go.set()
        assert await asyncio.wait_for(manual, 60) == 4
        await asyncio.wait_for(automatic, 60)
    assert await world.found("Lukasz") == [pole.seq]
    assert await world.found("Police") == everything
    assert await world.backend.text_version() == TEXT_VERSION


async def _is(value: Awaitable[object], wanted: object) -> bool:
    return await value == wanted


async def _true(value: bool) -> bool:
    return value
