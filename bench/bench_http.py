"""HTTP benchmark of a running Chronik server against a bare aiohttp handler, same run.

    .venv/bin/python bench/bench_http.py DATA_DIR [--duration 10] [--warmup 2]
        [--connections 8] [--client wrk|python] [--python-compare] [--serial]
        [--skip-post] [--out results.json]

DATA_DIR comes from bench/gen_dataset.py (it reads DATA_DIR/bench-meta.json). The script

* starts ``python -m chronik.cli --data-dir DATA_DIR serve --port P`` (the real server, its
  own process) and ``bench/bare_server.py`` (constant JSON, own process);
* drives them with a closed-loop load generator, 8 concurrent connections on loopback: ``wrk``
  (Debian package; C, one thread) by default; ``--client python`` uses bench/loadgen.py
  (aiohttp ClientSession, own process) instead; ``--python-compare`` additionally runs the
  bare handler and the phone lookup with the Python client, to show its overhead;
* scenarios: bare handler; phone lookup with rotating numbers and formats; bare handler
  again; for diagnosis, the bare handler sending a constant answer as big as the mean lookup
  answer with the same headers (``bare_sized``: the framework's own cost of that answer);
  first timeline page (50) and a deep page (cursor found by following next_cursor
  ``--deep-pages`` pages) of the big customer; search newest-first for rare, mid and very
  common words; relevance order for common (and rare/mid, for information); POST of single
  notes (entries/s). ``--serial`` adds one-connection runs (service time, for diagnosis);
* reads the server's peak RSS (VmHWM in /proc/PID/status) at the end, server and client CPU
  time per request, and checks every figure against its goal.

Writes a JSON file (``--out``, default DATA_DIR/bench-http-<time>.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("CHRONIK_ROOT") or Path(__file__).resolve().parent.parent).resolve()
BENCH = Path(__file__).resolve().parent

WRK_LUA = r"""
local specs = {
%(specs)s
}
local reqs = {}
local i = 0
init = function(args)
  for k, s in ipairs(specs) do
    local h = { ["Authorization"] = "Bearer %(token)s" }
    if s[3] then h["Content-Type"] = "application/json" end
    reqs[k] = wrk.format(s[1], s[2], h, s[3])
  end
end
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"p50":%%d,"p90":%%d,"p95":%%d,"p99":%%d,' ..
    '"max":%%d,"mean":%%f,"err_connect":%%d,"err_read":%%d,"err_write":%%d,' ..
    '"err_status":%%d,"err_timeout":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_str(s: str) -> str:
    assert "]==]" not in s
    return "[==[" + s + "]==]"


class Proc:
    """A server subprocess; CPU time and memory from /proc."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.log = open(tempfile.mktemp(prefix=f"bench-{name}-", suffix=".log"), "w")
        self.p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log,
                                  stderr=subprocess.STDOUT)

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise SystemExit(f"{self.name} exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2):
                    pass
            except OSError:
                time.sleep(0.2)
                continue
            time.sleep(0.5)
            if self.p.poll() is not None:  # someone else answered on our port
                raise SystemExit(f"{self.name} exited; see {self.log.name}")
            return
        raise SystemExit(f"{self.name} did not come up; see {self.log.name}")

    def status(self) -> dict[str, int]:
        out = {}
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
        return out

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.p.terminate()
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.log.close()


def busy_cpu_s() -> float:
    """CPU time spent by everything on the machine (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Runner:
    def __init__(self, args: argparse.Namespace, token: str, procs: list[Proc]) -> None:
        self.procs = procs
        self.args = args
        self.token = token
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
        self.n = 0

    def own_cpu(self) -> float:
        """This script and its servers."""
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime + sum(p.cpu_s() for p in self.procs)

    def run(self, proc: Proc, reqs: list[tuple[str, str, Any]], *, client: str,
            connections: int, duration: float) -> dict[str, Any]:
        self.n += 1
        if client == "wrk":
            specs = ",\n".join(
                "{" + ", ".join([lua_str(m), lua_str(p),
                                 lua_str(json.dumps(b)) if b is not None else "nil"]) + "}"
                for m, p, b in reqs)
            script = self.tmp / f"s{self.n}.lua"
            script.write_text(WRK_LUA % {"specs": specs, "token": self.token})
            base = f"http://127.0.0.1:{proc.port}"

            def wrk(d: float) -> dict[str, Any]:
                out = subprocess.run(
                    ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(d))}s", "--timeout", "10s",
                     "-s", str(script), base], capture_output=True, text=True, check=True)
                line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")),
                            None)
                if line is None:
                    raise SystemExit(f"wrk gave no result:\n{out.stdout}\n{out.stderr}")
                return json.loads(line[len("WRKJSON "):])

            if self.args.warmup > 0:
                wrk(self.args.warmup)
            c0, s0, b0, o0 = children_cpu(), proc.cpu_s(), busy_cpu_s(), self.own_cpu()
            raw = wrk(duration)
            c1, s1, b1, o1 = children_cpu(), proc.cpu_s(), busy_cpu_s(), self.own_cpu()
            dur = raw["duration_us"] / 1e6
            res = {
                "client": "wrk", "connections": connections, "requests": raw["requests"],
                "duration_s": round(dur, 3), "rps": round(raw["requests"] / dur, 1),
                "non_2xx": raw["err_status"],
                "errors": {k[4:]: raw[k] for k in raw if k.startswith("err_") and raw[k]},
                "latency_ms": {k: raw[k] / 1000 for k in ("p50", "p90", "p95", "p99", "max")}
                | {"mean": raw["mean"] / 1000},
            }
        else:
            rfile = self.tmp / f"r{self.n}.json"
            rfile.write_text(json.dumps(reqs))
            c0, s0, b0, o0 = children_cpu(), proc.cpu_s(), busy_cpu_s(), self.own_cpu()
            out = subprocess.run(
                [sys.executable, str(BENCH / "loadgen.py"), "--base",
                 f"http://127.0.0.1:{proc.port}", "--requests", str(rfile),
                 "--concurrency", str(connections), "--duration", str(duration),
                 "--warmup", str(self.args.warmup),
                 "--header", f"Authorization: Bearer {self.token}"],
                capture_output=True, text=True, check=True)
            c1, s1, b1, o1 = children_cpu(), proc.cpu_s(), busy_cpu_s(), self.own_cpu()
            res = json.loads(out.stdout)
            dur = res["duration_s"] + self.args.warmup  # CPU was counted over warm-up too
        n = max(res["requests"], 1)
        if client == "python":
            n = max(int(res["rps"] * dur), 1)
        res["server_cpu_ms_per_req"] = round((s1 - s0) * 1000 / n, 3)
        res["client_cpu_ms_per_req"] = round((c1 - c0) * 1000 / n, 3)
        res["server_cpu_share"] = round((s1 - s0) / dur, 2)
        # CPU used by anything else on the machine (other people's tests): noise
        other = (b1 - b0) - (c1 - c0) - (o1 - o0)
        res["other_cpu_share"] = round(max(other, 0.0) / dur, 2)
        res["server_mem_kib"] = proc.status()
        return res


def get_json(port: int, path: str, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def outbox_size(data_dir: Path) -> int:
    if os.environ.get("CHRONIK_DATABASE_URL"):
        return 0  # the PostgreSQL store: gen_dataset.py drained its outbox too
    conn = sqlite3.connect(f"file:{data_dir / 'chronik.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM index_outbox").fetchone()[0])
    finally:
        conn.close()


def q(path: str, **params: str) -> str:
    return path + "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("--port", type=int, default=18181)
    ap.add_argument("--bare-port", type=int, default=18182)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk")
    ap.add_argument("--python-compare", action="store_true")
    ap.add_argument("--serial", action="store_true")
    ap.add_argument("--skip-post", action="store_true")
    ap.add_argument("--deep-pages", type=int, default=1000)
    ap.add_argument("--out")
    ap.add_argument("--processes", type=int, default=1,
                    help="chronik serve --processes N (HTTP processes on one port)")
    ap.add_argument("--only", default="",
                    help="comma-separated scenario names to run (default: all)")
    args = ap.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (or use --client python)")

    data_dir = Path(args.data_dir).resolve()
    meta = json.loads((data_dir / "bench-meta.json").read_text())
    token = meta["token"]
    env = dict(os.environ, CHRONIK_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    env.pop("CHRONIK_CONFIG", None)
    if outbox_size(data_dir):
        print("note: the index outbox is not empty; the server's indexer will work during "
              "the run", flush=True)

    src = subprocess.run([sys.executable, "-c", "import chronik.cli; print(chronik.cli.__file__)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    for port in (args.port, args.bare_port):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
        except urllib.error.HTTPError:
            raise SystemExit(f"port {port} is in use: stop that server first") from None
        except OSError:
            continue
        raise SystemExit(f"port {port} is in use: stop that server first")
    server = Proc("chronik", [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                              "serve", "--host", "127.0.0.1", "--port", str(args.port),
                              # (only when asked: a tree from before the option runs too)
                              *(["--processes", str(args.processes)]
                                if args.processes != 1 else [])],
                  args.port, env)
    bare = Proc("bare", [sys.executable, str(BENCH / "bare_server.py"), "--port",
                         str(args.bare_port)], args.bare_port, env)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "count": meta["count"], "seed": meta["seed"], "customers": meta["customers"],
        "client": args.client, "connections": args.connections, "duration_s": args.duration,
        "warmup_s": args.warmup, "scenarios": {}, "checks": {},
        "server_code": src.stdout.strip(),
    }
    sc = results["scenarios"]
    only = {n for n in args.only.split(",") if n}
    try:
        server.wait_ready("/api/v1/health")
        bare.wait_ready("/")
        results["server_pid"] = server.p.pid
        results["server_mem_at_start_kib"] = server.status()
        r = Runner(args, token, [server, bare])

        def run(name: str, proc: Proc, reqs: list[tuple[str, str, Any]], *,
                client: str | None = None, connections: int | None = None,
                duration: float | None = None) -> dict[str, Any]:
            if only and name not in only:
                return {}
            res = r.run(proc, reqs, client=client or args.client,
                        connections=connections or args.connections,
                        duration=duration or args.duration)
            res["distinct_requests"] = len(reqs)
            sc[name] = res
            lat = res["latency_ms"]
            print(f"{name:28s} {res['rps']:8.0f} req/s  p50 {lat['p50']:7.2f}  "
                  f"p95 {lat['p95']:7.2f}  p99 {lat['p99']:7.2f} ms  non2xx {res['non_2xx']}  "
                  f"srv {res['server_cpu_ms_per_req']:.2f} ms/req  "
                  f"other {res['other_cpu_share']:.2f} cores", flush=True)
            return res

        # ---------------------------------------------------------------- requests
        bare_reqs = [("GET", "/api/v1/health", None)]
        lookup_reqs = []
        for i, ph in enumerate(meta["phones"]):
            for j, fmt in enumerate(ph["formats"]):
                if (i + j) % 2 == 0:  # half of the 500 x 4 combinations, formats rotate
                    lookup_reqs.append(("GET", q("/api/v1/lookup", phone=fmt), None))
        status, body = get_json(args.port, lookup_reqs[0][1], token)
        results["checks"]["lookup"] = {"status": status, "matches": len(body["matches"]),
                                       "normalised": body["normalised"],
                                       "phone": urllib.parse.unquote(lookup_reqs[0][1])}
        misses = 0
        for _, path, _b in lookup_reqs[::25]:
            misses += not get_json(args.port, path, token)[1]["matches"]
        results["checks"]["lookup_sampled_misses"] = misses
        sizes = [len(json.dumps(get_json(args.port, path, token)[1], ensure_ascii=False,
                                separators=(",", ":")).encode())
                 for _, path, _b in lookup_reqs[::25]]
        lookup_bytes = round(sum(sizes) / len(sizes))
        results["checks"]["lookup_mean_bytes"] = lookup_bytes

        big = meta["big_customer_id"]
        tl = f"/api/v1/customers/{big}/timeline"
        t0 = time.perf_counter()
        cursor = None
        pages = 0
        seen = 0
        for pages in range(1, args.deep_pages + 1):  # noqa: B007
            status, body = get_json(args.port, q(tl, cursor=cursor) if cursor else tl, token)
            seen += len(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        results["checks"]["deep_cursor"] = {"pages_followed": pages, "entries_skipped": seen,
                                            "cursor": cursor,
                                            "follow_s": round(time.perf_counter() - t0, 2)}
        if cursor is None:
            raise SystemExit("the big customer has fewer entries than --deep-pages pages")
        deep_path = q(tl, cursor=cursor)
        results["checks"]["timeline_items"] = len(get_json(args.port, tl, token)[1]["items"])
        results["checks"]["deep_items"] = len(get_json(args.port, deep_path, token)[1]["items"])

        def search_reqs(cls: str, order: str) -> list[tuple[str, str, Any]]:
            params = {"order": order} if order != "newest" else {}
            return [("GET", q("/api/v1/search", q=w, **params), None)
                    for w, _df in meta["words"][cls]]

        for cls in ("rare", "mid", "common"):
            counts = []
            for _, path, _b in search_reqs(cls, "newest"):
                counts.append(len(get_json(args.port, path, token)[1]["items"]))
            results["checks"][f"search_{cls}_items"] = counts

        # ---------------------------------------------------------------- runs
        run("bare", bare, bare_reqs)
        run("lookup_phone", server, lookup_reqs)
        run("bare_again", bare, bare_reqs)
        # diagnosis: the bare handler sending an answer as big as a lookup's, same headers
        run("bare_sized", bare, [("GET", f"/sized/{lookup_bytes}", None)])
        run("timeline_first_page", server, [("GET", tl, None)])
        run("timeline_deep_page", server, [("GET", deep_path, None)])
        for cls in ("rare", "mid", "common"):
            run(f"search_newest_{cls}", server, search_reqs(cls, "newest"))
        for cls in ("common", "mid", "rare"):
            run(f"search_relevance_{cls}", server, search_reqs(cls, "relevance"))
        if args.python_compare and args.client != "python":
            run("py_bare", bare, bare_reqs, client="python")
            run("py_lookup_phone", server, lookup_reqs, client="python")
        if args.serial:
            for name, proc, reqs in [
                ("bare", bare, bare_reqs), ("lookup_phone", server, lookup_reqs),
                ("timeline_first_page", server, [("GET", tl, None)]),
                ("timeline_deep_page", server, [("GET", deep_path, None)]),
                ("search_newest_rare", server, search_reqs("rare", "newest")),
                ("search_newest_mid", server, search_reqs("mid", "newest")),
                ("search_newest_common", server, search_reqs("common", "newest")),
                ("search_relevance_common", server, search_reqs("common", "relevance")),
            ]:
                run(f"serial_{name}", proc, reqs, connections=1,
                    duration=max(3.0, args.duration / 2))
        if not args.skip_post and (not only or "post_entry" in only):
            before = outbox_size(data_dir)
            posts = [("POST", f"/api/v1/customers/{cid}/entries",
                      {"kind": "note", "visibility": "internal",
                       "body": f"Rückruf vereinbart, Benchmark-Notiz {i}: Kunde bittet um "
                               "Bestätigung der Lieferung per E-Mail."})
                     for i, cid in enumerate(meta["post_customers"])]
            res = run("post_entry", server, posts)
            res["entries_per_s"] = res["rps"]
            t0 = time.perf_counter()
            left = outbox_size(data_dir)
            results["checks"]["outbox_after_post"] = left - before
            while left and time.perf_counter() - t0 < 120:
                time.sleep(0.5)
                left = outbox_size(data_dir)
            results["checks"]["index_catch_up_s"] = round(time.perf_counter() - t0, 1)
            results["checks"]["outbox_left"] = left
        results["server_mem_end_kib"] = server.status()
        results["bare_mem_end_kib"] = bare.status()
    finally:
        server.stop()
        bare.stop()

    # -------------------------------------------------------------------- goals
    def lat(name: str, p: str) -> float | None:
        return sc[name]["latency_ms"][p] if name in sc else None

    bare_p50 = lat("bare", "p50")
    goals = [
        ("lookup by phone p99", lat("lookup_phone", "p99"), "<= 10 ms", 10.0),
        ("lookup by phone p50 / bare p50",
         (lat("lookup_phone", "p50") or 0) / bare_p50 if bare_p50 else None, "<= 3x", 3.0),
        ("timeline first page p99", lat("timeline_first_page", "p99"), "<= 10 ms", 10.0),
        ("timeline deep page p99", lat("timeline_deep_page", "p99"), "<= 10 ms", 10.0),
        ("search newest rare p95", lat("search_newest_rare", "p95"), "<= 50 ms", 50.0),
        ("search newest mid p95", lat("search_newest_mid", "p95"), "<= 50 ms", 50.0),
        ("search newest common p95", lat("search_newest_common", "p95"), "<= 50 ms", 50.0),
        ("search relevance common p95", lat("search_relevance_common", "p95"), "<= 500 ms",
         500.0),
    ]
    rows = [{"figure": f, "measured": v, "goal": g, "met": None if v is None else v <= lim}
            for f, v, g, lim in goals]
    sized_p50 = lat("bare_sized", "p50")
    if sized_p50 and lat("lookup_phone", "p50"):
        results["diagnosis"] = {"lookup_p50_over_bare_same_size_p50": round(
            (lat("lookup_phone", "p50") or 0) / sized_p50, 2)}
    if "post_entry" in sc:
        v = sc["post_entry"]["rps"]
        rows.append({"figure": "POST entries/s (8 clients)", "measured": v, "goal": ">= 1000/s",
                     "met": v >= 1000})
    hwm = results["server_mem_end_kib"]["VmHWM"] / 1024
    rows.append({"figure": "server peak RSS (VmHWM) MB", "measured": round(hwm, 1),
                 "goal": "< 250 MB", "met": hwm < 250})
    results["goals"] = rows
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else data_dir / f"bench-http-{stamp}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nCOUNT={meta['count']} SEED={meta['seed']} customers={meta['customers']} "
          f"client={args.client} connections={args.connections}")
    for row in rows:
        m = row["measured"]
        ms = "n/a" if m is None else f"{m:.2f}"
        print(f"  {row['figure']:36s} {ms:>10s}  goal {row['goal']:10s} "
              f"{'MET' if row['met'] else 'NOT MET'}")
    for name, value in results.get("diagnosis", {}).items():
        print(f"  (diagnosis) {name}: {value}")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
