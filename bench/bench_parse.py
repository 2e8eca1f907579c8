"""``parse_message`` speed per message, and what the MIME/charset repairs change.

    .venv/bin/python bench/bench_parse.py [--count 2000] [--seed 42] [--rounds 5]
        [--dir bench/data/parse] [--baseline DIR]

* the messages are ``../shared/bench/gen_mail.py OUT COUNT SEED`` (``$CHRONIK_GEN_MAIL``
  overrides the path), generated once into ``DIR/eml-COUNT-SEED/`` and read into memory;
  every round parses all of them in this process; the best round gives µs per message;
* ``--baseline DIR``: a directory holding another version of the ``connectors`` package
  (e.g. ``git worktree add bench/data/before <commit>``); the same measurement runs there in a
  subprocess, and the outputs of both versions are compared message by message (text,
  HTML, subject, sender name, attachment names and bytes) on the generated mail *and* on
  the Zammad corpus (``../shared/corpora/zammad-mail``, when present): every message whose
  output differs is listed with the repair notes of the new version.

Speed is the CPU time of one process; the rounds of the two versions alternate (each round
a fresh process), so both see the same load of the shared machine; compare them within one
run, not across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GEN_MAIL = os.environ.get("CHRONIK_GEN_MAIL", str(SHARED / "bench" / "gen_mail.py"))
ZAMMAD = SHARED / "corpora" / "zammad-mail"


def generate(out: Path, count: int, seed: int) -> None:
    if out.is_dir() and len(list(out.glob("*.eml"))) == count:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, GEN_MAIL, str(out), str(count), str(seed)], check=True,
                   stdout=subprocess.DEVNULL)


def _digest(parsed: Any) -> dict[str, Any]:
    def h(text: str | None) -> str:
        return hashlib.sha256((text or "").encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return {
        "text": h(parsed.text), "html": h(parsed.html), "subject": parsed.subject,
        "name": parsed.from_display_name,
        "attachments": [[a.filename, hashlib.sha256(a.data).hexdigest()[:16]]
                        for a in parsed.attachments],
        "notes": list(getattr(parsed, "parse_notes", ())),
    }


def worker(files: list[Path], rounds: int, digest: bool) -> dict[str, Any]:
    """Runs in the version under test (its ``connectors`` first on ``sys.path``)."""
    from connectors.email.parse import MailParseError, parse_message

    raws = [(p.name, p.read_bytes()) for p in files]
    timings = []
    for _ in range(rounds):
        start = time.process_time()
        for _, raw in raws:
            try:
                parse_message(raw)
            except MailParseError:
                pass
        timings.append(time.process_time() - start)
    outputs: dict[str, Any] = {}
    for name, raw in raws if digest else []:
        try:
            outputs[name] = _digest(parse_message(raw))
        except MailParseError as exc:
            outputs[name] = {"error": exc.reason}
    return {"seconds": timings, "outputs": outputs}


def run_version(path: Path, files: list[Path], rounds: int, digest: bool = True
                ) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    listing = json.dumps([str(f) for f in files])
    proc = subprocess.run([sys.executable, __file__, "--worker", str(rounds), str(int(digest))],
                          input=listing,
                          capture_output=True, text=True, env=env, cwd=path, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def per_message_us(result: dict[str, Any], count: int) -> float:
    return float(min(result["seconds"])) / count * 1e6


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    lines = []
    for name, new in sorted(after["outputs"].items()):
        old = before["outputs"].get(name)
        if old is None:
            continue
        changed = [k for k in ("text", "html", "subject", "name", "attachments", "error")
                   if old.get(k) != new.get(k)]
        if changed:
            lines.append(f"{name}: {', '.join(changed)} changed; notes: {new.get('notes')}")
    return lines


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        files = [Path(f) for f in json.loads(sys.stdin.read())]
        print(json.dumps(worker(files, int(sys.argv[2]), sys.argv[3] == "1")))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=ROOT / "bench" / "data" / "parse")
    ap.add_argument("--baseline", type=Path, default=None)
    args = ap.parse_args()

    out = args.dir / f"eml-{args.count}-{args.seed}"
    generate(out, args.count, args.seed)
    files = sorted(out.glob("*.eml"))
    now = run_version(ROOT, files, 1)
    before = run_version(args.baseline, files, 1) if args.baseline is not None else None
    for _ in range(args.rounds - 1):  # alternate, so both see the same machine load
        now["seconds"] += run_version(ROOT, files, 1, digest=False)["seconds"]
        if before is not None:
            before["seconds"] += run_version(args.baseline, files, 1, digest=False)["seconds"]
    noted = sum(1 for o in now["outputs"].values() if o.get("notes"))
    print(f"generated mail COUNT={args.count} SEED={args.seed}, best of {args.rounds} rounds")
    print(f"  this version: {per_message_us(now, len(files)):.0f} µs/message; "
          f"{noted} message(s) with parse notes")
    if args.baseline is None or before is None:
        return
    old_us, new_us = per_message_us(before, len(files)), per_message_us(now, len(files))
    print(f"  baseline:     {old_us:.0f} µs/message; overhead {100 * (new_us / old_us - 1):+.1f} %")
    changed = differences(before, now)
    print(f"  messages whose output changed: {len(changed)}")
    for line in changed[:20]:
        print("   ", line)
    corpus = sorted(ZAMMAD.glob("*.eml")) if ZAMMAD.is_dir() else []
    if not corpus:
        print(f"Zammad corpus not found at {ZAMMAD}: comparison skipped")
        return
    z_now, z_before = run_version(ROOT, corpus, 1), run_version(args.baseline, corpus, 1)
    z_noted = [(n, o["notes"]) for n, o in sorted(z_now["outputs"].items()) if o.get("notes")]
    z_changed = differences(z_before, z_now)
    print(f"Zammad corpus: {len(corpus)} messages; output changed in {len(z_changed)}; "
          f"notes on {len(z_noted)}")
    for line in z_changed:
        print("   ", line)
    for name, notes in z_noted:
        print(f"    {name}: {notes}")


if __name__ == "__main__":
    main()
