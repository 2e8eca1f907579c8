"""``chronik import`` of a generated mbox: messages/s and peak RSS, first run and re-import.

    .venv/bin/python bench/bench_import.py [--count 100000] [--seed 42]
        [--dir bench/data/mail] [--workers 2]

* the messages are ``../shared/bench/gen_mail.py OUT COUNT SEED`` (``$CHRONIK_GEN_MAIL``
  overrides the path): German/English text of mixed length, ~20 % ISO-8859-1
  quoted-printable, UTF-8 as QP / 8bit / base64, ~10 % with a 2-12 KB PDF attachment, ~25 %
  replies with In-Reply-To/References; generated once into ``DIR/eml-COUNT-SEED/``;
* they are wrapped into one mbox (``DIR/mbox-COUNT-SEED.mbox``: ``From `` separator lines,
  body lines starting with ``From `` escaped as ``>From ``, CRLF kept);
* a fresh data dir ``DIR/data-COUNT-SEED/`` with one office; then ``python -m chronik.cli
  import MBOX --office ID`` runs as a subprocess (import + index drain, what a user waits
  for), twice: the second run must report only duplicates;
* peak RSS: ``/proc`` is sampled every 0.1 s for the import process and its children (the
  parser processes); reported for the main process and for the sum over the tree.

Prints a table and writes ``DIR/bench-import-COUNT-SEED.json``. Goals: >= 2,000 messages/s,
RSS < 300 MB.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_GEN_MAIL = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_mail.py"
GEN_MAIL = os.environ.get("CHRONIK_GEN_MAIL", str(SHARED_GEN_MAIL))


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


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def run_import(data_dir: Path, mbox: Path, office: str, workers: int) -> dict[str, object]:
    env = {**os.environ, "CHRONIK_EMAIL_IMPORT_WORKERS": str(workers)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                             "import", str(mbox), "--office", office], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"main_kib": 0, "tree_kib": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            main = _rss_kib(proc.pid)
            tree = main + sum(_rss_kib(c) for c in _children(proc.pid))
            peak["main_kib"] = max(peak["main_kib"], main)
            peak["tree_kib"] = max(peak["tree_kib"], tree)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}): {err[-2000:]}")
    return {"seconds": round(seconds, 2), "summary": out.strip().splitlines()[-1],
            "peak_rss_main_mb": round(peak["main_kib"] / 1024, 1),
            "peak_rss_tree_mb": round(peak["tree_kib"] / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "data" / "mail")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    emls = args.dir / f"eml-{args.count}-{args.seed}"
    mbox = args.dir / f"mbox-{args.count}-{args.seed}.mbox"
    generate(emls, args.count, args.seed)
    write_mbox(emls, mbox)
    data_dir = args.dir / f"data-{args.count}-{args.seed}"
    shutil.rmtree(data_dir, ignore_errors=True)
    office = subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                             "office", "create", "Bench"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    first = run_import(data_dir, mbox, office, args.workers)
    again = run_import(data_dir, mbox, office, args.workers)
    result = {"count": args.count, "seed": args.seed, "workers": args.workers,
              "mbox_mb": round(mbox.stat().st_size / 2**20, 1), "cpus": os.cpu_count(),
              "first": first, "again": again,
              "first_msgs_per_s": round(args.count / float(str(first["seconds"])), 1),
              "again_msgs_per_s": round(args.count / float(str(again["seconds"])), 1)}
    (args.dir / f"bench-import-{args.count}-{args.seed}.json").write_text(
        json.dumps(result, indent=2))
    print(f"mbox: {args.count} messages (seed {args.seed}), {result['mbox_mb']} MB; "
          f"{args.workers} parser processes on {os.cpu_count()} CPUs")
    print("| run | result | seconds | messages/s (goal >= 2000) | peak RSS main / tree MB "
          "(goal < 300) |")
    print("| --- | --- | --- | --- | --- |")
    for name, run, rate in (("first", first, result["first_msgs_per_s"]),
                            ("re-import", again, result["again_msgs_per_s"])):
        print(f"| {name} | {run['summary']} | {run['seconds']} | {rate} | "
              f"{run['peak_rss_main_mb']} / {run['peak_rss_tree_mb']} |")


if __name__ == "__main__":
    main()
