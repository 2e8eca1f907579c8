"""Many entries in one transaction on PostgreSQL (``append_entries``, the one path that stores
entries; the twin of ``timeline/sqlite_batch.py``), used by ``PgEntries.append_many`` and by
the notification repository (the notification entry written with the job's completion).

What SQLite's single writer gave for free and how it is done here with many writers:

* Keys: ``allocate_seqs`` (``timeline/pg_seq.py``) takes a transaction-scoped advisory lock
  per millisecond of the batch, all of them before the first insert, in ascending order, so a
  concurrent writer of the same millisecond waits and then sees these keys; ``seq`` is never
  taken twice.
* Idempotency: ``INSERT … ON CONFLICT (office_id, channel, source_id) WHERE source_id IS NOT
  NULL DO NOTHING`` on the same unique partial index as SQLite. When two transactions insert
  the same source id, the second waits on the index entry until the first ends, then does
  nothing; the following lookup (a new statement: it sees the committed row under READ
  COMMITTED) returns the stored entry, so exactly one ``created`` is reported.
* No deadlocks between two batches that share source ids in a different order: rows are
  inserted ordered by ``(office_id, channel, source_id)`` (stable, so within one batch the
  first draft of a source id still wins, as on SQLite), so two writers wait on shared index
  entries in the same order.

PostgreSQL cannot store the character NUL (U+0000) in ``TEXT`` or ``JSONB``; SQLite can. A NUL
shows as nothing, so ``without_nul`` drops it from every string of an entry before it is
written (a broken mail body or an API client's ``"\u0000"`` is stored without it instead of
failing), and the entry returned is the one stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import CustomerGone
from timeline.ids import new_ulid, seq_base
from timeline.models import Attachment, Entry, EntryDraft, Visibility, utcnow
from timeline.notifications import JobStatus
from timeline.pg_events import add_events
from timeline.pg_rows import entry_from_row
from timeline.pg_seq import allocate_seqs
from timeline.sql_tables import customers, entries, index_outbox, notify_jobs
from timeline.sqlite_rows import construct_entry

_INSERT = (insert(entries)
           .on_conflict_do_nothing(index_elements=["office_id", "channel", "source_id"],
                                   index_where=entries.c.source_id.isnot(None))
           .returning(entries.c.id))


_LOOKUP_CHUNK = 2000
"""Source ids looked up per statement (three parameters each; asyncpg allows 32767)."""


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character removed from its strings (dict keys and values,
    list and tuple items, recursively); the same object when it has none."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        items = [(without_nul(k), without_nul(v)) for k, v in value.items()]
        if all(k2 is k and v2 is v for (k, v), (k2, v2) in zip(value.items(), items,
                                                                strict=True)):
            return value
        return dict(items)
    if isinstance(value, list | tuple):
        cleaned = [without_nul(v) for v in value]
        if all(a is b for a, b in zip(value, cleaned, strict=True)):
            return value
        return tuple(cleaned) if isinstance(value, tuple) else cleaned
    return value


def _draft_values(draft: EntryDraft) -> dict[str, Any]:
    """The draft's fields, without NUL characters (module docstring)."""
    values = draft.__dict__
    out: dict[str, Any] | None = None
    for key, value in values.items():
        if key == "attachments":
            dumped = [a.model_dump() for a in value]
            clean = without_nul(dumped)
            cleaned = value if clean is dumped else tuple(
                Attachment.model_construct(**a) for a in clean)
        else:
            cleaned = without_nul(value)
        if cleaned is not value:
            out = dict(values) if out is None else out
            out[key] = cleaned
    return values if out is None else out


def _sort_key(row: Mapping[str, Any]) -> tuple[bool, str, str, str]:
    source = row["source_id"]
    return (source is None, row["office_id"], row["channel"], source or "")


async def _lock_customers(conn: AsyncConnection, drafts: Sequence[EntryDraft]) -> None:
    """``KEY SHARE`` on every draft's customer (ascending id), ``CustomerGone`` when one is not
    in its office: an erasure that started first has deleted the row by the time this lock
    is granted; one that starts later waits for this transaction and then erases the new
    entries with the rest (module docstring of ``timeline/pg_erasure.py``)."""
    wanted: dict[str, set[str]] = {}
    for draft in drafts:
        wanted.setdefault(draft.office_id, set()).add(draft.customer_id)
    c = customers.c
    for office_id, ids in sorted(wanted.items()):
        todo = sorted(ids)
        found = set((await conn.scalars(
            sa.select(c.id).where(c.office_id == office_id, c.id.in_(todo))
            .order_by(c.id).with_for_update(key_share=True))).all())
        if len(found) != len(todo):
            raise CustomerGone("no such customer",
                               {"customer_ids": sorted(set(todo) - found)})


async def append_entries(conn: AsyncConnection, drafts: Sequence[EntryDraft]
                         ) -> list[tuple[Entry, bool]]:
    """Insert ``drafts`` in order (inside the caller's transaction): ``CustomerGone`` (and
    nothing written) when a draft's customer is not in its office any more (erased);
    ``(entry, True)`` for a new one; ``(the stored entry, False)`` for a draft whose
    ``source_id`` is already on file
    for its office and channel (idempotent ingest), an earlier draft of the same batch or a
    concurrent writer's included. Each new entry gets an index-outbox row, a pending
    notification job when it is published with ``notify``, and an ``entry.created`` event,
    all in the caller's transaction (see the module docstring for concurrency)."""
    if not drafts:
        return []
    await _lock_customers(conn, drafts)
    now = utcnow()
    values = [_draft_values(draft) for draft in drafts]
    seqs = await allocate_seqs(conn, [seq_base(v["occurred_at"]) for v in values])
    rows: list[dict[str, Any]] = []
    made: list[Entry] = []
    for v, seq in zip(values, seqs, strict=True):
        entry_id = new_ulid()
        rows.append({
            "seq": seq, "id": entry_id, "office_id": v["office_id"],
            "customer_id": v["customer_id"], "channel": v["channel"].value,
            "direction": v["direction"].value, "kind": v["kind"], "author": v["author"],
            "visibility": v["visibility"].value, "notify": bool(v["notify"]),
            "occurred_at": v["occurred_at"], "recorded_at": now, "subject": v["subject"],
            "body": v["body"], "html": v["html"],
            "attachments": [a.model_dump() for a in v["attachments"]],
            "tags": list(v["tags"]), "source_id": v["source_id"], "meta": v["meta"]})
        made.append(construct_entry({**v, "id": entry_id, "seq": seq, "recorded_at": now}))
    inserted = set((await conn.scalars(_INSERT, sorted(rows, key=_sort_key))).all())
    out = [(entry, True) for entry in made]
    if len(inserted) != len(made):  # some source ids were already on file
        missing = [(i, e) for i, e in enumerate(made) if e.id not in inserted]
        stored = await _by_source(conn, [e for _, e in missing])
        for i, entry in missing:
            assert entry.source_id is not None  # only a source id conflicts
            out[i] = (stored[(entry.office_id, entry.channel.value, entry.source_id)], False)
    new = [entry for entry, created in out if created]
    if new:
        await conn.execute(sa.insert(index_outbox), [{"seq": e.seq} for e in new])
    jobs = [{"id": new_ulid(), "office_id": e.office_id, "entry_id": e.id,
             "customer_id": e.customer_id, "status": JobStatus.PENDING.value, "attempts": 0,
             "generation": 0, "next_at": now, "skip_channels": [], "created_at": now,
             "updated_at": now}
            for e in new if e.notify and e.visibility is Visibility.PUBLISHED]
    if jobs:  # due at once; a notifier claims it (timeline/pg_notify.py)
        await conn.execute(sa.insert(notify_jobs), jobs)
    await add_events(conn, [(e.office_id, "entry.created", e.customer_id, e.id, None)
                            for e in new])  # live views (timeline/pg_events.py)
    return out


async def _by_source(conn: AsyncConnection, made: Sequence[Entry]
                     ) -> dict[tuple[str, str, str], Entry]:
    """The stored entries of these drafts' (office, channel, source id)."""
    keys = list({(e.office_id, e.channel.value, e.source_id) for e in made})
    found: dict[tuple[str, str, str], Entry] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        rows = (await conn.execute(
            sa.select(entries).where(
                sa.tuple_(entries.c.office_id, entries.c.channel, entries.c.source_id).in_(
                    keys[start:start + _LOOKUP_CHUNK])))).mappings().all()
        found.update({(r["office_id"], r["channel"], r["source_id"]): entry_from_row(r)
                      for r in rows})
    return found
