"""A closed-loop HTTP load generator in Python (aiohttp ClientSession), for comparison with wrk.

    .venv/bin/python bench/loadgen.py --base http://127.0.0.1:18181 --requests reqs.json \\
        --concurrency 8 --duration 10 [--warmup 2] [--header 'Authorization: Bearer …']

``reqs.json`` is a list of ``[method, path, json_body_or_null]``; the clients take them in
turn (rotating). Prints one JSON object: requests, duration, rps, latency percentiles (ms),
non-2xx count. Runs in its own process; it shares the 2 cores with the server under test,
which is why bench_http.py uses wrk by default and this only to show the client's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def run(args: argparse.Namespace, reqs: list[list[object]]) -> dict[str, object]:
    headers = {}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    counter = 0
    lat: list[float] = []
    bad = 0
    recording = False
    stop_at = 0.0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal counter, bad
        while time.perf_counter() < stop_at:
            method, path, body = reqs[counter % len(reqs)]
            counter += 1
            t0 = time.perf_counter()
            async with session.request(method, args.base + path, json=body) as resp:
                await resp.read()
                status = resp.status
            dt = time.perf_counter() - t0
            if recording:
                lat.append(dt)
                if status >= 300:
                    bad += 1

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        if args.warmup > 0:
            stop_at = time.perf_counter() + args.warmup
            await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))
        recording = True
        t0 = time.perf_counter()
        stop_at = t0 + args.duration
        await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    ms = [v * 1000 for v in lat]
    return {
        "client": "python-aiohttp", "connections": args.concurrency, "requests": len(ms),
        "duration_s": round(elapsed, 3), "rps": round(len(ms) / elapsed, 1),
        "non_2xx": bad,
        "latency_ms": {"p50": percentile(ms, 50), "p90": percentile(ms, 90),
                       "p95": percentile(ms, 95), "p99": percentile(ms, 99),
                       "max": ms[-1] if ms else float("nan"),
                       "mean": sum(ms) / len(ms) if ms else float("nan")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--header", action="append", default=[])
    args = ap.parse_args()
    with open(args.requests, encoding="utf-8") as f:
        reqs = json.load(f)
    print(json.dumps(asyncio.run(run(args, reqs))))


if __name__ == "__main__":
    main()
