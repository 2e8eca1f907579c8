"""``timeline.repositories.CallRepository`` on SQLite: the state of each CTI call (events may
arrive out of order, so the call is remembered apart from its timeline entry). Part of
``SqliteInbound``; usable on its own."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from timeline.models import utcnow
from timeline.sqlite_events import add_event
from timeline.sqlite_rows import SqliteRepository


class SqliteCalls(SqliteRepository):
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
        await self.db.write(lambda conn: _save(conn, office_id, call_id, state, customer_id,
                                                event, entry_id, event_data))

    async def replace_call_state(self, office_id: str, call_id: str,
                                 current: dict[str, Any] | None, state: dict[str, Any],
                                 customer_id: str | None = None, *, event: str | None = None,
                                 entry_id: str | None = None,
                                 event_data: dict[str, Any] | None = None) -> bool:
        """Compared and written in one write transaction (the single writer of every
        process of this data folder)."""
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT state FROM cti_calls WHERE office_id=? AND call_id=?",
                               (office_id, call_id)).fetchone()
            if (None if row is None else json.loads(row[0])) != current:
                return False
            _save(conn, office_id, call_id, state, customer_id, event, entry_id, event_data)
            return True
        return await self.db.write(run)


    async def unended_calls(self, updated_before: datetime, limit: int = 500
                            ) -> list[tuple[str, str]]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT office_id, call_id FROM cti_calls WHERE updated_at < ? "
            "AND json_extract(state, '$.ended_at') IS NULL "
            "AND NOT coalesce(json_extract(state, '$.dropped'), 0) "
            "AND NOT coalesce(json_extract(state, '$.internal'), 0) "
            "ORDER BY updated_at LIMIT ?", (updated_before.isoformat(), limit)).fetchall())
        return [(str(r[0]), str(r[1])) for r in rows]


def _save(conn: sqlite3.Connection, office_id: str, call_id: str, state: dict[str, Any],
          customer_id: str | None, event: str | None, entry_id: str | None,
          event_data: dict[str, Any] | None) -> None:
    conn.execute(
        "INSERT INTO cti_calls (office_id, call_id, state, customer_id, updated_at) "
        "VALUES (?,?,?,?,?) ON CONFLICT (office_id, call_id) DO UPDATE SET "
        "state=excluded.state, customer_id=COALESCE(excluded.customer_id, customer_id), "
        "updated_at=excluded.updated_at",
        (office_id, call_id, json.dumps(state), customer_id, utcnow().isoformat()))
    if event is not None:
        add_event(conn, (office_id, event, customer_id, entry_id, call_id), event_data or {})
