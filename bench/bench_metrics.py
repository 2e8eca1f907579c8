"""How long a Prometheus scrape of ``GET /metrics`` takes as the store grows.

The store-derived metrics (queue depths, jobs by status, delivery attempts by channel and
outcome) are counted by SQL at scrape time; this measures that cost with COUNT notification
jobs and 2×COUNT delivery attempts (rows written straight into a fresh store with foreign
keys off: only the columns the metrics read matter).

    .venv/bin/python bench/bench_metrics.py --count 100000 --scrapes 50 [--seed 42]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from chronik.app import create_app
from chronik.settings import Settings
from timeline.sqlite_store import SqliteStore

STATUSES = ["sent"] * 80 + ["pending"] * 10 + ["suppressed"] * 5 + ["failed", "dead", "unknown"]
OUTCOMES = ["sent"] * 85 + ["transient"] * 10 + ["permanent"] * 4 + ["bug"]
CHANNELS = ["email", "telegram", "portal"]


async def make_store(data: Path, count: int, rng: random.Random) -> None:
    store = SqliteStore(data / "chronik.sqlite3")
    await store.open()
    await store.close()
    now = datetime.now(UTC)
    conn = sqlite3.connect(data / "chronik.sqlite3")
    conn.execute("PRAGMA foreign_keys=OFF")
    with conn:
        conn.executemany(
            "INSERT INTO notify_jobs (id, office_id, entry_id, customer_id, status, next_at, "
            "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
            ((f"job{i}", "office", f"entry{i}", f"cust{i % 1000}", rng.choice(STATUSES),
              (now + timedelta(seconds=rng.randint(-3600, 3600))).isoformat(),
              now.isoformat(), now.isoformat()) for i in range(count)))
        conn.executemany(
            "INSERT INTO notify_attempts (job_id, channel, started_at, outcome) "
            "VALUES (?,?,?,?)",
            ((f"job{i // 2}", rng.choice(CHANNELS), now.isoformat(), rng.choice(OUTCOMES))
             for i in range(2 * count)))
    conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        await make_store(data, args.count, random.Random(args.seed))
        server = TestServer(create_app(Settings(data_dir=data, http_port=0)), host="127.0.0.1")
        await server.start_server()
        try:
            async with ClientSession() as session:
                url = str(server.make_url("/metrics"))
                took = []
                for _ in range(args.scrapes + 1):
                    started = time.perf_counter()
                    async with session.get(url) as resp:
                        body = await resp.read()
                        assert resp.status == 200
                    took.append(time.perf_counter() - started)
                took = took[1:]  # the first warms the page cache
        finally:
            await server.close()
    took.sort()
    p95 = took[max(0, int(len(took) * 0.95) - 1)]
    print(f"COUNT={args.count} SEED={args.seed} scrapes={args.scrapes} body={len(body)} B: "
          f"median {statistics.median(took) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"max {took[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
