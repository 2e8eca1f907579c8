"""Store parts for batched ingest (mail import): many source ids or identities in one read.
Mixed into ``SqliteStore``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from timeline.models import Channel, Customer, Entry, IdentityKind
from timeline.sqlite_db import SqliteDb

_CHUNK = 500  # bound parameters per statement (SQLite allows 32766; keep statements small)


class BatchStoreMixin:
    db: SqliteDb

    async def entries_by_sources(self, office_id: str, source_ids: Sequence[str],
                                 channel: Channel | None = None) -> dict[str, Entry]:
        """source id -> its entry (the oldest, as ``find_entry_by_source``), for those that
        exist."""
        from timeline.sqlite_store import _ENTRY_COLS, entry_from_row

        wanted = list(dict.fromkeys(source_ids))

        def run(conn: sqlite3.Connection) -> dict[str, Entry]:
            found: dict[str, Entry] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                sql = (f"SELECT {_ENTRY_COLS} FROM entries WHERE office_id=? AND source_id IN "
                       f"({','.join('?' * len(chunk))})")
                args: list[Any] = [office_id, *chunk]
                if channel is not None:
                    sql += " AND channel=?"
                    args.append(channel.value)
                for row in conn.execute(sql + " ORDER BY seq", args):
                    entry = entry_from_row(row)
                    assert entry.source_id is not None
                    found.setdefault(entry.source_id, entry)
            return found
        return await self.db.read(run)

    async def customers_by_identities(self, office_id: str, kind: IdentityKind,
                                      values: Sequence[str]) -> dict[str, list[Customer]]:
        """identity value -> the customers who have it (as ``find_customers``), for those
        that exist."""
        from timeline.sqlite_store import _load_customer

        wanted = list(dict.fromkeys(values))

        def run(conn: sqlite3.Connection) -> dict[str, list[Customer]]:
            found: dict[str, list[Customer]] = {}
            loaded: dict[str, Customer | None] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                rows = conn.execute(
                    "SELECT DISTINCT value, customer_id FROM identities WHERE office_id=? AND "
                    f"kind=? AND value IN ({','.join('?' * len(chunk))})",
                    (office_id, kind.value, *chunk)).fetchall()
                for value, customer_id in rows:
                    if customer_id not in loaded:
                        loaded[customer_id] = _load_customer(conn, office_id, customer_id)
                    customer = loaded[customer_id]
                    if customer is not None:
                        found.setdefault(value, []).append(customer)
            return found
        return await self.db.read(run)
