"""Erasure reaches the search engine: after ``DELETE /customers/{id}`` (which ends with the
indexer draining the drop rows and ``backend.compact()``), the engine finds none of the
person's words, and no segment of its index keeps a deleted document."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chronik.settings import Settings
from search.engine import EngineBackend
from search.query import SearchFilters, SearchRequest, parse
from tests.conftest import Hub
from tests.search.conftest import engine_url


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    """The hub of ``tests/conftest.py`` on the search engine, on an alias of its own."""
    alias = f"chronik-test-{uuid.uuid4().hex[:10]}"
    yield Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024,
                   search_url=engine_url(), search_index=alias)  # type: ignore[arg-type]
    leftover = EngineBackend(engine_url(), alias)
    await leftover.open()
    await leftover.drop()
    await leftover.close()


async def _engine_hits(hub: Hub, word: str) -> list[int]:
    page = await hub.state.backend.search(SearchRequest(
        query=parse(word), filters=SearchFilters(office_id=hub.office.id)))
    return [h.seq for h in page.hits]


async def test_erasure_leaves_nothing_in_the_engine(hub: Hub) -> None:
    backend = hub.state.backend
    assert isinstance(backend, EngineBackend) and backend.name == "opensearch"
    status, person = await hub.admin.post("/customers", json={"name": "Xaverius Quendel"})
    assert status == 201, person
    status, other = await hub.admin.post("/customers", json={"name": "Otto Anders"})
    for body in ("Quendelvertrag gekündigt", "Quendelvertrag Rückfrage Xaverius"):
        # internal: a published note's notification would add an entry in the background,
        # and the erasure preview's confirmation holds only until the history changes
        status, _ = await hub.admin.post(f"/customers/{person['id']}/entries",
                                         json={"kind": "note", "body": body,
                                               "visibility": "internal"})
        assert status == 201
    status, _ = await hub.admin.post(f"/customers/{other['id']}/entries",
                                     json={"kind": "note", "body": "Ottovertrag bleibt"})
    await hub.indexed()
    await backend.client.refresh(backend.alias)
    assert len(await _engine_hits(hub, "Quendelvertrag")) == 2, "indexed before the erasure"

    status, preview = await hub.admin.get(f"/customers/{person['id']}/erasure")
    assert status == 200, preview
    status, receipt = await hub.admin.call(
        "DELETE", f"/customers/{person['id']}?confirm={preview['confirm']}")
    assert status == 200, receipt

    await backend.client.refresh(backend.alias)
    assert await _engine_hits(hub, "Quendelvertrag") == []
    assert await _engine_hits(hub, "Xaverius") == []
    assert len(await _engine_hits(hub, "Ottovertrag")) == 1
    (index,) = await backend.client.alias_indices(backend.alias)
    stats = await backend.client.shard_stats(index)
    docs = stats["indices"][index]["primaries"]["docs"]
    assert docs["deleted"] == 0, "a segment still holds an erased document"
