"""Inbound SMTP: time from ``DATA`` accepted (our ``250``) until the entry is searchable.

    .venv/bin/python bench/bench_smtp_latency.py [--messages 1000] [--seed 42]
        [--dir bench/data/smtp] [--base DATA_DIR]

Starts ``python -m chronik.cli serve`` as a subprocess with the inbound SMTP listener
(``CHRONIK_INBOUND_SMTP_PORT``) on a fresh data dir -- or on a copy of ``--base`` (e.g. the
data dir left by ``bench_import.py``, so the index is not empty) -- with one office whose
inbound address is ``in@bench.test`` and an admin token. Then, one message at a time over
one SMTP connection (aiosmtplib): each message carries a unique word; the clock starts when
``sendmail`` returns (the server answered 250 to the end of DATA, i.e. the entry is stored)
and stops when ``GET /api/v1/search?q=WORD`` (polled every 2 ms over one keep-alive HTTP
connection) returns the entry. Also reported: the SMTP transaction time (MAIL .. 250 after
DATA). Message texts come from ``gen_mail.py``'s vocabulary (seeded). Goal: p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
SHARED_GEN_MAIL = ROOT.parent / "shared" / "bench" / "gen_mail.py"
INBOX = "in@bench.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(data_dir: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def word(i: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    out = ""
    while True:
        i, r = divmod(i, len(letters))
        out += letters[r]
        if i == 0:
            return "qzx" + out


def message(i: int, rng: random.Random, words: list[str]) -> bytes:
    picked = [rng.choice(words) for _ in range(rng.randint(30, 300))]
    text = "\r\n".join(" ".join(picked[k:k + 12]) for k in range(0, len(picked), 12))
    return (f"From: Kunde {i % 300} <kunde{i % 300}@example.de>\r\nTo: {INBOX}\r\n"
            f"Subject: Anfrage {i}\r\nMessage-ID: <lat-{i}@example.de>\r\n"
            f"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"\r\n{text}\r\n{word(i)}\r\n").encode()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(http_port: int, smtp_port: int, token: str, count: int, seed: int
                  ) -> dict[str, object]:
    rng = random.Random(seed)
    source = Path(os.environ.get("CHRONIK_GEN_MAIL", str(SHARED_GEN_MAIL)))
    words = [w for w in source.read_text("utf-8").split()  # noqa: ASYNC240 (before timing)
             if w.isalpha() and w.islower()][:3000]
    searchable: list[float] = []
    smtp_times: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{http_port}/api/v1/search"
    async with aiohttp.ClientSession(headers=headers) as http, aiosmtplib.SMTP(
            hostname="127.0.0.1", port=smtp_port, timeout=60) as smtp:
        for i in range(count):
            raw = message(i, rng, words)
            sent = time.perf_counter()
            await smtp.sendmail(f"kunde{i % 300}@example.de", [INBOX], raw)
            accepted = time.perf_counter()
            while True:
                async with http.get(base, params={"q": word(i)}) as resp:
                    body = await resp.json()
                if body.get("items"):
                    break
                if time.perf_counter() - accepted > 30:
                    raise SystemExit(f"message {i} not searchable after 30 s")
                await asyncio.sleep(0.002)
            searchable.append(time.perf_counter() - accepted)
            smtp_times.append(accepted - sent)
    ms = 1000.0
    return {"messages": count,
            "searchable_ms": {k: round(quantile(searchable, q) * ms, 1) for k, q in
                              (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))},
            "smtp_transaction_ms": {k: round(quantile(smtp_times, q) * ms, 1) for k, q in
                                    (("p50", 0.5), ("p95", 0.95), ("p99", 0.99),
                                     ("max", 1.0))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "data" / "smtp")
    parser.add_argument("--base", type=Path, help="copy this data dir first")
    args = parser.parse_args()
    data_dir = args.dir / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.base:
        shutil.copytree(args.base, data_dir)
    office = cli(data_dir, "office", "create", "Latency", "--inbound-address", INBOX)
    token = cli(data_dir, "agent", "create", "Bench", "--office", office,
                "--role", "admin").splitlines()[-1]
    http_port, smtp_port = free_port(), free_port()
    env = {**os.environ, "CHRONIK_INBOUND_SMTP_PORT": str(smtp_port),
           "CHRONIK_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "chronik.cli", "--data-dir",
                               str(data_dir), "serve", "--port", str(http_port)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", smtp_port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        result = asyncio.run(measure(http_port, smtp_port, token, args.messages, args.seed))
    finally:
        server.terminate()
        server.wait(30)
    result.update({"seed": args.seed, "base": str(args.base) if args.base else None,
                   "cpus": os.cpu_count()})
    (args.dir / "bench-smtp-latency.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
