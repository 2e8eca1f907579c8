"""Store parts for consent (per channel, with history) and notification preferences."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from timeline.models import Consent, Preferences, utcnow
from timeline.sqlite_db import SqliteDb


class ConsentStoreMixin:
    db: SqliteDb

    async def record_consent(self, office_id: str, customer_id: str, channel: str,
                             granted: bool, *, actor: str, route: str) -> Consent:
        at = utcnow()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO consents (office_id, customer_id, channel, granted, at, "
                         "actor, route) VALUES (?,?,?,?,?,?,?)",
                         (office_id, customer_id, channel, int(granted), at.isoformat(), actor,
                          route))
        await self.db.write(run)
        return Consent(channel=channel, granted=granted, at=at, actor=actor, route=route)

    async def consents(self, office_id: str, customer_id: str) -> dict[str, Consent]:
        """The current consent per channel (channels never decided are absent)."""
        rows = await self.db.read(lambda c: c.execute(
            "SELECT channel, granted, at, actor, route FROM consents WHERE office_id=? AND "
            "customer_id=? ORDER BY id", (office_id, customer_id)).fetchall())
        return {ch: Consent(channel=ch, granted=bool(g), at=datetime.fromisoformat(at),
                            actor=actor, route=route) for ch, g, at, actor, route in rows}

    async def consent_history(self, office_id: str, customer_id: str) -> list[Consent]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT channel, granted, at, actor, route FROM consents WHERE office_id=? AND "
            "customer_id=? ORDER BY id", (office_id, customer_id)).fetchall())
        return [Consent(channel=ch, granted=bool(g), at=datetime.fromisoformat(at), actor=actor,
                        route=route) for ch, g, at, actor, route in rows]

    async def get_preferences(self, office_id: str, customer_id: str) -> Preferences:
        row = await self.db.read(lambda c: c.execute(
            "SELECT data FROM preferences WHERE customer_id=? AND office_id=?",
            (customer_id, office_id)).fetchone())
        return Preferences() if row is None else Preferences.model_validate_json(row[0])

    async def set_preferences(self, office_id: str, customer_id: str, prefs: Preferences
                              ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO preferences VALUES (?,?,?) ON CONFLICT (customer_id) "
                         "DO UPDATE SET data=excluded.data",
                         (customer_id, office_id, prefs.model_dump_json()))
        await self.db.write(run)
