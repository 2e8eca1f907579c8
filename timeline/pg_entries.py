"""``timeline.repositories.EntryRepository`` on PostgreSQL (the twin of
``timeline/sqlite_entries.py``): entries (written only through ``pg_batch.append_entries``,
with their index-outbox, notify-outbox and live-event rows in the same transaction), reads of
the timeline, tags across an office, and the index outbox the indexers drain.

The index outbox with several indexers (processes) on one database
-----------------------------------------------------------------
The indexer (``search/indexer.py``) reads a batch (``pending_index_tasks``), sends it to the
search backend, then acknowledges it (``ack_index_tasks``) -- three calls, so a row lock
could not last from the read to the acknowledgement. Rows are therefore *leased*:
``pending_index_tasks`` claims the rows it returns for ``INDEX_LEASE`` (``claimed_by`` = this
store handle, ``claimed_until``, both PostgreSQL-only columns). Another handle skips rows
claimed by someone else until the lease ends (a crashed indexer's rows come back then), and
also every row of an entry (``seq``) one of whose rows is claimed elsewhere: otherwise a
second indexer could index a newer revision of an entry first and the first one overwrite it
with the older text. The same handle gets its own claimed rows again (renewed), so a retry
after a failed batch and the SQLite contract (reading twice returns the same rows) hold.
Claims are made one at a time (a transaction-scoped advisory lock, held for one short
statement pair), so two claimers never both see a row of the same entry free; rows being
acknowledged meanwhile are skipped (``FOR UPDATE SKIP LOCKED``). ``ack_index_tasks`` deletes
exactly the ids given.

``ack_index_through(N)`` (after a rebuild from the store) must not drop a row with an id
below ``N`` whose transaction commits later: the rebuild may have read past its entry before
it committed. Every row records its writer's transaction (``tx``, the column default
``pg_current_xact_id()``), ``index_backlog`` remembers, per handle, the snapshot it read
``N`` in, and ``ack_index_through(N)`` deletes only rows up to ``N`` whose transaction had
committed in that snapshot (``pg_visible_in_snapshot``); later ones are indexed once more
(harmless: indexing is idempotent). Without a remembered snapshot (``N`` did not come from
this handle's ``index_backlog``) it deletes the rows up to ``N`` committed by then.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import Conflict, NotFound
from timeline.ids import new_ulid, seq_base
from timeline.models import Channel, Entry, EntryDraft, JsonPage, Page, utcnow
from timeline.pg_batch import append_entries, without_nul
from timeline.pg_events import add_events
from timeline.pg_rows import PgRepository, entry_from_row, entry_from_tuple
from timeline.public import json_page
from timeline.replies import NO_REPLY, awaiting_reply_sql
from timeline.repositories import IndexTask, TimelineQuery
from timeline.sql_tables import customers, entries, index_outbox, notify_jobs, portal_inbox

_ENTRY = sa.select(entries)
_ENTRY_COLUMNS = ", ".join(c.name for c in entries.c)
"""Every column in ``entries``' own order (what ``entry_from_tuple`` reads)."""
_AWAITING_REPLY = sa.text(awaiting_reply_sql(
    [c.name for c in entries.c],
    outcome=lambda alias: f"{alias}.meta->>'outcome'",
    no_reply=lambda alias: f"({alias}.tags @> CAST('[\"{NO_REPLY}\"]' AS jsonb))",
    office=":office", since=":since", limit=":limit"))
_BY_SEQ = (f"SELECT {_ENTRY_COLUMNS} FROM entries "  # noqa: S608 -- constant columns
           "WHERE office_id = $1 AND seq = ANY($2::bigint[])")


@functools.cache
def _timeline_sql(channels: bool, kinds: bool, visibility: bool, upper: bool,
                  since: bool) -> str:
    """A timeline page's statement for asyncpg (``PgDb.fetch``; one text per combination of
    filters, so asyncpg's prepared statements are reused), arguments in this order:
    customer, office, [channels], [kinds], [visibility], [below seq], [from seq], limit."""
    where = ["customer_id = $1", "office_id = $2"]
    for present, condition in ((channels, "channel = ANY({}::text[])"),
                               (kinds, "kind = ANY({}::text[])"),
                               (visibility, "visibility = {}::text"),
                               (upper, "seq < {}::bigint"), (since, "seq >= {}::bigint")):
        if present:
            where.append(condition.format(f"${len(where) + 1}"))
    return (f"SELECT {_ENTRY_COLUMNS} FROM entries "  # noqa: S608 -- constant text only
            f"WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ${len(where) + 1}::integer")


INDEX_LEASE = timedelta(minutes=2)
"""How long rows handed to an indexer stay its own (renewed when it reads them again)."""
_CLAIM_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("chronik"),
                                                      sa.func.hashtext("index_outbox")))
"""Claims one at a time (the two-key form: another key space than ``pg_seq``'s locks)."""
_SNAPSHOTS_KEPT = 16


async def _locked_entry(conn: AsyncConnection, office_id: str, entry_id: str) -> Entry | None:
    """The office's entry, its row locked (``FOR UPDATE``) until the transaction ends."""
    row = (await conn.execute(
        _ENTRY.where(entries.c.id == entry_id, entries.c.office_id == office_id)
        .with_for_update())).mappings().first()
    return None if row is None else entry_from_row(row)


def _str(value: str) -> str:
    """A string argument as stored: without NUL characters (``timeline/pg_batch.py``)."""
    return value.replace("\x00", "") if "\x00" in value else value


def _bigint(value: int) -> int:
    """A key bound clamped to ``BIGINT`` (a cursor from a URL can be any integer; every
    stored key lies strictly inside the range, so the comparison keeps its meaning)."""
    return max(-(2**63), min(value, 2**63 - 1))


def _texts(values: Sequence[str]) -> sa.BindParameter[Any]:
    """One array parameter (``= ANY(:p)``) instead of one parameter per value."""
    return sa.literal(list(values), postgresql.ARRAY(sa.Text))


def _ints(values: Sequence[int]) -> sa.BindParameter[Any]:
    return sa.literal(list(values), postgresql.ARRAY(sa.BigInteger))


class _PgType(sa.types.UserDefinedType[str]):
    """A type by name, for casts only (``xid8``, ``pg_snapshot``)."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_: Any) -> str:
        return self.name


_XID8 = _PgType("xid8")
_SNAPSHOT = _PgType("pg_snapshot")


def _has_tag(tag: str) -> sa.ColumnElement[bool]:
    """``tags @> '["tag"]'`` (exact element; served by the GIN index ``entries_tags``)."""
    return entries.c.tags.contains(sa.cast(sa.literal([tag], postgresql.JSONB),
                                           postgresql.JSONB))


class PgEntries(PgRepository):
    async def append(self, draft: EntryDraft) -> tuple[Entry, bool]:
        return (await self.append_many([draft]))[0]

    async def append_many(self, drafts: Sequence[EntryDraft]) -> list[tuple[Entry, bool]]:
        """Idempotent on ``(office_id, channel, source_id)`` also against concurrent writers
        (see ``timeline/pg_batch.py``); one transaction."""
        async with self.db.begin() as conn:
            return await append_entries(conn, drafts)

    async def _one(self, stmt: sa.Select[Any]) -> Entry | None:
        async with self.db.statement() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else entry_from_tuple(row)

    async def _many(self, stmt: sa.Select[Any]) -> list[Entry]:
        async with self.db.statement() as conn:
            rows = (await conn.execute(stmt)).all()
        return [entry_from_tuple(r) for r in rows]

    async def get_entry(self, office_id: str, entry_id: str) -> Entry | None:
        office_id, entry_id = _str(office_id), _str(entry_id)
        return await self._one(_ENTRY.where(entries.c.id == entry_id,
                                            entries.c.office_id == office_id))

    async def find_entry_by_source(self, office_id: str, source_id: str,
                                   channel: Channel | None = None) -> Entry | None:
        office_id, source_id = _str(office_id), _str(source_id)
        stmt = _ENTRY.where(entries.c.office_id == office_id, entries.c.source_id == source_id)
        if channel is not None:
            stmt = stmt.where(entries.c.channel == channel.value)
        return await self._one(stmt.order_by(entries.c.seq).limit(1))

    async def entries_by_sources(self, office_id: str, source_ids: Sequence[str],
                                 channel: Channel | None = None) -> dict[str, Entry]:
        """source id -> its entry (the oldest, as ``find_entry_by_source``), for those that
        exist."""
        office_id = _str(office_id)
        wanted = list(dict.fromkeys(_str(s) for s in source_ids))
        if not wanted:
            return {}
        stmt = _ENTRY.where(entries.c.office_id == office_id,
                            entries.c.source_id == sa.any_(_texts(wanted)))
        if channel is not None:
            stmt = stmt.where(entries.c.channel == channel.value)
        found: dict[str, Entry] = {}
        for entry in await self._many(stmt.order_by(entries.c.seq)):
            assert entry.source_id is not None
            found.setdefault(entry.source_id, entry)
        return found

    async def revise_entry(self, office_id: str, entry_id: str, *, subject: str | None = None,
                           body: str | None = None, meta: dict[str, Any] | None = None,
                           keep_history: bool = True) -> Entry | None:
        """Change an entry in place (a Telegram edit, a call that ended). With
        ``keep_history`` the previous subject/body go to ``meta.revisions``. The index
        outbox and the feed get a row in the same transaction. The row is locked
        (``SELECT … FOR UPDATE``) from the read to the write, so two concurrent revisions
        apply one after the other and neither loses the other's history or meta."""
        office_id, entry_id = _str(office_id), _str(entry_id)
        subject, body = without_nul(subject), without_nul(body)
        meta = without_nul(meta)
        async with self.db.begin() as conn:
            old = await _locked_entry(conn, office_id, entry_id)
            if old is None:
                return None
            new_meta = dict(old.meta)
            if keep_history and ((subject is not None and subject != old.subject) or
                                 (body is not None and body != old.body)):
                new_meta.setdefault("revisions", []).append({
                    "subject": old.subject, "body": old.body,
                    "replaced_at": utcnow().isoformat()})
            new_meta.update(meta or {})
            updated = (await conn.execute(
                sa.update(entries).where(entries.c.seq == old.seq).values(
                    subject=old.subject if subject is None else subject,
                    body=old.body if body is None else body, meta=new_meta)
                .returning(*entries.c))).mappings().one()
            await conn.execute(sa.insert(index_outbox).values(seq=old.seq))
            await add_events(conn, [(office_id, "entry.updated", old.customer_id, old.id, None)])
        return entry_from_row(updated)

    async def move_entry(self, office_id: str, entry_id: str, customer_id: str,
                         moved: dict[str, Any]) -> Entry | None:
        """File an entry on another customer of the office (see ``EntryRepository``). Locks
        in the writers' order: the entry, then the customer (``FOR SHARE``: not merged away
        meanwhile), then the entry's notification job (as the notifier does)."""
        office_id, entry_id, customer_id = _str(office_id), _str(entry_id), _str(customer_id)
        moved = without_nul(moved)
        async with self.db.begin() as conn:
            old = await _locked_entry(conn, office_id, entry_id)
            if old is None:
                return None
            status = (await conn.execute(
                sa.select(customers.c.status).where(customers.c.id == customer_id,
                                                    customers.c.office_id == office_id)
                .with_for_update(read=True))).scalar()
            if status is None:
                raise NotFound("no such customer")
            if status == "merged":
                raise Conflict(f"customer {customer_id} was merged into another")
            if old.customer_id == customer_id:
                return old
            meta = dict(old.meta)
            meta["moved"] = [*meta.get("moved", []), moved]
            updated = (await conn.execute(
                sa.update(entries).where(entries.c.seq == old.seq)
                .values(customer_id=customer_id, meta=meta)
                .returning(*entries.c))).mappings().one()
            await conn.execute(sa.update(notify_jobs).where(
                notify_jobs.c.entry_id == old.id,
                notify_jobs.c.status.in_(["pending", "dead", "failed"]),
                sa.or_(notify_jobs.c.claimed_until.is_(None),
                       notify_jobs.c.claimed_until < utcnow()))
                .values(customer_id=customer_id))
            await conn.execute(sa.delete(portal_inbox).where(
                portal_inbox.c.entry_id == old.id,
                portal_inbox.c.customer_id == old.customer_id))
            await conn.execute(sa.insert(index_outbox).values(seq=old.seq))
            await add_events(conn, [
                (office_id, "entry.updated", old.customer_id, old.id, None),
                (office_id, "entry.updated", customer_id, old.id, None)])
        return entry_from_row(updated)

    async def entries_by_seq(self, office_id: str, seqs: Sequence[int]) -> list[Entry]:
        if not seqs:
            return []
        rows = await self.db.fetch(_BY_SEQ, _str(office_id),
                                   [q for q in seqs if _bigint(q) == q])
        by_seq = {e.seq: e for e in map(entry_from_tuple, rows)}
        return [by_seq[s] for s in seqs if s in by_seq]

    async def timeline(self, office_id: str, customer_id: str, query: TimelineQuery) -> Page:
        """Newest first, keyset-paged on ``seq``: a cursor is the last key of a page, and the
        next page is everything below it. Keys never move and a concurrent writer only adds
        rows (at their own keys), so pages are stable under inserts."""
        args: list[Any] = [_str(customer_id), _str(office_id)]
        if query.channels:
            args.append([c.value for c in query.channels])
        if query.kinds:
            args.append([_str(k) for k in query.kinds])
        if query.visibility:
            args.append(query.visibility.value)
        lower, upper = query.seq_bounds()
        if upper is not None:
            args.append(_bigint(upper))
        if lower is not None:
            args.append(lower)
        args.append(query.limit + 1)
        sql = _timeline_sql(bool(query.channels), bool(query.kinds), bool(query.visibility),
                            upper is not None, lower is not None)
        found = [entry_from_tuple(r) for r in await self.db.fetch(sql, *args)]
        items = found[: query.limit]
        nxt = str(items[-1].seq) if len(found) > query.limit else None
        return Page(items=items, next_cursor=nxt)

    async def timeline_json(self, office_id: str, customer_id: str, query: TimelineQuery
                            ) -> JsonPage:
        return json_page(await self.timeline(office_id, customer_id, query))

    async def scan_entries(self, after_seq: int, limit: int) -> list[Entry]:
        return await self._many(_ENTRY.where(entries.c.seq > _bigint(after_seq))
                                .order_by(entries.c.seq).limit(limit))

    async def count_entries(self) -> int:
        """All offices' entries (what a reindex goes through)."""
        async with self.db.connect() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).select_from(entries))
        return int(count or 0)

    async def retag_entry(self, office_id: str, entry_id: str, *, add: Sequence[str] = (),
                          remove: Sequence[str] = ()) -> tuple[str, ...] | None:
        """Add and remove tags in one transaction (plus an index-outbox row when they
        change); returns the new tags, ``None`` for no such entry. The row is locked from
        the read to the write (``SELECT … FOR UPDATE``), so concurrent retags of one entry
        (closing a request while another tag is added) never lose each other's change."""
        office_id, entry_id = _str(office_id), _str(entry_id)
        add, remove = [_str(t) for t in add], [_str(t) for t in remove]
        async with self.db.begin() as conn:
            row = (await conn.execute(
                sa.select(entries.c.seq, entries.c.tags)
                .where(entries.c.id == entry_id, entries.c.office_id == office_id)
                .with_for_update())).first()
            if row is None:
                return None
            seq, old = int(row[0]), list(row[1])
            new = [t for t in old if t not in remove]
            new += [t for t in dict.fromkeys(add) if t not in new]
            if new != old:
                await conn.execute(sa.update(entries).where(entries.c.seq == seq)
                                   .values(tags=new))
                await conn.execute(sa.insert(index_outbox).values(seq=seq))
        return tuple(new)

    async def entries_with_tag(self, office_id: str, tag: str, *,
                               without_tag: str | None = None, limit: int = 200,
                               customer_id: str | None = None) -> list[Entry]:
        """The office's entries carrying ``tag`` (exactly, not as a prefix) and, if given,
        not ``without_tag``; oldest first, at most ``limit``. ``tags @> '["tag"]'`` on the
        GIN index of tagged entries (``entries_tags``)."""
        office_id, tag = _str(office_id), _str(tag)
        stmt = _ENTRY.where(entries.c.office_id == office_id,
                            entries.c.tags != sa.cast(sa.literal([], postgresql.JSONB),
                                                      postgresql.JSONB),
                            _has_tag(tag))
        if customer_id is not None:
            stmt = stmt.where(entries.c.customer_id == _str(customer_id))
        if without_tag is not None:
            stmt = stmt.where(sa.not_(_has_tag(_str(without_tag))))
        return await self._many(stmt.order_by(entries.c.seq).limit(max(0, limit)))

    async def awaiting_reply(self, office_id: str, since: datetime, limit: int
                             ) -> list[Entry]:
        """See ``timeline.replies`` (the partial index ``entries_inbound`` serves the
        window, ``entries_customer`` the look for an answer)."""
        args = {"office": _str(office_id), "since": seq_base(since), "limit": max(0, limit)}
        async with self.db.statement() as conn:
            rows = (await conn.execute(_AWAITING_REPLY, args)).all()
        return [entry_from_tuple(r) for r in rows]

    # ------------------------------------------------------------------ index outbox
    @cached_property
    def _index_claimant(self) -> str:
        """Who this handle is in ``index_outbox.claimed_by``."""
        return new_ulid()

    @cached_property
    def _backlog_snapshots(self) -> OrderedDict[int, str]:
        return OrderedDict()

    async def pending_index_tasks(self, limit: int) -> list[IndexTask]:
        """The oldest rows this handle may index, claimed for ``INDEX_LEASE`` (see the
        module docstring); each with its entry as it is now (``None``: drop the document)."""
        if limit == 0:
            return []
        me, now = self._index_claimant, sa.func.now()
        held = index_outbox.alias("held")
        free = sa.or_(index_outbox.c.claimed_by.is_(None), index_outbox.c.claimed_by == me,
                      index_outbox.c.claimed_until <= now)
        held_elsewhere = sa.exists().where(
            held.c.seq == index_outbox.c.seq, held.c.claimed_by.is_not(None),
            held.c.claimed_by != me, held.c.claimed_until > now)
        pick = (sa.select(index_outbox.c.id).where(free, sa.not_(held_elsewhere))
                .order_by(index_outbox.c.id).limit(None if limit < 0 else limit)
                .with_for_update(of=index_outbox, skip_locked=True))
        async with self.db.begin() as conn:
            await conn.execute(_CLAIM_LOCK)
            ids = (await conn.scalars(pick)).all()
            if not ids:
                return []
            claimed = (await conn.execute(
                sa.update(index_outbox).where(index_outbox.c.id == sa.any_(_ints(ids)))
                .values(claimed_by=me, claimed_until=now + INDEX_LEASE)
                .returning(index_outbox.c.id, index_outbox.c.seq))).all()
            seqs = sorted({int(r[1]) for r in claimed})
            rows = (await conn.execute(
                _ENTRY.where(entries.c.seq == sa.any_(_ints(seqs))))).mappings().all()
        by_seq = {int(r["seq"]): entry_from_row(r) for r in rows}
        return [IndexTask(outbox_id=int(i), seq=int(q), entry=by_seq.get(int(q)))
                for i, q in sorted(claimed)]

    async def ack_index_tasks(self, outbox_ids: Sequence[int]) -> None:
        """Delete exactly these rows (whoever holds them; absent ones are ignored)."""
        ids = [i for i in outbox_ids if _bigint(i) == i]
        if not ids:
            return
        async with self.db.begin() as conn:
            await conn.execute(sa.delete(index_outbox)
                               .where(index_outbox.c.id == sa.any_(_ints(ids))))

    async def requeue_index(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(index_outbox), [{"seq": s} for s in seqs])

    async def index_backlog(self) -> tuple[int, int]:
        """(rows waiting in the index outbox, the highest outbox id; 0 when empty). Also
        remembers the snapshot it was read in, for ``ack_index_through``."""
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.max(index_outbox.c.id), 0),
                sa.cast(sa.func.pg_current_snapshot(), sa.Text)))).one()
        count, top, snapshot = int(row[0]), int(row[1]), str(row[2])
        marks = self._backlog_snapshots
        marks[top] = snapshot
        marks.move_to_end(top)
        while len(marks) > _SNAPSHOTS_KEPT:
            marks.popitem(last=False)
        return count, top

    async def ack_index_through(self, outbox_id: int) -> int:
        """Acknowledge every outbox row up to ``outbox_id`` that had committed when this
        handle's ``index_backlog`` returned that id (a rebuild from the store that started
        afterwards covered them); rows committed later stay queued (module docstring).
        Returns how many were deleted."""
        stmt = sa.delete(index_outbox).where(index_outbox.c.id <= _bigint(outbox_id))
        snapshot = self._backlog_snapshots.get(outbox_id)
        if snapshot is not None:
            stmt = stmt.where(sa.func.pg_visible_in_snapshot(
                sa.cast(sa.cast(index_outbox.c.tx, sa.Text), _XID8),
                sa.cast(sa.cast(sa.literal(snapshot), sa.Text), _SNAPSHOT)))
        async with self.db.begin() as conn:
            return int((await conn.execute(stmt)).rowcount)
