"""``chronik migrate-store --to postgresql://…``: an embedded data folder (the demo office:
customers, entries with attachments, agents, consents, notification jobs) is copied into an
empty PostgreSQL database, checked, and refused a second time; bad targets are clear errors."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from chronik.app import close_state, open_state
from chronik.demo import seed_demo
from chronik.migrate_store import migrate_store
from chronik.settings import Settings
from search.query import SearchFilters
from tests.support.postgres import server_url
from timeline.blobs import TEXT_SUFFIX
from timeline.errors import Conflict, InvalidInput
from timeline.pg_blobs import text_key
from timeline.pg_migrate import asyncpg_dsn
from timeline.pg_store import PgStore
from timeline.sql_tables import PG_ONLY_TABLES, metadata
from timeline.store import CustomerListQuery, TimelineQuery

ROOT = Path(__file__).resolve().parents[2]


async def _demo_folder(folder: Path) -> Settings:
    settings = Settings(data_dir=folder)
    state = await open_state(settings)
    try:
        await seed_demo(state)
        await state.indexer.drain()
    finally:
        await close_state(state)
    return settings


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t.name: conn.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
                for t in metadata.sorted_tables if t.name not in PG_ONLY_TABLES}


async def test_a_data_folder_is_copied_checked_and_never_copied_twice(
        tmp_path: Path, pg_url: str) -> None:
    settings = await _demo_folder(tmp_path / "data")
    counts = _counts(settings.store_path)
    assert counts["entries"] > 10 and counts["customers"] > 3 and counts["agents"] == 2
    files = sorted(p for p in settings.blob_dir.rglob("*") if p.is_file()
                   and p.suffix != TEXT_SUFFIX)
    assert files, "the demo has attachments"
    texts = {p.name[:64]: p.read_bytes() for p in settings.blob_dir.rglob("*" + TEXT_SUFFIX)}
    assert texts, "the demo's document was read for search"

    report = await migrate_store(settings.store_path, settings.blob_dir, pg_url)
    assert {t.name: t.rows for t in report.tables} == counts
    assert report.blobs == len(files)

    pg = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        for name, count in counts.items():
            assert await pg.fetchval(f'SELECT count(*) FROM "{name}"') == count, name
        stored = {r["sha256"]: bytes(r["data"]) for r in await pg.fetch(
            "SELECT sha256, data FROM blobs")}
        assert stored == {p.name: p.read_bytes() for p in files} | {
            text_key(sha): text for sha, text in texts.items()}  # not read again
        with sqlite3.connect(settings.store_path) as src:
            subjects = sorted(r[0] for r in src.execute("SELECT subject FROM entries"))
            times = sorted(r[0] for r in src.execute("SELECT occurred_at FROM entries"))
        assert sorted(await pg.fetchval("SELECT array_agg(subject) FROM entries")) == subjects
        assert [t.isoformat() for t in sorted(
            await pg.fetchval("SELECT array_agg(occurred_at) FROM entries"))] == times
        # identities go on after the copied keys
        top = await pg.fetchval("SELECT max(id) FROM identities")
        new = await pg.fetchval(
            "INSERT INTO identities (office_id, customer_id, kind, value) "
            "SELECT office_id, id, 'email', 'new@example.org' FROM customers LIMIT 1 "
            "RETURNING id")
        assert new > top
    finally:
        await pg.close()

    with pytest.raises(Conflict, match="already holds data"):
        await migrate_store(settings.store_path, settings.blob_dir, pg_url)


async def test_bad_sources_and_targets_are_clear_errors(tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(InvalidInput, match="no embedded store"):
        await migrate_store(tmp_path / "nothing.sqlite3", tmp_path, pg_url)
    settings = await _demo_folder(tmp_path / "data")
    with pytest.raises(InvalidInput, match="not a PostgreSQL URL"):
        await migrate_store(settings.store_path, settings.blob_dir, "mysql://x@y/z")


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONIK_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "chronik.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


async def test_the_command_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    await _demo_folder(tmp_path / "data")
    data = str(tmp_path / "data")
    bad_url = _cli("--data-dir", data, "migrate-store", "--to", "not a url")
    assert bad_url.returncode == 2 and "chronik:" in bad_url.stderr
    assert "Traceback" not in bad_url.stderr
    nobody = _cli("--data-dir", data, "migrate-store", "--to",
                  "postgresql://chronik:x@127.0.0.1:9/none")  # nothing listens on port 9
    assert nobody.returncode == 1 and "cannot copy into PostgreSQL" in nobody.stderr
    assert "Traceback" not in nobody.stderr
    no_data = _cli("--data-dir", str(tmp_path / "missing"), "migrate-store", "--to",
                   server_url())
    assert no_data.returncode == 2 and "no Chronik data" in no_data.stderr


async def test_after_the_command_the_app_on_postgresql_shows_the_same_office(
        tmp_path: Path, pg_url: str) -> None:
    settings = await _demo_folder(tmp_path / "data")
    before = await open_state(settings)
    try:
        [office] = await before.store.list_offices()
        customers = (await before.store.list_customers(office.id, CustomerListQuery(
            limit=500))).items
        timelines = {c.id: (await before.store.timeline(office.id, c.id, TimelineQuery(
            limit=500))).items for c in customers}
        found = await before.search.search("Kündigung", SearchFilters(office_id=office.id))
    finally:
        await close_state(before)
    assert sum(map(len, timelines.values())) > 10 and found.items

    done = await asyncio.to_thread(_cli, "--data-dir", str(settings.data_dir),
                                   "migrate-store", "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert "contents checked" in done.stdout and "reindexed" in done.stdout

    after = await open_state(settings.model_copy(update={"database_url": SecretStr(pg_url)}))
    try:
        assert isinstance(after.store, PgStore)
        assert await after.store.list_offices() == [office]
        assert (await after.store.list_customers(office.id, CustomerListQuery(
            limit=500))).items == customers
        for c in customers:
            assert (await after.store.timeline(office.id, c.id, TimelineQuery(
                limit=500))).items == timelines[c.id]
        again = await after.search.search("Kündigung", SearchFilters(office_id=office.id))
        assert [h.entry.id for h in again.items] == [h.entry.id for h in found.items]
        for entry in (e for items in timelines.values() for e in items):
            for att in entry.attachments:  # the bytes came along
                assert await after.blobs.get(att.sha256) is not None
        waiting, _ = await after.store.index_backlog()
        assert waiting == 0  # the copied queue was covered by the rebuild
    finally:
        await close_state(after)
