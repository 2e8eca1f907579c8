"""The erasure of one person on PostgreSQL, in the caller's transaction (``erase``, used by
``PgPrivacy.erase_customer``; the twin of ``_erase`` in ``timeline/sqlite_privacy.py``), and the
deletion of entries with what hangs on them (``drop_entries``, also used by retention).

Concurrency (SQLite's single writer serialised all of this for free):

* Lock order: the transaction locks as the other writers do, so it waits for them instead
  of deadlocking: first the entries (``FOR UPDATE``), then the customer rows (the customer
  and the records merged into it, ascending id). Under the customer locks the entries are
  read once more, so what a merge, its undo or an append committed meanwhile is erased too.
  Notification jobs are written with their entries (``pg_batch``), and a claimer locks job
  rows only: deleting a claimed job waits for the claim's short transaction. The jobs are
  locked before their attempts and deliveries are deleted (the notifier's order, job first),
  and a notifier write that touches the entry locks it before the job (``pg_notify``), so
  a delivery of the person being erased waits for the erasure instead of deadlocking.
* Rows that reference ``customers`` by foreign key (identities, consents, preferences,
  tokens, notification jobs, portal inbox) take a ``KEY SHARE`` lock on the customer while
  they are inserted: a writer still running holds the erasure back until it commits (its
  rows are then erased too); one that comes later waits and then fails, the customer being
  gone. Appends do the same (``pg_batch.append_entries`` locks the customer rows before it
  writes): an append still running when the erasure starts holds the erasure's customer
  lock back, and the entries it committed are read under that lock and erased; an append
  that starts later waits for the erasure and is refused (``CustomerGone``), so no entry
  outlives its customer.
* Two erasures of one person serialise on the same locks; the second finds no customer
  (``NotFound``).
* Should a writer lock in another order anyway (an undo of a merge locks customers before
  entries), PostgreSQL detects the deadlock and aborts one side; ``PgPrivacy`` then runs
  the erasure or retention delete again, up to ``DEADLOCK_RETRIES`` times (nothing of the
  aborted attempt remains).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.accounts import CUSTOMER_CODES
from timeline.errors import NotFound
from timeline.ids import new_ulid
from timeline.models import CustomerStatus, IdentityKind, utcnow
from timeline.privacy_models import AccessAction, AccessRecord, ErasureOrder, ErasureOutcome
from timeline.sql_tables import (
    consents,
    cti_calls,
    customer_tokens,
    customers,
    data_exports,
    entries,
    erasure_receipts,
    erasure_suppression,
    events,
    identities,
    index_outbox,
    login_codes,
    merges,
    notify_attempts,
    notify_deliveries,
    notify_jobs,
    portal_inbox,
    preferences,
    privacy_access_log,
    quarantine,
    sign_in_attempts,
    telegram_updates,
    web_sessions,
)

RETAINED_TAG = "retained-by-law"
_RETAINED_META_DROP = ("from", "from_name", "search_text", "in_reply_to")
"""Who sent a retained entry: dropped when it is detached from the erased person."""


_CHAT_ID = re.compile(r"-?[0-9]{1,18}")
"""A Telegram chat id as an identity value (``telegram_updates.chat_id`` is a BIGINT)."""


def any_of(column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column = ANY(:array)``: one parameter however many values (no chunking, unlike
    SQLite's ``IN (?, …)``)."""
    return column == sa.any_(sa.literal(list(values), postgresql.ARRAY(column.type)))


def access_values(record: AccessRecord) -> dict[str, Any]:
    return {"id": record.id, "office_id": record.office_id, "agent_id": record.agent_id,
            "action": record.action.value, "customer_id": record.customer_id,
            "at": record.at, "expires_at": record.expires_at}



async def drop_entries(conn: AsyncConnection, ids: Sequence[str], seqs: Sequence[int]) -> int:
    """Delete entries with their notification records and inbox items; a drop row in the
    index outbox for each. Returns the notification jobs removed."""
    if not ids:
        return 0
    jobs = (await conn.scalars(
        sa.select(notify_jobs.c.id).where(any_of(notify_jobs.c.entry_id, ids)))).all()
    await _delete_jobs(conn, jobs)
    for column in (notify_deliveries.c.entry_id, portal_inbox.c.entry_id,
                   events.c.entry_id):  # events: the live feed
        await conn.execute(sa.delete(column.table).where(any_of(column, ids)))
    await conn.execute(sa.delete(entries).where(any_of(entries.c.id, ids)))
    await conn.execute(sa.insert(index_outbox), [{"seq": s} for s in seqs])
    return len(jobs)


async def _delete_jobs(conn: AsyncConnection, jobs: Sequence[str]) -> int:
    """Delete notification jobs with their attempts and deliveries; the attempts removed."""
    if not jobs:
        return 0
    # the job rows first, as every notifier write locks them (``pg_notify``: job, delivery,
    # attempts): deleting the attempts first would hold an attempt a worker writes next
    await conn.execute(sa.select(notify_jobs.c.id).where(any_of(notify_jobs.c.id, jobs))
                       .order_by(notify_jobs.c.id).with_for_update())
    attempts = await _count_deleted(conn, notify_attempts, any_of(notify_attempts.c.job_id, jobs))
    await conn.execute(sa.delete(notify_deliveries).where(any_of(notify_deliveries.c.job_id,
                                                               jobs)))
    await conn.execute(sa.delete(notify_jobs).where(any_of(notify_jobs.c.id, jobs)))
    return attempts


async def _count_deleted(conn: AsyncConnection, table: sa.Table,
                         *where: sa.ColumnElement[bool]) -> int:
    result = await conn.execute(sa.delete(table).where(*where))
    return int(result.rowcount)


async def _people(conn: AsyncConnection, office: str, customer_id: str, *,
                  lock: bool) -> list[str]:
    """The customer and the records merged into it: their ids, the customer's first.
    ``lock``: ``FOR UPDATE``, in ascending id (one statement). ``NotFound`` without the
    customer."""
    c = customers.c
    stmt = sa.select(c.id).where(c.office_id == office, sa.or_(
        c.id == customer_id,
        sa.and_(c.merged_into == customer_id, c.status == CustomerStatus.MERGED.value))
    ).order_by(c.id)
    found = (await conn.scalars(stmt.with_for_update() if lock else stmt)).all()
    if customer_id not in found:
        raise NotFound("no such customer")
    return [customer_id] + [i for i in found if i != customer_id]


async def erase(conn: AsyncConnection, order: ErasureOrder) -> ErasureOutcome:
    office = order.office_id
    e = entries.c

    def of_people(ids: Sequence[str]) -> sa.Select[Any]:
        return (sa.select(e.seq, e.id, e.attachments, e.meta, e.tags)
                .where(e.office_id == office, any_of(e.customer_id, ids)))

    # lock order: entries, customers (module docstring)
    people = await _people(conn, office, order.customer_id, lock=False)
    await conn.execute(of_people(people).with_only_columns(e.seq).order_by(e.seq)
                       .with_for_update())
    people = await _people(conn, office, order.customer_id, lock=True)
    # again, under the customer locks: what a merge, its undo or an append committed
    # meanwhile (the rows locked above are simply returned)
    theirs = (await conn.execute(of_people(people).order_by(e.seq).with_for_update())).all()
    counts: dict[str, int] = {"customers": len(people)}
    now = utcnow()

    merge_ids = (await conn.scalars(sa.select(merges.c.id).where(
        merges.c.office_id == office,
        sa.or_(any_of(merges.c.source_id, people), any_of(merges.c.target_id, people))))).all()
    notes = (await conn.execute(
        sa.select(e.seq, e.id, e.attachments)
        .where(e.office_id == office, e.kind == "merge",
               any_of(e.meta["merge_id"].astext, merge_ids),
               sa.not_(any_of(e.customer_id, people)))
        .order_by(e.seq).with_for_update())).all() if merge_ids else []

    # retained by law: detached to a placeholder customer without identities
    retained = {r.entry_id: r for r in order.retained}
    placeholder: str | None = None
    if retained:
        placeholder = new_ulid()
        await conn.execute(sa.insert(customers).values(
            id=placeholder, office_id=office, name=order.placeholder_name,
            name_fold=order.placeholder_name.casefold(), status=CustomerStatus.ACTIVE.value,
            created_at=now, updated_at=now))
        for row in theirs:
            rule = retained.get(row.id)
            if rule is None:
                continue
            meta = {k: v for k, v in row.meta.items() if k not in _RETAINED_META_DROP}
            meta["retained"] = {"until": rule.until.isoformat(), "reason": rule.reason}
            tags = [t for t in row.tags if t != RETAINED_TAG] + [RETAINED_TAG]
            await conn.execute(sa.update(entries).where(e.seq == row.seq).values(
                customer_id=placeholder, meta=meta, tags=tags))
            await conn.execute(sa.insert(index_outbox).values(seq=row.seq))
    gone = [(r.seq, r.id, r.attachments) for r in theirs if r.id not in retained] + [
        (r.seq, r.id, r.attachments) for r in notes]
    gone_ids = [i for _, i, _ in gone]
    blobs = [a["sha256"] for _, _, atts in gone for a in atts]
    counts["entries"] = len(gone) - len(notes)
    counts["merge_notes"] = len(notes)
    counts["attachments"] = len(blobs)
    counts["retained"] = len(retained)

    # the person's inbox items, counted before those of erased entries go with them (the
    # notifier adds one only with the entry locked, which this transaction holds)
    inbox = (portal_inbox.c.office_id == office, any_of(portal_inbox.c.customer_id, people))
    counts["portal_inbox"] = int(await conn.scalar(
        sa.select(sa.func.count()).select_from(portal_inbox).where(*inbox)) or 0)
    jobs = (await conn.scalars(sa.select(notify_jobs.c.id).where(
        notify_jobs.c.office_id == office, any_of(notify_jobs.c.customer_id, people)))).all()
    counts["notification_attempts"] = await _delete_jobs(conn, jobs)
    counts["notification_jobs"] = len(jobs) + await drop_entries(
        conn, gone_ids, [s for s, _, _ in gone])
    await conn.execute(sa.delete(portal_inbox).where(*inbox))

    # quarantine: items naming the person, and those processed into an erased entry
    q = quarantine.c
    into_erased = (await conn.scalars(sa.select(q.id).where(
        q.office_id == office, any_of(q.entry_id, gone_ids)))).all() if gone_ids else []
    quarantined = list(dict.fromkeys([*order.quarantine_ids, *into_erased]))
    removed = (await conn.execute(
        sa.delete(quarantine).where(q.office_id == office, any_of(q.id, quarantined))
        .returning(q.id, q.raw_sha256))).all() if quarantined else []
    by_id = dict(removed)
    blobs += [by_id[i] for i in quarantined if i in by_id]
    counts["quarantine"] = len(removed)

    async def person_rows(table: sa.Table, column: str = "customer_id",
                          *extra: sa.ColumnElement[bool]) -> int:
        return await _count_deleted(conn, table, table.c.office_id == office, *extra,
                                    any_of(table.c[column], people))

    counts["cti_calls"] = await person_rows(cti_calls)
    await person_rows(events)  # the live-event feed (ids only, but naming the person)
    counts["customer_tokens"] = await person_rows(customer_tokens)
    counts["portal_sessions"] = await person_rows(web_sessions, "subject_id",
                                                web_sessions.c.audience == "portal")
    counts["login_codes"] = await person_rows(login_codes, "subject_id",
                                              login_codes.c.audience == "portal")
    # the day's count of their sign-in codes (keyed by customer id, no office column)
    await conn.execute(sa.delete(sign_in_attempts).where(
        sign_in_attempts.c.scope == CUSTOMER_CODES, any_of(sign_in_attempts.c.key, people)))
    counts["consents"] = await person_rows(consents)
    counts["preferences"] = await person_rows(preferences)
    # Telegram updates from the person's chats, received but not processed yet
    chats = [int(v) for v in (await conn.scalars(sa.select(identities.c.value).where(
        identities.c.office_id == office, identities.c.kind == IdentityKind.TELEGRAM.value,
        any_of(identities.c.customer_id, people)))).all() if _CHAT_ID.fullmatch(v)]
    if chats:
        await conn.execute(sa.delete(telegram_updates).where(
            telegram_updates.c.office_id == office, telegram_updates.c.status == "pending",
            any_of(telegram_updates.c.chat_id, chats)))
    counts["identities"] = await person_rows(identities)
    counts["merges"] = await _count_deleted(conn, merges, any_of(merges.c.id, merge_ids)) \
        if merge_ids else 0
    # the file of a finished export, and the one an export still running will write
    files = (await conn.scalars(sa.select(
        sa.func.coalesce(data_exports.c.file, data_exports.c.id + ".zip")).where(
        data_exports.c.office_id == office, any_of(data_exports.c.customer_id, people)))).all()
    counts["exports"] = await person_rows(data_exports)
    await conn.execute(sa.update(customers).where(
        customers.c.office_id == office, any_of(customers.c.merged_into, people))
        .values(merged_into=None))
    await person_rows(customers, "id")
    if order.suppress:
        await conn.execute(
            postgresql.insert(erasure_suppression).on_conflict_do_nothing(),
            [{"office_id": office, "kind": kind, "digest": digest, "created_at": now}
             for kind, digest in order.suppress])
    receipt = new_ulid()
    await conn.execute(sa.insert(erasure_receipts).values(
        id=receipt, office_id=office, erased_by=order.erased_by, erased_at=now,
        counts=counts,
        retained=[{"entry_id": r.entry_id, "kind": r.kind, "until": r.until.isoformat(),
                   "reason": r.reason, "placeholder_id": placeholder}
                  for r in order.retained]))
    if order.access_log_until is not None:
        await conn.execute(sa.insert(privacy_access_log).values(**access_values(AccessRecord(
            id=new_ulid(), office_id=office, agent_id=order.erased_by,
            action=AccessAction.ERASE, customer_id=order.customer_id, at=now,
            expires_at=order.access_log_until))))
    return ErasureOutcome(receipt_id=receipt, counts=counts,
                          erased_seqs=tuple(s for s, _, _ in gone),
                          blob_candidates=tuple(dict.fromkeys(blobs)),
                          export_files=tuple(files), placeholder_id=placeholder)
