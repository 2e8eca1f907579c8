"""Store parts for batched ingest (mail import): many source ids or identities in one read,
many entries in one write (``append_entries``, the one path that stores entries). Mixed into
``SqliteStore``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from timeline.ids import SEQ_SLOTS, new_ulid, seq_base
from timeline.models import Channel, Customer, Entry, EntryDraft, IdentityKind, Visibility, utcnow
from timeline.sqlite_db import SqliteDb
from timeline.sqlite_events import add_events

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

    async def count_entries(self) -> int:
        """All offices' entries (what a reindex goes through)."""
        return int(await self.db.read(
            lambda c: c.execute("SELECT count(*) FROM entries").fetchone()[0]))

    async def index_backlog(self) -> tuple[int, int]:
        """(rows waiting in the index outbox, the highest outbox id; 0 when empty)."""
        row = await self.db.read(
            lambda c: c.execute("SELECT count(*), coalesce(max(id), 0) FROM index_outbox")
            .fetchone())
        return int(row[0]), int(row[1])

    async def ack_index_through(self, outbox_id: int) -> int:
        """Acknowledge every outbox row up to ``outbox_id`` (a rebuild from the store that
        started after they were written covered them); returns how many."""
        return int(await self.db.write(
            lambda c: c.execute("DELETE FROM index_outbox WHERE id <= ?", (outbox_id,))
            .rowcount))


def append_entries(conn: sqlite3.Connection, drafts: Sequence[EntryDraft]
                   ) -> list[tuple[Entry, bool]]:
    """Insert ``drafts`` in order (inside the caller's transaction): ``(entry, True)`` for a
    new one; ``(the stored entry, False)`` for a draft whose ``source_id`` is already on file
    for its office and channel (idempotent ingest), an earlier draft of the same call included.

    Each new entry gets ``seq`` = the next free key of its millisecond (one ``max(seq)`` read
    per distinct millisecond of the batch), an index-outbox row, and a notification-outbox
    row when it is published with ``notify``. All rows go in with ``executemany``; only when
    some were not inserted (a source id already on file) are they looked up.
    """
    from timeline.sqlite_store import _ENTRY_COLS, _INSERT_ENTRY, _construct_entry, entry_from_row

    now = utcnow()
    now_iso = now.isoformat()
    next_seq: dict[int, int] = {}
    rows: list[tuple[Any, ...]] = []
    made: list[Entry] = []
    for draft in drafts:
        values = draft.__dict__
        base = seq_base(values["occurred_at"])
        seq = next_seq.get(base)
        if seq is None:
            top = conn.execute("SELECT max(seq) FROM entries WHERE seq >= ? AND seq < ?",
                               (base, base + SEQ_SLOTS)).fetchone()[0]
            seq = base if top is None else top + 1
        next_seq[base] = seq + 1
        entry_id = new_ulid()
        attachments, tags, meta = values["attachments"], values["tags"], values["meta"]
        rows.append((
            seq, entry_id, values["office_id"], values["customer_id"],
            values["channel"].value, values["direction"].value, values["kind"],
            values["author"], values["visibility"].value, int(values["notify"]),
            values["occurred_at"].isoformat(), now_iso, values["subject"], values["body"],
            values["html"],
            json.dumps([a.model_dump() for a in attachments]) if attachments else "[]",
            json.dumps(list(tags)) if tags else "[]", values["source_id"],
            json.dumps(meta) if meta else "{}"))
        made.append(_construct_entry({**values, "id": entry_id, "seq": seq,
                                      "recorded_at": now}))
    inserted = conn.executemany(_INSERT_ENTRY, rows).rowcount
    out = [(entry, True) for entry in made]
    if inserted != len(rows):  # some source ids were already on file
        for i, entry in enumerate(made):
            if entry.source_id is None:
                continue
            row = conn.execute(
                f"SELECT {_ENTRY_COLS} FROM entries WHERE office_id=? AND channel=? "
                "AND source_id=?", (entry.office_id, entry.channel.value, entry.source_id)
            ).fetchone()
            if row[1] != entry.id:
                out[i] = (entry_from_row(row), False)
    conn.executemany("INSERT INTO index_outbox (seq) VALUES (?)",
                     [(entry.seq,) for entry, created in out if created])
    notify_rows = [(entry.office_id, entry.id, now_iso) for entry, created in out
                   if created and entry.notify and entry.visibility is Visibility.PUBLISHED]
    if notify_rows:
        conn.executemany("INSERT INTO notify_outbox (office_id, entry_id, created_at) "
                         "VALUES (?,?,?)", notify_rows)
    add_events(conn, [(entry.office_id, "entry.created", entry.customer_id, entry.id, None)
                      for entry, created in out if created])  # live views (timeline/events.py)
    return out

