"""The store's change feed (``events`` table, migration 12): one row per change live views
show, written in the transaction of the change (``add_events``), read by every process's
``timeline.events.EventFollower`` through ``SqliteEvents`` (its ``EventFeed``). Rows hold
the office, the event type and ids only; the table is pruned as it is written (the newest
``KEEP_ROWS`` rows of the last ``KEEP_SECONDS``), and erasure deletes a person's rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from timeline.events import StoredEvent
from timeline.models import utcnow
from timeline.sqlite_rows import SqliteRepository

KEEP_ROWS = 10_000
"""A follower further behind than this misses events (a live view can reload)."""
KEEP_SECONDS = 600
PRUNE_EVERY = 256
"""Rows between two prunes by count (a DELETE of a key range)."""
PRUNE_OLD_EVERY = 4096
"""Rows between two prunes by age (a DELETE scanning the table, at most ``KEEP_ROWS``)."""

EventRow = tuple[str, str, str | None, str | None, str | None]
"""``(office_id, type, customer_id, entry_id, call_id)``"""


def add_event(conn: sqlite3.Connection, row: EventRow, data: dict[str, Any]) -> None:
    """One feed row with small, non-personal fields (flags, states) besides the ids."""
    add_events(conn, [row], json.dumps(data) if data else None)


def add_events(conn: sqlite3.Connection, rows: Sequence[EventRow], data: str | None = None
               ) -> None:
    """Append feed rows inside the caller's transaction; prune old ones now and then."""
    if not rows:
        return
    now = utcnow()
    at = now.isoformat()
    conn.executemany(
        "INSERT INTO events (office_id, type, customer_id, entry_id, call_id, data, at) "
        "VALUES (?,?,?,?,?,?,?)", [(*row, data, at) for row in rows])
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    first = last - len(rows)
    if last // PRUNE_EVERY != first // PRUNE_EVERY:  # a range on the key: cheap
        conn.execute("DELETE FROM events WHERE id <= ?", (last - KEEP_ROWS,))
    if last // PRUNE_OLD_EVERY != first // PRUNE_OLD_EVERY:  # a scan of the small table
        cutoff = (now - timedelta(seconds=KEEP_SECONDS)).isoformat()
        conn.execute("DELETE FROM events WHERE at < ?", (cutoff,))


class SqliteEvents(SqliteRepository):
    """``timeline.events.EventFeed`` on SQLite."""

    async def last_event_id(self) -> int:
        """The id of the newest feed row ever written (0 for none), pruned rows included."""
        row = await self.db.read(lambda c: c.execute(
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name='events'), 0)"
        ).fetchone())
        return int(row[0])

    async def events_after(self, after_id: int, limit: int) -> list[StoredEvent]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT id, office_id, type, customer_id, entry_id, call_id, data FROM events "
            "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall())
        return [StoredEvent(id=r[0], office_id=r[1], type=r[2], customer_id=r[3],
                            entry_id=r[4], call_id=r[5],
                            data=json.loads(r[6]) if r[6] else {}) for r in rows]
