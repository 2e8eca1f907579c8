"""SQLite off the event loop: one writer thread (``BEGIN IMMEDIATE``), a pool of readers.

Shared by the store and the embedded search backend. Every call hands a function that runs
on a thread with its own connection; coroutines never touch ``sqlite3`` directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from timeline.files import private_dir, private_file
from timeline.identity import unicode_email
from timeline.public import utc_text
from timeline.text import fold

T = TypeVar("T")
log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.05
"""Seconds between two reads of the change count (``SqliteDb.change_token``): how long
another process's change may go unseen -- as long as its events (``EventFollower``)."""

Migration = tuple[int, str]
_Pending = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]",
                 asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _hand_back(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
               error: BaseException | None) -> None:
    """Settle ``future`` on its loop, from a database thread. A loop closed meanwhile has
    nobody waiting: the outcome is dropped, the thread goes on serving."""
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:
        pass


class SqliteDb:
    def __init__(
        self,
        path: Path,
        migrations: Sequence[Migration],
        *,
        readers: int = 2,
        cache_kib: int = 8192,
        name: str = "sqlite",
        change_count: str | None = None,
    ) -> None:
        self.path = path
        self._migrations = sorted(migrations)
        self._cache_kib = cache_kib
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-writer")
        self._name = name
        self._reader_count = readers
        self._reads: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._reader_threads: list[threading.Thread] = []
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._pending: list[_Pending] = []
        self._pending_lock = threading.Lock()
        self._draining = False
        self._change_count = change_count
        self._own_count = 0
        """``change_count`` as the writer read it after its last batch."""
        self._seen_count = 0
        """``change_count`` as the watch thread read it last."""
        self._watch: threading.Thread | None = None
        self._watching = False
        """Set by the watch thread while it reads ``change_count``, cleared when it ends."""
        self._watch_stop = threading.Event()
        self._watch_pid = 0

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{self._cache_kib}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # times stored with an offset other than UTC, as the API shows them (sqlite_rows)
        conn.create_function("chronik_utc", 1, utc_text, deterministic=True)
        if readonly:
            conn.execute("PRAGMA query_only=ON")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _conn(self, readonly: bool) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly)
            self._local.conn = conn
        return conn

    def _serve_reads(self) -> None:
        reads = self._reads
        while (item := reads.get()) is not None:
            fn, future, loop = item
            try:
                result = fn(self._conn(readonly=True))
            except BaseException as exc:
                _hand_back(loop, future, None, exc)
            else:
                _hand_back(loop, future, result, None)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader thread (its own read-only connection).

        The readers take work from one ``SimpleQueue`` and settle the caller's future
        directly: half the hand-over cost of ``run_in_executor`` (no concurrent future,
        no chaining), which is a tenth of a caller lookup."""
        if self._closed:
            raise RuntimeError("the database is closed")
        if not self._reader_threads:
            self._start_readers()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._reads.put((fn, future, loop))
        return await future

    def _start_readers(self) -> None:
        self._reader_threads = [
            threading.Thread(target=self._serve_reads, name=f"{self._name}-reader_{i}",
                             daemon=True)
            for i in range(self._reader_count)]
        for thread in self._reader_threads:
            thread.start()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction on the writer thread.

        Group commit: writes that queue up while one is running share the next transaction,
        each inside its own SAVEPOINT, so a failing write rolls back alone and the others
        still commit together (one COMMIT instead of many under concurrent load)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._pending_lock:
            self._pending.append((fn, future, loop))
            start = not self._draining
            self._draining = True
        if start:
            self._writer.submit(self._drain_writes)
        return await future

    def _drain_writes(self) -> None:
        while True:
            with self._pending_lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._draining = False
                    return
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Pending]) -> None:
        conn = self._conn(readonly=False)
        outcomes: list[tuple[_Pending, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                conn.execute("SAVEPOINT chronik_write")
                try:
                    result = item[0](conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO chronik_write")
                    conn.execute("RELEASE chronik_write")
                    outcomes.append((item, None, exc))
                else:
                    conn.execute("RELEASE chronik_write")
                    outcomes.append((item, result, None))
            conn.execute("COMMIT")
        except BaseException as exc:  # the transaction itself failed: every write fails
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(item, None, exc) for item in batch]
        self._count_changes(conn)  # before anyone waiting on the batch goes on
        for (_, future, loop), result, error in outcomes:
            _hand_back(loop, future, result, error)

    async def write_raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run on the writer thread without a transaction (VACUUM, checkpoints)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._raw, fn)

    def _raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn(readonly=False)
        try:
            return fn(conn)
        finally:
            self._count_changes(conn)

    def _count_changes(self, conn: sqlite3.Connection) -> None:
        """Read ``change_count`` after a write (on the writer thread), so this process's
        next ``change_token`` differs at once if the write changed it."""
        if self._change_count is None or not self._watching:
            return
        try:
            self._own_count = int(conn.execute(self._change_count).fetchone()[0])
        except (sqlite3.Error, TypeError) as exc:
            self._stop_watching(exc)

    def change_token(self) -> int | None:
        """A value that differs once ``change_count`` (a query giving a number that
        triggers raise with every change of the tables it watches) changed after it was
        taken: at once for this process's writes (read again after each, before the
        writer's caller goes on), within ``WATCH_INTERVAL`` for any other connection's,
        another process's included (a thread reads it, started on the first call).
        ``None`` without ``change_count``, while that thread is not watching yet, or after
        reading the count failed: then nothing can be known unchanged.

        Take it *before* a read whose result is kept and again after: a result read
        between two equal tokens, kept while the token still holds, is what the database
        holds now (``chronik.api.lookup``'s answers)."""
        if self._watch is None and self._change_count is not None and not self._closed:
            self._watch = threading.Thread(target=self._watch_others,
                                           name=f"{self._name}-watch", daemon=True)
            self._watch_pid = os.getpid()
            self._watch.start()
        if not self._watching or os.getpid() != self._watch_pid:
            return None  # (a forked child has no watch thread, whatever its memory says)
        # the count only grows: the higher of the two readings is the newest
        return max(self._own_count, self._seen_count)

    def _watch_others(self) -> None:
        assert self._change_count is not None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            conn.execute("PRAGMA query_only=ON")
            self._seen_count = int(conn.execute(self._change_count).fetchone()[0])
            self._watching = True  # from here on a change is seen: tokens can hold
            while not self._watch_stop.wait(WATCH_INTERVAL):
                self._seen_count = int(conn.execute(self._change_count).fetchone()[0])
        except (sqlite3.Error, TypeError) as exc:
            self._stop_watching(exc)
        finally:
            self._watching = False
            if conn is not None:
                conn.close()

    def _stop_watching(self, exc: Exception) -> None:
        """No token holds any more (``change_token``: ``None`` from now on)."""
        if not self._watch_stop.is_set():  # said once
            log.warning("sqlite %s: cannot read its change count (%s); no answer is kept",
                        self._name, exc)
        self._watching = False
        self._watch_stop.set()

    async def open(self) -> None:
        """Create or open the database; its folder is ``0700``, the file and its ``-wal`` /
        ``-shm`` are ``0600`` (SQLite gives those the database file's mode; set again here
        for files left by an older version)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._private)
        await loop.run_in_executor(self._writer, self._migrate)
        await loop.run_in_executor(self._writer, self._private_journals)

    def _private(self) -> None:
        private_dir(self.path.parent)
        private_file(self.path)

    def _private_journals(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            journal = self.path.with_name(self.path.name + suffix)
            if journal.exists():
                private_file(journal)

    def _migrate(self) -> None:
        """Apply every migration not applied yet, in version order. Applied versions are
        recorded one by one (not only as ``user_version``), so a migration merged later
        with a lower number than one already applied still runs."""
        conn = self._conn(readonly=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # data migrations that need today's normalisation rules call them as SQL functions
        conn.create_function("chronik_unicode_email", 1, unicode_email, deterministic=True)
        conn.create_function("chronik_fold", 1, fold, deterministic=True)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                     " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        legacy = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if not applied and legacy:
            # a database from before the table existed: trust user_version for what it has
            applied = {v for v, _ in self._migrations if v <= legacy}
            conn.executemany("INSERT INTO schema_migrations (version) VALUES (?)",
                             [(v,) for v in sorted(applied)])
        for version, script in self._migrations:
            if version in applied:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
                top = max(version, int(conn.execute("PRAGMA user_version").fetchone()[0]))
                conn.execute(f"PRAGMA user_version={top}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watch_stop.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        if self._watch is not None:
            self._watch.join()
        self._writer.shutdown(wait=True)
        for _ in self._reader_threads:
            self._reads.put(None)
        for thread in self._reader_threads:
            thread.join()
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


def _split(script: str) -> list[str]:
    """Split a migration script on ``;`` at line ends that end a statement (a trigger's
    body holds ``;`` before its ``END;``: ``sqlite3.complete_statement`` tells)."""
    parts: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        buf.append(line)
        if line.rstrip().endswith(";") and sqlite3.complete_statement("\n".join(buf)):
            parts.append("\n".join(buf))
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        parts.append(rest)
    return [p for p in parts if p.strip()]
