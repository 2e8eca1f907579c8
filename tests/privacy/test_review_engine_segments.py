"""Review (invariant 7 on the search engine): after an erasure no segment of the OpenSearch
index keeps an erased document - none merged away but still named by the last commit and
held open by the last searcher (its files stayed on the node's disk, readable with
``strings``, until the next flush and refresh: on a quiet index, for hours). Checked with
the engine's own ``_segments`` report, and in the index files when the node's data folder
is readable here (``deploy/ci/opensearch.sh``'s node)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from search.engine import EngineBackend
from tests.conftest import Hub
from tests.search.conftest import engine_url
from tests.search.test_engine_erasure import settings

__all__ = ["settings"]  # the hub on the search engine, an alias of its own

NODE_DATA = Path("/var/lib/chronik-opensearch/data")




async def _segments(index: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
            f"{engine_url()}/{index}/_segments") as resp:
        body = await resp.json()
    return [{"name": name, **seg}
            for copies in body["indices"][index]["shards"].values()
            for copy in copies if copy["routing"]["primary"]
            for name, seg in copy["segments"].items()]


def _files_with(index_uuid: str, word: bytes) -> list[str]:
    """Files of the index on the node's disk holding ``word`` (none when the node's data
    folder is elsewhere or not readable here)."""
    folders = list(NODE_DATA.glob(f"nodes/*/indices/{index_uuid}"))
    return [str(p) for folder in folders for p in folder.rglob("*")
            if p.is_file() and word.lower() in p.read_bytes().lower()]


async def test_no_segment_keeps_an_erased_document(hub: Hub) -> None:
    backend = hub.state.backend
    assert isinstance(backend, EngineBackend)
    status, person = await hub.admin.post("/customers", json={"name": "Xenia Quappendorf"})
    status, other = await hub.admin.post("/customers", json={"name": "Otto Anders"})
    for n in range(40):  # the person's documents are a few per cent of the segment
        status, _ = await hub.admin.post(f"/customers/{other['id']}/entries", json={
            "kind": "note", "body": f"Ottovertrag Nummer {n}", "visibility": "internal"})
        if n == 20:
            status, _ = await hub.admin.post(f"/customers/{person['id']}/entries", json={
                "kind": "note", "body": "Quappendorfvertrag gekündigt",
                "visibility": "internal"})
    await hub.indexed()
    (index,) = await backend.client.alias_indices(backend.alias)
    async with aiohttp.ClientSession() as http, http.get(
            f"{engine_url()}/{index}/_settings") as resp:
        index_uuid = (await resp.json())[index]["settings"]["index"]["uuid"]

    status, preview = await hub.admin.get(f"/customers/{person['id']}/erasure")
    status, receipt = await hub.admin.call(
        "DELETE", f"/customers/{person['id']}?confirm={preview['confirm']}")
    assert status == 200, receipt

    segments = await _segments(index)
    assert segments and [s for s in segments if s["deleted_docs"]] == []
    assert sum(s["num_docs"] for s in segments) == 40
    assert await asyncio.to_thread(_files_with, index_uuid, b"Quappendorf") == []
