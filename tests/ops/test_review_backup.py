"""``chronik backup DEST``: a consistent copy of a data folder taken while the server writes,
which serves again (after ``chronik reindex``) with its entries, attachments and search."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.live.cluster import base_env, serve
from tests.support.live_server import ROOT, ChronikServer, seed

pytestmark = pytest.mark.timeout(240)


def chronik(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, env=base_env(), cwd=ROOT,
                          timeout=120, stdin=subprocess.DEVNULL)


def document(server: ChronikServer, customer_id: str, name: str, content: bytes) -> Any:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n"
            f"Vertrag anbei\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f"name=\"kind\"\r\n\r\ndocument\r\n--{boundary}\r\nContent-Disposition: "
            f"form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: "
            f"application/octet-stream\r\n\r\n").encode() + content + (
        f"\r\n--{boundary}--\r\n").encode()
    return server.api("POST", f"/customers/{customer_id}/entries", data=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def timeline(server: ChronikServer, customer_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.api(
        "GET", f"/customers/{customer_id}/timeline?limit=200")["items"]
    return entries


def test_a_backup_taken_while_the_server_writes_serves_again(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup"
    seeded = seed(data, base_env())
    server = serve(tmp_path, data, base_env(), seeded, "live")
    content = uuid.uuid4().bytes * 2000  # 32 kB that exist nowhere else
    try:
        customer = server.api("POST", "/customers", {"name": "Erika Mustermann"})
        document(server, customer["id"], "vertrag.bin", content)
        for i in range(20):
            server.api("POST", f"/customers/{customer['id']}/entries",
                       {"body": f"Rückruf Zählerstand {i}", "kind": "note",
                        "visibility": "internal"})
        other = server.api("POST", "/customers", {"name": "Max Muster"})
        stop = threading.Event()

        def keep_writing() -> None:
            i = 0
            while not stop.is_set():
                server.api("POST", f"/customers/{other['id']}/entries",
                           {"body": f"während der Sicherung {i}", "kind": "note",
                            "visibility": "internal"})
                i += 1
        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            done = chronik(data, "backup", str(dest))
        finally:
            stop.set()
            writer.join()
        assert done.returncode == 0, done.stderr
        assert "backed up" in done.stdout and "1 attachment files" in done.stdout
        again = chronik(data, "backup", str(dest))  # never over an earlier backup
        assert again.returncode == 2
        assert "exists and is not an empty folder" in again.stderr
    finally:
        server.stop()
    assert not (tmp_path / "backup.partial").exists()
    assert not (dest / "background.lock").exists()

    # no `chronik reindex` by hand: serve finds the index missing and rebuilds it first
    restored = serve(tmp_path, dest, base_env(), seeded, "restored")
    try:
        assert "the search index is missing" in restored.stderr()
        entries = timeline(restored, customer["id"])
        texts = [e["body"] for e in entries]
        assert all(f"Rückruf Zählerstand {i}" in texts for i in range(20))
        doc = next(e for e in entries if e.get("attachments"))
        got = restored.call("GET", f"/entries/{doc['id']}/attachments/0")
        assert got.status == 200 and got.body == content
        found = restored.api("GET", "/search?q=" + urllib.parse.quote("Zählerstand"))
        assert len(found["items"]) >= 20
    finally:
        restored.stop()


def test_backup_refuses_the_postgresql_store_and_a_missing_folder(tmp_path: Path) -> None:
    missing = chronik(tmp_path / "nothing", "backup", str(tmp_path / "b"))
    assert missing.returncode == 2
    assert "no Chronik data in" in missing.stderr and "Traceback" not in missing.stderr
    pg = subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir",
                         str(tmp_path), "backup", str(tmp_path / "b")],
                        capture_output=True, text=True, cwd=ROOT, timeout=60,
                        env=base_env({"CHRONIK_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"}))
    assert pg.returncode == 2
    assert "pg_dump" in pg.stderr and "Traceback" not in pg.stderr
