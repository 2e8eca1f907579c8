"""``timeline.repositories.TelegramUpdateStore`` on SQLite: received Telegram updates. Part
of ``SqliteInbound``; usable on its own.

An update is written here before it is processed and before Telegram hears that it arrived,
so neither a crash nor a backoff loses it; once processed its content is dropped and only
its id is kept (to recognise a redelivery) until :meth:`prune_telegram_updates`."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from timeline.repositories import ReceivedUpdate
from timeline.sqlite_rows import SqliteRepository


class SqliteTelegramUpdates(SqliteRepository):
    async def add_telegram_update(self, office_id: str, bot_id: int, update_id: int,
                                  chat_id: int | None, raw: bytes, received_at: datetime
                                  ) -> bool:
        at = received_at.isoformat()

        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT INTO telegram_updates (office_id, bot_id, update_id, chat_id, "
                "received_at, raw, next_at) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (office_id, bot_id, update_id) DO NOTHING",
                (office_id, bot_id, update_id, chat_id, at, raw, at))
            return cur.rowcount == 1
        return await self.db.write(run)

    async def pending_telegram_updates(self, office_id: str, bot_id: int, limit: int = 500
                                       ) -> list[ReceivedUpdate]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT update_id, chat_id, received_at, raw, attempts, next_at, last_error "
            "FROM telegram_updates WHERE office_id=? AND bot_id=? AND status='pending' "
            "ORDER BY update_id LIMIT ?", (office_id, bot_id, limit)).fetchall())
        return [ReceivedUpdate(update_id=u, chat_id=c, received_at=datetime.fromisoformat(r),
                               raw=bytes(raw), attempts=a, next_at=datetime.fromisoformat(n),
                               last_error=e) for u, c, r, raw, a, n, e in rows]

    async def finish_telegram_update(self, office_id: str, bot_id: int, update_id: int
                                     ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE telegram_updates SET status='done', raw=NULL, chat_id=NULL, "
                         "last_error=NULL WHERE office_id=? AND bot_id=? AND update_id=?",
                         (office_id, bot_id, update_id))
        await self.db.write(run)

    async def retry_telegram_update(self, office_id: str, bot_id: int, update_id: int,
                                    next_at: datetime, error: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE telegram_updates SET attempts=attempts+1, next_at=?, "
                         "last_error=? WHERE office_id=? AND bot_id=? AND update_id=? AND "
                         "status='pending'",
                         (next_at.isoformat(), error[:500], office_id, bot_id, update_id))
        await self.db.write(run)

    async def prune_telegram_updates(self, before: datetime) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM telegram_updates WHERE status='done' AND "
                                "received_at < ?", (before.isoformat(),)).rowcount
        return await self.db.write(run)
