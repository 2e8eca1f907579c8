"""Many entries in one write (``append_entries``, the one path that stores entries), used by
``SqliteEntries.append_many`` (batched ingest: mail import) and by ``SqliteNotify`` (the
notification entry written with the job's completion)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from timeline.errors import CustomerGone
from timeline.ids import SEQ_SLOTS, new_ulid, seq_base
from timeline.models import Entry, EntryDraft, Visibility, utcnow
from timeline.sqlite_events import add_events
from timeline.sqlite_rows import ENTRY_COLS, INSERT_ENTRY, construct_entry, entry_from_row

INSERT_JOB = ("INSERT INTO notify_jobs (id, office_id, entry_id, customer_id, status, attempts, "
              "generation, next_at, claimed_until, claimed_by, channel, reason, skip_channels, "
              "created_at, updated_at, held) "
              "VALUES (?,?,?,?,'pending',0,0,?,NULL,NULL,NULL,NULL,'[]',?,?,NULL)")
"""A pending job for a new published entry, due at once."""


_IN_CHUNK = 500
"""Customer ids per ``IN (…)`` (SQLite allows 32,766 parameters; a batch holds fewer)."""


def _require_customers(conn: sqlite3.Connection, drafts: Sequence[EntryDraft]) -> None:
    """``CustomerGone`` unless every draft's customer exists in its office, read in the write
    transaction: an entry never outlives its customer's erasure (the erasure is one write
    transaction too, so it ran either wholly before this check or wholly after this
    append, and then erased the new entry with the rest)."""
    wanted: dict[str, set[str]] = {}
    for draft in drafts:
        wanted.setdefault(draft.office_id, set()).add(draft.customer_id)
    for office_id, ids in wanted.items():
        todo = sorted(ids)
        for start in range(0, len(todo), _IN_CHUNK):
            chunk = todo[start:start + _IN_CHUNK]
            found = {r[0] for r in conn.execute(
                f"SELECT id FROM customers WHERE office_id=? AND id IN "
                f"({','.join('?' * len(chunk))})", (office_id, *chunk))}
            if len(found) != len(chunk):
                missing = sorted(set(chunk) - found)
                raise CustomerGone("no such customer", {"customer_ids": missing})


def append_entries(conn: sqlite3.Connection, drafts: Sequence[EntryDraft]
                   ) -> list[tuple[Entry, bool]]:
    """Insert ``drafts`` in order (inside the caller's transaction): ``CustomerGone`` (and
    nothing written) when a draft's customer is not in its office any more (erased);
    ``(entry, True)`` for a new one; ``(the stored entry, False)`` for a draft whose
    ``source_id`` is already on file
    for its office and channel (idempotent ingest), an earlier draft of the same call included.

    Each new entry gets ``seq`` = the next free key of its millisecond (one ``max(seq)`` read
    per distinct millisecond of the batch), an index-outbox row, and a pending notification
    job when it is published with ``notify`` -- all in the caller's transaction, so an entry
    is never stored without them (nor they without it). All rows go in with
    ``executemany``; only when some were not inserted (a source id already on file) are they
    looked up.
    """
    _require_customers(conn, drafts)
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
        made.append(construct_entry({**values, "id": entry_id, "seq": seq,
                                     "recorded_at": now}))
    inserted = conn.executemany(INSERT_ENTRY, rows).rowcount
    out = [(entry, True) for entry in made]
    if inserted != len(rows):  # some source ids were already on file
        for i, entry in enumerate(made):
            if entry.source_id is None:
                continue
            row = conn.execute(
                f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND channel=? "
                "AND source_id=?", (entry.office_id, entry.channel.value, entry.source_id)
            ).fetchone()
            if row[1] != entry.id:
                out[i] = (entry_from_row(row), False)
    conn.executemany("INSERT INTO index_outbox (seq) VALUES (?)",
                     [(entry.seq,) for entry, created in out if created])
    jobs = [(new_ulid(), entry.office_id, entry.id, entry.customer_id, now_iso, now_iso,
             now_iso) for entry, created in out
            if created and entry.notify and entry.visibility is Visibility.PUBLISHED]
    if jobs:  # due at once; the notifier claims it (timeline/sqlite_notify.py)
        conn.executemany(INSERT_JOB, jobs)
    add_events(conn, [(entry.office_id, "entry.created", entry.customer_id, entry.id, None)
                      for entry, created in out if created])  # live views (timeline/events.py)
    return out

