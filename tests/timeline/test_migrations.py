"""Schema migrations: versioned, applied once, and a late lower-numbered one still runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from timeline.sqlite_db import SqliteDb


async def _open(path: Path, migrations: list[tuple[int, str]]) -> None:
    db = SqliteDb(path, migrations)
    await db.open()
    await db.close()


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_migrations_apply_once_and_out_of_order(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    await _open(path, [(1, "CREATE TABLE a (x);"), (5, "CREATE TABLE e (x);")])
    await _open(path, [(1, "CREATE TABLE a (x);"), (5, "CREATE TABLE e (x);")])  # no-op
    # a migration numbered 3 merged after 5 was applied must still run
    await _open(path, [(1, "CREATE TABLE a (x);"), (3, "CREATE TABLE c (x);"),
                       (5, "CREATE TABLE e (x);")])
    assert {"a", "c", "e"} <= _tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert sorted(versions) == [1, 3, 5]


async def test_legacy_database_keeps_its_user_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE a (x)")
        conn.execute("PRAGMA user_version=1")
    await _open(path, [(1, "CREATE TABLE a (x);"), (2, "CREATE TABLE b (x);")])
    assert {"a", "b"} <= _tables(path)


async def test_outbox_rows_of_an_older_store_become_jobs(tmp_path: Path) -> None:
    """Migration 13: notification jobs are written with their entries now; a published entry
    still waiting in the old notification outbox becomes a pending job (not lost), and the
    outbox goes."""
    from datetime import timedelta

    from tests.store_contract.helpers import published
    from timeline.models import Identity, IdentityKind, utcnow
    from timeline.sqlite_store import SqliteStore

    path = tmp_path / "chronik.sqlite3"
    store = SqliteStore(path)
    await store.open()
    office = await store.create_office("Büro", "DE")
    person = await store.create_customer(office.id, "P", [
        Identity(kind=IdentityKind.EMAIL, value="p@example.org")])
    entry, _ = await store.append(published(office.id, person.id, body="Ihr Vertrag"))
    await store.close()
    with sqlite3.connect(path) as conn:  # what the store looked like at version 12
        conn.execute("DELETE FROM notify_jobs")
        conn.execute("CREATE TABLE notify_outbox (id INTEGER PRIMARY KEY, office_id TEXT NOT "
                     "NULL, entry_id TEXT NOT NULL, created_at TEXT NOT NULL)")
        conn.execute("INSERT INTO notify_outbox (office_id, entry_id, created_at) "
                     "VALUES (?,?,?)", (office.id, entry.id, utcnow().isoformat()))
        conn.execute("DELETE FROM schema_migrations WHERE version = 13")
        conn.execute("PRAGMA user_version=12")
    store = SqliteStore(path)
    await store.open()
    try:
        now = utcnow()
        jobs = await store.claim_notify_jobs("w", now, now + timedelta(minutes=1), 10)
        assert [(j.entry_id, j.customer_id) for j in jobs] == [(entry.id, person.id)]
    finally:
        await store.close()
    assert "notify_outbox" not in _tables(path)


async def test_idn_domains_stored_the_ascii_way_are_rewritten(tmp_path: Path) -> None:
    """Migration 16: values stored as ``xn--mller-kva.de`` before domains were read as
    Unicode still find their customer, agent and office; a customer who had both spellings
    keeps one."""
    from tests.store_contract.helpers import ascii_domains, assert_unicode_domains
    from timeline.sqlite_store import SqliteStore

    path = tmp_path / "chronik.sqlite3"
    store = SqliteStore(path)
    await store.open()
    seeded = await ascii_domains(store)
    await store.close()
    with sqlite3.connect(path) as conn:  # a store from before migration 16
        conn.execute("DELETE FROM schema_migrations WHERE version = 16")
        conn.execute("PRAGMA user_version=15")
    store = SqliteStore(path)
    await store.open()
    try:
        await assert_unicode_domains(store, seeded)
    finally:
        await store.close()


async def test_names_folded_before_non_decomposing_letters_were_mapped_are_found(
        tmp_path: Path) -> None:
    """Migration 18: a ``Łukasz`` saved when ``ł`` was not folded yet is found by ``Lukasz``."""
    from tests.store_contract.helpers import (
        OLD_FOLDS,
        assert_names_found_as_typed,
        old_folded_names,
    )
    from timeline.sqlite_store import SqliteStore

    path = tmp_path / "chronik.sqlite3"
    store = SqliteStore(path)
    await store.open()
    office_id, ids = await old_folded_names(store)
    await store.close()
    with sqlite3.connect(path) as conn:  # as an older Chronik stored them
        conn.executemany("UPDATE customers SET name_fold = ? WHERE name = ?",
                         [(old, name) for name, old in OLD_FOLDS.items()])
        conn.execute("DELETE FROM schema_migrations WHERE version = 18")
        conn.execute("PRAGMA user_version=17")
    store = SqliteStore(path)
    await store.open()
    try:
        await assert_names_found_as_typed(store, office_id, ids)
    finally:
        await store.close()
