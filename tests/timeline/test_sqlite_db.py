"""The SQLite runner: concurrent writes share transactions (group commit), yet each write
succeeds or fails on its own."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
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


def _locks_on(path: Path) -> list[list[str]]:
    """This process's POSIX locks on ``path`` (from /proc/locks), without each line's
    number: that is the lock's place among all locks on the machine, which other
    processes' locks coming and going change."""
    inode = path.stat().st_ino
    pid = str(os.getpid())
    return [line.split()[1:] for line in Path("/proc/locks").read_text().splitlines()
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


async def test_reads_run_beside_each_other_fail_alone_and_stop_with_the_database(
        tmp_path: Path) -> None:
    """Reads on the reader threads: a failing read fails only its caller, a read cancelled
    by its caller leaves the reader serving, and a read after ``close`` is refused instead
    of waiting forever."""
    db = SqliteDb(tmp_path / "r.sqlite3", [(1, "CREATE TABLE t (x INTEGER);")], readers=2)
    await db.open()
    await db.write(lambda c: c.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(50)]))

    def total(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT sum(x) FROM t").fetchone()[0])

    def broken(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT nope FROM t").fetchone()[0])

    results = await asyncio.gather(*(db.read(broken if i % 5 == 0 else total)
                                     for i in range(40)), return_exceptions=True)
    assert [isinstance(r, sqlite3.OperationalError) for r in results] == [
        i % 5 == 0 for i in range(40)]
    assert {r for r in results if not isinstance(r, BaseException)} == {sum(range(50))}
    slow = asyncio.ensure_future(db.read(lambda c: c.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 300000) "
        "SELECT count(*) FROM n").fetchone()[0]))
    await asyncio.sleep(0)
    slow.cancel()
    assert await db.read(total) == sum(range(50))
    await db.close()
    with pytest.raises(RuntimeError, match="closed"):
        await db.read(total)


def test_a_read_whose_loop_is_gone_leaves_the_reader_serving(tmp_path: Path) -> None:
    """A caller's event loop closed while its read runs (a test's loop, a stopped process's)
    must not stop the reader thread: the next loop's reads are still served."""
    db = SqliteDb(tmp_path / "l.sqlite3", [(1, "CREATE TABLE t (x INTEGER);")], readers=1)
    started = threading.Event()
    release = threading.Event()

    def held(conn: sqlite3.Connection) -> int:
        started.set()
        release.wait(10)
        return 1

    pending: list[asyncio.Future[int]] = []

    async def first() -> None:
        await db.open()
        pending.append(asyncio.ensure_future(db.read(held)))
        await asyncio.sleep(0)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(first())
    assert started.wait(10)
    loop.close()  # the read is still running on the reader thread
    release.set()

    async def second() -> int:
        try:
            return await asyncio.wait_for(db.read(lambda c: 7), 10)
        finally:
            await db.close()

    assert asyncio.run(second()) == 7


COUNTED = [(1, """
CREATE TABLE t (x INTEGER);
CREATE TABLE other (x INTEGER);
CREATE TABLE changes (n INTEGER NOT NULL);
INSERT INTO changes VALUES (0);
CREATE TRIGGER t_counted AFTER INSERT ON t
  BEGIN UPDATE changes SET n = n + 1; END;
""")]


async def watching(db: SqliteDb) -> int:
    """The first token (the watch thread starts on the first ask)."""
    for _ in range(200):
        token = db.change_token()
        if token is not None:
            return token
        await asyncio.sleep(0.01)
    raise AssertionError("the change count is never watched")


async def test_a_change_token_moves_with_every_counted_change_from_anywhere(
        tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    db = SqliteDb(path, COUNTED, change_count="SELECT n FROM changes")
    await db.open()
    try:
        token = await watching(db)
        await db.write(lambda c: c.execute("INSERT INTO other VALUES (1)"))
        assert db.change_token() == token  # nothing counted changed: answers still hold
        await db.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        assert db.change_token() != token  # this process's own write: at once
        token = db.change_token()

        def elsewhere() -> None:  # another process's connection
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("INSERT INTO t VALUES (2)")
            conn.close()
        await asyncio.to_thread(elsewhere)
        for _ in range(200):
            if db.change_token() != token:
                break
            await asyncio.sleep(0.01)
        assert db.change_token() not in (token, None)  # within moments
    finally:
        await db.close()
    assert db.change_token() is None  # closed: nothing is known unchanged


async def test_no_change_token_without_a_count_or_once_it_cannot_be_read(
        tmp_path: Path) -> None:
    plain = SqliteDb(tmp_path / "p.sqlite3", [(1, "CREATE TABLE t (x INTEGER);")])
    await plain.open()
    try:
        await plain.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        assert plain.change_token() is None
    finally:
        await plain.close()
    db = SqliteDb(tmp_path / "c.sqlite3", COUNTED, change_count="SELECT n FROM changes")
    await db.open()
    try:
        await watching(db)
        await db.write(lambda c: c.execute("DROP TABLE changes"))  # the count is gone
        assert db.change_token() is None
        await asyncio.sleep(0.2)
        assert db.change_token() is None
    finally:
        await db.close()
