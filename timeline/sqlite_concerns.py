"""Store parts for concerns that wait for someone in the office: entries found by a tag
across the whole office (open data requests, open complaints), for the admin pages and the
console. Mixed into ``SqliteStore``."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from timeline.models import Entry
from timeline.sqlite_db import SqliteDb


def _like_tag(tag: str) -> str:
    """A ``LIKE`` pattern for the tag as it is stored inside the JSON array (``"tag"``,
    escaped the way ``json.dumps`` writes it), with ``LIKE``'s own wildcards escaped."""
    quoted = json.dumps(tag)
    return "%" + quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class ConcernStoreMixin:
    db: SqliteDb

    async def entries_with_tag(self, office_id: str, tag: str, *,
                               without_tag: str | None = None, limit: int = 200,
                               customer_id: str | None = None) -> list[Entry]:
        """The office's entries carrying ``tag`` (exactly, not as a prefix) and, if given,
        not ``without_tag``; oldest first, at most ``limit``. With ``customer_id`` only that
        customer's. Both read the partial index of tagged entries (``entries_tagged``), so
        the cost follows the number of tagged entries, not the size of the timeline."""
        from timeline.sqlite_store import _ENTRY_COLS, entry_from_row

        sql = (f"SELECT {_ENTRY_COLS} FROM entries WHERE office_id=? AND tags <> '[]' "
               "AND tags LIKE ? ESCAPE '\\' "
               "AND EXISTS (SELECT 1 FROM json_each(entries.tags) WHERE value=?)")
        args: list[Any] = [office_id, _like_tag(tag), tag]
        if customer_id is not None:
            sql += " AND customer_id=?"
            args.append(customer_id)
        if without_tag is not None:
            sql += " AND NOT EXISTS (SELECT 1 FROM json_each(entries.tags) WHERE value=?)"
            args.append(without_tag)
        sql += " ORDER BY seq LIMIT ?"
        args.append(max(0, limit))

        def run(conn: sqlite3.Connection) -> list[Entry]:
            return [entry_from_row(row) for row in conn.execute(sql, args)]
        return await self.db.read(run)
