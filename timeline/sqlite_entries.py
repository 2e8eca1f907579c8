"""``timeline.repositories.EntryRepository`` on SQLite: entries (written only through
``sqlite_batch.append_entries``, the one insert path, with their index-outbox,
notify-outbox and live-event rows), reads of the timeline, tags across an office (open
data requests, open complaints), and the index outbox the indexer drains."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from timeline.errors import Conflict, NotFound
from timeline.ids import seq_base
from timeline.models import Channel, Entry, EntryDraft, JsonPage, Page, utcnow
from timeline.public import json_page
from timeline.replies import NO_REPLY, awaiting_reply_sql
from timeline.repositories import IndexTask, TimelineQuery
from timeline.sqlite_batch import append_entries
from timeline.sqlite_events import add_events
from timeline.sqlite_rows import (
    ENTRY_COLS,
    PUBLIC_ENTRY_JSON,
    SqliteRepository,
    descending,
    entry_from_row,
    fetch_packed,
    iso,
    newest_first,
)

_AWAITING_REPLY = awaiting_reply_sql(
    [c.strip() for c in ENTRY_COLS.split(",")],
    outcome=lambda alias: f"json_extract({alias}.meta, '$.outcome')",
    no_reply=lambda alias: (f"EXISTS (SELECT 1 FROM json_each({alias}.tags) "
                            f"WHERE value = '{NO_REPLY}')"),
    office=":office", since=":since", limit=":limit")

_CHUNK = 500  # bound parameters per statement (SQLite allows 32766; keep statements small)


def _like_tag(tag: str) -> str:
    """A ``LIKE`` pattern for the tag as it is stored inside the JSON array (``"tag"``,
    escaped the way ``json.dumps`` writes it), with ``LIKE``'s own wildcards escaped."""
    quoted = json.dumps(tag)
    return "%" + quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SqliteEntries(SqliteRepository):
    async def append(self, draft: EntryDraft) -> tuple[Entry, bool]:
        return (await self.append_many([draft]))[0]

    async def append_many(self, drafts: Sequence[EntryDraft]) -> list[tuple[Entry, bool]]:
        return await self.db.write(lambda conn: append_entries(conn, drafts))

    async def get_entry(self, office_id: str, entry_id: str) -> Entry | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {ENTRY_COLS} FROM entries WHERE id=? AND office_id=?",
            (entry_id, office_id)).fetchone())
        return None if row is None else entry_from_row(row)

    async def find_entry_by_source(self, office_id: str, source_id: str,
                                   channel: Channel | None = None) -> Entry | None:
        sql = f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND source_id=?"
        args: list[Any] = [office_id, source_id]
        if channel is not None:
            sql += " AND channel=?"
            args.append(channel.value)
        row = await self.db.read(lambda c: c.execute(sql + " ORDER BY seq LIMIT 1", args
                                                     ).fetchone())
        return None if row is None else entry_from_row(row)

    async def entries_by_sources(self, office_id: str, source_ids: Sequence[str],
                                 channel: Channel | None = None) -> dict[str, Entry]:
        """source id -> its entry (the oldest, as ``find_entry_by_source``), for those that
        exist."""
        wanted = list(dict.fromkeys(source_ids))

        def run(conn: sqlite3.Connection) -> dict[str, Entry]:
            found: dict[str, Entry] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                sql = (f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND source_id IN "
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

    async def revise_entry(self, office_id: str, entry_id: str, *, subject: str | None = None,
                           body: str | None = None, meta: dict[str, Any] | None = None,
                           keep_history: bool = True) -> Entry | None:
        """Change an entry in place (a Telegram edit, a call that ended). With
        ``keep_history`` the previous subject/body go to ``meta.revisions``. The index
        outbox gets a row in the same transaction."""
        def run(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(f"SELECT {ENTRY_COLS} FROM entries WHERE id=? AND office_id=?",
                               (entry_id, office_id)).fetchone()
            if row is None:
                return None
            old = entry_from_row(row)
            new_meta = dict(old.meta)
            if keep_history and ((subject is not None and subject != old.subject) or
                                 (body is not None and body != old.body)):
                new_meta.setdefault("revisions", []).append({
                    "subject": old.subject, "body": old.body,
                    "replaced_at": iso(utcnow())})
            new_meta.update(meta or {})
            conn.execute("UPDATE entries SET subject=?, body=?, meta=? WHERE seq=?", (
                old.subject if subject is None else subject,
                old.body if body is None else body, json.dumps(new_meta), old.seq))
            conn.execute("INSERT INTO index_outbox (seq) VALUES (?)", (old.seq,))
            add_events(conn, [(office_id, "entry.updated", old.customer_id, old.id, None)])
            return entry_from_row(conn.execute(
                f"SELECT {ENTRY_COLS} FROM entries WHERE seq=?", (old.seq,)).fetchone())
        return await self.db.write(run)

    async def move_entry(self, office_id: str, entry_id: str, customer_id: str,
                         moved: dict[str, Any]) -> Entry | None:
        """File an entry on another customer of the office (see ``EntryRepository``)."""
        def run(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(f"SELECT {ENTRY_COLS} FROM entries WHERE id=? AND office_id=?",
                               (entry_id, office_id)).fetchone()
            if row is None:
                return None
            old = entry_from_row(row)
            target = conn.execute("SELECT status FROM customers WHERE id=? AND office_id=?",
                                  (customer_id, office_id)).fetchone()
            if target is None:
                raise NotFound("no such customer")
            if target[0] == "merged":
                raise Conflict(f"customer {customer_id} was merged into another")
            if old.customer_id == customer_id:
                return old
            meta = dict(old.meta)
            meta["moved"] = [*meta.get("moved", []), moved]
            conn.execute("UPDATE entries SET customer_id=?, meta=? WHERE seq=?",
                         (customer_id, json.dumps(meta), old.seq))
            conn.execute(
                "UPDATE notify_jobs SET customer_id=? WHERE entry_id=? AND status IN "
                "('pending','dead','failed') AND (claimed_until IS NULL OR claimed_until < ?)",
                (customer_id, old.id, iso(utcnow())))
            conn.execute("DELETE FROM portal_inbox WHERE entry_id=? AND customer_id=?",
                         (old.id, old.customer_id))
            conn.execute("INSERT INTO index_outbox (seq) VALUES (?)", (old.seq,))
            add_events(conn, [(office_id, "entry.updated", old.customer_id, old.id, None),
                              (office_id, "entry.updated", customer_id, old.id, None)])
            return entry_from_row(conn.execute(
                f"SELECT {ENTRY_COLS} FROM entries WHERE seq=?", (old.seq,)).fetchone())
        return await self.db.write(run)

    async def entries_by_seq(self, office_id: str, seqs: Sequence[int]) -> list[Entry]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        rows = await self.db.read(lambda c: fetch_packed(
            c, ENTRY_COLS, f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND seq IN "
            f"({marks})", (office_id, *seqs)))
        by_seq = {r[0]: entry_from_row(r) for r in rows}
        return [by_seq[s] for s in seqs if s in by_seq]

    async def timeline(self, office_id: str, customer_id: str, query: TimelineQuery) -> Page:
        where, args = _timeline_where(office_id, customer_id, query)
        sql = f"SELECT {ENTRY_COLS} FROM entries WHERE {where} ORDER BY seq DESC LIMIT ?"
        rows = newest_first(await self.db.read(lambda c: fetch_packed(
            c, ENTRY_COLS, sql, [*args, query.limit + 1])))
        items = [entry_from_row(r) for r in rows[: query.limit]]
        nxt = str(items[-1].seq) if len(rows) > query.limit else None
        return Page(items=items, next_cursor=nxt)

    async def timeline_json(self, office_id: str, customer_id: str, query: TimelineQuery
                            ) -> JsonPage:
        """The page of ``timeline`` as JSON written by SQLite (``PUBLIC_ENTRY_JSON``), on
        the reader thread without Python's interpreter lock: the event loop's thread only
        passes its bytes on (UTF-8 as SQLite holds them: nothing decoded or encoded). The
        page's keys come along and prove its order (SQL does not promise the order of an
        aggregate); a page that is not newest first, or too big for one SQLite string, is
        built from the entries instead."""
        where, args = _timeline_where(office_id, customer_id, query)
        sql = (f"SELECT CAST(json_group_array(json(doc)) FILTER (WHERE n <= ?) AS BLOB), "
               f"json_group_array(seq) FROM (SELECT seq, doc, row_number() OVER "
               f"(ORDER BY seq DESC) AS n FROM (SELECT seq, {PUBLIC_ENTRY_JSON} AS doc "
               f"FROM entries WHERE {where} ORDER BY seq DESC LIMIT ?))")

        def run(conn: sqlite3.Connection) -> tuple[bytes, str] | None:
            try:
                docs, seqs = conn.execute(sql, [query.limit, *args, query.limit + 1]
                                          ).fetchone()
            except sqlite3.DataError:  # "string or blob too big"
                return None
            return docs, seqs

        found = await self.db.read(run)
        keys: list[int] = orjson.loads(found[1]) if found is not None else []
        if found is None or not descending(keys):
            return json_page(await self.timeline(office_id, customer_id, query))
        nxt = str(keys[query.limit - 1]) if len(keys) > query.limit else None
        return JsonPage(items_json=found[0], next_cursor=nxt,
                        count=min(len(keys), query.limit))

    async def scan_entries(self, after_seq: int, limit: int) -> list[Entry]:
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {ENTRY_COLS} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit)).fetchall())
        return [entry_from_row(r) for r in rows]

    async def count_entries(self) -> int:
        """All offices' entries (what a reindex goes through)."""
        return int(await self.db.read(
            lambda c: c.execute("SELECT count(*) FROM entries").fetchone()[0]))

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

    async def entries_with_tag(self, office_id: str, tag: str, *,
                               without_tag: str | None = None, limit: int = 200,
                               customer_id: str | None = None) -> list[Entry]:
        """The office's entries carrying ``tag`` (exactly, not as a prefix) and, if given,
        not ``without_tag``; oldest first, at most ``limit``. With ``customer_id`` only that
        customer's. Both read the partial index of tagged entries (``entries_tagged``), so
        the cost follows the number of tagged entries, not the size of the timeline."""
        sql = (f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND tags <> '[]' "
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

    async def awaiting_reply(self, office_id: str, since: datetime, limit: int
                             ) -> list[Entry]:
        """See ``timeline.replies`` (the partial index ``entries_inbound`` serves the
        window, ``entries_customer`` the look for an answer)."""
        args = {"office": office_id, "since": seq_base(since), "limit": max(0, limit)}

        def run(conn: sqlite3.Connection) -> list[Entry]:
            return [entry_from_row(row) for row in conn.execute(_AWAITING_REPLY, args)]
        return await self.db.read(run)

    # ------------------------------------------------------------------ index outbox
    async def pending_index_tasks(self, limit: int) -> list[IndexTask]:
        def run(conn: sqlite3.Connection) -> list[IndexTask]:
            rows = conn.execute(
                f"SELECT o.id, o.seq, {', '.join('e.' + c.strip() for c in ENTRY_COLS.split(','))}"
                " FROM index_outbox o LEFT JOIN entries e ON e.seq = o.seq ORDER BY o.id LIMIT ?",
                (limit,)).fetchall()
            return [IndexTask(outbox_id=r[0], seq=r[1],
                              entry=None if r[2] is None else entry_from_row(r[2:]))
                    for r in rows]
        return await self.db.read(run)

    async def ack_index_tasks(self, outbox_ids: Sequence[int]) -> None:
        if not outbox_ids:
            return
        ids = list(outbox_ids)

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM index_outbox WHERE id=?", [(i,) for i in ids])
        await self.db.write(run)

    async def requeue_index(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        rows = [(s,) for s in seqs]
        await self.db.write(
            lambda c: c.executemany("INSERT INTO index_outbox (seq) VALUES (?)", rows))

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


def _timeline_where(office_id: str, customer_id: str, query: TimelineQuery
                    ) -> tuple[str, list[Any]]:
    """The ``WHERE`` of a timeline page (everything but its order and size)."""
    sql = "customer_id=? AND office_id=?"
    args: list[Any] = [customer_id, office_id]
    if query.channels:
        sql += f" AND channel IN ({','.join('?' * len(query.channels))})"
        args += [c.value for c in query.channels]
    if query.kinds:
        sql += f" AND kind IN ({','.join('?' * len(query.kinds))})"
        args += list(query.kinds)
    if query.visibility:
        sql += " AND visibility=?"
        args.append(query.visibility.value)
    lower, upper = query.seq_bounds()
    if upper is not None:
        sql += " AND seq < ?"
        args.append(upper)
    if lower is not None:
        sql += " AND seq >= ?"
        args.append(lower)
    return sql, args
