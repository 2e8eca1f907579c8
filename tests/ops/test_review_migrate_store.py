"""``chronik migrate-store`` copies the store as of one instant, and refuses to run while a
Chronik server works on the data folder (its later writes would never reach PostgreSQL)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from chronik.app import close_state, open_state
from chronik.migrate_store import migrate_store
from chronik.settings import Settings
from tests.live.cluster import base_env, serve
from tests.support.live_server import ROOT, seed
from tests.support.postgres import pg_url
from timeline.pg_migrate import asyncpg_dsn

__all__ = ["pg_url"]

pytestmark = pytest.mark.timeout(180)


async def test_a_write_during_the_copy_is_not_half_copied(tmp_path: Path, pg_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    state = await open_state(settings)
    try:
        office = await state.store.create_office("Büro Nord", "DE")
    finally:
        await close_state(state)
    writes: list[str] = []

    def progress(_rows: int) -> None:  # between two tables: another process writes
        if not writes:
            with sqlite3.connect(settings.store_path) as conn:
                conn.execute("INSERT INTO inbound_addresses (address, office_id) "
                             "VALUES ('spaet@buero.example', ?)", (office.id,))
            writes.append("done")

    await migrate_store(settings.store_path, settings.blob_dir, pg_url, progress=progress)
    assert writes
    pg = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        late = await pg.fetchval("SELECT count(*) FROM inbound_addresses "
                                 "WHERE address = 'spaet@buero.example'")
        offices = await pg.fetchval("SELECT count(*) FROM offices")
    finally:
        await pg.close()
    assert offices == 1
    assert late == 0  # written after the copy began: not in this copy


def test_migrate_store_is_refused_while_a_server_works_on_the_folder(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    seeded = seed(data, base_env())
    server = serve(tmp_path, data, base_env(), seeded, "running")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chronik.cli", "--data-dir", str(data), "migrate-store",
             "--to", "postgresql://chronik:secret@127.0.0.1:1/nothing"],
            capture_output=True, text=True, env=base_env(), cwd=ROOT, timeout=90,
            stdin=subprocess.DEVNULL)
    finally:
        server.stop()
    assert done.returncode == 2, done.stderr
    assert f"pid {server.process.pid}" in done.stderr
    assert "stop Chronik first" in done.stderr
    assert "Traceback" not in done.stderr
