"""The two stores side by side: the same generated office on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_stores.py --database-url postgresql://… \\
        [--customers 10000] [--entries 100000] [--big 10000] [--seed 42] [--rounds 2000]

1. ``bench/gen_dataset.py`` builds the office twice with the same COUNT and SEED: into a
   fresh data folder (SQLite) and, with ``CHRONIK_DATABASE_URL``, into the (empty) database
   at ``--database-url`` -- its customers (``create_customer``, one by one) and entries
   (``append_many``, batches of 1000, each with its index task and feed events) are the
   ingest figures, and the search index is drained as part of it;
2. on each store, in this process through the store API (what the HTTP handlers call):
   ``lookup`` (``customers_by_identities`` with one E.164 number, random customers of
   bench-meta.json) and ``timeline`` (the newest 50 entries, and the page behind them via the
   cursor, of random customers, and of the customer with ``--big`` entries), ``--rounds`` each,
   one at a time; p50 / p99 of the wall time per call.

Prints a table and writes ``bench/data/bench-stores-COUNT-SEED.json``. Search is not
compared: with PostgreSQL the index lives in OpenSearch/Elasticsearch
(``bench/bench_search_engine.py``), not in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from chronik.app import close_state, open_state  # noqa: E402
from chronik.settings import Settings  # noqa: E402
from timeline.models import IdentityKind  # noqa: E402
from timeline.store import TimelineQuery  # noqa: E402


def generate(data_dir: Path, args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONIK_")}
    if url:
        env["CHRONIK_DATABASE_URL"] = url
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_dataset.py"), str(data_dir),
                    "--customers", str(args.customers), "--entries", str(args.entries),
                    "--big-customer-entries", str(args.big), "--seed", str(args.seed)],
                   check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    meta: dict[str, Any] = json.loads((data_dir / "bench-meta.json").read_text())
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    return meta


def _pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2)}


async def reads(data_dir: Path, url: str | None, meta: dict[str, Any], rounds: int,
                seed: int) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir,
                        database_url=SecretStr(url) if url else None)  # type: ignore[call-arg]
    state = await open_state(settings)
    rng = random.Random(seed)
    office = meta["office_id"]
    phones = [p["e164"] for p in meta["phones"]]
    customers = [p["customer_id"] for p in meta["phones"]]
    out: dict[str, Any] = {}
    try:
        for _ in range(50):  # warm-up: pools, caches
            await state.store.customers_by_identities(office, IdentityKind.PHONE,
                                                      [rng.choice(phones)])
        lookups: list[float] = []
        for _ in range(rounds):
            phone = rng.choice(phones)
            t = time.perf_counter()
            found = await state.store.customers_by_identities(office, IdentityKind.PHONE,
                                                              [phone])
            lookups.append(time.perf_counter() - t)
            assert found, phone
        out["lookup"] = _pct(lookups)
        for name, pick in (("timeline", lambda: rng.choice(customers)),
                           ("timeline_big", lambda: meta["big_customer_id"])):
            first: list[float] = []
            second: list[float] = []
            for _ in range(rounds):
                customer = pick()
                t = time.perf_counter()
                page = await state.store.timeline(office, customer, TimelineQuery(limit=50))
                first.append(time.perf_counter() - t)
                if page.next_cursor:
                    t = time.perf_counter()
                    await state.store.timeline(office, customer, TimelineQuery(
                        limit=50, before_seq=int(page.next_cursor)))
                    second.append(time.perf_counter() - t)
            out[name] = {"first_page": _pct(first),
                         "next_page": _pct(second) if second else None}
    finally:
        await close_state(state)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True, help="an EMPTY PostgreSQL database")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    base = ROOT / "bench" / "data" / f"stores-{args.entries}-{args.seed}"
    result: dict[str, Any] = {"count": args.entries, "seed": args.seed,
                              "customers": args.customers, "big": args.big}
    for name, url in (("sqlite", None), ("postgresql", args.database_url)):
        print(f"{name}: generating COUNT={args.entries} SEED={args.seed} ...", flush=True)
        meta = generate(base / name, args, url)
        timings = meta["timings_s"]
        result[name] = {
            "customers_per_s": round(args.customers / timings["customers_s"]),
            "entries_per_s": round(args.entries / timings["entries_s"]),
            "generate_wall_s": meta["wall_s"], "timings_s": timings,
            **asyncio.run(reads(base / name, url, meta, args.rounds, args.seed))}
        print(json.dumps(result[name], indent=1), flush=True)
    out = ROOT / "bench" / "data" / f"bench-stores-{args.entries}-{args.seed}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
