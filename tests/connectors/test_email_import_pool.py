"""``chronik import`` of a source big enough for parser processes (more than
``POOL_AFTER`` messages): the same outcome as parsing in the importing process -- every
message stored once, a broken one quarantined, a reply across batches threaded, a second
run only duplicates."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from chronik.app import make_store
from chronik.settings import Settings
from connectors.email.importer import BATCH, POOL_AFTER
from timeline.models import Entry
from timeline.repositories import CustomerListQuery, IndexTask

ROOT = Path(__file__).resolve().parents[2]
COUNT = POOL_AFTER + BATCH // 2  # the last batches go through the parser processes


def chronik(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
        env={**env, "CHRONIK_EMAIL_IMPORT_WORKERS": "2"})


async def _stored(data_dir: Path, office_id: str
                  ) -> tuple[int, Entry | None, Entry | None, list[IndexTask]]:
    """What the import stored, read through the store: (customers, the entry of
    ``big-3``, the reply to it, entries still waiting for the index)."""
    store = make_store(Settings(data_dir=data_dir))
    await store.open()
    try:
        customers = await store.list_customers(office_id, CustomerListQuery(limit=50))
        return (len(customers.items),
                await store.find_entry_by_source(office_id, "big-3@example.de"),
                await store.find_entry_by_source(office_id, f"big-{COUNT}@example.de"),
                await store.pending_index_tasks(10))
    finally:
        await store.close()


def test_a_big_folder_through_parser_processes(tmp_path: Path) -> None:
    """The mail in a folder and below it: the last messages in a Maildir sub-folder (read in
    the parser processes as a Maildir's), a folder of junk left out and named."""
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "Archiv" / sub).mkdir(parents=True)
    (mail / "Junk").mkdir()
    (mail / "Junk" / "spam.eml").write_bytes(
        b"From: Gewinn <win@spam.example>\nSubject: Sie haben gewonnen\n\nKlicken!\n")
    for n in range(1, COUNT + 1):
        reply = "In-Reply-To: <big-3@example.de>\n" if n == COUNT else ""
        name = (f"{n:05d}.eml" if n <= COUNT - BATCH // 4
                else f"Archiv/cur/{1700000000 + n}.M{n}.host:2,S")
        (mail / name).write_bytes(
            f"From: Kundin {n % 7} <k{n % 7}@example.de>\nTo: service@example.de\n"
            f"Subject: Nachricht {n}\nMessage-ID: <big-{n}@example.de>\n{reply}"
            f"Date: Wed, 04 Mar 2026 10:{n % 60:02d}:00 +0100\n\nInhalt {n} \xfc\n"
            .encode("latin-1"))
    (mail / f"{COUNT - BATCH // 4:05d}.eml").write_bytes(b"Subject: ohne Absender\n\nwer?\n")
    data_dir = tmp_path / "data"
    office = chronik(data_dir, "office", "create", "Gross")
    assert office.returncode == 0, office.stderr
    junk = "; left out 1 folder(s) of junk or deleted mail (Junk/): import one by naming it"
    first = chronik(data_dir, "import", str(mail), "--office", office.stdout.strip())
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"imported {COUNT - 1}, duplicates 0, quarantined 1{junk}\n"
    again = chronik(data_dir, "import", str(mail), "--office", office.stdout.strip())
    assert again.stdout == f"imported 0, duplicates {COUNT - 1}, quarantined 1{junk}\n"
    customers, parent, reply, unindexed = asyncio.run(
        _stored(data_dir, office.stdout.strip()))  # (the store CHRONIK_TEST_STORE names)
    assert customers == 7 and parent is not None and reply is not None
    assert reply.meta["in_reply_to"]["entry_id"] == parent.id
    assert reply.body == f"Inhalt {COUNT} \xfc"  # the charset read in a parser process
    assert unindexed == []
    with sqlite3.connect(data_dir / "search.sqlite3") as index:  # all searchable at the end
        assert index.execute("SELECT count(*) FROM entry_fts").fetchone()[0] == COUNT - 1


def test_words_read_in_the_parser_processes_index_like_a_rebuild(tmp_path: Path) -> None:
    """The parser processes also read each mail's searchable words for the importing
    process's indexer (``search.prepared``): the index they build is the one ``chronik
    reindex`` builds from the stored entries -- phone numbers, reference numbers, dates,
    IBANs, hyphenated words, senders' names, HTML-only mail, very long subjects, attached
    files (their names made safe, the text of those read) alike."""
    mail = tmp_path / "mail"
    mail.mkdir()
    for n in range(1, COUNT + 1):
        kind = n % 7
        subject = (f"Schaden HV-2026-{n:05d}" if kind != 5 else "Lang " * 260).strip()
        body = {0: f"Rückruf unter 0171 / 123 45 {n % 100:02d} erbeten.",
                1: f"IBAN DE89 3704 0044 0532 0130 00, Termin am {n % 28 + 1}.3.2026",
                2: "Bitte per E-Mail antworten; Kfz-Versicherung Müller/Mueller",
                3: f"Vertrag Nr. {n}/26 vom 3. Februar 2025 — Grüße aus Köln",
                4: "",
                5: "kurz", 6: ""}[kind]
        if kind == 4:
            content = (f"Content-Type: text/html; charset=utf-8\n\n"
                       f"<p>Nur <b>HTML</b> von Frau Özdemir, Tel. +49 30 {n:07d}</p>\n")
        elif kind == 6:
            content = (
                'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
                "Content-Type: text/plain; charset=utf-8\n\nAnbei die Notiz.\n--b\n"
                "Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment;"
                ' filename="../Notiz Rückruf.txt"\n\n'
                f"Rückruf unter 0171 98765{n % 100:02d}, Vertrag VS-{n:06d}\n--b\n"
                'Content-Type: text/plain\nContent-Disposition: attachment; filename="leer.txt"'
                "\n\n\n--b\nContent-Type: image/png\nContent-Disposition: attachment;"
                ' filename="Foto Schaden.png"\nContent-Transfer-Encoding: base64\n\n'
                "iVBORw0KGgo=\n--b--\n")
        else:
            content = f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
        (mail / f"{n:05d}.eml").write_bytes(
            f"From: =?utf-8?q?J=C3=BCrgen_K=C3=B6hler_{n % 5}?= <jk{n % 5}@example.de>\n"
            f"To: service@example.de\nSubject: {subject}\nMessage-ID: <w-{n}@example.de>\n"
            f"Date: Wed, 04 Mar 2026 10:{n % 60:02d}:00 +0100\nMIME-Version: 1.0\n"
            f"{content}".encode())
    data_dir = tmp_path / "data"
    office = chronik(data_dir, "office", "create", "Gross")
    assert office.returncode == 0, office.stderr
    first = chronik(data_dir, "import", str(mail), "--office", office.stdout.strip())
    assert first.stdout == f"imported {COUNT}, duplicates 0, quarantined 0\n", first.stderr

    def index() -> list[tuple[int, str, str]]:
        with sqlite3.connect(data_dir / "search.sqlite3") as db:
            return db.execute("SELECT rowid, body, scope FROM entry_fts ORDER BY rowid"
                              ).fetchall()
    imported = index()
    assert len(imported) == COUNT
    rebuilt = chronik(data_dir, "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert index() == imported
