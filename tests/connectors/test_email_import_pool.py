"""``chronik import`` of a source big enough for parser processes (more than
``POOL_AFTER`` messages): the same outcome as parsing in the importing process -- every
message stored once, a broken one quarantined, a reply across batches threaded, a second
run only duplicates."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from connectors.email.importer import BATCH, POOL_AFTER

ROOT = Path(__file__).resolve().parents[2]
COUNT = POOL_AFTER + BATCH // 2  # the last batches go through the parser processes


def chronik(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
        env={**env, "CHRONIK_EMAIL_IMPORT_WORKERS": "2"})


def test_a_big_folder_through_parser_processes(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    for n in range(1, COUNT + 1):
        reply = "In-Reply-To: <big-3@example.de>\n" if n == COUNT else ""
        (mail / f"{n:05d}.eml").write_bytes(
            f"From: Kundin {n % 7} <k{n % 7}@example.de>\nTo: service@example.de\n"
            f"Subject: Nachricht {n}\nMessage-ID: <big-{n}@example.de>\n{reply}"
            f"Date: Wed, 04 Mar 2026 10:{n % 60:02d}:00 +0100\n\nInhalt {n} \xfc\n"
            .encode("latin-1"))
    (mail / f"{COUNT - 1:05d}.eml").write_bytes(b"Subject: ohne Absender\n\nwer?\n")
    data_dir = tmp_path / "data"
    office = chronik(data_dir, "office", "create", "Gross")
    assert office.returncode == 0, office.stderr
    first = chronik(data_dir, "import", str(mail), "--office", office.stdout.strip())
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"imported {COUNT - 1}, duplicates 0, quarantined 1\n"
    again = chronik(data_dir, "import", str(mail), "--office", office.stdout.strip())
    assert again.stdout == f"imported 0, duplicates {COUNT - 1}, quarantined 1\n"
    with sqlite3.connect(data_dir / "chronik.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 7
        parent = db.execute("SELECT id FROM entries WHERE source_id='big-3@example.de'"
                            ).fetchone()[0]
        meta, body = db.execute("SELECT meta, body FROM entries WHERE source_id=?",
                                (f"big-{COUNT}@example.de",)).fetchone()
        assert db.execute("SELECT count(*) FROM index_outbox").fetchone()[0] == 0
    assert json.loads(meta)["in_reply_to"]["entry_id"] == parent
    assert body == f"Inhalt {COUNT} \xfc"  # the charset read in a parser process
    with sqlite3.connect(data_dir / "search.sqlite3") as index:  # all searchable at the end
        assert index.execute("SELECT count(*) FROM entry_fts").fetchone()[0] == COUNT - 1
