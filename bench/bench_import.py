"""``chronik import`` of generated mail, side by side with the floor, in one run.

    .venv/bin/python bench/bench_import.py [--count 100000] [--seed 42]
        [--dir bench/data/mail] [--workers 2] [--source folder|mbox]

* the messages are ``../shared/bench/gen_mail.py OUT COUNT SEED`` (``$CHRONIK_GEN_MAIL``
  overrides the path): German/English text of mixed length, ~20 % ISO-8859-1
  quoted-printable, UTF-8 as QP / 8bit / base64, ~10 % with a 2-12 KB PDF attachment, ~25 %
  replies with In-Reply-To/References; generated once into ``DIR/eml-COUNT-SEED/``;
* **floor**: every file of that folder read and parsed with the stdlib alone
  (``BytesParser(policy=compat32)``, every leaf part decoded with
  ``get_payload(decode=True)``) in one process per CPU -- what any importer must at least
  spend on the same input on this machine;
* **import**: a fresh data dir ``DIR/data-COUNT-SEED/`` with one office, then ``python -m
  chronik.cli import SOURCE --office ID`` as a subprocess (everything a user waits for:
  start-up, parsing, storing, the search index catching up), then the same again (the second
  run must report only duplicates). ``--source mbox`` imports one mbox of the same messages
  instead (``DIR/mbox-COUNT-SEED.mbox``: ``From `` lines, ``>From `` escaping, CRLF kept);
* ``/proc`` is sampled every 0.2 s for the import process and all its descendants (the fork
  server and the parser processes): peak RSS of the import process, of the largest parser
  process and of the whole tree at one moment (RSS counts the pages the parser processes
  share with the fork server once per process; PSS, also shown, counts them once), and CPU
  seconds of the import process and of the others.

Prints a table and writes ``DIR/bench-import-COUNT-SEED.json``. Goals: >= 3,000 messages/s
at COUNT=100000, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_GEN_MAIL = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_mail.py"
GEN_MAIL = os.environ.get("CHRONIK_GEN_MAIL", str(SHARED_GEN_MAIL))
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def generate(out: Path, count: int, seed: int) -> None:
    if out.is_dir() and len(list(out.glob("*.eml"))) == count:
        return
    print(f"generating {count} messages (seed {seed}) into {out} ...", flush=True)
    subprocess.run([sys.executable, GEN_MAIL, str(out), str(count), str(seed)], check=True,
                   stdout=subprocess.DEVNULL)


def write_mbox(emls: Path, target: Path) -> None:
    if target.exists():
        return
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for file in sorted(emls.glob("*.eml")):
            raw = file.read_bytes()
            lines = raw.split(b"\n")
            out.write(b"From bench@chronik.invalid Mon Mar  2 10:00:00 2026\n")
            out.write(b"\n".join(b">" + line if line.startswith((b"From ", b">From "))
                                 else line for line in lines).rstrip(b"\r\n"))
            out.write(b"\n\n")
    tmp.rename(target)


# ------------------------------------------------------------------------ the floor
def _stdlib_parse(paths: list[str]) -> int:
    """Read and parse files with the stdlib alone, every leaf part decoded; returns the
    decoded bytes (so nothing is optimised away)."""
    parser = BytesParser(_class=Message, policy=policy.compat32)
    size = 0
    for path in paths:
        with open(path, "rb") as fh:  # as plain as it gets: that is the floor
            msg = parser.parsebytes(fh.read())
        for part in msg.walk():
            if not part.is_multipart():
                payload = part.get_payload(decode=True)
                size += len(payload) if isinstance(payload, bytes) else 0
    return size


def floor(emls: Path, processes: int) -> dict[str, float]:
    files = sorted(str(p) for p in emls.glob("*.eml"))
    chunks = [files[i:i + 500] for i in range(0, len(files), 500)]
    started = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_stdlib_parse, chunks))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "msgs_per_s": round(len(files) / seconds, 1)}


# ------------------------------------------------------------------------ the import
def _pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (the parser processes share the fork server's)
    counted once over the tree, not once per process as RSS does."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, CPU ticks, RSS KiB) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21]) * PAGE_KIB


class TreeSampler:
    """Peak RSS and last CPU time of a process and all its descendants."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_main = self.peak_child = self.peak_tree = self.peak_pss = 0
        self.cpu: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            stats = {}
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    got = _stat(int(entry.name))
                    if got is not None:
                        stats[int(entry.name)] = got
            tree, todo = {self.root}, [self.root]
            while todo:
                parent = todo.pop()
                kids = [pid for pid, st in stats.items() if st[0] == parent]
                tree.update(kids)
                todo.extend(kids)
            rss = {pid: stats[pid][2] for pid in tree if pid in stats}
            for pid in tree:
                if pid in stats:
                    self.cpu[pid] = max(self.cpu.get(pid, 0), stats[pid][1])
            self.peak_main = max(self.peak_main, rss.get(self.root, 0))
            self.peak_child = max([self.peak_child, *(v for p, v in rss.items()
                                                      if p != self.root)])
            self.peak_tree = max(self.peak_tree, sum(rss.values()))
            self.peak_pss = max(self.peak_pss, sum(_pss_kib(pid) for pid in rss))
            time.sleep(0.2)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run_import(data_dir: Path, source: Path, office: str, workers: int) -> dict[str, object]:
    env = {**os.environ, "CHRONIK_EMAIL_IMPORT_WORKERS": str(workers)}
    env.pop("CI", None)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                             "import", str(source), "--office", office], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}): {err[-2000:]}")
    main_cpu = sampler.cpu.get(proc.pid, 0) / TICK
    other_cpu = sum(v for p, v in sampler.cpu.items() if p != proc.pid) / TICK
    return {"seconds": round(seconds, 2), "summary": out.strip().splitlines()[-1],
            "peak_rss_main_mb": round(sampler.peak_main / 1024, 1),
            "peak_rss_parser_mb": round(sampler.peak_child / 1024, 1),
            "peak_rss_tree_mb": round(sampler.peak_tree / 1024, 1),
            "peak_pss_tree_mb": round(sampler.peak_pss / 1024, 1),
            "cpu_main_s": round(main_cpu, 1), "cpu_parsers_s": round(other_cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "data" / "mail")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", choices=["folder", "mbox"], default="folder")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    cpus = os.cpu_count() or 1
    emls = args.dir / f"eml-{args.count}-{args.seed}"
    generate(emls, args.count, args.seed)
    source = emls
    if args.source == "mbox":
        source = args.dir / f"mbox-{args.count}-{args.seed}.mbox"
        write_mbox(emls, source)
    print(f"COUNT={args.count} SEED={args.seed}: {args.source} {source}; "
          f"{args.workers} parser processes, {cpus} CPUs", flush=True)
    base = floor(emls, cpus)
    print(f"floor: {base['msgs_per_s']} messages/s ({base['seconds']} s)", flush=True)
    data_dir = args.dir / f"data-{args.count}-{args.seed}"
    shutil.rmtree(data_dir, ignore_errors=True)
    office = subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                             "office", "create", "Bench"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    first = run_import(data_dir, source, office, args.workers)
    again = run_import(data_dir, source, office, args.workers)
    rate = {name: round(args.count / float(str(run["seconds"])), 1)
            for name, run in (("first", first), ("again", again))}
    result = {"count": args.count, "seed": args.seed, "source": args.source,
              "workers": args.workers, "cpus": cpus, "floor": base, "first": first,
              "again": again, "first_msgs_per_s": rate["first"],
              "again_msgs_per_s": rate["again"]}
    (args.dir / f"bench-import-{args.count}-{args.seed}.json").write_text(
        json.dumps(result, indent=2))
    print()
    print("| run | result | seconds | messages/s (goal >= 3,000) | share of floor | peak RSS "
          "MB: import / largest parser / tree (goal < 300) | peak PSS tree MB | "
          "CPU s: import / parsers |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| floor: stdlib compat32, every part decoded, {cpus} processes | "
          f"{args.count} parsed | {base['seconds']} | {base['msgs_per_s']} | 100 % | | | |")
    for name, run in (("import", first), ("same again", again)):
        key = "first" if name == "import" else "again"
        print(f"| {name} | {run['summary']} | {run['seconds']} | {rate[key]} | "
              f"{100 * rate[key] / base['msgs_per_s']:.0f} % | {run['peak_rss_main_mb']} / "
              f"{run['peak_rss_parser_mb']} / {run['peak_rss_tree_mb']} | "
              f"{run['peak_pss_tree_mb']} | "
              f"{run['cpu_main_s']} / {run['cpu_parsers_s']} |")


if __name__ == "__main__":
    main()
