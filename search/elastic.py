"""Search at scale: Elasticsearch (8.x or 9.x) behind an alias.

One ``AsyncElasticsearch`` client per backend, opened and closed with it. The alias always
points at one concrete index ``<alias>-<utc time>-<random>``; ``rebuild`` loads a fresh one
and swaps the alias in one atomic ``_aliases`` call. Documents are keyed by ``seq`` and sorted
by it (newest first); request bodies live in ``search.elastic_query``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from elastic_transport import ApiError, AsyncTransport, ConnectionTimeout, TlsError
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import BulkIndexError, async_bulk

from search.backend import (
    RELEVANCE_CANDIDATES,
    HitPage,
    RebuildSource,
    SearchHit,
    SearchUnavailable,
)
from search.elastic_query import (
    MAPPINGS,
    NEWEST_FIRST,
    SETTINGS,
    Json,
    document,
    newest_cursor,
    rank,
    relevance_cursor,
    search_query,
)
from search.query import QueryError, SearchRequest
from timeline.models import Entry

if TYPE_CHECKING:
    from elastic_transport import TransportApiResponse

_TRANSIENT = frozenset({429, 502, 503, 504})
_BULK_CHUNK_BYTES = 10 * 1024 * 1024


@contextmanager
def _boundary(*, query: bool = False) -> Iterator[None]:
    """Translate elasticsearch/elastic_transport errors once (STYLE 6/7).

    Transient -> ``SearchUnavailable``; a 400 answer to a search -> ``QueryError``; anything
    else (TLS or auth misconfiguration, mapping errors, unknown index) is a bug and propagates.
    """
    try:
        yield
    except BulkIndexError as exc:
        statuses = {item.get("status") for op in exc.errors for item in op.values()}
        if statuses <= _TRANSIENT:
            raise SearchUnavailable(
                f"Elasticsearch rejected {len(exc.errors)} document(s): overloaded") from exc
        raise
    except ApiError as exc:
        status = exc.meta.status
        if status in _TRANSIENT:
            raise SearchUnavailable(f"Elasticsearch answered HTTP {status}",
                                    retry_after=_retry_after(exc)) from exc
        if query and status == 400:
            raise QueryError("the query could not be run: rephrase it") from exc
        raise
    except (TransportConnectionError, ConnectionTimeout) as exc:
        if isinstance(exc, TlsError):
            raise
        raise SearchUnavailable(f"Elasticsearch is unreachable: {exc}") from exc


def _retry_after(exc: ApiError) -> float | None:
    with suppress(ValueError):
        return float(exc.meta.headers.get("retry-after") or "")
    return None


_COMPAT_MIMETYPE = re.compile(r"application/vnd\.elasticsearch\+([\w-]+)\s*;\s*compatible-with=\d+")


class _PlainMediaTypeTransport(AsyncTransport):
    """Sends plain ``application/json`` / ``x-ndjson`` instead of the client's
    ``compatible-with=<client major>``, which an older server refuses (a 9.x client against
    ES 8: "Accept version must be either version 8 or 7"). Every server accepts the plain
    types, and the requests built here are the same in 8.x and 9.x."""

    # The override is as incompatible with the sync ``Transport`` as AsyncTransport's own.
    async def perform_request(  # type: ignore[override]
            self, *args: Any, **kwargs: Any) -> TransportApiResponse:
        headers = kwargs.get("headers")
        if isinstance(headers, Mapping):
            kwargs["headers"] = {k: _COMPAT_MIMETYPE.sub(r"application/\1", v)
                                 if isinstance(v, str) else v for k, v in headers.items()}
        return await super().perform_request(*args, **kwargs)


class ElasticBackend:
    name = "elasticsearch"

    def __init__(self, url: str, alias: str, *, refresh: bool = False,
                 request_timeout: float = 30.0) -> None:
        self._url = url  # may carry credentials: never logged
        self.alias = alias
        self.refresh = refresh  # writes are searchable when they return (tests); costs throughput
        self.request_timeout = request_timeout
        self._client: AsyncElasticsearch | None = None
        # The index a rebuild in this process is loading: live writes go there too.
        self._rebuilding: str | None = None

    @property
    def client(self) -> AsyncElasticsearch:
        if self._client is None:
            raise RuntimeError("ElasticBackend is not open")
        return self._client

    async def open(self) -> None:
        if self._client is not None:
            return
        self._client = AsyncElasticsearch(
            self._url, transport_class=_PlainMediaTypeTransport,
            request_timeout=self.request_timeout, retry_on_timeout=True)
        try:
            with _boundary():
                if not await self.client.indices.exists_alias(name=self.alias):
                    await self.client.indices.create(
                        index=self._new_index_name(), settings=SETTINGS, mappings=MAPPINGS,
                        aliases={self.alias: {}})
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def drop(self) -> None:
        """Delete the alias's indices (and one being rebuilt): for tests."""
        names = await self._alias_indices()
        if self._rebuilding:
            names.append(self._rebuilding)
        if names:
            with _boundary():
                await self.client.options(ignore_status=404).indices.delete(index=names)

    async def index(self, entries: Sequence[Entry]) -> None:
        docs = [(str(e.seq), document(e)) for e in entries]
        await self._bulk([{"_op_type": "index", "_index": target, "_id": doc_id, "_source": doc}
                          for target in self._write_targets() for doc_id, doc in docs],
                         refresh=self.refresh)

    async def delete(self, seqs: Sequence[int]) -> None:
        await self._bulk([{"_op_type": "delete", "_index": target, "_id": str(seq)}
                          for target in self._write_targets() for seq in seqs],
                         ignore=(404,), refresh=self.refresh)

    async def compact(self) -> None:
        """Expunge deleted documents from the segments (``forcemerge`` with
        ``only_expunge_deletes``), so erased text leaves the index files."""
        with _boundary():
            await self.client.indices.refresh(index=self.alias)
            await self.client.indices.forcemerge(index=self.alias, only_expunge_deletes=True,
                                                 wait_for_completion=True)

    async def search(self, request: SearchRequest) -> HitPage:
        relevance = request.order == "relevance"
        after = relevance_cursor(request.cursor) if relevance else None
        below = None if relevance else newest_cursor(request.cursor)
        # Relevance pages ask the same shard copies each time, so their scores stay comparable.
        preference = f"chronik-{request.filters.office_id}" if relevance else None
        with _boundary(query=True):
            resp = await self.client.search(
                index=self.alias, query=search_query(request.query, request.filters, below=below),
                sort=NEWEST_FIRST, size=RELEVANCE_CANDIDATES if relevance else request.limit + 1,
                source=False, track_total_hits=False, track_scores=relevance, preference=preference)
        found: list[Json] = resp.body["hits"]["hits"]
        if relevance:
            # Candidates are the newest matches (bounded work, like fts.py), ranked here.
            return rank([(float(h["_score"] or 0.0), int(h["_id"])) for h in found], after,
                        request.limit)
        hits = [SearchHit(seq=int(h["_id"])) for h in found[: request.limit]]
        nxt = str(hits[-1].seq) if len(found) > request.limit else None
        return HitPage(hits=hits, next_cursor=nxt)

    async def rebuild(self, batches: RebuildSource) -> int:
        new = self._new_index_name()
        with _boundary():
            await self.client.indices.create(index=new, settings=SETTINGS, mappings=MAPPINGS)
        self._rebuilding = new
        count, old = 0, list[str]()
        try:
            async for batch in batches:
                # "create": a document index()ed live during the rebuild is newer than the
                # snapshot being loaded, so the snapshot never overwrites it (409 is expected).
                await self._bulk([{"_op_type": "create", "_index": new, "_id": str(e.seq),
                                   "_source": document(e)} for e in batch], ignore=(409,))
                count += len(batch)
            old = await self._alias_indices()
            with _boundary():
                await self.client.indices.refresh(index=new)
                await self.client.indices.update_aliases(actions=[
                    *({"remove": {"index": name, "alias": self.alias}} for name in old),
                    {"add": {"index": new, "alias": self.alias}},
                ])
        except BaseException:
            self._rebuilding = None
            with suppress(Exception):
                await self.client.options(ignore_status=404).indices.delete(index=new)
            raise
        self._rebuilding = None
        if old:
            with _boundary():
                await self.client.options(ignore_status=404).indices.delete(index=old)
        return count

    def _new_index_name(self) -> str:
        return f"{self.alias}-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"

    def _write_targets(self) -> list[str]:
        return [self.alias] if self._rebuilding is None else [self.alias, self._rebuilding]

    async def _alias_indices(self) -> list[str]:
        with _boundary():
            resp = await self.client.options(ignore_status=404).indices.get_alias(name=self.alias)
        return [] if resp.meta.status == 404 else list(resp.body)

    async def _bulk(self, actions: list[Json], *, ignore: tuple[int, ...] = (),
                    refresh: bool = False) -> None:
        if not actions:
            return
        params: Json = {"refresh": "wait_for"} if refresh else {}
        with _boundary():
            await async_bulk(self.client, actions, ignore_status=ignore, max_retries=3,
                             initial_backoff=1, max_backoff=10,
                             max_chunk_bytes=_BULK_CHUNK_BYTES, **params)
