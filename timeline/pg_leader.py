"""Which process runs a PostgreSQL database's background work: a lock in the database.

The background work (the search indexer, the connectors polling IMAP and Telegram, the
notifier, the retention job) must run in exactly one process per database: two would poll
the same mailbox and the same bot (Telegram answers the second ``getUpdates`` with 409
Conflict, and each keeps ending the other's poll). On SQLite a lock file in the data folder
refuses the second process (``chronik/processes.py``); on PostgreSQL the data folders are
per machine, so the lock lives in the database instead: a session-level advisory lock
(``pg_try_advisory_lock(LOCK_CLASS, LOCK_KEY)``) held on a connection of its own.

* The first process to take it runs the work (:meth:`LeaderLock.try_take`).
* Every other one **stands by**: it waits for the lock (:meth:`LeaderLock.take`, a
  ``pg_advisory_lock`` that PostgreSQL grants the moment the holder's session ends, so a
  standby takes over at once when the active process stops, crashes or loses its
  connection), and says in the log which process holds it (``application_name`` and
  address from ``pg_stat_activity``).
* The holder checks its connection every ``check_seconds`` (:meth:`LeaderLock.lost`
  returns when it is gone or stops answering): it must stop its work *before* the server
  ends the dead session and a standby starts, so the session asks the server to notice a
  silent client within about ``KEEPALIVE_SECONDS`` (TCP keepalives), longer than the
  check's own limit.

The two-key form with its own first key never meets the other advisory locks
(``timeline/pg_seq.py``'s one-key entry locks, ``timeline/pg_telegram.py``'s claims)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import asyncpg

from timeline.pg_migrate import asyncpg_dsn

log = logging.getLogger(__name__)

LOCK_CLASS = 0x626B  # "bk": background work
LOCK_KEY = 1
KEEPALIVE_SECONDS = 30
"""About how long the server takes to end the session of a holder that went silent (a
machine that died, a cable pulled): keepalive probes after 10 s idle, every 5 s, 4 lost."""
_KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
               "tcp_keepalives_count": "4"}
_WAIT_ROUND = "30s"
"""A standby's wait for the lock is one ``pg_advisory_lock`` of at most this long
(``lock_timeout``), then the next: a dead connection is noticed, a server-side
``statement_timeout`` never ends the wait with an error."""

_HOLDER = """
SELECT a.application_name, host(a.client_addr)
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2
  AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database
                                       WHERE datname = current_database())
"""

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a lost or refused connection raises."""


def who_am_i(role: str) -> str:
    """``chronik <role> on <host> pid <pid>`` (PostgreSQL keeps 63 bytes of it)."""
    return f"chronik {role} on {socket.gethostname()} pid {os.getpid()}"[:63]


class LeaderLock:
    """The background-work lock of one database, on a connection of its own."""

    def __init__(self, url: str, *, role: str = "background", check_seconds: float = 5.0,
                 connect_timeout: float = 10.0) -> None:
        self.dsn = asyncpg_dsn(url)
        self.name = who_am_i(role)
        self.check_seconds = check_seconds
        self.connect_timeout = connect_timeout
        self.held = False
        self._conn: asyncpg.Connection | None = None
        self._gone = asyncio.Event()

    async def _connect(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        await self.release()
        conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout, server_settings={
            "application_name": self.name, **_KEEPALIVES})
        self._gone.clear()
        conn.add_termination_listener(lambda _conn: self._gone.set())
        self._conn = conn
        return conn

    async def try_take(self) -> bool:
        """Take the lock if it is free (raises what a failed connection raises)."""
        conn = await self._connect()
        self.held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)",
                                             LOCK_CLASS, LOCK_KEY))
        return self.held

    async def holder(self) -> str:
        """Who holds the lock now, as far as this role may see (``another process``; also
        when the database cannot be asked just now: never raises for that)."""
        try:
            conn = await self._connect()
            row = await conn.fetchrow(_HOLDER, LOCK_CLASS, LOCK_KEY)
        except _ERRORS as exc:
            log.info("cannot tell who holds the background work's lock: %s",
                     type(exc).__name__)
            return "another process"
        if row is None:
            return "no process (it was just given up)"
        name, address = row
        if not name:
            return "another process"
        return f"{name} ({address})" if address else name

    async def take(self) -> None:
        """Wait until this process holds the lock (cancel to stop waiting). Connection
        failures are retried with a pause; they are logged once per outage."""
        failing = False
        while True:
            try:
                conn = await self._connect()
                await conn.execute(f"SET lock_timeout = '{_WAIT_ROUND}'")
                try:
                    await conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, LOCK_KEY)
                except asyncpg.LockNotAvailableError:
                    continue  # the next round
                finally:
                    with contextlib.suppress(*_ERRORS):
                        await conn.execute("SET lock_timeout = 0")
                self.held = True
                return
            except _ERRORS as exc:
                if not failing:
                    log.warning("cannot reach the database to wait for the background work's "
                                "lock (%s); trying again", type(exc).__name__)
                failing = True
                await self.release()
                await asyncio.sleep(min(self.check_seconds, 5.0))

    async def lost(self) -> None:
        """Return once the lock cannot be trusted any more: its connection closed or did
        not answer within ``check_seconds`` (the server may already have given the lock to
        another process)."""
        while True:
            conn = self._conn
            if conn is None or conn.is_closed() or self._gone.is_set():
                break
            try:
                async with asyncio.timeout(self.check_seconds):
                    await conn.fetchval("SELECT 1")
            except _ERRORS:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_seconds):
                    await self._gone.wait()
        self.held = False

    async def release(self) -> None:
        """Give the lock up (closing its connection ends the session, and so the lock)."""
        conn, self._conn = self._conn, None
        self.held = False
        if conn is None:
            return
        if not conn.is_closed():
            with contextlib.suppress(*_ERRORS):
                async with asyncio.timeout(2.0):
                    await conn.close()
        conn.terminate()
