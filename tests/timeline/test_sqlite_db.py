"""The SQLite runner: concurrent writes share transactions (group commit), yet each write
succeeds or fails on its own."""

from __future__ import annotations

import asyncio
import os
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


def _locks_on(path: Path) -> list[str]:
    """This process's POSIX locks on ``path`` (from /proc/locks)."""
    inode = path.stat().st_ino
    pid = str(os.getpid())
    return [line for line in Path("/proc/locks").read_text().splitlines()
            if line.split()[4] == pid and line.split()[5].rsplit(":", 1)[1] == str(inode)]


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
async def test_opening_the_database_again_keeps_the_locks_sqlite_holds(tmp_path: Path) -> None:
    """Another handle on the same file (a second store in one process, a process started
    next to a running one) must not close a descriptor of the database's files: that would
    drop SQLite's POSIX locks on them, and a third process would then reset the shared
    memory the first still uses (it dies of SIGBUS)."""
    path = tmp_path / "locks.sqlite3"
    first = SqliteDb(path, [(1, "CREATE TABLE t (x INTEGER);")])
    await first.open()
    try:
        await first.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        await first.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone())
        shm = path.with_name(path.name + "-shm")
        held = _locks_on(shm)
        assert held, "SQLite holds a lock on the -shm file while connections are open"
        second = SqliteDb(path, [(1, "CREATE TABLE t (x INTEGER);")])
        await second.open()
        await second.close()
        assert _locks_on(shm) == held
        assert oct(shm.stat().st_mode & 0o777) == "0o600"
    finally:
        await first.close()
