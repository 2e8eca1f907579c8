"""``timeline.repositories.InboundRepository`` on SQLite: office addresses and CTI token,
customer tokens (portal sessions, linking codes), quarantine, CTI call state and received
Telegram updates."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from timeline.errors import NotFound
from timeline.ids import new_ulid
from timeline.models import QuarantineItem, utcnow
from timeline.sqlite_calls import SqliteCalls
from timeline.sqlite_components import SqliteComponentReports
from timeline.sqlite_telegram import SqliteTelegramUpdates

_Q_COLS = ("id, office_id, channel, reason, origin, raw_sha256, size, status, created_at, "
           "updated_at, entry_id")


def _quarantine(row: Sequence[Any]) -> QuarantineItem:
    return QuarantineItem(
        id=row[0], office_id=row[1], channel=row[2], reason=row[3], origin=row[4],
        raw_sha256=row[5], size=row[6], status=row[7],
        created_at=datetime.fromisoformat(row[8]), updated_at=datetime.fromisoformat(row[9]),
        entry_id=row[10])


class SqliteInbound(SqliteCalls, SqliteTelegramUpdates, SqliteComponentReports):
    """Addresses, the CTI token, customer tokens and quarantine; with the call state of
    ``SqliteCalls``, the Telegram updates of ``SqliteTelegramUpdates`` and the connectors'
    states of ``SqliteComponentReports``."""

    # ------------------------------------------------------------------ office config
    async def cti_token(self, office_id: str) -> str:
        """The office's CTI webhook token (created on first use); ``NotFound``: no such
        office."""
        def run(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT cti_token FROM offices WHERE id=?", (office_id,)).fetchone()
            if row is None:
                raise NotFound("no such office")
            if row[0]:
                return str(row[0])
            token = "cti_" + secrets.token_urlsafe(24)
            conn.execute("UPDATE offices SET cti_token=? WHERE id=?", (token, office_id))
            return token
        return await self.db.write(run)

    async def office_for_cti_token(self, token: str) -> str | None:
        row = await self.db.read(lambda c: c.execute(
            "SELECT id FROM offices WHERE cti_token=?", (token,)).fetchone())
        return None if row is None else str(row[0])

    async def add_inbound_address(self, office_id: str, address: str) -> bool:
        """Claim an inbound address for the office; False if another office has it."""
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT office_id FROM inbound_addresses WHERE address=?",
                               (address,)).fetchone()
            if row is not None:
                return bool(row[0] == office_id)
            conn.execute("INSERT INTO inbound_addresses VALUES (?,?)", (address, office_id))
            return True
        return await self.db.write(run)

    async def remove_inbound_address(self, office_id: str, address: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM inbound_addresses WHERE address=? AND office_id=?",
                                (address, office_id)).rowcount > 0
        return await self.db.write(run)

    async def inbound_addresses(self, office_id: str | None = None) -> dict[str, str]:
        """address -> office id (all offices when ``office_id`` is None)."""
        def run(conn: sqlite3.Connection) -> dict[str, str]:
            if office_id is None:
                rows = conn.execute("SELECT address, office_id FROM inbound_addresses")
            else:
                rows = conn.execute("SELECT address, office_id FROM inbound_addresses "
                                    "WHERE office_id=?", (office_id,))
            return {a: o for a, o in rows}
        return await self.db.read(run)

    # ------------------------------------------------------------------ customer tokens
    async def add_customer_token(self, office_id: str, customer_id: str, purpose: str,
                                 token_hash: str, expires_at: datetime) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO customer_tokens VALUES (?,?,?,?,?,?)", (
                token_hash, office_id, customer_id, purpose, utcnow().isoformat(),
                expires_at.isoformat()))
        await self.db.write(run)

    async def resolve_customer_token(self, token_hash: str, purpose: str, *,
                                     consume: bool = False) -> tuple[str, str] | None:
        """(office id, customer id) for a valid, unexpired token of this purpose."""
        def run(conn: sqlite3.Connection) -> tuple[str, str] | None:
            row = conn.execute(
                "SELECT office_id, customer_id, expires_at FROM customer_tokens "
                "WHERE token_hash=? AND purpose=?", (token_hash, purpose)).fetchone()
            if row is None or datetime.fromisoformat(row[2]) < utcnow():
                return None
            if consume:
                conn.execute("DELETE FROM customer_tokens WHERE token_hash=?", (token_hash,))
            return str(row[0]), str(row[1])
        return await self.db.write(run)

    async def revoke_customer_tokens(self, office_id: str, customer_id: str, purpose: str
                                     ) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM customer_tokens WHERE office_id=? AND "
                                "customer_id=? AND purpose=?",
                                (office_id, customer_id, purpose)).rowcount
        return await self.db.write(run)

    # ------------------------------------------------------------------ quarantine
    async def add_quarantine(self, office_id: str, channel: str, reason: str, origin: str,
                             raw_sha256: str, size: int) -> QuarantineItem:
        """Idempotent: the same raw bytes quarantined twice (still open) give one item."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> QuarantineItem:
            row = conn.execute(
                f"SELECT {_Q_COLS} FROM quarantine WHERE office_id=? AND channel=? AND "
                "raw_sha256=? AND status='open'", (office_id, channel, raw_sha256)).fetchone()
            if row is not None:
                return _quarantine(row)
            item_id = new_ulid()
            conn.execute(f"INSERT INTO quarantine ({_Q_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (item_id, office_id, channel, reason[:2000], origin[:500], raw_sha256,
                          size, "open", now, now, None))
            return _quarantine(conn.execute(f"SELECT {_Q_COLS} FROM quarantine WHERE id=?",
                                            (item_id,)).fetchone())
        return await self.db.write(run)

    async def list_quarantine(self, office_id: str, *, status: str | None = "open",
                              limit: int = 50, after_id: str | None = None
                              ) -> list[QuarantineItem]:
        sql = f"SELECT {_Q_COLS} FROM quarantine WHERE office_id=?"
        args: list[Any] = [office_id]
        if status:
            sql += " AND status=?"
            args.append(status)
        if after_id:
            sql += " AND id > ?"
            args.append(after_id)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [_quarantine(r) for r in rows]

    async def get_quarantine(self, office_id: str, item_id: str) -> QuarantineItem | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_Q_COLS} FROM quarantine WHERE id=? AND office_id=?",
            (item_id, office_id)).fetchone())
        return None if row is None else _quarantine(row)

    async def resolve_quarantine(self, office_id: str, item_id: str, status: str,
                                 entry_id: str | None = None, reason: str | None = None
                                 ) -> QuarantineItem | None:
        def run(conn: sqlite3.Connection) -> QuarantineItem | None:
            conn.execute("UPDATE quarantine SET status=?, entry_id=?, updated_at=?, "
                         "reason=COALESCE(?, reason) WHERE id=? AND office_id=?",
                         (status, entry_id, utcnow().isoformat(), reason, item_id, office_id))
            row = conn.execute(f"SELECT {_Q_COLS} FROM quarantine WHERE id=? AND office_id=?",
                               (item_id, office_id)).fetchone()
            return None if row is None else _quarantine(row)
        return await self.db.write(run)


