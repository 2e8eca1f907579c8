"""The Elasticsearch client path (``search/elastic.py``, the ``elasticsearch`` 8.x client)
driven end to end. Elasticsearch itself cannot be fetched here, so the requests go through a
small compatibility stand-in in front of the OpenSearch node: it answers ``GET /`` as
Elasticsearch 8 would, adds the ``X-Elastic-Product`` header the client checks, and turns the
client's ``compatible-with=8`` media types into plain JSON for OpenSearch. Everything else
(URLs, parameters, bodies) is what the client sends to a real Elasticsearch 8.

This proves the client calls and error translation; it does not prove Elasticsearch's own
behaviour (not run)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from search.engine import EngineBackend, detect_engine
from search.query import SearchFilters, SearchRequest, parse
from tests.search.conftest import engine_url
from tests.search.test_engine_backend import entry

_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([\w-]+)\s*;\s*compatible-with=\d+")
_HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


@pytest.fixture
async def es_standin() -> AsyncIterator[str]:
    upstream = engine_url()
    seen: list[str] = []
    async with ClientSession() as session:
        async def forward(request: web.Request) -> web.Response:
            headers = {k: _COMPAT.sub(r"application/\1", v) for k, v in request.headers.items()
                       if k.lower() not in _HOP}
            seen.append(request.headers.get("Accept", ""))
            async with session.request(request.method, upstream + request.path_qs,
                                       data=await request.read(), headers=headers) as resp:
                body = await resp.read()
                if request.path == "/" and request.method == "GET" and resp.status == 200:
                    info = json.loads(body)
                    info["version"] = {"number": "8.15.0", "build_flavor": "default",
                                       "lucene_version": info["version"]["lucene_version"]}
                    info["tagline"] = "You Know, for Search"
                    body = json.dumps(info).encode()
                out_type = resp.headers.get("Content-Type", "application/json")
                return web.Response(status=resp.status, body=body, headers={
                    "Content-Type": out_type.split(";")[0],
                    "X-Elastic-Product": "Elasticsearch"})

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", forward)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await server.close()
    assert any("compatible-with=8" in a for a in seen), "the client sent its media type"


async def test_the_elasticsearch_client_path_end_to_end(es_standin: str) -> None:
    assert await detect_engine(es_standin) == "elasticsearch"
    backend = EngineBackend(es_standin, f"chronik-test-{uuid.uuid4().hex[:10]}",
                            refresh=True, compact_timeout=1)
    await backend.open()
    try:
        assert backend.name == "elasticsearch" and backend.server_version == "8.15.0"
        entries = [entry(f"Kündigungen Nummer {i}", minutes=i) for i in range(25)]
        await backend.index(entries)
        filters = SearchFilters(office_id="OFFICEA")
        for order in ("newest", "relevance"):
            got, cursor = [], None
            while True:
                page = await backend.search(SearchRequest(query=parse("Kündigung"),
                                                          filters=filters, order=order,
                                                          limit=10, cursor=cursor))
                got += [h.seq for h in page.hits]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert sorted(got) == sorted(e.seq for e in entries), order
        assert await backend.suggest("OFFICEA", "Kündigungn") == ["kundigungen"]
        await backend.delete([entries[0].seq])
        await backend.compact()  # stats, lease check, forcemerge through this client
        page = await backend.search(SearchRequest(query=parse("nummer"), filters=filters,
                                                  limit=50))
        assert entries[0].seq not in [h.seq for h in page.hits] and len(page.hits) == 24

        class Batches:
            def __init__(self) -> None:
                self.items = [entries[1:3]]

            def __aiter__(self) -> Batches:
                return self

            async def __anext__(self) -> list:  # type: ignore[type-arg]
                if not self.items:
                    raise StopAsyncIteration
                return self.items.pop(0)

        assert await backend.rebuild(Batches()) == 2
        page = await backend.search(SearchRequest(query=parse("nummer"), filters=filters))
        assert sorted(h.seq for h in page.hits) == sorted(e.seq for e in entries[1:3])
    finally:
        await backend.drop()
        await backend.close()
