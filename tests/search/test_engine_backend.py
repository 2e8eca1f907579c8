"""What the search engine backend (``search.engine``) adds beyond the shared contract: engine
detection and its errors, a rebuild that never interrupts search nor loses a live write
(from this or another process), deep pages, and re-analysis of an outdated index."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from search.backend import SearchUnavailable
from search.engine import EngineBackend, detect_engine
from search.engine_client import EngineError
from search.query import SearchFilters, SearchRequest, parse
from tests.search.conftest import engine_url, open_engine
from timeline.ids import seq_base
from timeline.models import Channel, Direction, Entry, Visibility

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
_n = 0


def entry(body: str, *, minutes: int = 0, office: str = "OFFICEA") -> Entry:
    global _n
    _n += 1
    when = T0 + timedelta(minutes=minutes)
    return Entry(id=f"G{_n:06d}", seq=seq_base(when) + _n % 1000, office_id=office,
                 customer_id="CUST1", channel=Channel.EMAIL, direction=Direction.INBOUND,
                 kind="email", visibility=Visibility.PUBLISHED, occurred_at=when,
                 recorded_at=when, body=body)


async def hits(backend: EngineBackend, q: str, **kw: object) -> list[int]:
    page = await backend.search(SearchRequest(query=parse(q), filters=SearchFilters(
        office_id="OFFICEA"), limit=100, **kw))  # type: ignore[arg-type]
    return [h.seq for h in page.hits]


@pytest.fixture
async def engine() -> AsyncIterator[EngineBackend]:
    impl = await open_engine(refresh=True)
    try:
        yield impl
    finally:
        await impl.drop()
        await impl.close()


async def test_the_engine_is_detected_and_the_wrong_client_is_refused() -> None:
    url = engine_url()
    assert await detect_engine(url) == "opensearch"
    alias = f"chronik-test-{uuid.uuid4().hex[:10]}"
    wrong = EngineBackend(url, alias, engine="elasticsearch")
    with pytest.raises(EngineError, match="not Elasticsearch"):
        await wrong.open()
    right = EngineBackend(url, alias)  # auto
    await right.open()
    try:
        assert right.name == "opensearch" and right.server_version.startswith("2.")
    finally:
        await right.drop()
        await right.close()


async def test_an_unreachable_engine_is_search_unavailable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = EngineBackend(f"http://127.0.0.1:{port}", "chronik-x", engine="opensearch",
                            request_timeout=2)
    with pytest.raises(SearchUnavailable, match="unreachable"):
        await backend.open()


async def test_rebuild_serves_the_old_index_and_keeps_live_writes(
        engine: EngineBackend) -> None:
    """Zero downtime: while a rebuild loads, searches answer from the old index; a write
    made meanwhile by another process (a second backend on the same alias) reaches the new
    index, and a document deleted meanwhile does not come back from the stale snapshot."""
    old = [entry(f"Altbestand Police {i}", minutes=i) for i in range(3)]
    await engine.index(old)
    other_process = EngineBackend(engine_url(), engine.alias, refresh=True)
    await other_process.open()
    snapshot = [*old, entry("Neuzugang Police", minutes=10)]
    first_batch_read = asyncio.Event()
    go_on = asyncio.Event()

    class Snapshot:  # what the store held when the rebuild read it, in two batches
        def __init__(self) -> None:
            self.batches = [snapshot[:2], snapshot[2:]]

        def __aiter__(self) -> Snapshot:
            return self

        async def __anext__(self) -> list[Entry]:
            if not self.batches:
                raise StopAsyncIteration
            if len(self.batches) == 1:
                first_batch_read.set()
                await go_on.wait()
            return self.batches.pop(0)

    try:
        rebuild = asyncio.create_task(engine.rebuild(Snapshot()))
        await asyncio.wait_for(first_batch_read.wait(), 30)
        assert sorted(await hits(engine, "altbestand")) == sorted(e.seq for e in old)
        edited = old[0].model_copy(update={"body": "Altbestand Police geändert Nachtrag"})
        await other_process.index([edited])
        await other_process.delete([old[2].seq])  # erased while the snapshot still has it
        go_on.set()
        assert await asyncio.wait_for(rebuild, 60) == 4
        assert await hits(engine, "nachtrag") == [old[0].seq]
        assert await hits(engine, "altbestand") == [old[1].seq, old[0].seq]
        assert await hits(engine, "neuzugang") == [snapshot[3].seq]
        assert len(await engine.client.alias_indices(engine.alias)) == 1
        assert await engine.client.alias_indices(engine.rebuilding_alias) == []
    finally:
        go_on.set()
        await other_process.close()


@pytest.mark.parametrize("order", ["newest", "relevance"])
async def test_deep_pages_follow_search_after_without_gaps(engine: EngineBackend,
                                                            order: str) -> None:
    entries = [entry(f"Vorgang {i} " + "Beitrag " * (i % 5 + 1), minutes=i)
               for i in range(1200)]
    engine.refresh = False
    await engine.index(entries)
    await engine.client.refresh(engine.alias)
    filters = SearchFilters(office_id="OFFICEA")
    got: list[int] = []
    scores: list[float] = []
    cursor = None
    pages = 0
    while True:
        page = await engine.search(SearchRequest(query=parse("beitrag"), filters=filters,
                                                 order=order, limit=100, cursor=cursor))
        got += [h.seq for h in page.hits]
        scores += [h.score or 0.0 for h in page.hits]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 12 and len(got) == len(set(got)) == 1200
    if order == "newest":
        assert got == sorted((e.seq for e in entries), reverse=True)
    else:  # best first across pages; most "Beitrag" (i % 5 == 4) on top
        assert scores == sorted(scores, reverse=True)
        assert set(got[:240]) == {e.seq for i, e in enumerate(entries) if i % 5 == 4}


async def test_an_outdated_index_is_reanalysed_on_open(engine: EngineBackend) -> None:
    """An index written before word forms existed (no ``forms``, no ``_meta``) is rebuilt
    from its own stored text when a backend opens it: no store, no manual step."""
    alias = f"chronik-test-{uuid.uuid4().hex[:10]}"
    legacy = f"{alias}-20250101000000-legacy"
    e = entry("Die Verträge liegen bei")
    await engine.client.create_index(legacy, {
        "settings": {"number_of_shards": 1},
        "mappings": {"properties": {"seq": {"type": "long"}, "body": {"type": "text"},
                                    "office": {"type": "keyword"},
                                    "customer": {"type": "keyword"},
                                    "channel": {"type": "keyword"},
                                    "kind": {"type": "keyword"},
                                    "visibility": {"type": "keyword"}}},
        "aliases": {alias: {}}})
    await engine.client.bulk(
        b'{"index":{"_index":"%s","_id":"%d"}}\n{"seq":%d,"body":"die vertrage liegen bei",'
        b'"office":"officea","customer":"cust1","channel":"email","kind":"email",'
        b'"visibility":"published"}\n' % (legacy.encode(), e.seq, e.seq), refresh=True)
    upgraded = EngineBackend(engine_url(), alias, refresh=True)
    await upgraded.open()
    try:
        assert await hits(upgraded, "Vertrag") == [e.seq]  # found through its word form
        assert legacy not in await upgraded.client.alias_indices(alias)
    finally:
        await upgraded.drop()
        await upgraded.close()


async def test_a_vanished_alias_is_an_error_not_a_stray_index(engine: EngineBackend) -> None:
    """Writes go through the alias only (``require_alias``): when its index was deleted
    behind the backend's back, indexing fails loudly instead of auto-creating an unmapped
    index under the alias's name."""
    await engine.drop()
    with pytest.raises(EngineError, match="index_not_found"):
        await engine.index([entry("verloren")])
    assert await engine.client.alias_indices(engine.alias) == []
    found = await engine.client.search("_all", {"size": 0, "query": {
        "term": {"_index": engine.alias}}, "track_total_hits": True})
    assert found["hits"]["total"]["value"] == 0
