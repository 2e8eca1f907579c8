"""``timeline.repositories.PolicyRepository`` on SQLite: the publish policy per office and
agent, the office's tone lexicon, what decides a new agent entry (``entry_context``), and
each customer's consents (with history) and notification preferences."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from timeline.errors import NotFound
from timeline.models import Consent, Preferences, Visibility, utcnow
from timeline.policy import KindPreset, PolicyMap
from timeline.repositories import EntryContext
from timeline.sqlite_rows import SqliteRepository


class SqlitePolicy(SqliteRepository):
    async def get_policy(self, office_id: str, agent_id: str | None) -> PolicyMap:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT kind, visibility, notify FROM policies WHERE office_id=? AND agent_id=?",
            (office_id, agent_id or "")).fetchall())
        return {kind: KindPreset(visibility=Visibility(vis) if vis else None,
                                 notify=None if ntf is None else bool(ntf))
                for kind, vis, ntf in rows}

    async def set_policy(self, office_id: str, agent_id: str | None, policy: PolicyMap) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for kind, p in policy.items():
                if p.visibility is None and p.notify is None:
                    conn.execute("DELETE FROM policies WHERE office_id=? AND agent_id=? "
                                 "AND kind=?", (office_id, agent_id or "", kind))
                    continue
                conn.execute(
                    "INSERT INTO policies VALUES (?,?,?,?,?) ON CONFLICT (office_id, agent_id,"
                    " kind) DO UPDATE SET visibility=excluded.visibility, notify=excluded.notify",
                    (office_id, agent_id or "", kind,
                     p.visibility.value if p.visibility else None,
                     None if p.notify is None else int(p.notify)))
        await self.db.write(run)

    async def entry_context(self, office_id: str, agent_id: str, customer_id: str
                            ) -> EntryContext | None:
        """Everything deciding a new agent entry, in one read (None: no such customer)."""
        def run(conn: sqlite3.Connection) -> EntryContext | None:
            customer = conn.execute("SELECT name FROM customers WHERE id=? AND office_id=?",
                                    (customer_id, office_id)).fetchone()
            if customer is None:
                return None
            maps: dict[str, PolicyMap] = {"": {}, agent_id: {}}
            for who, kind, vis, ntf in conn.execute(
                    "SELECT agent_id, kind, visibility, notify FROM policies WHERE office_id=? "
                    "AND agent_id IN ('', ?)", (office_id, agent_id)):
                maps[who][kind] = KindPreset(visibility=Visibility(vis) if vis else None,
                                             notify=None if ntf is None else bool(ntf))
            words = tuple(r[0] for r in conn.execute(
                "SELECT word FROM tone_words WHERE office_id=? ORDER BY word", (office_id,)))
            colleagues = tuple(r[0] for r in conn.execute(
                "SELECT name FROM agents WHERE office_id=? AND id<>?", (office_id, agent_id)))
            addresses = tuple(r[0] for r in conn.execute(
                "SELECT email FROM agent_logins WHERE office_id=? AND email IS NOT NULL",
                (office_id,)))
            return EntryContext(office_policy=maps[""], agent_policy=maps[agent_id],
                                tone_words=words, colleagues=colleagues,
                                internal_addresses=addresses, customer_name=customer[0])
        return await self.db.read(run)

    async def get_tone_words(self, office_id: str) -> tuple[str, ...]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT word FROM tone_words WHERE office_id=? ORDER BY word",
            (office_id,)).fetchall())
        return tuple(r[0] for r in rows)

    async def set_tone_words(self, office_id: str, words: Sequence[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tone_words WHERE office_id=?", (office_id,))
            conn.executemany("INSERT OR IGNORE INTO tone_words VALUES (?,?)",
                             [(office_id, w) for w in words])
        await self.db.write(run)

    # ------------------------------------------------------------------ consent, preferences
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
        """Replace the customer's preferences whole (one upsert taking its row from
        ``customers``); ``NotFound`` for a customer that is not the office's."""
        def run(conn: sqlite3.Connection) -> None:
            written = conn.execute(
                "INSERT INTO preferences SELECT id, office_id, ? FROM customers "
                "WHERE id=? AND office_id=? ON CONFLICT (customer_id) "
                "DO UPDATE SET data=excluded.data",
                (prefs.model_dump_json(), customer_id, office_id)).rowcount
            if not written:
                raise NotFound("no such customer")
        await self.db.write(run)
