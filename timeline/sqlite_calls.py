"""Store parts for phone calls: the state of each CTI call (events may arrive out of order,
so the call is remembered apart from its timeline entry) and re-tagging an entry (a call
that turns out to be missed). Mixed into ``SqliteStore``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from timeline.models import utcnow
from timeline.sqlite_db import SqliteDb
from timeline.sqlite_events import add_event


class CallStoreMixin:
    db: SqliteDb

    async def call_state(self, office_id: str, call_id: str) -> dict[str, Any] | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT state FROM cti_calls WHERE office_id=? AND call_id=?",
            (office_id, call_id)).fetchone())
        return None if row is None else dict(json.loads(row[0]))

    async def save_call_state(self, office_id: str, call_id: str, state: dict[str, Any],
                              customer_id: str | None = None, *, event: str | None = None,
                              entry_id: str | None = None,
                              event_data: dict[str, Any] | None = None) -> None:
        """With ``event`` (``call.ringing``, …) a live-event row (with ``event_data``) goes
        in the same transaction."""
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO cti_calls (office_id, call_id, state, customer_id, updated_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT (office_id, call_id) DO UPDATE SET "
                "state=excluded.state, customer_id=COALESCE(excluded.customer_id, customer_id), "
                "updated_at=excluded.updated_at",
                (office_id, call_id, json.dumps(state), customer_id, utcnow().isoformat()))
            if event is not None:
                add_event(conn, (office_id, event, customer_id, entry_id, call_id),
                          event_data or {})
        await self.db.write(run)

    async def retag_entry(self, office_id: str, entry_id: str, *, add: Sequence[str] = (),
                          remove: Sequence[str] = ()) -> tuple[str, ...] | None:
        """Add and remove tags in one transaction (plus an index-outbox row when they
        change); returns the new tags, ``None`` for no such entry."""
        def run(conn: sqlite3.Connection) -> tuple[str, ...] | None:
            row = conn.execute("SELECT seq, tags FROM entries WHERE id=? AND office_id=?",
                               (entry_id, office_id)).fetchone()
            if row is None:
                return None
            old = list(json.loads(row[1]))
            new = [t for t in old if t not in remove]
            new += [t for t in dict.fromkeys(add) if t not in new]
            if new != old:
                conn.execute("UPDATE entries SET tags=? WHERE seq=?", (json.dumps(new), row[0]))
                conn.execute("INSERT INTO index_outbox (seq) VALUES (?)", (row[0],))
            return tuple(new)
        return await self.db.write(run)
