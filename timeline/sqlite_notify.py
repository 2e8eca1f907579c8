"""Store parts for the notifier: jobs (claimed with a lease), deliveries, attempts, the portal
inbox, and the one read through which the notifier sees entries
(``timeline.repositories.NotifyRepository``).

Claims are one ``UPDATE … RETURNING`` on the writer (``BEGIN IMMEDIATE``), so several worker
processes on the same file never take the same job; on PostgreSQL the same claim is a
``SELECT … FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from timeline.sqlite_batch import append_entries
from timeline.sqlite_events import add_events
from timeline.sqlite_rows import ENTRY_COLS, SqliteRepository, entry_from_row

_JOB_COLS = ("id, office_id, entry_id, customer_id, status, attempts, generation, next_at, "
             "channel, reason, skip_channels, created_at, updated_at, held")
_INBOX_COLS = "id, office_id, customer_id, entry_id, subject, body, attachments, created_at, " \
              "read_at"


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _job(row: Sequence[Any]) -> NotifyJob:
    return NotifyJob(id=row[0], office_id=row[1], entry_id=row[2], customer_id=row[3],
                     status=JobStatus(row[4]), attempts=row[5], generation=row[6],
                     next_at=datetime.fromisoformat(row[7]), channel=row[8], reason=row[9],
                     skip_channels=tuple(json.loads(row[10])),
                     created_at=datetime.fromisoformat(row[11]),
                     updated_at=datetime.fromisoformat(row[12]), held=row[13])


def _inbox(row: Sequence[Any]) -> InboxItem:
    return InboxItem(id=row[0], office_id=row[1], customer_id=row[2], entry_id=row[3],
                     subject=row[4], body=row[5], attachments=tuple(json.loads(row[6])),
                     created_at=datetime.fromisoformat(row[7]), read_at=_dt(row[8]))


class SqliteNotify(SqliteRepository):
    # ------------------------------------------------------------------ the one entry read
    async def published_entry(self, office_id: str, entry_id: str) -> Entry | None:
        """The entry if it is published — the only way the notifier reads entries. The
        visibility is part of the SQL text itself: no argument can widen it."""
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {ENTRY_COLS} FROM entries WHERE id=? AND office_id=? "
            "AND visibility = 'published'", (entry_id, office_id)).fetchone())
        return None if row is None else entry_from_row(row)

    # ------------------------------------------------------------------ jobs
    async def claim_notify_jobs(self, owner: str, now: datetime, lease_until: datetime,
                                limit: int) -> list[NotifyJob]:
        """Lease up to ``limit`` due jobs to ``owner`` (a job is written with its entry)."""
        now_iso, until_iso = now.isoformat(), lease_until.isoformat()

        def run(conn: sqlite3.Connection) -> list[NotifyJob]:
            claimed = conn.execute(
                f"UPDATE notify_jobs SET claimed_until=?, claimed_by=? WHERE id IN ("
                "SELECT id FROM notify_jobs WHERE status='pending' AND next_at <= ? AND "
                "(claimed_until IS NULL OR claimed_until < ?) ORDER BY next_at LIMIT ?) "
                f"RETURNING {_JOB_COLS}", (until_iso, owner, now_iso, now_iso, limit)
            ).fetchall()
            return sorted((_job(r) for r in claimed), key=lambda j: j.next_at)
        return await self.db.write(run)

    async def next_notify_due(self) -> datetime | None:
        """When the earliest pending job falls due (for the worker's sleep)."""
        row = await self.db.read(lambda c: c.execute(
            "SELECT min(max(next_at, COALESCE(claimed_until, ''))) FROM notify_jobs "
            "WHERE status='pending'").fetchone())
        return _dt(row[0]) if row and row[0] else None

    async def reschedule_notify_job(self, job_id: str, owner: str, *, next_at: datetime,
                                    attempts: int, reason: str | None,
                                    skip_channels: Sequence[str], channel: str | None = None,
                                    attempt_id: int | None = None,
                                    attempt_outcome: str | None = None,
                                    held: str | None = None) -> None:
        """Keep the job pending until ``next_at`` (after a transient failure, or held back by
        quiet hours or the daily digest: ``held`` says why); releases the lease."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> None:
            if attempt_id is not None:
                _finish_attempt(conn, attempt_id, attempt_outcome or "transient", reason, now)
                conn.execute("UPDATE notify_deliveries SET state='failed', updated_at=? WHERE "
                             "job_id=? AND channel=? AND state='sending'", (now, job_id, channel))
            conn.execute(
                "UPDATE notify_jobs SET next_at=?, attempts=?, reason=?, skip_channels=?, "
                "channel=COALESCE(?, channel), held=?, claimed_until=NULL, claimed_by=NULL, "
                "updated_at=? WHERE id=? AND claimed_by=?",
                (next_at.isoformat(), attempts, reason, json.dumps(list(skip_channels)),
                 channel, held, now, job_id, owner))
        await self.db.write(run)

    async def begin_delivery(self, job_id: str, owner: str, lease_until: datetime,
                             entry_id: str, channel: str, *,
                             redo_interrupted: bool = False) -> DeliveryStart:
        """Record an attempt on (entry, channel) as ``sending`` *before* sending, renewing
        the job's lease (nothing happens if the lease was lost). When an earlier attempt was
        interrupted (state ``sending``: a worker stopped mid-send) it is marked ``unknown``
        and nothing is recorded — unless ``redo_interrupted`` (an idempotent transport)
        allows redoing it. A delivery already ``sent``/``unknown`` is never started again."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> DeliveryStart:
            renewed = conn.execute(
                "UPDATE notify_jobs SET claimed_until=? WHERE id=? AND claimed_by=? AND "
                "status='pending' AND claimed_until >= ?",
                (lease_until.isoformat(), job_id, owner, now)).rowcount
            if not renewed:
                return DeliveryStart(attempt_id=None, previous=None, lease_lost=True)
            row = conn.execute("SELECT state FROM notify_deliveries WHERE entry_id=? AND "
                               "channel=?", (entry_id, channel)).fetchone()
            previous = None if row is None else str(row[0])
            if previous == "sending":
                conn.execute("UPDATE notify_attempts SET outcome='interrupted', finished_at=? "
                             "WHERE job_id=? AND channel=? AND outcome='sending'",
                             (now, job_id, channel))
                if not redo_interrupted:
                    conn.execute("UPDATE notify_deliveries SET state='unknown', updated_at=? "
                                 "WHERE entry_id=? AND channel=?", (now, entry_id, channel))
            if previous in ("sent", "unknown") or (previous == "sending" and
                                                   not redo_interrupted):
                return DeliveryStart(attempt_id=None, previous=previous)
            conn.execute("INSERT INTO notify_deliveries (entry_id, channel, job_id, state, "
                         "updated_at) VALUES (?,?,?,'sending',?) ON CONFLICT (entry_id, channel) "
                         "DO UPDATE SET state='sending', job_id=excluded.job_id, "
                         "updated_at=excluded.updated_at", (entry_id, channel, job_id, now))
            cur = conn.execute("INSERT INTO notify_attempts (job_id, channel, started_at, "
                               "outcome) VALUES (?,?,?,'sending')", (job_id, channel, now))
            return DeliveryStart(attempt_id=cur.lastrowid, previous=previous)
        return await self.db.write(run)

    async def fail_delivery(self, job_id: str, attempt_id: int, channel: str, outcome: str,
                            detail: str, skip_channels: Sequence[str]) -> None:
        """A channel failed for good for this job (refused, or its attempts ran out): finish
        the attempt, mark the delivery failed and remember the channel so no later run tries
        it again; the next channel starts with a fresh attempt budget."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> None:
            _finish_attempt(conn, attempt_id, outcome, detail, now)
            conn.execute("UPDATE notify_deliveries SET state='failed', updated_at=? WHERE "
                         "job_id=? AND channel=?", (now, job_id, channel))
            conn.execute("UPDATE notify_jobs SET skip_channels=?, attempts=0, updated_at=? "
                         "WHERE id=?", (json.dumps(list(skip_channels)), now, job_id))
        await self.db.write(run)

    async def complete_notify_job(self, job_id: str, owner: str | None, outcome: JobOutcome,
                                  notification: EntryDraft | None) -> Entry | None:
        """One transaction: finish the attempt and the delivery, close the job, append the
        ``notification`` entry (idempotent on its ``source_id``) and write
        ``meta.delivery`` on the source entry. Returns the new notification entry (``None``
        when it existed already, or none was asked for)."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute("SELECT entry_id, office_id, claimed_by FROM notify_jobs "
                               "WHERE id=?", (job_id,)).fetchone()
            if row is None or (owner is not None and row[2] != owner):
                return None  # erased meanwhile, or our lease was lost to another worker
            entry_id, office_id = row[0], row[1]
            if outcome.attempt_id is not None:
                _finish_attempt(conn, outcome.attempt_id, outcome.attempt_outcome or "sent",
                                outcome.reason, now)
            if outcome.delivery_state and outcome.channel:
                conn.execute("UPDATE notify_deliveries SET state=?, updated_at=? WHERE "
                             "entry_id=? AND channel=?",
                             (outcome.delivery_state, now, entry_id, outcome.channel))
            conn.execute("UPDATE notify_jobs SET status=?, channel=COALESCE(?, channel), "
                         "reason=?, claimed_until=NULL, claimed_by=NULL, updated_at=? "
                         "WHERE id=?", (outcome.status.value, outcome.channel, outcome.reason,
                                        now, job_id))
            created: Entry | None = None
            if notification is not None:
                (created, fresh), = append_entries(conn, [notification])
                created = created if fresh else None
            if outcome.delivery:
                src = conn.execute(f"SELECT {ENTRY_COLS} FROM entries WHERE id=? AND "
                                   "office_id=?", (entry_id, office_id)).fetchone()
                if src is not None:
                    meta = dict(entry_from_row(src).meta)
                    meta["delivery"] = outcome.delivery
                    conn.execute("UPDATE entries SET meta=? WHERE seq=?",
                                 (json.dumps(meta), src[0]))
                    conn.execute("INSERT INTO index_outbox (seq) VALUES (?)", (src[0],))
                    add_events(conn, [(office_id, "entry.updated", src[3], entry_id, None)])
            return created
        return await self.db.write(run)

    async def get_notify_job(self, office_id: str, job_id: str) -> NotifyJob | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_JOB_COLS} FROM notify_jobs WHERE id=? AND office_id=?",
            (job_id, office_id)).fetchone())
        return None if row is None else _job(row)

    async def list_notify_jobs(self, office_id: str, *, status: str | None = None,
                               customer_id: str | None = None, limit: int = 50,
                               before_id: str | None = None) -> list[NotifyJob]:
        """Newest first."""
        sql = f"SELECT {_JOB_COLS} FROM notify_jobs WHERE office_id=?"
        args: list[Any] = [office_id]
        if status:
            sql += " AND status=?"
            args.append(status)
        if customer_id:
            sql += " AND customer_id=?"
            args.append(customer_id)
        if before_id:
            sql += " AND id < ?"
            args.append(before_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [_job(r) for r in rows]

    async def notify_attempts(self, job_ids: Sequence[str]) -> dict[str, list[DeliveryAttempt]]:
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = await self.db.read(lambda c: c.execute(
            "SELECT id, job_id, channel, started_at, finished_at, outcome, detail FROM "
            f"notify_attempts WHERE job_id IN ({marks}) ORDER BY id", list(job_ids)).fetchall())
        out: dict[str, list[DeliveryAttempt]] = {j: [] for j in job_ids}
        for r in rows:
            out[r[1]].append(DeliveryAttempt(
                id=r[0], job_id=r[1], channel=r[2], started_at=datetime.fromisoformat(r[3]),
                finished_at=_dt(r[4]), outcome=r[5], detail=r[6]))
        return out

    async def retry_notify_job(self, office_id: str, job_id: str) -> NotifyJob | None:
        """An admin's retry of a dead, failed or unknown job: pending again at once, with a
        fresh attempt budget and every channel possible again. An interrupted or unknown
        delivery is sent again (same Message-ID). ``Conflict`` for other states."""
        now = utcnow().isoformat()
        retryable = tuple(s.value for s in RETRYABLE_STATUSES)

        def run(conn: sqlite3.Connection) -> NotifyJob | None:
            row = conn.execute(f"SELECT {_JOB_COLS} FROM notify_jobs WHERE id=? AND "
                               "office_id=?", (job_id, office_id)).fetchone()
            if row is None:
                return None
            job = _job(row)
            if job.status.value not in retryable:
                raise Conflict(f"a {job.status.value} notification cannot be retried")
            conn.execute("UPDATE notify_deliveries SET state='failed', updated_at=? WHERE "
                         "job_id=? AND state IN ('sending', 'unknown')", (now, job_id))
            conn.execute("UPDATE notify_jobs SET status='pending', attempts=0, "
                         "generation=generation+1, next_at=?, skip_channels='[]', reason=NULL, "
                         "held='now', claimed_until=NULL, claimed_by=NULL, updated_at=? "
                         "WHERE id=?",
                         (now, now, job_id))
            return _job(conn.execute(f"SELECT {_JOB_COLS} FROM notify_jobs WHERE id=?",
                                     (job_id,)).fetchone())
        return await self.db.write(run)

    async def claim_held_jobs(self, office_id: str, customer_id: str, owner: str,
                              now: datetime, lease_until: datetime) -> list[NotifyJob]:
        """Lease to ``owner`` the customer's other held jobs that are due now and not leased
        by anyone: they go out together with the one being sent (one message)."""
        now_iso = now.isoformat()

        def run(conn: sqlite3.Connection) -> list[NotifyJob]:
            rows = conn.execute(
                f"UPDATE notify_jobs SET claimed_until=?, claimed_by=? WHERE id IN ("
                "SELECT id FROM notify_jobs WHERE customer_id=? AND office_id=? AND "
                "status='pending' AND held IS NOT NULL AND next_at <= ? AND "
                "(claimed_until IS NULL OR claimed_until < ?) ORDER BY next_at, id LIMIT 200) "
                f"RETURNING {_JOB_COLS}",
                (lease_until.isoformat(), owner, customer_id, office_id, now_iso, now_iso)
            ).fetchall()
            return sorted((_job(r) for r in rows), key=lambda j: (j.created_at, j.id))
        return await self.db.write(run)

    async def release_held_jobs(self, office_id: str, customer_id: str, *,
                                digest_held: str | None) -> int:
        """After a change of quiet hours or daily digest: the customer's held jobs (not in a
        retry backoff, not leased) are due now and evaluated again under the new
        preferences. Jobs that waited for the digest get ``held = digest_held`` (``now``:
        the digest was turned off, send them together now; ``None``: wait for the new
        digest time). Returns how many were released."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE notify_jobs SET next_at=?, updated_at=?, held=CASE WHEN held='digest' "
                "THEN ? ELSE held END WHERE customer_id=? AND office_id=? AND "
                "status='pending' AND held IS NOT NULL AND attempts=0 AND "
                "(claimed_until IS NULL OR claimed_until < ?)",
                (now, now, digest_held, customer_id, office_id, now)).rowcount
        return await self.db.write(run)

    # ------------------------------------------------------------------ portal inbox
    async def add_inbox_item(self, office_id: str, customer_id: str, entry_id: str,
                             subject: str, body: str, attachments: Sequence[dict[str, Any]]
                             ) -> InboxItem:
        """Idempotent: one inbox item per entry."""
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> InboxItem:
            conn.execute(f"INSERT INTO portal_inbox ({_INBOX_COLS}) VALUES (?,?,?,?,?,?,?,?,NULL)"
                         " ON CONFLICT (entry_id) DO NOTHING",
                         (new_ulid(), office_id, customer_id, entry_id, subject, body,
                          json.dumps(list(attachments)), now))
            return _inbox(conn.execute(f"SELECT {_INBOX_COLS} FROM portal_inbox WHERE "
                                       "entry_id=?", (entry_id,)).fetchone())
        return await self.db.write(run)

    async def list_inbox(self, office_id: str, customer_id: str, *, limit: int = 50,
                         before_id: str | None = None, unread_only: bool = False
                         ) -> list[InboxItem]:
        sql = f"SELECT {_INBOX_COLS} FROM portal_inbox WHERE office_id=? AND customer_id=?"
        args: list[Any] = [office_id, customer_id]
        if before_id:
            sql += " AND id < ?"
            args.append(before_id)
        if unread_only:
            sql += " AND read_at IS NULL"
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [_inbox(r) for r in rows]

    async def mark_inbox_read(self, office_id: str, customer_id: str, item_id: str
                              ) -> InboxItem | None:
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> InboxItem | None:
            conn.execute("UPDATE portal_inbox SET read_at=COALESCE(read_at, ?) WHERE id=? AND "
                         "office_id=? AND customer_id=?", (now, item_id, office_id, customer_id))
            row = conn.execute(f"SELECT {_INBOX_COLS} FROM portal_inbox WHERE id=? AND "
                               "office_id=? AND customer_id=?",
                               (item_id, office_id, customer_id)).fetchone()
            return None if row is None else _inbox(row)
        return await self.db.write(run)


def _finish_attempt(conn: sqlite3.Connection, attempt_id: int, outcome: str,
                    detail: str | None, now: str) -> None:
    conn.execute("UPDATE notify_attempts SET outcome=?, detail=?, finished_at=? WHERE id=?",
                 (outcome, (detail or "")[:2000] or None, now, attempt_id))
