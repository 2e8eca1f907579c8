"""Embedded search (FTS5) before/after: index rate and query latency on the same data.

    .venv/bin/python bench/bench_search.py --count 100000 --seed 42 \\
        --before bench/data/src-before [--rounds 20] [--out results.json]

COUNT entries from ``bench/corpus.py`` (SEED: same texts every run; German and English,
the channel mix of ``gen_dataset.py`` with 8 % notification bookkeeping) are indexed into a
fresh ``search.fts.FtsBackend`` of each source tree, in batches of 500 like the live indexer
(``Indexer.drain_once``), then searched. Each tree runs in its own process (``--before`` is a
copy of the tree to compare with, e.g. ``git archive <commit>``; the other is ``$CHRONIK_ROOT``
or this checkout), one after the other, alternating over ``--repeat`` runs; the best index time
and the median latencies of each tree are reported.

Queries (one office, default filters, limit 20): 8 words each of document frequency ``rare``
(10..100), ``mid`` (1 %..5 %) and ``common`` (> 30 %) from the generated data (as in
``gen_dataset.py``), newest-first and ``order=relevance``, ``--rounds`` times each; and on the
tree that has them, spelling suggestions for the mid words with one letter dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LATENCIES = ("p50_ms", "p95_ms", "cpu_p50_ms", "cpu_p95_ms")
BATCH = 500
CUSTOMERS_PER_ENTRY = 0.05


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _tree_of(module_file: str) -> str:
    return str(Path(module_file).resolve().parents[1])


def _bytes_in(folder: str) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir())


async def worker(count: int, seed: int, rounds: int) -> dict[str, Any]:
    """Runs inside one source tree ($CHRONIK_ROOT): generate, index, query."""
    sys.path.insert(0, str(HERE))
    import corpus

    import search.fts as fts
    from search.query import SearchFilters, SearchRequest, parse

    entries, words = corpus.search_entries(count, seed, CUSTOMERS_PER_ENTRY)

    out: dict[str, Any] = {"tree": _tree_of(fts.__file__),
                           "count": count, "seed": seed, "rounds": rounds}
    with tempfile.TemporaryDirectory(dir=HERE / "data") as tmp:
        path = Path(tmp) / "search.sqlite3"
        backend = fts.FtsBackend(path)
        await backend.open()
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, count, BATCH):
            await backend.index(entries[i:i + BATCH])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        out["index_s"] = round(elapsed, 2)
        out["index_per_s"] = round(count / elapsed)
        out["index_cpu_s"] = round(cpu, 2)
        out["index_per_cpu_s"] = round(count / cpu)
        out["index_bytes"] = _bytes_in(tmp)

        filters = SearchFilters(office_id="OFFICE")
        lat: dict[str, dict[str, float]] = {}
        hits: dict[str, float] = {}
        for cls in ("rare", "mid", "common"):
            for order in ("newest", "relevance"):
                times: list[float] = []
                cpus: list[float] = []
                found: list[int] = []
                for _ in range(rounds):
                    for word, _df in words[cls]:
                        req = SearchRequest(query=parse(word), filters=filters, order=order,
                                            limit=20)
                        t0, c0 = time.perf_counter(), time.process_time()
                        page = await backend.search(req)
                        times.append((time.perf_counter() - t0) * 1000)
                        cpus.append((time.process_time() - c0) * 1000)
                        found.append(len(page.hits))
                key = f"{order}_{cls}"
                lat[key] = {"p50_ms": round(_pct(times, 0.5), 3),
                            "p95_ms": round(_pct(times, 0.95), 3),
                            "cpu_p50_ms": round(_pct(cpus, 0.5), 3),
                            "cpu_p95_ms": round(_pct(cpus, 0.95), 3)}
                hits[key] = round(statistics.mean(found), 1)
        out["latency"] = lat
        out["mean_hits_per_page"] = hits
        out["words"] = words
        if hasattr(backend, "suggest"):
            times = []
            right = 0
            for _ in range(max(1, rounds // 4)):
                for word, _df in words["mid"]:
                    typo = word[:2] + word[3:]
                    t0 = time.perf_counter()
                    got = await backend.suggest("OFFICE", typo)
                    times.append((time.perf_counter() - t0) * 1000)
                    right += bool(got) and got[0] == word
            out["suggest"] = {"p50_ms": round(_pct(times, 0.5), 3),
                              "p95_ms": round(_pct(times, 0.95), 3),
                              "first_is_the_word": f"{right}/{len(times)}"}
        await backend.close()
    return out


def run_tree(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, CHRONIK_ROOT=str(root))
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", "--count", str(args.count), "--seed",
         str(args.seed), "--rounds", str(args.rounds)],
        env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best (shortest) index time; median of each latency figure over the runs."""
    top = min(runs, key=lambda r: r["index_s"])
    merged = dict(top)
    merged["latency"] = {k: {m: round(statistics.median(r["latency"][k][m] for r in runs), 3)
                             for m in LATENCIES} for k in top["latency"]}
    merged["index_per_cpu_s"] = max(r["index_per_cpu_s"] for r in runs)
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--before", type=Path, help="source tree to compare with")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(args.count, args.seed, args.rounds))))
        return
    (HERE / "data").mkdir(exist_ok=True)
    after_root = Path(os.environ.get("CHRONIK_ROOT") or HERE.parent).resolve()
    trees = {"after": after_root}
    if args.before:
        trees = {"before": args.before.resolve(), **trees}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for i in range(args.repeat):
        for name, root in trees.items():
            print(f"run {i + 1}/{args.repeat}: {name} ({root}) ...", file=sys.stderr)
            runs[name].append(run_tree(root, args))
    result = {name: best(r) for name, r in runs.items()}
    if args.out:
        args.out.write_text(json.dumps({"runs": runs, "best": result}, indent=1))
    print(f"COUNT={args.count} SEED={args.seed} rounds={args.rounds} repeat={args.repeat}")
    names = list(result)
    print("| measure | " + " | ".join(names) + (" | after/before |" if len(names) == 2 else " |"))
    print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")

    def row(label: str, values: list[float], unit: str) -> None:
        ratio = f" | {values[1] / values[0]:.2f} |" if len(values) == 2 and values[0] else " |"
        print(f"| {label} | " + " | ".join(f"{v:,.2f} {unit}" if isinstance(v, float)
                                            else f"{v:,} {unit}" for v in values) + ratio)

    row("index rate (wall)", [result[n]["index_per_s"] for n in names], "entries/s")
    row("index rate (process CPU)", [result[n]["index_per_cpu_s"] for n in names],
        "entries/CPU-s")
    row("index size", [round(result[n]["index_bytes"] / 2**20, 1) for n in names], "MiB")
    for key in result[names[0]]["latency"]:
        for m in LATENCIES:
            label = m.removesuffix("_ms").replace("_", " ")
            row(f"{key} {label}", [result[n]["latency"][key][m] for n in names], "ms")
    for n in names:
        if "suggest" in result[n]:
            s = result[n]["suggest"]
            print(f"\nsuggest ({n}, mid words with one letter dropped): p50 {s['p50_ms']} ms, "
                  f"p95 {s['p95_ms']} ms, first suggestion is the word: "
                  f"{s['first_is_the_word']}")
        print(f"mean hits per page ({n}): {result[n]['mean_hits_per_page']}")


if __name__ == "__main__":
    main()
