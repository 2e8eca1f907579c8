"""``timeline.repositories.NotifyRepository`` on PostgreSQL: jobs (claimed with a lease),
deliveries, attempts, the portal inbox, and the one read through which the notifier sees
entries. Behaviour matches ``timeline/sqlite_notify.py``; what SQLite's single writer gave for
free is done with row locks here, since any number of workers claim at once:

* Claims (``claim_notify_jobs``, ``claim_held_jobs``) lock the due rows with ``SELECT … FOR
  NO KEY UPDATE SKIP LOCKED`` (``FOR UPDATE`` minus the key lock: a job's key never changes)
  and lease exactly those ids in the same transaction: a row another claimer is taking, or a
  holder is writing, is skipped, not waited for, and is never leased twice. The lock is
  re-checked against the newest row version, so a job leased by a transaction that committed
  meanwhile is not taken either. Leases (``claimed_until``) are ``TIMESTAMPTZ`` compared as
  instants.
* A job is written in the transaction of its entry (``pg_batch.append_entries``): there is
  no outbox to convert, so a claim locks job rows only, never entries or customers, and an
  erasure (which locks entries, then customers, then deletes the jobs) can only wait for a
  claim's short transaction, never deadlock with it.
* Fencing: every write of a lease holder (``begin_delivery``, ``reschedule_notify_job``,
  ``complete_notify_job``) locks the job row and checks ``claimed_by``; a worker whose lease
  was taken over changes nothing on the job, exactly as on SQLite. A delivery's state is
  read locked, so a send is started at most once per (entry, channel) and an interrupted one
  (``sending``) becomes ``unknown`` instead of being sent again.
* Lock order: every write about one job locks the job row first, then its delivery, then
  its attempts (``fail_delivery`` and ``reschedule_notify_job`` too, before their attempt),
  so a fenced-off worker's late write and the new holder's wait for each other, never
  deadlock. A write that also touches the job's entry (``begin_delivery`` inserts a
  delivery, whose foreign key locks the entry; ``complete_notify_job`` writes the entry's
  ``meta.delivery`` and appends the notification entry) locks the entry *before* the job
  (``_lock_entry``), the order of an erasure (entries, customers, then jobs with their
  attempts and deliveries, ``pg_erasure``): a delivery of someone being erased waits for
  the erasure and then finds the job gone, instead of deadlocking with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import Conflict
from timeline.ids import new_ulid
from timeline.models import Entry, EntryDraft, utcnow
from timeline.notifications import (
    RETRYABLE_STATUSES,
    DeliveryAttempt,
    DeliveryStart,
    InboxItem,
    JobOutcome,
    JobStatus,
    NotifyJob,
)
from timeline.pg_batch import append_entries
from timeline.pg_events import add_events
from timeline.pg_rows import PgRepository, entry_from_row
from timeline.sql_tables import (
    entries,
    index_outbox,
    notify_attempts,
    notify_deliveries,
    notify_jobs,
    portal_inbox,
)

HELD_BATCH = 200
"""Held jobs of one customer leased together at most (as on SQLite)."""

_JOB_COLS = tuple(notify_jobs.c[name] for name in (
    "id", "office_id", "entry_id", "customer_id", "status", "attempts", "generation",
    "next_at", "channel", "reason", "skip_channels", "created_at", "updated_at", "held"))
_INBOX_COLS = tuple(portal_inbox.c[name] for name in (
    "id", "office_id", "customer_id", "entry_id", "subject", "body", "attachments",
    "created_at", "read_at"))
_PENDING = notify_jobs.c.status == JobStatus.PENDING.value


def _job(row: Mapping[Any, Any]) -> NotifyJob:
    return NotifyJob(id=row["id"], office_id=row["office_id"], entry_id=row["entry_id"],
                     customer_id=row["customer_id"], status=JobStatus(row["status"]),
                     attempts=row["attempts"], generation=row["generation"],
                     next_at=row["next_at"], channel=row["channel"], reason=row["reason"],
                     skip_channels=tuple(row["skip_channels"]), created_at=row["created_at"],
                     updated_at=row["updated_at"], held=row["held"])


def _inbox(row: Mapping[Any, Any]) -> InboxItem:
    return InboxItem(id=row["id"], office_id=row["office_id"], customer_id=row["customer_id"],
                     entry_id=row["entry_id"], subject=row["subject"], body=row["body"],
                     attachments=tuple(row["attachments"]), created_at=row["created_at"],
                     read_at=row["read_at"])


def _free(now: datetime) -> sa.ColumnElement[bool]:
    """Not leased at ``now``: never claimed, or the lease ran out."""
    return sa.or_(notify_jobs.c.claimed_until.is_(None), notify_jobs.c.claimed_until < now)


class PgNotify(PgRepository):
    # ------------------------------------------------------------------ the one entry read
    async def published_entry(self, office_id: str, entry_id: str) -> Entry | None:
        """The entry if it is published — the only way the notifier reads entries. The
        visibility is part of the statement itself: no argument can widen it."""
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(entries).where(
                entries.c.id == entry_id, entries.c.office_id == office_id,
                entries.c.visibility == "published"))).mappings().first()
        return None if row is None else entry_from_row(row)

    # ------------------------------------------------------------------ jobs
    async def claim_notify_jobs(self, owner: str, now: datetime, lease_until: datetime,
                                limit: int) -> list[NotifyJob]:
        """Lease up to ``limit`` due jobs to ``owner`` (a job is written with its entry;
        see the module docstring for how claimers never share a job)."""
        async with self.db.begin() as conn:
            due = (sa.select(notify_jobs.c.id)
                   .where(_PENDING, notify_jobs.c.next_at <= now, _free(now))
                   .order_by(notify_jobs.c.next_at, notify_jobs.c.id).limit(limit)
                   .with_for_update(skip_locked=True, key_share=True))
            return await _lease(conn, list((await conn.scalars(due)).all()), owner,
                                lease_until, key=lambda j: (j.next_at, j.id))

    async def next_notify_due(self) -> datetime | None:
        """When the earliest pending job falls due (for the worker's sleep): its ``next_at``,
        or the end of its lease if that is later."""
        async with self.db.connect() as conn:
            due = await conn.scalar(
                sa.select(sa.func.min(sa.func.greatest(notify_jobs.c.next_at,
                                                       notify_jobs.c.claimed_until)))
                .where(_PENDING))
        return due if isinstance(due, datetime) else None

    async def reschedule_notify_job(self, job_id: str, owner: str, *, next_at: datetime,
                                    attempts: int, reason: str | None,
                                    skip_channels: Sequence[str], channel: str | None = None,
                                    attempt_id: int | None = None,
                                    attempt_outcome: str | None = None,
                                    held: str | None = None) -> None:
        """Keep the job pending until ``next_at`` (after a transient failure, or held back by
        quiet hours or the daily digest: ``held`` says why); releases the lease. The job is
        changed only while ``owner`` holds it; the attempt's outcome is recorded either way
        (what happened to that send is true whoever holds the job now), as on SQLite."""
        now = utcnow()
        async with self.db.begin() as conn:
            await _lock_job(conn, job_id)
            if attempt_id is not None:
                await _finish_attempt(conn, attempt_id, attempt_outcome or "transient", reason,
                                      now)
                await conn.execute(
                    sa.update(notify_deliveries)
                    .where(notify_deliveries.c.job_id == job_id,
                           notify_deliveries.c.channel == channel,
                           notify_deliveries.c.state == "sending")
                    .values(state="failed", updated_at=now))
            await conn.execute(
                sa.update(notify_jobs)
                .where(notify_jobs.c.id == job_id, notify_jobs.c.claimed_by == owner)
                .values(next_at=next_at, attempts=attempts, reason=reason,
                        skip_channels=list(skip_channels),
                        channel=sa.func.coalesce(sa.cast(channel, sa.Text),
                                                 notify_jobs.c.channel),
                        held=held, claimed_until=None, claimed_by=None, updated_at=now))

    async def begin_delivery(self, job_id: str, owner: str, lease_until: datetime,
                             entry_id: str, channel: str, *,
                             redo_interrupted: bool = False) -> DeliveryStart:
        """Record an attempt on (entry, channel) as ``sending`` *before* sending, renewing
        the job's lease (nothing happens if the lease was lost). When an earlier attempt was
        interrupted (state ``sending``: a worker stopped mid-send) it is marked ``unknown``
        and nothing is recorded — unless ``redo_interrupted`` (an idempotent transport)
        allows redoing it. A delivery already ``sent``/``unknown`` is never started again.

        The lease renewal (one ``UPDATE`` of the job row) holds the job's row lock until the
        end, so a claimer cannot take the job over meanwhile; the delivery row is read
        ``FOR UPDATE`` (a late write of the previous holder is waited for and seen)."""
        now = utcnow()
        async with self.db.begin() as conn:
            await _lock_entry(conn, entry_id, for_update=False)  # lock order: module notes
            renewed = await conn.scalar(
                sa.update(notify_jobs)
                .where(notify_jobs.c.id == job_id, notify_jobs.c.claimed_by == owner, _PENDING,
                       notify_jobs.c.claimed_until >= now)
                .values(claimed_until=lease_until).returning(notify_jobs.c.id))
            if renewed is None:
                return DeliveryStart(attempt_id=None, previous=None, lease_lost=True)
            here = (notify_deliveries.c.entry_id == entry_id,
                    notify_deliveries.c.channel == channel)
            previous = await conn.scalar(sa.select(notify_deliveries.c.state).where(*here)
                                         .with_for_update(key_share=True))
            if previous == "sending":
                await conn.execute(
                    sa.update(notify_attempts)
                    .where(notify_attempts.c.job_id == job_id,
                           notify_attempts.c.channel == channel,
                           notify_attempts.c.outcome == "sending")
                    .values(outcome="interrupted", finished_at=now))
                if not redo_interrupted:
                    await conn.execute(sa.update(notify_deliveries).where(*here)
                                       .values(state="unknown", updated_at=now))
            if previous in ("sent", "unknown") or (previous == "sending" and
                                                   not redo_interrupted):
                return DeliveryStart(attempt_id=None, previous=previous)
            start = insert(notify_deliveries).values(
                entry_id=entry_id, channel=channel, job_id=job_id, state="sending",
                updated_at=now)
            await conn.execute(start.on_conflict_do_update(
                index_elements=[notify_deliveries.c.entry_id, notify_deliveries.c.channel],
                set_={"state": "sending", "job_id": start.excluded.job_id,
                      "updated_at": start.excluded.updated_at}))
            attempt = await conn.scalar(
                sa.insert(notify_attempts).values(job_id=job_id, channel=channel,
                                                  started_at=now, outcome="sending")
                .returning(notify_attempts.c.id))
        return DeliveryStart(attempt_id=attempt, previous=previous)

    async def fail_delivery(self, job_id: str, attempt_id: int, channel: str, outcome: str,
                            detail: str, skip_channels: Sequence[str]) -> None:
        """A channel failed for good for this job (refused, or its attempts ran out): finish
        the attempt, mark the delivery failed and remember the channel so no later run tries
        it again; the next channel starts with a fresh attempt budget."""
        now = utcnow()
        async with self.db.begin() as conn:
            await _lock_job(conn, job_id)
            await _finish_attempt(conn, attempt_id, outcome, detail, now)
            await conn.execute(
                sa.update(notify_deliveries)
                .where(notify_deliveries.c.job_id == job_id,
                       notify_deliveries.c.channel == channel)
                .values(state="failed", updated_at=now))
            await conn.execute(
                sa.update(notify_jobs).where(notify_jobs.c.id == job_id)
                .values(skip_channels=list(skip_channels), attempts=0, updated_at=now))

    async def complete_notify_job(self, job_id: str, owner: str | None, outcome: JobOutcome,
                                  notification: EntryDraft | None) -> Entry | None:
        """One transaction: finish the attempt and the delivery, close the job, append the
        ``notification`` entry (idempotent on its ``source_id``) and write
        ``meta.delivery`` on the source entry. Returns the new notification entry (``None``
        when it existed already, or none was asked for).

        The job row is read ``FOR UPDATE``: a claimer taking the job over waits (or skips
        it), and an ``owner`` whose lease went to another worker changes nothing.
        ``meta.delivery`` is set in one ``UPDATE`` (``meta || {"delivery": …}``), so a
        concurrent change of the entry's other fields is not lost."""
        now = utcnow()
        job = sa.select(notify_jobs.c.entry_id, notify_jobs.c.office_id,
                        notify_jobs.c.claimed_by).where(notify_jobs.c.id == job_id)
        async with self.db.begin() as conn:
            source_id = await conn.scalar(job.with_only_columns(notify_jobs.c.entry_id))
            if source_id is None:
                return None  # erased meanwhile
            await _lock_entry(conn, source_id, for_update=True)  # lock order: module notes
            row = (await conn.execute(job.with_for_update(key_share=True))).first()
            if row is None or (owner is not None and row.claimed_by != owner):
                return None  # erased meanwhile, or our lease was lost to another worker
            entry_id, office_id = row.entry_id, row.office_id
            if outcome.attempt_id is not None:
                await _finish_attempt(conn, outcome.attempt_id,
                                      outcome.attempt_outcome or "sent", outcome.reason, now)
            if outcome.delivery_state and outcome.channel:
                await conn.execute(
                    sa.update(notify_deliveries)
                    .where(notify_deliveries.c.entry_id == entry_id,
                           notify_deliveries.c.channel == outcome.channel)
                    .values(state=outcome.delivery_state, updated_at=now))
            await conn.execute(
                sa.update(notify_jobs).where(notify_jobs.c.id == job_id)
                .values(status=outcome.status.value,
                        channel=sa.func.coalesce(sa.cast(outcome.channel, sa.Text),
                                                 notify_jobs.c.channel),
                        reason=outcome.reason, claimed_until=None, claimed_by=None,
                        updated_at=now))
            created: Entry | None = None
            if notification is not None:
                (made, fresh), = await append_entries(conn, [notification])
                created = made if fresh else None
            if outcome.delivery:
                patch = sa.cast(sa.literal({"delivery": outcome.delivery}, JSONB), JSONB)
                source = (await conn.execute(
                    sa.update(entries)
                    .where(entries.c.id == entry_id, entries.c.office_id == office_id)
                    .values(meta=entries.c.meta.op("||")(patch))
                    .returning(entries.c.seq, entries.c.customer_id))).first()
                if source is not None:
                    await conn.execute(sa.insert(index_outbox).values(seq=source.seq))
                    await add_events(conn, [(office_id, "entry.updated", source.customer_id,
                                             entry_id, None)])
        return created

    async def get_notify_job(self, office_id: str, job_id: str) -> NotifyJob | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(*_JOB_COLS).where(
                notify_jobs.c.id == job_id, notify_jobs.c.office_id == office_id))
                ).mappings().first()
        return None if row is None else _job(row)

    async def list_notify_jobs(self, office_id: str, *, status: str | None = None,
                               customer_id: str | None = None, limit: int = 50,
                               before_id: str | None = None) -> list[NotifyJob]:
        """Newest first."""
        query = sa.select(*_JOB_COLS).where(notify_jobs.c.office_id == office_id)
        if status:
            query = query.where(notify_jobs.c.status == status)
        if customer_id:
            query = query.where(notify_jobs.c.customer_id == customer_id)
        if before_id:
            query = query.where(notify_jobs.c.id < before_id)
        query = query.order_by(notify_jobs.c.id.desc()).limit(limit)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_job(r) for r in rows]

    async def notify_attempts(self, job_ids: Sequence[str]) -> dict[str, list[DeliveryAttempt]]:
        if not job_ids:
            return {}
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(notify_attempts).where(notify_attempts.c.job_id.in_(list(job_ids)))
                .order_by(notify_attempts.c.id))).mappings().all()
        out: dict[str, list[DeliveryAttempt]] = {j: [] for j in job_ids}
        for r in rows:
            out[r["job_id"]].append(DeliveryAttempt(
                id=r["id"], job_id=r["job_id"], channel=r["channel"],
                started_at=r["started_at"], finished_at=r["finished_at"],
                outcome=r["outcome"], detail=r["detail"]))
        return out

    async def retry_notify_job(self, office_id: str, job_id: str) -> NotifyJob | None:
        """An admin's retry of a dead, failed or unknown job: pending again at once, with a
        fresh attempt budget and every channel possible again. An interrupted or unknown
        delivery is sent again (same Message-ID). ``Conflict`` for other states. The job row
        is locked first, so two admins' retries count one generation each, in turn."""
        now = utcnow()
        retryable = {s.value for s in RETRYABLE_STATUSES}
        async with self.db.begin() as conn:
            status = await conn.scalar(
                sa.select(notify_jobs.c.status)
                .where(notify_jobs.c.id == job_id, notify_jobs.c.office_id == office_id)
                .with_for_update(key_share=True))
            if status is None:
                return None
            if status not in retryable:
                raise Conflict(f"a {status} notification cannot be retried")
            await conn.execute(
                sa.update(notify_deliveries)
                .where(notify_deliveries.c.job_id == job_id,
                       notify_deliveries.c.state.in_(("sending", "unknown")))
                .values(state="failed", updated_at=now))
            row = (await conn.execute(
                sa.update(notify_jobs).where(notify_jobs.c.id == job_id)
                .values(status=JobStatus.PENDING.value, attempts=0,
                        generation=notify_jobs.c.generation + 1, next_at=now,
                        skip_channels=[], reason=None, held="now", claimed_until=None,
                        claimed_by=None, updated_at=now)
                .returning(*_JOB_COLS))).mappings().one()
        return _job(row)

    async def claim_held_jobs(self, office_id: str, customer_id: str, owner: str,
                              now: datetime, lease_until: datetime) -> list[NotifyJob]:
        """Lease to ``owner`` the customer's other held jobs that are due now and not leased
        by anyone: they go out together with the one being sent (one message). Locked with
        ``SKIP LOCKED`` like ``claim_notify_jobs``."""
        async with self.db.begin() as conn:
            due = (sa.select(notify_jobs.c.id)
                   .where(notify_jobs.c.customer_id == customer_id,
                          notify_jobs.c.office_id == office_id, _PENDING,
                          notify_jobs.c.held.is_not(None), notify_jobs.c.next_at <= now,
                          _free(now))
                   .order_by(notify_jobs.c.next_at, notify_jobs.c.id).limit(HELD_BATCH)
                   .with_for_update(skip_locked=True, key_share=True))
            return await _lease(conn, list((await conn.scalars(due)).all()), owner,
                                lease_until, key=lambda j: (j.created_at, j.id))

    async def release_held_jobs(self, office_id: str, customer_id: str, *,
                                digest_held: str | None) -> int:
        """After a change of quiet hours or daily digest: the customer's held jobs (not in a
        retry backoff, not leased) are due now and evaluated again under the new
        preferences. Jobs that waited for the digest get ``held = digest_held`` (``now``:
        the digest was turned off, send them together now; ``None``: wait for the new
        digest time). Returns how many were released. One ``UPDATE``: a job a claimer is
        leasing meanwhile is waited for and then, leased, left alone."""
        now = utcnow()
        async with self.db.begin() as conn:
            result = await conn.execute(
                sa.update(notify_jobs)
                .where(notify_jobs.c.customer_id == customer_id,
                       notify_jobs.c.office_id == office_id, _PENDING,
                       notify_jobs.c.held.is_not(None), notify_jobs.c.attempts == 0,
                       _free(now))
                .values(next_at=now, updated_at=now,
                        held=sa.case((notify_jobs.c.held == "digest",
                                      sa.cast(digest_held, sa.Text)),
                                     else_=notify_jobs.c.held)))
        return int(result.rowcount)

    # ------------------------------------------------------------------ portal inbox
    async def add_inbox_item(self, office_id: str, customer_id: str, entry_id: str,
                             subject: str, body: str, attachments: Sequence[dict[str, Any]]
                             ) -> InboxItem:
        """Idempotent: one inbox item per entry (``ON CONFLICT (entry_id) DO NOTHING``; a
        concurrent insert of the same entry is waited for, and its item returned)."""
        async with self.db.begin() as conn:
            await conn.execute(insert(portal_inbox).values(
                id=new_ulid(), office_id=office_id, customer_id=customer_id,
                entry_id=entry_id, subject=subject, body=body, attachments=list(attachments),
                created_at=utcnow(), read_at=None).on_conflict_do_nothing(
                index_elements=[portal_inbox.c.entry_id]))
            row = (await conn.execute(sa.select(*_INBOX_COLS).where(
                portal_inbox.c.entry_id == entry_id))).mappings().one()
        return _inbox(row)

    async def list_inbox(self, office_id: str, customer_id: str, *, limit: int = 50,
                         before_id: str | None = None, unread_only: bool = False
                         ) -> list[InboxItem]:
        query = sa.select(*_INBOX_COLS).where(portal_inbox.c.office_id == office_id,
                                              portal_inbox.c.customer_id == customer_id)
        if before_id:
            query = query.where(portal_inbox.c.id < before_id)
        if unread_only:
            query = query.where(portal_inbox.c.read_at.is_(None))
        query = query.order_by(portal_inbox.c.id.desc()).limit(limit)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_inbox(r) for r in rows]

    async def mark_inbox_read(self, office_id: str, customer_id: str, item_id: str
                              ) -> InboxItem | None:
        """The first reading counts (one ``UPDATE … RETURNING``)."""
        async with self.db.begin() as conn:
            row = (await conn.execute(
                sa.update(portal_inbox)
                .where(portal_inbox.c.id == item_id, portal_inbox.c.office_id == office_id,
                       portal_inbox.c.customer_id == customer_id)
                .values(read_at=sa.func.coalesce(portal_inbox.c.read_at, utcnow()))
                .returning(*_INBOX_COLS))).mappings().first()
        return None if row is None else _inbox(row)


# ---------------------------------------------------------------------- inside a transaction
async def _lease(conn: AsyncConnection, ids: list[str], owner: str, lease_until: datetime,
                 *, key: Callable[[NotifyJob], tuple[datetime, str]]) -> list[NotifyJob]:
    """Lease the jobs ``ids`` (locked by the caller) to ``owner``; sorted by ``key``."""
    if not ids:
        return []
    rows = (await conn.execute(
        sa.update(notify_jobs).where(notify_jobs.c.id.in_(ids))
        .values(claimed_until=lease_until, claimed_by=owner)
        .returning(*_JOB_COLS))).mappings().all()
    return sorted((_job(r) for r in rows), key=key)


async def _lock_job(conn: AsyncConnection, job_id: str) -> None:
    """Lock the job row before its attempts and deliveries (``FOR NO KEY UPDATE``): every
    write about one job takes the locks in the same order (job, delivery, attempts), so a
    fenced-off worker's late write and the new holder's never deadlock."""
    await conn.execute(sa.select(notify_jobs.c.id).where(notify_jobs.c.id == job_id)
                       .with_for_update(key_share=True))


async def _lock_entry(conn: AsyncConnection, entry_id: str, *, for_update: bool) -> None:
    """Lock a job's entry before the job row (the module's lock order): ``FOR NO KEY
    UPDATE`` where the entry is then written, else ``FOR KEY SHARE`` (what a foreign key
    check takes). Either waits for an erasure that holds the entry."""
    await conn.execute(sa.select(entries.c.seq).where(entries.c.id == entry_id)
                       .with_for_update(key_share=True, read=not for_update))


async def _finish_attempt(conn: AsyncConnection, attempt_id: int, outcome: str,
                          detail: str | None, now: datetime) -> None:
    await conn.execute(
        sa.update(notify_attempts).where(notify_attempts.c.id == attempt_id)
        .values(outcome=outcome, detail=(detail or "")[:2000] or None, finished_at=now))
