"""Both stores at scale, side by side in one run: the same generated office (COUNT entries,
SEED) on SQLite and on PostgreSQL, the same HTTP benchmark against each, with one server
process and with two.

    .venv/bin/python bench/bench_scale.py --database-url postgresql://…/EMPTY_DB \\
        [--entries 1000000] [--customers 100000] [--big 100000] [--seed 42] \\
        [--duration 10] [--reuse]

* ``bench/gen_dataset.py`` builds the office into ``bench/data/scale-COUNT-SEED/sqlite`` and,
  with ``CHRONIK_DATABASE_URL``, into the database (its ``customers_s``/``entries_s``/
  ``index_s`` are the ingest figures); ``--reuse`` keeps what an earlier run built;
* ``bench/bench_http.py`` (wrk, 8 connections, ``--duration`` s per scenario) against
  ``chronik serve`` on each store: every scenario with one process, then lookup, timeline
  and search with ``--processes 2`` (throughput on this machine's cores);
* prints one table and writes ``bench/data/bench-scale-COUNT-SEED.json``.

Search runs on the embedded FTS5 index in both cases (the store is what differs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TWO_PROCESS_SCENARIOS = "lookup_phone,timeline_first_page,search_newest_mid"


def _env(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONIK_")}
    if url:
        env["CHRONIK_DATABASE_URL"] = url
    return env


def generate(data_dir: Path, args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    meta_path = data_dir / "bench-meta.json"
    if not (args.reuse and meta_path.exists()):
        print(f"  generating into {data_dir} ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_dataset.py"), str(data_dir),
                        "--customers", str(args.customers), "--entries", str(args.entries),
                        "--big-customer-entries", str(args.big), "--seed", str(args.seed)],
                       check=True, env=_env(url), cwd=ROOT, stdout=subprocess.DEVNULL)
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    return meta


def http(data_dir: Path, url: str | None, processes: int, args: argparse.Namespace,
         only: str = "") -> dict[str, Any]:
    out = data_dir / f"bench-http-p{processes}.json"
    deep = max(1, min(1000, args.big // 50 - 1))  # the page bench_http.py calls "deep"
    cmd = [sys.executable, str(ROOT / "bench" / "bench_http.py"), str(data_dir), "--skip-post",
           "--duration", str(args.duration), "--processes", str(processes),
           "--deep-pages", str(deep), "--out", str(out)]
    if only:
        cmd += ["--only", only]
    subprocess.run(cmd, check=True, env=_env(url), cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _lat(run: dict[str, Any], name: str, p: str) -> float | None:
    found = run["scenarios"].get(name)
    return round(found["latency_ms"][p], 2) if found else None


def _rps(run: dict[str, Any], name: str) -> float | None:
    found = run["scenarios"].get(name)
    return round(found["rps"]) if found else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True, help="an EMPTY PostgreSQL database")
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    base = ROOT / "bench" / "data" / f"scale-{args.entries}-{args.seed}"
    rows: dict[str, dict[str, Any]] = {}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for name, url in (("sqlite", None), ("postgresql", args.database_url)):
        print(f"{name}: COUNT={args.entries} SEED={args.seed}", flush=True)
        meta = generate(base / name, args, url)
        one = http(base / name, url, 1, args)
        two = http(base / name, url, 2, args, TWO_PROCESS_SCENARIOS)
        t = meta["timings_s"]
        rows[name] = {
            "customers_per_s": round(args.customers / t["customers_s"]),
            "entries_per_s": round(args.entries / t["entries_s"]),
            "indexed_per_s": round(args.entries / t["index_s"]),
            "lookup_p50_ms": _lat(one, "lookup_phone", "p50"),
            "lookup_p99_ms": _lat(one, "lookup_phone", "p99"),
            "timeline_first_page_p99_ms": _lat(one, "timeline_first_page", "p99"),
            "timeline_deep_page_p99_ms": _lat(one, "timeline_deep_page", "p99"),
            "search_rare_p95_ms": _lat(one, "search_newest_rare", "p95"),
            "search_mid_p95_ms": _lat(one, "search_newest_mid", "p95"),
            "search_common_p95_ms": _lat(one, "search_newest_common", "p95"),
            "bare_p50_ms": _lat(one, "bare", "p50"),
            **{f"{s}_rps_1_process": _rps(one, s) for s in TWO_PROCESS_SCENARIOS.split(",")},
            **{f"{s}_rps_2_processes": _rps(two, s) for s in TWO_PROCESS_SCENARIOS.split(",")},
        }
    out = ROOT / "bench" / "data" / f"bench-scale-{args.entries}-{args.seed}.json"
    out.write_text(json.dumps({"started": started, "count": args.entries, "seed": args.seed,
                               "customers": args.customers, "big": args.big,
                               "stores": rows}, indent=1))
    print(f"\n{'figure':36s} {'sqlite':>12s} {'postgresql':>12s}")
    for key in rows["sqlite"]:
        print(f"{key:36s} {rows['sqlite'][key]!s:>12s} {rows['postgresql'][key]!s:>12s}")
    print(f"written {out}")


if __name__ == "__main__":
    main()
