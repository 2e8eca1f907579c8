"""Search at scale: OpenSearch (2.x) or Elasticsearch (8.x) behind an alias.

One backend for both engines: the mapping and queries (``search.engine_query``), the bulk
path, the alias swap and erasure are written once here; only the client differs
(``search.engine_opensearch`` / ``search.elastic``, chosen by ``engine`` or, with ``auto``,
by asking the server: ``GET /`` -> ``version.distribution``). One client per backend,
opened and closed with it (STYLE 4).

* The alias always points at one concrete index ``<alias>-<utc time>-<random>``.
  ``rebuild`` loads a fresh index and swaps the alias in one atomic ``_aliases`` call:
  searches never see a half-built index. While it loads, the new index also carries the
  alias ``<alias>-rebuilding``; every process's writes go to both (they look the alias up,
  cached ``TARGETS_TTL`` seconds, and the rebuild waits that long before it reads the
  store). A live delete leaves a tombstone in the new index, so the snapshot being loaded
  cannot bring the document back; tombstones are removed before the swap. Two rebuilds at
  once (an automatic one, ``chronik reindex``) each load a whole index of their own (every
  write reaches both) and the later swap wins: nothing is taken over or left half. An index
  left under ``<alias>-rebuilding`` by a process that ended halfway (its ``_meta`` names the
  loading host and process) is deleted when a backend on that host opens or rebuilds.
* The mapping's ``_meta`` names the schema, analysis and text versions the index was written
  with: an older schema or analysis is re-analysed on open from the index's own text, an
  older text (``TEXT_VERSION``) is rebuilt from the store by the indexer in the background.
* Bulk requests are NDJSON bodies of at most ``BULK_BYTES``; items the engine rejects as
  overloaded (429) are retried with backoff, other rejections are errors. A rebuild keeps
  ``BULK_IN_FLIGHT`` requests in flight with refresh off.
* Pages are ``search_after`` the last hit's sort values (``seq``, or ``_score`` and ``seq``),
  so a deep page costs what the first one does.
* ``compact`` (after an erasure) waits until the shard's retention leases no longer keep the
  deleted documents (soft deletes, at most the ~30 s lease sync), then expunges them; the
  merge policy expunges every segment holding a deleted document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Literal

import orjson
from cachetools import TTLCache

from search.analysis import (
    TEXT_VERSION,
    best_corrections,
    close_words,
    correctable_words,
    corrected_queries,
    index_forms,
    languages_of,
    typo_budget,
)
from search.backend import HitPage, RebuildSource, SearchHit, SearchUnavailable, Total
from search.cursor import RelevanceCursor, relevance_cursor
from search.engine_client import EngineClient, EngineError, Json
from search.engine_query import (
    MAPPINGS,
    SETTINGS,
    bounded,
    count_body,
    counts_body,
    document,
    known_body,
    mappings_for,
    marked_words,
    meta_matches,
    meta_text_version,
    near_words_body,
    newest_cursor,
    only_seq,
    page_body,
    relevance_tiers,
    search_query,
    tombstone,
)
from search.owners import process_alive, started_here
from search.query import SearchRequest
from timeline.models import Entry

log = logging.getLogger(__name__)

EngineName = Literal["auto", "opensearch", "elasticsearch"]
CLIENT_MAJOR = {"opensearch": 2, "elasticsearch": 8}
"""The server major each pinned client is for (opensearch-py 2.x, elasticsearch 8.x)."""

BULK_BYTES = 8 * 1024 * 1024
BULK_ACTIONS = 4000
BULK_IN_FLIGHT = 3
BULK_RETRIES = 4
TARGETS_TTL = 1.0
"""Seconds a process trusts its lookup of the ``<alias>-rebuilding`` index."""
SUGGEST_CANDIDATES = 10
"""Close words per unknown query word checked against the office's documents."""
SOURCE_BATCH = 2000
SWAP_ATTEMPTS = 5
_LOADING: set[str] = set()
"""The indices this process's rebuilds are loading."""
"""Alias swaps tried while other rebuilds keep swapping in between (see ``_swap_alias``)."""


async def detect_engine(url: str, *, request_timeout: float = 10.0) -> str:
    """``opensearch`` or ``elasticsearch``, from ``GET /`` (OpenSearch says
    ``version.distribution: opensearch``; Elasticsearch has no distribution field)."""
    from search.engine_opensearch import OpenSearchClient

    probe = OpenSearchClient(url, request_timeout=request_timeout)
    try:
        info = await probe.info()
    finally:
        await probe.close()
    version = info.get("version")
    dist = version.get("distribution") if isinstance(version, dict) else None
    return "opensearch" if dist == "opensearch" else "elasticsearch"


def make_client(engine: str, url: str, *, request_timeout: float = 30.0) -> EngineClient:
    if engine == "opensearch":
        from search.engine_opensearch import OpenSearchClient

        return OpenSearchClient(url, request_timeout=request_timeout)
    if engine == "elasticsearch":
        from search.elastic import ElasticsearchClient

        return ElasticsearchClient(url, request_timeout=request_timeout)
    raise ValueError(f"unknown search engine {engine!r}: opensearch or elasticsearch")


class EngineBackend:
    def __init__(self, url: str, alias: str, *, engine: EngineName = "auto",
                 refresh: bool = False, request_timeout: float = 30.0,
                 compact_timeout: float = 120.0) -> None:
        self._url = url  # may carry credentials: never logged
        self.alias = alias
        self.engine: EngineName = engine
        self.name: str = engine if engine != "auto" else "search-engine"
        self.refresh = refresh  # writes are searchable when they return (tests); costs throughput
        self.request_timeout = request_timeout
        self.compact_timeout = compact_timeout
        self.server_version = ""
        self._client: EngineClient | None = None
        self._rebuilding: str | None = None  # the index this process is loading
        self.created = False  # open() found no index under the alias and made an empty one
        self._targets: TTLCache[str, list[str]] = TTLCache(maxsize=1, ttl=TARGETS_TTL)

    @property
    def client(self) -> EngineClient:
        if self._client is None:
            raise RuntimeError("EngineBackend is not open")
        return self._client

    @property
    def rebuilding_alias(self) -> str:
        return f"{self.alias}-rebuilding"

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        if self._client is not None:
            return
        engine: str = self.engine
        if engine == "auto":
            engine = await detect_engine(self._url, request_timeout=self.request_timeout)
        self._client = make_client(engine, self._url, request_timeout=self.request_timeout)
        self.name = engine
        try:
            info = await self.client.info()
            self.server_version = str(info.get("version", {}).get("number", ""))
            major = self.server_version.split(".", 1)[0]
            if major.isdigit() and int(major) != CLIENT_MAJOR[engine]:
                log.warning("%s %s: the client is for %s %d.x; run a %d.x server",
                            engine, self.server_version, engine, CLIENT_MAJOR[engine],
                            CLIENT_MAJOR[engine])
            current = await self.client.alias_indices(self.alias)
            if not current:
                self.created = True
                await self.client.create_index(self._new_index_name(), {
                    "settings": SETTINGS, "mappings": MAPPINGS, "aliases": {self.alias: {}}})
            elif not meta_matches(await self.client.mapping_meta(current[0])):
                await self._reanalyse(current[0])
            await self._drop_dead_loads()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def drop(self) -> None:
        """Delete the alias's indices (and one being rebuilt): for tests."""
        await self.client.delete_indices(sorted({*await self.client.alias_indices(self.alias),
                                                 *await self._rebuilding_indices()}))

    # ------------------------------------------------------------------ writes
    async def index(self, entries: Sequence[Entry]) -> None:
        docs = [(e.seq, document(e)) for e in entries]
        ops = [("index", target, seq, doc) for target in await self._write_targets()
               for seq, doc in docs]
        await self._bulk(ops, refresh=self.refresh)

    async def delete(self, seqs: Sequence[int]) -> None:
        ops: list[tuple[str, str, int, Json | None]] = [
            ("delete", self.alias, seq, None) for seq in seqs]
        for target in await self._rebuilding_indices():
            ops += [("index", target, seq, tombstone(seq)) for seq in seqs]
        await self._bulk(ops, ignore=frozenset({404}), refresh=self.refresh)

    async def rebuild(self, batches: RebuildSource, *, automatic: bool = False) -> int:
        """Load a new index from ``batches`` and swap the alias to it. ``automatic`` changes
        nothing here: a rebuild running elsewhere loads an index of its own (see the module
        docstring)."""
        await self._drop_dead_loads()

        async def docs() -> AsyncIterator[list[tuple[int, Json]]]:
            async for batch in batches:
                yield [(e.seq, document(e)) for e in batch]
        return await self._load(docs())

    async def compact(self) -> None:
        """Drop deleted documents physically, so no segment keeps their text. Soft deletes
        keep a deleted document until the shard's retention leases move past it (the lease
        sync runs every 30 s), so this waits for that before it expunges. The merge is
        committed (``expunge_deletes`` ends with a forced flush) and a refresh afterwards
        closes the searcher still holding the old segments: only then are their files
        removed from the node's disk (before, they stayed until the next flush and refresh,
        which on a quiet index could be hours)."""
        for index in sorted({*await self.client.alias_indices(self.alias),
                             *await self._rebuilding_indices()}):
            await self.client.refresh(index)
            shards = _primaries(await self.client.shard_stats(index), index)
            if not any(s["docs"].get("deleted", 0) for s in shards):
                continue
            wanted = [int(s["seq_no"]["max_seq_no"]) for s in shards]
            deadline = time.monotonic() + self.compact_timeout
            while not all(_leases_past(s, seq) for s, seq in zip(shards, wanted, strict=True)):
                if time.monotonic() > deadline:
                    log.warning("search compact: retention leases of %s did not move within "
                                "%.0f s; deleted documents may stay until the next compact",
                                index, self.compact_timeout)
                    break
                await asyncio.sleep(1.0)
                shards = _primaries(await self.client.shard_stats(index), index)
            await self.client.expunge_deletes(index)
            await self.client.refresh(index)

    async def text_version(self) -> int:
        current = await self.client.alias_indices(self.alias)
        if not current:
            return TEXT_VERSION  # nothing indexed to be outdated
        return meta_text_version(await self.client.mapping_meta(current[0]))

    # ------------------------------------------------------------------ reads
    async def search(self, request: SearchRequest) -> HitPage:
        if request.order == "relevance":
            return await self._relevance(request)
        after = newest_cursor(request.cursor)
        body = page_body(search_query(request.query, request.filters), relevance=False,
                         size=request.limit + 1, after=after, count_up_to=request.count_up_to)
        resp = await self.client.search(self.alias, body)
        found: list[Json] = resp["hits"]["hits"]
        hits = [SearchHit(seq=int(h["_id"])) for h in found[: request.limit]]
        nxt = str(hits[-1].seq) if len(found) > request.limit else None
        return HitPage(hits=hits, next_cursor=nxt, total=_total(resp, request.count_up_to))

    async def _relevance(self, request: SearchRequest) -> HitPage:
        """Tier by tier (``relevance_tiers``), best first within a tier; a page that ends a
        tier goes on with the next one."""
        tiers = relevance_tiers(request.query, request.filters)
        cursor = relevance_cursor(request.cursor, len(tiers))
        # The same shard copies every time, so scores stay comparable from page to page.
        preference = f"chronik-{request.filters.office_id}"
        tier, after, below = 0, None, None
        if cursor is not None:  # search/cursor.py: what the first page ranked, and after
            tier, below = cursor.tier, cursor.below  # its last hit as scored now
            if below is not None:
                tiers = [bounded(t, below) for t in tiers]
            again = await self.client.search(self.alias, page_body(
                only_seq(tiers[tier], cursor.seq), relevance=True, size=1, after=None),
                preference=preference)
            now = again["hits"]["hits"]
            after = [float(now[0]["sort"][0]) if now else cursor.score, cursor.seq]
        want = request.limit + 1
        found: list[tuple[int, Json]] = []
        for t in range(tier, len(tiers)):
            body = page_body(tiers[t], relevance=True, size=want - len(found),
                             after=after if t == tier else None)
            resp = await self.client.search(self.alias, body, preference=preference)
            found += [(t, h) for h in resp["hits"]["hits"]]
            if len(found) >= want:
                break
        page = found[: request.limit]
        hits = [SearchHit(seq=int(h["_id"]), score=float(h["sort"][0])) for _, h in page]
        nxt = None
        if len(found) > request.limit:
            last_tier, last = page[-1]
            if below is None:  # the first page: the newest match bounds the ranking
                newest = await self.client.search(self.alias, page_body(
                    search_query(request.query, request.filters), relevance=False, size=1,
                    after=None))
                below = max([int(h["_id"]) for h in newest["hits"]["hits"]]
                            + [int(h["_id"]) for _, h in found]) + 1
            nxt = str(RelevanceCursor(last_tier, float(last["sort"][0]),
                                      int(last["sort"][1]), below))
        total = None
        if request.count_up_to:  # the tiers split the query: count the whole of it once
            whole = search_query(request.query, request.filters)
            counted = await self.client.search(self.alias, count_body(
                bounded(whole, below) if below is not None else whole, request.count_up_to))
            total = _total(counted, request.count_up_to)
        return HitPage(hits=hits, next_cursor=nxt, total=total)

    async def suggest(self, office_id: str, text: str, limit: int = 3) -> list[str]:
        """Replace each query word that finds nothing in the office by close words of the
        office's own documents: candidates are the words a fuzzy query marks in documents
        of ``office_id`` (never another office's), ranked by edits and by how many of the
        office's documents hold them (``search.analysis``, as for FTS5)."""
        words = correctable_words(text)
        if not words or limit <= 0:
            return []
        corrections: dict[str, list[str]] = {}
        for word in words:
            known = await self.client.search(self.alias, known_body(office_id, word))
            if known["hits"]["total"]["value"]:
                continue
            near = await self.client.search(
                self.alias, near_words_body(office_id, word, typo_budget(word)))
            candidates = sorted(set().union(*(marked_words(h) for h in near["hits"]["hits"]))
                                - {word})
            if not candidates:
                continue
            counted = await self.client.search(self.alias, counts_body(office_id, candidates))
            buckets = counted["aggregations"]["words"]["buckets"]
            counts = {w: int(buckets[str(i)]["doc_count"]) for i, w in enumerate(candidates)}
            close = close_words(word, counts.items(), SUGGEST_CANDIDATES)
            corrections[word] = best_corrections(
                [(c, edits, counts[c]) for c, edits in close], limit)
        return corrected_queries(text, corrections, limit)

    # ------------------------------------------------------------------ internals
    async def _load(self, batches: AsyncIterator[list[tuple[int, Json]]], *,
                    text_version: int | None = None) -> int:
        """Build a fresh index from ``batches`` (text of ``text_version``, default: this
        code's) and swap the alias to it at once."""
        new = self._new_index_name()
        if text_version is None:
            text_version = TEXT_VERSION
        # Loading: no refresh, translog fsync'd in the background (a crash loses only this
        # index, which is not in use yet); both restored before the swap. Replicas are left
        # as the cluster's defaults and templates say.
        loading = {**SETTINGS, "refresh_interval": "-1", "translog.durability": "async"}
        _LOADING.add(new)
        try:
            await self.client.create_index(new, {
                "settings": loading, "mappings": mappings_for(text_version, started_here()),
                "aliases": {self.rebuilding_alias: {}}})
        except BaseException:
            _LOADING.discard(new)
            raise
        self._rebuilding = new
        self._targets.clear()
        count = 0
        old: list[str] = []
        try:
            # Other processes find the new index within TARGETS_TTL; a write they make
            # before that is in the store before the first batch is read.
            await asyncio.sleep(TARGETS_TTL)
            in_flight: deque[asyncio.Task[None]] = deque()
            try:
                async for batch in batches:
                    # "create": a document written live during the rebuild is newer than the
                    # snapshot, and a tombstone marks a live delete: both win (409 expected).
                    ops = [("create", new, seq, doc) for seq, doc in batch]
                    if len(in_flight) >= BULK_IN_FLIGHT:
                        await in_flight.popleft()
                    in_flight.append(asyncio.create_task(
                        self._bulk(ops, ignore=frozenset({409}))))
                    count += len(batch)
                while in_flight:
                    await in_flight.popleft()
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
            await self._drop_tombstones(new)
            await self.client.put_settings(new, {"index": {
                "refresh_interval": None, "translog.durability": None}})
            await self.client.refresh(new)
            old = await self._swap_alias(new)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.client.delete_indices([new])
            raise
        finally:
            self._rebuilding = None
            self._targets.clear()
            _LOADING.discard(new)
        await self.client.delete_indices(old)
        return count

    async def _drop_dead_loads(self) -> None:
        """Delete the indices a rebuild on this host left under ``<alias>-rebuilding`` when
        its process ended halfway (killed, crashed): every write would go on reaching them.
        (A rebuild's ``_meta`` names its loader; another host's are left to that host.)"""
        for index in await self.client.alias_indices(self.rebuilding_alias):
            if index in _LOADING:
                continue
            loader = (await self.client.mapping_meta(index)).get("chronik_loader")
            if isinstance(loader, dict) and \
                    process_alive(loader.get("host"), loader.get("pid")) is False:
                log.warning("search index: %s was left half-built by a rebuild whose process "
                            "ended; deleting it (search kept the old index)", index)
                await self.client.delete_indices([index])
                self._targets.clear()

    async def _swap_alias(self, new: str) -> list[str]:
        """Point the alias at ``new`` alone, in one atomic ``_aliases`` call; returns the
        indices it pointed at. Each ``remove`` must find its alias (``must_exist``): when
        another rebuild swapped in between our look and our swap, the call fails as a whole
        and is made again against what the alias holds now (never two indices at once)."""
        for _ in range(SWAP_ATTEMPTS - 1):
            old = await self.client.alias_indices(self.alias)
            try:
                await self.client.update_aliases(_swap_actions(
                    self.alias, self.rebuilding_alias, old, new))
                return old
            except EngineError as exc:
                if exc.status != 404:
                    raise
                log.info("search index: another rebuild swapped in %s meanwhile; swapping "
                         "again", self.alias)
        old = await self.client.alias_indices(self.alias)
        await self.client.update_aliases(_swap_actions(self.alias, self.rebuilding_alias,
                                                       old, new))
        return old

    async def _drop_tombstones(self, index: str) -> None:
        """Delete the tombstones of live deletes (by id: ``_delete_by_query`` is a module
        that minimal distributions lack)."""
        await self.client.refresh(index)
        while True:
            found = (await self.client.search(index, {
                "size": SOURCE_BATCH, "_source": False, "track_total_hits": False,
                "query": {"term": {"deleted": True}}}))["hits"]["hits"]
            if not found:
                return
            await self._bulk([("delete", index, int(h["_id"]), None) for h in found],
                             ignore=frozenset({404}), refresh=True)

    async def _reanalyse(self, index: str) -> None:
        """Bring an index written by an older schema or analysis up to date from its own
        stored (folded) text, as FTS5 does on open: no store needed, no manual step."""
        log.warning("search index %s: re-analysing its documents (schema or analysis changed)",
                    index)
        # its text stays what it was: an older one is rebuilt from the store (search.indexer)
        text_version = meta_text_version(await self.client.mapping_meta(index))

        async def docs() -> AsyncIterator[list[tuple[int, Json]]]:
            after: list[int] | None = None
            while True:
                body: Json = {"size": SOURCE_BATCH, "sort": [{"seq": {"order": "asc"}}],
                              "query": {"match_all": {}}, "track_total_hits": False}
                if after is not None:
                    body["search_after"] = after
                found = (await self.client.search(index, body))["hits"]["hits"]
                if not found:
                    return
                out = []
                for hit in found:
                    doc = {k: v for k, v in hit["_source"].items() if k in MAPPINGS["properties"]}
                    words = str(doc.get("body", "")).split(" ")
                    doc["forms"] = " ".join(index_forms(words, languages_of(words)))
                    out.append((int(hit["_id"]), doc))
                yield out
                after = [int(found[-1]["sort"][0])]

        count = await self._load(docs(), text_version=text_version)
        log.warning("search index: re-analysis done (%d documents)", count)

    async def _rebuilding_indices(self) -> list[str]:
        cached = self._targets.get("rebuilding")
        if cached is None:
            cached = await self.client.alias_indices(self.rebuilding_alias)
            self._targets["rebuilding"] = cached
        if self._rebuilding and self._rebuilding not in cached:
            return [*cached, self._rebuilding]
        return cached

    async def _write_targets(self) -> list[str]:
        return [self.alias, *await self._rebuilding_indices()]

    def _new_index_name(self) -> str:
        return f"{self.alias}-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"

    async def _bulk(self, ops: Sequence[tuple[str, str, int, Json | None]], *,
                    ignore: frozenset[int] = frozenset(), refresh: bool = False) -> None:
        """Send ``(action, index, seq, source)`` operations in NDJSON chunks."""
        chunk: list[bytes] = []
        size = 0
        for action, index, seq, source in ops:
            meta: Json = {"_index": index, "_id": str(seq)}
            if index == self.alias and action != "delete":
                meta["require_alias"] = True  # never auto-create an index named like it
            line = orjson.dumps({action: meta}) + b"\n"
            if source is not None:
                line += orjson.dumps(source) + b"\n"
            if chunk and (size + len(line) > BULK_BYTES or len(chunk) >= BULK_ACTIONS):
                await self._send(chunk, ignore, refresh)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            await self._send(chunk, ignore, refresh)

    async def _send(self, lines: list[bytes], ignore: frozenset[int], refresh: bool) -> None:
        pending = lines
        delay = 0.5
        for attempt in range(BULK_RETRIES + 1):
            resp = await self.client.bulk(b"".join(pending), refresh=refresh)
            if not resp.get("errors"):
                return
            retry: list[bytes] = []
            failed: list[Json] = []
            for line, item in zip(pending, resp["items"], strict=True):
                (result,) = item.values()
                status = int(result.get("status", 0))
                if status < 300 or status in ignore:
                    continue
                if status == 429:
                    retry.append(line)
                else:
                    failed.append(result)
            if failed:
                raise EngineError(f"{self.name} rejected {len(failed)} bulk operation(s): "
                                  f"{_reason(failed[0])}", status=failed[0].get("status"))
            if not retry:
                return
            if attempt < BULK_RETRIES:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            pending = retry
        raise SearchUnavailable(f"{self.name} rejected {len(pending)} document(s): overloaded")


def _swap_actions(alias: str, rebuilding: str, old: Sequence[str], new: str) -> list[Json]:
    return [
        *({"remove": {"index": name, "alias": alias, "must_exist": True}} for name in old),
        {"remove": {"index": new, "alias": rebuilding}},
        {"add": {"index": new, "alias": alias}},
    ]


def _total(resp: Json, up_to: int) -> Total | None:
    """``hits.total`` of a search that tracked ``up_to + 1`` hits (``count_up_to``)."""
    if not up_to:
        return None
    return Total.counted(int(resp["hits"]["total"]["value"]), up_to)


def _reason(result: Json) -> str:
    err = result.get("error")
    if isinstance(err, dict):
        return f"{err.get('type')}: {err.get('reason')}"
    return str(err)


def _primaries(stats: Json, index: str) -> list[Json]:
    shards = stats["indices"][index]["shards"]
    return [copy for _, copies in sorted(shards.items(), key=lambda kv: int(kv[0]))
            for copy in copies if copy.get("routing", {}).get("primary")]


def _leases_past(shard: Json, seq_no: int) -> bool:
    leases = shard.get("retention_leases", {}).get("leases", [])
    return all(int(lease["retaining_seq_no"]) > seq_no for lease in leases)
