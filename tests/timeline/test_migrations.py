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
