"""The store's change feed on PostgreSQL: ``events`` rows plus ``LISTEN/NOTIFY``.

Writers append rows with ``add_events`` inside the transaction of the change they report and
``pg_notify('chronik_events', <last id>)`` in the same transaction, so listeners are woken
exactly when (and only if) it commits. Each process runs a ``PgEventFollower`` (the same
lifecycle as ``timeline.events.EventFollower``: ``start()``, ``run()``, ``follow_once()``): one
connection of its own that LISTENs and reads the rows after its position, loads them through
the bus's loaders and publishes them on the process's ``EventBus``.

Finished transactions only, not id order. An id is taken at insert, so a reader can see id
N+1 before N commits; a follower that moved past N+1 would never deliver N. Every row
therefore carries its writer's transaction id (``events.tx``, the column default
``pg_current_xact_id()``), and a follower only reads rows of transactions older than the
oldest one still running (``pg_snapshot_xmin(pg_current_snapshot())``, "the horizon"), in
``(tx, id)`` order. Transactions of other databases on the same server are left out of
that (they cannot write this feed; their ids come from ``pg_stat_activity``, which shows other
roles' sessions only to members of ``pg_read_all_stats`` — without it, those hold the feed
back too). Every transaction below the horizon has ended, so no row can appear
there later: the position ``(tx, id)`` only moves forward and each row is delivered once per
follower (rows of one transaction in the order written; of two transactions, in the order
they started writing). The price: a committed row waits while an older transaction still
runs (the follower re-reads every ``held_poll`` seconds until it has passed), so one long
write transaction delays live events (the test cluster ends idle transactions after 10
minutes).

NOTIFY is only the wake-up (the payload, the last id written, is informational). After a lost
connection the follower reconnects with backoff and catches up from its position, so rows
written meanwhile are delivered, not lost; a follower further behind than ``KEEP_SECONDS``
(rows below the horizon are pruned after that) misses them, as on SQLite.

PostgreSQL serialises the last step of committing for transactions that sent a NOTIFY (a
database-wide lock while the commit is recorded); the benchmarks have to show whether that
limits the write rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.events import EventBus, StoredEvent, deliver_safely
from timeline.models import utcnow
from timeline.pg_migrate import asyncpg_dsn
from timeline.pg_rows import PgRepository
from timeline.sql_tables import events
from timeline.waiting import wait_set

log = logging.getLogger(__name__)

CHANNEL = "chronik_events"
APPLICATION_NAME = "chronik-events"
"""The followers' connections in ``pg_stat_activity``."""
KEEP_SECONDS = 600
"""Rows below the horizon older than this are pruned (a live view can reload)."""
PRUNE_EVERY = 256
"""Ids between two prunes (each deletes at most ``PRUNE_BATCH`` rows, skipping locked ones)."""
PRUNE_BATCH = 10_000

EventRow = tuple[str, str, str | None, str | None, str | None]
"""``(office_id, type, customer_id, entry_id, call_id)``, as on SQLite."""


class FeedPosition(NamedTuple):
    """Where a follower stands: every row before ``(tx, id)`` has been delivered."""

    tx: int
    id: int


# ---------------------------------------------------------------- writing
async def add_event(conn: AsyncConnection, row: EventRow, data: dict[str, Any]) -> None:
    """One feed row with small, non-personal fields (flags, states) besides the ids."""
    await add_events(conn, [row], data or None)


async def add_events(conn: AsyncConnection, rows: Sequence[EventRow],
                     data: dict[str, Any] | None = None) -> None:
    """Append feed rows and the wake-up inside the caller's transaction; prune now and
    then."""
    if not rows:
        return
    now = utcnow()
    ids = (await conn.scalars(
        sa.insert(events).returning(events.c.id),
        [{"office_id": r[0], "type": r[1], "customer_id": r[2], "entry_id": r[3],
          "call_id": r[4], "data": data, "at": now} for r in rows])).all()
    first, last = min(ids), max(ids)
    await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, str(last))))
    if last // PRUNE_EVERY != (first - 1) // PRUNE_EVERY:
        await prune(conn, now - timedelta(seconds=KEEP_SECONDS))


async def prune(conn: AsyncConnection, cutoff: datetime) -> int:
    """Delete rows written before ``cutoff`` that every follower could read already (below
    the horizon); rows another transaction is deleting are skipped, not waited for."""
    foreign = (await conn.execute(sa.text(_FOREIGN_XIDS))).scalar_one()
    below = (await conn.execute(
        sa.text(_HORIZON_OF_SNAPSHOT.replace("$1::bigint[]", ":foreign")).bindparams(
            sa.bindparam("foreign", type_=postgresql.ARRAY(sa.BigInteger))),
        {"foreign": list(foreign)})).scalar_one()
    old = (sa.select(events.c.id)
           .where(events.c.at < cutoff, events.c.tx < below)
           .order_by(events.c.id).limit(PRUNE_BATCH).with_for_update(skip_locked=True))
    result = await conn.execute(sa.delete(events).where(events.c.id.in_(old.scalar_subquery())))
    return int(result.rowcount)


# ---------------------------------------------------------------- reading
_FOREIGN_XIDS = (
    "SELECT coalesce(array_agg(backend_xid::text::bigint), '{}') FROM pg_stat_activity"
    " WHERE datname <> current_database() AND backend_xid IS NOT NULL")
"""The (32-bit) ids of transactions running in other databases of the cluster: they cannot
write this database's feed, so they must not hold it back. Read before the snapshot that
uses them; one that starts later is simply not excluded (a delay, never a loss)."""

_HORIZON_OF_SNAPSHOT = (
    "SELECT coalesce("
    " (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x"
    "  WHERE NOT (x::text::bigint % 4294967296) = ANY($1::bigint[])),"
    " pg_snapshot_xmax(pg_current_snapshot())::text::bigint) AS tx")
"""The oldest transaction of this database still running in the statement's snapshot (or
the next transaction id): every transaction of this database below it has ended. ``$1``:
``_FOREIGN_XIDS``."""
_EVENTS_AFTER = (
    "WITH h AS (" + _HORIZON_OF_SNAPSHOT + ")"  # noqa: S608 -- constants only
    " SELECT e.tx, e.id, office_id, type, customer_id, entry_id, call_id, data::text"
    " FROM events e, h WHERE e.tx < h.tx AND (e.tx, e.id) > ($2, $3)"
    " ORDER BY e.tx, e.id LIMIT $4")


async def _foreign(conn: asyncpg.Connection) -> list[int]:
    return list(await conn.fetchval(_FOREIGN_XIDS))


async def horizon(conn: asyncpg.Connection) -> FeedPosition:
    """The position "now": rows of transactions still running or yet to come lie after it."""
    tx = await conn.fetchval(_HORIZON_OF_SNAPSHOT, await _foreign(conn))
    return FeedPosition(int(tx), 0)


async def events_after(conn: asyncpg.Connection, position: FeedPosition, limit: int
                       ) -> list[tuple[FeedPosition, StoredEvent]]:
    """Up to ``limit`` rows after ``position`` that no other row can precede any more (rows
    of ended transactions only), in ``(tx, id)`` order. The horizon and the rows come from
    one statement, so from one snapshot."""
    rows = await conn.fetch(_EVENTS_AFTER, await _foreign(conn), position.tx, position.id,
                            limit)
    return [(FeedPosition(r[0], r[1]),
             StoredEvent(id=r[1], office_id=r[2], type=r[3], customer_id=r[4], entry_id=r[5],
                         call_id=r[6], data=json.loads(r[7]) if r[7] else {}))
            for r in rows]


async def undelivered(conn: asyncpg.Connection, position: FeedPosition) -> bool:
    """Whether committed rows lie after ``position``: held back by a transaction that was
    still running when they were last read (or written since). Not limited to the horizon,
    which may have moved since that read."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE (tx, id) > ($1, $2))",
        position.tx, position.id))


class PgEventFeed(PgRepository):
    """The feed as ``timeline.events.EventFeed`` (by id, like SQLite's), for inspection:
    erasure checks, diagnostics, the contract suite. Live views follow the feed with
    ``PgEventFollower`` instead, which never skips a row that commits late."""

    async def last_event_id(self) -> int:
        """The id of the newest feed row (0 for none); the newest rows are never pruned."""
        async with self.db.connect() as conn:
            return int(await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0)))
                       or 0)

    async def events_after(self, after_id: int, limit: int) -> list[StoredEvent]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(events.c.id, events.c.office_id, events.c.type, events.c.customer_id,
                          events.c.entry_id, events.c.call_id, events.c.data)
                .where(events.c.id > after_id).order_by(events.c.id).limit(limit))).all()
        return [StoredEvent(id=r[0], office_id=r[1], type=r[2], customer_id=r[3],
                            entry_id=r[4], call_id=r[5], data=r[6] or {}) for r in rows]


class ConnectionLost(Exception):
    """The follower's connection ended (it reconnects and catches up)."""


class PgEventFollower:
    """Follows the PostgreSQL change feed at ``url`` and publishes every new row on ``bus``
    (see the module docstring). ``on_entries`` is called after a pass that saw entry events
    (wakes the indexer and the notifier for entries other processes wrote)."""

    def __init__(self, url: str, bus: EventBus, *, interval: float = 1.0,
                 held_poll: float = 0.05, batch: int = 500,
                 on_entries: Callable[[], None] | None = None,
                 reconnect_delay: tuple[float, float] = (0.1, 5.0),
                 connect_timeout: float = 10.0) -> None:
        self.dsn = asyncpg_dsn(url)
        self.bus = bus
        self.interval = interval
        """Seconds between two reads without a wake-up (a safety net; NOTIFY wakes it)."""
        self.held_poll = held_poll
        self.batch = batch
        self.on_entries = on_entries
        self.reconnect_delay = reconnect_delay
        self.connect_timeout = connect_timeout
        self.position: FeedPosition | None = None
        self.delivered = 0
        self.reconnects = 0
        self.connected = asyncio.Event()
        """Set while listening (tests and health checks wait on it)."""
        self.disconnected = asyncio.Event()
        """Set while the connection is down (after it was up once)."""
        self._conn: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._caught_up = False

    # -------------------------------------------------------------- connection
    def _notified(self, *_: object) -> None:
        self._wake.set()

    def _terminated(self, *_: object) -> None:
        self._wake.set()  # the loop notices the closed connection at once

    async def _connect(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        await self._drop()
        conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout,
                                     server_settings={"application_name": APPLICATION_NAME})
        try:
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(self._terminated)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self.disconnected.clear()
        self.connected.set()
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.connected.is_set():
            self.connected.clear()
            self.disconnected.set()
        if not conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                                     TimeoutError):
                async with asyncio.timeout(2.0):
                    await conn.close()
            conn.terminate()

    async def close(self) -> None:
        await self._drop()
        self.disconnected.clear()

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Remember where the feed stands (earlier rows are not replayed). Holds no
        connection afterwards: ``run()`` opens its own (and closes it however it ends)."""
        conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout,
                                     server_settings={"application_name": APPLICATION_NAME})
        try:
            self.position = await horizon(conn)
        finally:
            await conn.close()

    async def run(self) -> None:
        """Listen and deliver until cancelled; reconnect (with backoff) after a lost
        connection and catch up from the position."""
        delay = self.reconnect_delay[0]
        try:
            while True:
                try:
                    if self.position is None:
                        await self.start()
                    await self._follow()
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                        ConnectionLost) as exc:
                    if self._conn is not None:
                        self.reconnects += 1
                        log.warning("live-event connection lost (%s); reconnecting", exc)
                    if self._caught_up:  # it worked until now: retry soon
                        delay = self.reconnect_delay[0]
                except Exception:  # a bug must not end live events for good
                    log.exception("following the event feed failed")
                    delay = max(delay, 1.0)
                self._caught_up = False
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_delay[1])
        finally:
            await self.close()

    async def _follow(self) -> None:
        """Catch up, then wait for wake-ups; returns only by raising."""
        conn = await self._connect()
        while True:
            self._wake.clear()
            await self.follow_once()
            self._caught_up = True
            wait = self.held_poll if await undelivered(conn, self._pos()) else self.interval
            await wait_set(self._wake, wait)
            if conn.is_closed():
                raise ConnectionLost("the server closed the connection")

    def _pos(self) -> FeedPosition:
        assert self.position is not None
        return self.position

    async def follow_once(self) -> int:
        """Deliver every row that can be delivered now; returns how many."""
        conn = await self._connect()
        if self.position is None:
            self.position = await horizon(conn)
        seen = 0
        entries = False
        while True:
            rows = await events_after(conn, self.position, self.batch)
            for position, row in rows:
                self.position = position
                entries = entries or row.family == "entry"
                await deliver_safely(self.bus, row)
            seen += len(rows)
            if len(rows) < self.batch:
                break
        self.delivered += seen
        if entries and self.on_entries is not None:
            self.on_entries()
        return seen
