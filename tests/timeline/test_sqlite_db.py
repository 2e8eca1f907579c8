"""The SQLite runner: concurrent writes share transactions (group commit), yet each write
succeeds or fails on its own."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from timeline.sqlite_db import SqliteDb


async def test_group_commit_isolates_a_failing_write(tmp_path: Path) -> None:
    db = SqliteDb(tmp_path / "g.sqlite3", [(1, "CREATE TABLE t (x INTEGER UNIQUE);")])
    await db.open()
    try:
        def insert(value: int) -> int:
            def run(conn: sqlite3.Connection) -> int:
                conn.execute("INSERT INTO t VALUES (?)", (value,))
                if value == 13:
                    conn.execute("INSERT INTO t VALUES (?)", (1,))  # duplicate: fails
                return value
            return run  # type: ignore[return-value]

        results = await asyncio.gather(*(db.write(insert(i)) for i in range(1, 41)),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], sqlite3.IntegrityError)
        assert [r for r in results if not isinstance(r, BaseException)] == [
            i for i in range(1, 41) if i != 13]
        rows = await db.read(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
        assert rows == [i for i in range(1, 41) if i != 13]  # 13 rolled back alone
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(insert(5))
    finally:
        await db.close()
