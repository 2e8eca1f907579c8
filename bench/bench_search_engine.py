"""The search engine backend (``search.engine``) against a real node: reindex rate, live
indexing rate, query latency, deep pages, suggestions.

    bash deploy/ci/opensearch.sh          # OpenSearch 2.19 on http://127.0.0.1:9250
    .venv/bin/python bench/bench_search_engine.py --count 100000 --seed 42 \\
        [--url http://127.0.0.1:9250] [--rounds 20] [--out results.json]

COUNT entries from ``bench/corpus.py`` (SEED: same texts every run; German and English, the
channel mix of ``gen_dataset.py``) are

* **reindexed**: ``EngineBackend.rebuild`` over batches of 2,000 (what ``chronik reindex``
  does: fresh index, refresh off, bulk requests in flight, alias swap at the end) - the
  figure is documents/s, wall clock, from the first batch to the swapped alias; the Python
  side alone (``engine_query.document``: folding, word forms, JSON) is timed separately;
* **indexed live**: ``EngineBackend.index`` in batches of 500 like the indexer, into a
  second alias (refresh on the engine's own 1 s schedule);
* **searched**: one office, default filters, limit 20; 8 words each of document frequency
  ``rare`` (10..100), ``mid`` (1 %..5 %) and ``common`` (> 30 %), newest first and by
  relevance, ``--rounds`` times each (p50/p95, client wall time); page 50 of the most common
  word via ``search_after`` (cursor of page 49); spelling suggestions for the mid words with
  one letter dropped.

Both aliases are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  (puts the source tree on sys.path)

from search.engine import EngineBackend  # noqa: E402
from search.engine_query import document  # noqa: E402
from search.query import SearchFilters, SearchRequest, parse  # noqa: E402
from timeline.models import Entry  # noqa: E402

REINDEX_BATCH = 2000
LIVE_BATCH = 500
CUSTOMERS_PER_ENTRY = 0.05


def _server_cpu_s(url: str) -> float:
    """CPU seconds the node's process has used so far (``_nodes/_local/stats/process``)."""
    with urllib.request.urlopen(f"{url}/_nodes/_local/stats/process", timeout=10) as resp:
        stats = json.load(resp)
    (node,) = stats["nodes"].values()
    return float(node["process"]["cpu"]["total_in_millis"]) / 1000


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def generate(count: int, seed: int) -> tuple[list[Entry], dict[str, list[list[Any]]]]:
    return corpus.search_entries(count, seed, CUSTOMERS_PER_ENTRY)


class Batches:
    def __init__(self, entries: Sequence[Entry], size: int) -> None:
        self.entries, self.size, self.at = entries, size, 0

    def __aiter__(self) -> Batches:
        return self

    async def __anext__(self) -> Sequence[Entry]:
        if self.at >= len(self.entries):
            raise StopAsyncIteration
        batch = self.entries[self.at:self.at + self.size]
        self.at += self.size
        return batch


async def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    entries, words = generate(args.count, args.seed)
    out: dict[str, Any] = {"count": args.count, "seed": args.seed, "rounds": args.rounds,
                           "generate_s": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    for e in entries:
        document(e)
    python_s = time.perf_counter() - t0
    out["documents_python_per_s"] = round(args.count / python_s)

    backend = EngineBackend(args.url, f"chronik-bench-{uuid.uuid4().hex[:8]}")
    live = EngineBackend(args.url, f"chronik-bench-{uuid.uuid4().hex[:8]}")
    await backend.open()
    await live.open()
    out["engine"] = f"{backend.name} {backend.server_version}"
    out["load_average_before"] = os.getloadavg()[0]
    try:
        server0 = await asyncio.to_thread(_server_cpu_s, args.url)
        t0, cpu0 = time.perf_counter(), time.process_time()
        assert await backend.rebuild(Batches(entries, REINDEX_BATCH)) == args.count
        # The rebuild waits TARGETS_TTL (1 s) before it reads the first batch, so that
        # other processes find the new index: counted, it is part of a reindex.
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server = await asyncio.to_thread(_server_cpu_s, args.url) - server0
        out["reindex_s"] = round(elapsed, 2)
        out["reindex_per_s"] = round(args.count / elapsed)
        out["reindex_client_cpu_s"] = round(cpu, 2)
        out["reindex_server_cpu_s"] = round(server, 2)
        # Documents per CPU-second, client and node together: the figure the other
        # processes on a shared machine do not change.
        out["reindex_per_cpu_s"] = round(args.count / (cpu + server))

        n_live = min(args.count, args.live)
        t0 = time.perf_counter()
        for i in range(0, n_live, LIVE_BATCH):
            await live.index(entries[i:i + LIVE_BATCH])
        elapsed = time.perf_counter() - t0
        out["live_index_count"] = n_live
        out["live_index_per_s"] = round(n_live / elapsed)

        filters = SearchFilters(office_id="OFFICE")
        lat: dict[str, dict[str, float]] = {}
        for cls in ("rare", "mid", "common"):
            for order in ("newest", "relevance"):
                times: list[float] = []
                for _ in range(args.rounds):
                    for word, _df in words[cls]:
                        req = SearchRequest(query=parse(word), filters=filters, order=order,
                                            limit=20)
                        t0 = time.perf_counter()
                        await backend.search(req)
                        times.append((time.perf_counter() - t0) * 1000)
                lat[f"{order}_{cls}"] = {"p50_ms": round(_pct(times, 0.5), 2),
                                         "p95_ms": round(_pct(times, 0.95), 2)}
        out["latency"] = lat

        common = words["common"][0][0]
        for order in ("newest", "relevance"):
            cursor = None
            for _ in range(49):
                page = await backend.search(SearchRequest(
                    query=parse(common), filters=filters, order=order, limit=20,
                    cursor=cursor))
                cursor = page.next_cursor
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                await backend.search(SearchRequest(query=parse(common), filters=filters,
                                                   order=order, limit=20, cursor=cursor))
                times.append((time.perf_counter() - t0) * 1000)
            lat[f"page50_{order}_{common}"] = {"p50_ms": round(_pct(times, 0.5), 2),
                                                "p95_ms": round(_pct(times, 0.95), 2)}

        times, right = [], 0
        for _ in range(max(1, args.rounds // 4)):
            for word, _df in words["mid"]:
                typo = word[:2] + word[3:]
                t0 = time.perf_counter()
                got = await backend.suggest("OFFICE", typo)
                times.append((time.perf_counter() - t0) * 1000)
                right += bool(got) and got[0] == word
        out["suggest"] = {"p50_ms": round(_pct(times, 0.5), 2),
                          "p95_ms": round(_pct(times, 0.95), 2),
                          "first_is_the_word": f"{right}/{len(times)}"}
        out["words"] = words
    finally:
        await backend.drop()
        await live.drop()
        await backend.close()
        await live.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:9250")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--live", type=int, default=20_000,
                        help="entries indexed through the live path (default 20,000)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", "utf-8")
    print(text)


if __name__ == "__main__":
    main()
