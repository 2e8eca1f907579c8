"""A data folder upgraded by a newer Chronik (the program was rolled back, the folder was
not) is refused with what to do, instead of being run on tables this version does not
know; a folder of this version or an older one opens as before."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, free_port, seed
from timeline.sqlite_schema import MIGRATIONS


def chronik(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, env=base_env(), cwd=ROOT,
                          timeout=90, stdin=subprocess.DEVNULL)


def test_a_store_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data, base_env())
    assert chronik(data, "office", "list").returncode == 0
    newest = max(version for version, _ in MIGRATIONS)
    with sqlite3.connect(data / "chronik.sqlite3") as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (newest + 5,))
    for command in (("office", "list"), ("reindex",), ("worker", "--all"),
                    ("serve", "--host", HOST, "--port", str(free_port()))):
        done = chronik(data, *command)
        assert done.returncode == 2, (command, done.stderr)
        assert (f"was upgraded by a newer Chronik (schema {newest + 5}; this one knows up "
                f"to {newest})") in done.stderr
        assert "restore the backup" in done.stderr
        assert "Traceback" not in done.stderr
