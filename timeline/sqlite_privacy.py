"""Store parts for data protection: everything about one person in one read (export), their
erasure in one transaction, the suppression list, erasure receipts, retention rules and
export jobs (``timeline.repositories.PrivacyRepository``).

Erasure runs with ``PRAGMA secure_delete=ON`` on the writer connection (freed cells and
pages are overwritten with zeros) and ends with ``scrub()``: a ``wal_checkpoint(TRUNCATE)``,
so neither the database file nor its ``-wal`` keeps a copy of what was erased."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from timeline.accounts import CUSTOMER_CODES
from timeline.errors import NotFound
from timeline.ids import new_ulid, seq_base
from timeline.models import Consent, CustomerStatus, Entry, Preferences, utcnow
from timeline.privacy_models import (
    AccessAction,
    AccessRecord,
    ErasedSenderPolicy,
    ErasureOrder,
    ErasureOutcome,
    ErasureReceipt,
    ExportRecord,
    ExportStatus,
    PersonalData,
    RetentionAction,
    RetentionRule,
)
from timeline.sqlite_rows import ENTRY_COLS, SqliteRepository, entry_from_row, load_customer

_CHUNK = 500
_EXPORT_COLS = ("id, office_id, customer_id, requested_by, status, progress, created_at, file, "
                "error, finished_at")
_LOG_COLS = "id, office_id, agent_id, action, customer_id, at, expires_at"
_RETAINED_META_DROP = ("from", "from_name", "search_text", "in_reply_to")
"""Who sent a retained entry: dropped when it is detached from the erased person."""
RETAINED_TAG = "retained-by-law"


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _export(row: Sequence[Any]) -> ExportRecord:
    return ExportRecord(id=row[0], office_id=row[1], customer_id=row[2], requested_by=row[3],
                        status=ExportStatus(row[4]), progress=int(row[5]),
                        created_at=datetime.fromisoformat(row[6]), file=row[7], error=row[8],
                        finished_at=_dt(row[9]))


def _access(row: Sequence[Any]) -> AccessRecord:
    return AccessRecord(id=row[0], office_id=row[1], agent_id=row[2],
                        action=AccessAction(row[3]), customer_id=row[4],
                        at=datetime.fromisoformat(row[5]),
                        expires_at=datetime.fromisoformat(row[6]))


def _insert_access(conn: sqlite3.Connection, record: AccessRecord) -> None:
    conn.execute(f"INSERT INTO privacy_access_log ({_LOG_COLS}) VALUES (?,?,?,?,?,?,?)",
                 (record.id, record.office_id, record.agent_id, record.action.value,
                  record.customer_id, record.at.isoformat(), record.expires_at.isoformat()))


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _delete_in(conn: sqlite3.Connection, sql: str, values: Sequence[Any],
               prefix: Sequence[Any] = ()) -> int:
    """``sql`` holds one ``{marks}``; run it over ``values`` in chunks; rows changed."""
    total = 0
    for chunk in _chunks(list(values)):
        total += conn.execute(sql.format(marks=_marks(chunk)), (*prefix, *chunk)).rowcount
    return total


class SqlitePrivacy(SqliteRepository):
    # ------------------------------------------------------------------ export
    async def personal_data(self, office_id: str, customer_id: str) -> PersonalData | None:
        def run(conn: sqlite3.Connection) -> PersonalData | None:
            customer = load_customer(conn, office_id, customer_id)
            if customer is None:
                return None
            merged_in = [c for (cid,) in conn.execute(
                "SELECT id FROM customers WHERE office_id=? AND merged_into=? AND status=?",
                (office_id, customer_id, CustomerStatus.MERGED.value)).fetchall()
                if (c := load_customer(conn, office_id, cid)) is not None]
            entries = [entry_from_row(r) for r in conn.execute(
                f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND customer_id=? "
                "ORDER BY seq", (office_id, customer_id))]
            pref = conn.execute("SELECT data FROM preferences WHERE customer_id=? AND "
                                "office_id=?", (customer_id, office_id)).fetchone()
            consents = [Consent(channel=ch, granted=bool(g), at=datetime.fromisoformat(at),
                                actor=actor, route=route)
                        for ch, g, at, actor, route in conn.execute(
                            "SELECT channel, granted, at, actor, route FROM consents WHERE "
                            "office_id=? AND customer_id=? ORDER BY id",
                            (office_id, customer_id))]
            jobs = _rows(conn, "SELECT id, entry_id, status, attempts, generation, next_at, "
                               "channel, reason, skip_channels, created_at, updated_at "
                               "FROM notify_jobs WHERE office_id=? AND customer_id=? "
                               "ORDER BY id", (office_id, customer_id))
            for job in jobs:
                job["skip_channels"] = json.loads(job["skip_channels"])
                job["deliveries"] = _rows(conn, "SELECT channel, state, updated_at FROM "
                                                "notify_deliveries WHERE job_id=?", (job["id"],))
                job["attempts_made"] = _rows(
                    conn, "SELECT id, channel, started_at, finished_at, outcome, detail FROM "
                          "notify_attempts WHERE job_id=? ORDER BY id", (job["id"],))
            inbox = _rows(conn, "SELECT id, entry_id, subject, body, attachments, created_at, "
                                "read_at FROM portal_inbox WHERE office_id=? AND customer_id=? "
                                "ORDER BY id", (office_id, customer_id))
            for item in inbox:
                item["attachments"] = json.loads(item["attachments"])
            merges = _rows(conn, "SELECT id, source_id, target_id, entry_ids, identities, "
                                 "created_at, undone_at FROM merges WHERE office_id=? AND "
                                 "(source_id=? OR target_id=?) ORDER BY id",
                           (office_id, customer_id, customer_id))
            for merge in merges:
                merge["entry_ids"] = json.loads(merge["entry_ids"])
                merge["identities"] = json.loads(merge["identities"])
            calls = _rows(conn, "SELECT call_id, state, updated_at FROM cti_calls WHERE "
                                "office_id=? AND customer_id=? ORDER BY updated_at",
                          (office_id, customer_id))
            for call in calls:
                call["state"] = json.loads(call["state"])
            tokens = _rows(conn, "SELECT purpose, created_at, expires_at FROM customer_tokens "
                                 "WHERE office_id=? AND customer_id=? ORDER BY created_at",
                           (office_id, customer_id))
            sessions = _rows(conn, "SELECT count(*) AS count, min(created_at) AS first_created,"
                                   " max(expires_at) AS last_expires FROM web_sessions WHERE "
                                   "office_id=? AND audience='portal' AND subject_id=?",
                             (office_id, customer_id))[0]
            codes = _rows(conn, "SELECT count(*) AS count, min(created_at) AS first_created, "
                                "max(created_at) AS last_created FROM login_codes WHERE "
                                "office_id=? AND audience='portal' AND subject_id=?",
                          (office_id, customer_id))[0]
            return PersonalData(
                customer=customer, merged_in=merged_in, entries=entries,
                preferences=Preferences() if pref is None
                else Preferences.model_validate_json(pref[0]),
                consents=consents, notify_jobs=jobs, inbox=inbox, merges=merges,
                cti_calls=calls, tokens=tokens, portal_sessions=sessions, login_codes=codes)
        return await self.db.read(run)

    # ------------------------------------------------------------------ erasure
    async def erase_customer(self, order: ErasureOrder) -> ErasureOutcome:
        """Remove the customer and everything naming them in one transaction (see
        ``_erase``); entries in ``order.retained`` move to a placeholder customer.
        ``NotFound``: no such customer in the office."""
        await self.db.write_raw(lambda c: c.execute("PRAGMA secure_delete=ON"))
        return await self.db.write(lambda conn: _erase(conn, order))

    async def delete_entries(self, office_id: str, entry_ids: Sequence[str]
                             ) -> tuple[list[int], list[str]]:
        """Delete entries (retention) with their notification records, portal inbox items
        and the quarantined raw messages they were processed from; index-outbox drop rows
        in the same transaction. Returns (seqs, the SHA-256 of their attachments and of
        those raw messages)."""
        await self.db.write_raw(lambda c: c.execute("PRAGMA secure_delete=ON"))

        def run(conn: sqlite3.Connection) -> tuple[list[int], list[str]]:
            seqs: list[int] = []
            shas: list[str] = []
            ids: list[str] = []
            for chunk in _chunks(list(entry_ids)):
                for seq, eid, atts in conn.execute(
                        f"SELECT seq, id, attachments FROM entries WHERE office_id=? AND id IN "
                        f"({_marks(chunk)})", (office_id, *chunk)):
                    seqs.append(seq)
                    ids.append(eid)
                    shas += [a["sha256"] for a in json.loads(atts)]
            for chunk in _chunks(ids):
                shas += [r[0] for r in conn.execute(
                    f"DELETE FROM quarantine WHERE office_id=? AND entry_id IN "
                    f"({_marks(chunk)}) RETURNING raw_sha256", (office_id, *chunk))]
            _drop_entries(conn, ids, seqs)
            return seqs, shas
        return await self.db.write(run)

    async def entries_of_kind_before(self, office_id: str, kind: str, before: datetime,
                                     limit: int = 10000) -> list[Entry]:
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND kind=? AND seq < ? "
            "ORDER BY seq LIMIT ?", (office_id, kind, seq_base(before), limit)).fetchall())
        return [entry_from_row(r) for r in rows]

    async def retained_until(self, office_id: str, before: datetime, limit: int = 10000
                             ) -> list[Entry]:
        """Entries kept by law after their person's erasure (tag ``retained-by-law``) whose
        ``meta.retained.until`` is before ``before``: their time is over."""
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {ENTRY_COLS} FROM entries WHERE office_id=? AND tags <> '[]' AND "
            "tags LIKE ? AND json_valid(meta) AND "
            "julianday(json_extract(meta, '$.retained.until')) < julianday(?) "
            "ORDER BY seq LIMIT ?",
            (office_id, f'%"{RETAINED_TAG}"%', before.isoformat(), limit)).fetchall())
        return [entry_from_row(r) for r in rows]

    async def blobs_in_use(self, sha256s: Sequence[str]) -> set[str]:
        """Which of these content-addressed blobs something still references (any office:
        blobs are shared by content)."""
        wanted = sorted(set(sha256s))

        def run(conn: sqlite3.Connection) -> set[str]:
            used = set()
            for sha in wanted:
                like = f'%"{sha}"%'
                if (conn.execute("SELECT 1 FROM entries WHERE attachments LIKE ? LIMIT 1",
                                 (like,)).fetchone()
                        or conn.execute("SELECT 1 FROM quarantine WHERE raw_sha256=? LIMIT 1",
                                        (sha,)).fetchone()
                        or conn.execute("SELECT 1 FROM portal_inbox WHERE attachments LIKE ? "
                                        "LIMIT 1", (like,)).fetchone()):
                    used.add(sha)
            return used
        return await self.db.read(run)

    async def scrub(self) -> None:
        """Checkpoint the WAL into the database and truncate it (after an erasure), so no
        earlier page image survives in ``-wal``."""
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA secure_delete=ON")
            for _ in range(50):
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    return
        await self.db.write_raw(run)

    async def is_suppressed(self, office_id: str, kind: str, digest: str) -> bool:
        row = await self.db.read(lambda c: c.execute(
            "SELECT 1 FROM erasure_suppression WHERE office_id=? AND kind=? AND digest=?",
            (office_id, kind, digest)).fetchone())
        return row is not None

    async def erasure_receipts(self, office_id: str, limit: int = 100,
                               before_id: str | None = None) -> list[ErasureReceipt]:
        """Newest first; ``before_id``: the page after the receipt with that id."""
        rows = await self.db.read(lambda c: c.execute(
            "SELECT id, office_id, erased_by, erased_at, counts, retained FROM erasure_receipts"
            " WHERE office_id=? AND id < ? ORDER BY id DESC LIMIT ?",
            (office_id, before_id or "~", limit)).fetchall())
        return [ErasureReceipt(id=r[0], office_id=r[1], erased_by=r[2],
                               erased_at=datetime.fromisoformat(r[3]),
                               counts=json.loads(r[4]), retained=json.loads(r[5]))
                for r in rows]

    # ------------------------------------------------------------------ retention rules
    async def retention_rules(self, office_id: str) -> list[RetentionRule]:
        rows = await self.db.read(lambda c: c.execute(
            "SELECT kind, action, years FROM retention_rules WHERE office_id=? ORDER BY kind",
            (office_id,)).fetchall())
        return [RetentionRule(kind=k, action=RetentionAction(a), years=int(y))
                for k, a, y in rows]

    async def set_retention_rule(self, office_id: str, rule: RetentionRule) -> None:
        await self.db.write(lambda c: c.execute(
            "INSERT INTO retention_rules VALUES (?,?,?,?) ON CONFLICT (office_id, kind) DO "
            "UPDATE SET action=excluded.action, years=excluded.years",
            (office_id, rule.kind, rule.action.value, rule.years)))

    async def remove_retention_rule(self, office_id: str, kind: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM retention_rules WHERE office_id=? AND kind=?",
                                (office_id, kind)).rowcount > 0
        return await self.db.write(run)

    # ------------------------------------------------------------------ export jobs
    async def add_export(self, record: ExportRecord) -> None:
        await self.db.write(lambda c: c.execute(
            f"INSERT INTO data_exports ({_EXPORT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (record.id, record.office_id, record.customer_id, record.requested_by,
             record.status.value, record.progress, record.created_at.isoformat(), record.file,
             record.error, None)))

    async def update_export(self, export_id: str, *, status: ExportStatus | None = None,
                            progress: int | None = None, file: str | None = None,
                            error: str | None = None) -> None:
        finished = utcnow().isoformat() if status in (ExportStatus.DONE,
                                                      ExportStatus.FAILED) else None
        await self.db.write(lambda c: c.execute(
            "UPDATE data_exports SET status=COALESCE(?, status), progress=COALESCE(?, "
            "progress), file=COALESCE(?, file), error=COALESCE(?, error), "
            "finished_at=COALESCE(?, finished_at) WHERE id=?",
            (status.value if status else None, progress, file, error, finished, export_id)))

    async def get_export(self, office_id: str, export_id: str) -> ExportRecord | None:
        row = await self.db.read(lambda c: c.execute(
            f"SELECT {_EXPORT_COLS} FROM data_exports WHERE id=? AND office_id=?",
            (export_id, office_id)).fetchone())
        return None if row is None else _export(row)

    async def list_exports(self, office_id: str, customer_id: str | None = None,
                           limit: int = 200) -> list[ExportRecord]:
        sql = f"SELECT {_EXPORT_COLS} FROM data_exports WHERE office_id=?"
        args: list[Any] = [office_id]
        if customer_id is not None:
            sql += " AND customer_id=?"
            args.append(customer_id)
        rows = await self.db.read(lambda c: c.execute(
            sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall())
        return [_export(r) for r in rows]

    # ------------------------------------------------------------------ access record
    async def add_access_record(self, record: AccessRecord) -> None:
        await self.db.write(lambda c: _insert_access(c, record))

    async def access_records(self, office_id: str, limit: int = 50,
                             before_id: str | None = None) -> list[AccessRecord]:
        """Newest first; ``before_id``: the page after the record with that id."""
        sql = f"SELECT {_LOG_COLS} FROM privacy_access_log WHERE office_id=?"
        args: list[Any] = [office_id]
        if before_id is not None:
            sql += " AND id < ?"
            args.append(before_id)
        rows = await self.db.read(lambda c: c.execute(
            sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall())
        return [_access(r) for r in rows]

    async def prune_call_states(self, before: datetime) -> int:
        """Forget the state of CTI calls not updated since ``before`` (all offices): the
        numbers, who answered, when. It serves only events of a call still going on or
        arriving late; the call itself is an entry. How many went."""
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("DELETE FROM cti_calls WHERE updated_at < ?",
                                    (before.isoformat(),)).rowcount)
        return await self.db.write(run)

    async def prune_access_records(self, now: datetime) -> int:
        """Remove the rows whose ``expires_at`` has passed (all offices); how many went."""
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("DELETE FROM privacy_access_log WHERE expires_at <= ?",
                                    (now.isoformat(),)).rowcount)
        return await self.db.write(run)

    # ------------------------------------------------------------------ office policy
    async def office_erased_sender(self, office_id: str) -> ErasedSenderPolicy | None:
        """The office's own erased-sender policy, or None for the server's default."""
        row = await self.db.read(lambda c: c.execute(
            "SELECT erased_sender FROM office_privacy WHERE office_id=?",
            (office_id,)).fetchone())
        return None if row is None or row[0] is None else ErasedSenderPolicy(row[0])

    async def set_office_erased_sender(self, office_id: str,
                                       policy: ErasedSenderPolicy | None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if policy is None:
                conn.execute("DELETE FROM office_privacy WHERE office_id=?", (office_id,))
            else:
                conn.execute("INSERT INTO office_privacy (office_id, erased_sender) VALUES "
                             "(?,?) ON CONFLICT (office_id) DO UPDATE SET "
                             "erased_sender=excluded.erased_sender",
                             (office_id, policy.value))
        await self.db.write(run)

    async def take_expired_exports(self, before: datetime) -> list[ExportRecord]:
        """Forget exports created before ``before`` (all offices); returns them so their
        files can be removed."""
        def run(conn: sqlite3.Connection) -> list[ExportRecord]:
            rows = conn.execute(f"SELECT {_EXPORT_COLS} FROM data_exports WHERE created_at < ?",
                                (before.isoformat(),)).fetchall()
            conn.execute("DELETE FROM data_exports WHERE created_at < ?", (before.isoformat(),))
            return [_export(r) for r in rows]
        return await self.db.write(run)


# ---------------------------------------------------------------------- the transaction
def _drop_entries(conn: sqlite3.Connection, ids: Sequence[str], seqs: Sequence[int]) -> int:
    """Delete entries with their notification records and inbox items; a drop row in the
    index outbox for each. Returns the notification jobs removed."""
    jobs = [r[0] for chunk in _chunks(list(ids)) for r in conn.execute(
        f"SELECT id FROM notify_jobs WHERE entry_id IN ({_marks(chunk)})", chunk)]
    _delete_jobs(conn, jobs)
    _delete_in(conn, "DELETE FROM notify_deliveries WHERE entry_id IN ({marks})", ids)
    _delete_in(conn, "DELETE FROM portal_inbox WHERE entry_id IN ({marks})", ids)
    _delete_in(conn, "DELETE FROM events WHERE entry_id IN ({marks})", ids)  # live-event feed
    _delete_in(conn, "DELETE FROM entries WHERE id IN ({marks})", ids)
    conn.executemany("INSERT INTO index_outbox (seq) VALUES (?)", [(s,) for s in seqs])
    return len(jobs)


def _delete_jobs(conn: sqlite3.Connection, jobs: Sequence[str]) -> int:
    attempts = _delete_in(conn, "DELETE FROM notify_attempts WHERE job_id IN ({marks})", jobs)
    _delete_in(conn, "DELETE FROM notify_deliveries WHERE job_id IN ({marks})", jobs)
    _delete_in(conn, "DELETE FROM notify_jobs WHERE id IN ({marks})", jobs)
    return attempts


def _erase(conn: sqlite3.Connection, order: ErasureOrder) -> ErasureOutcome:
    office = order.office_id
    row = conn.execute("SELECT id FROM customers WHERE id=? AND office_id=?",
                       (order.customer_id, office)).fetchone()
    if row is None:
        raise NotFound("no such customer")
    people = [order.customer_id] + [r[0] for r in conn.execute(
        "SELECT id FROM customers WHERE office_id=? AND merged_into=? AND status=?",
        (office, order.customer_id, CustomerStatus.MERGED.value))]
    counts: dict[str, int] = {"customers": len(people)}
    now = utcnow().isoformat()

    entries = conn.execute(
        f"SELECT seq, id, attachments FROM entries WHERE office_id=? AND customer_id IN "
        f"({_marks(people)}) ORDER BY seq", (office, *people)).fetchall()
    merges = [r[0] for r in conn.execute(
        f"SELECT id FROM merges WHERE office_id=? AND (source_id IN ({_marks(people)}) OR "
        f"target_id IN ({_marks(people)}))", (office, *people, *people))]
    notes = conn.execute(
        f"SELECT seq, id, attachments FROM entries WHERE office_id=? AND kind='merge' AND "
        f"json_extract(meta, '$.merge_id') IN ({_marks(merges)}) AND customer_id NOT IN "
        f"({_marks(people)})", (office, *merges, *people)).fetchall() if merges else []

    # retained by law: detached to a placeholder customer without identities
    retained = {r.entry_id: r for r in order.retained}
    placeholder: str | None = None
    if retained:
        placeholder = new_ulid()
        conn.execute("INSERT INTO customers (id, office_id, name, name_fold, status, "
                     "created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                     (placeholder, office, order.placeholder_name,
                      order.placeholder_name.casefold(), CustomerStatus.ACTIVE.value, now, now))
        for seq, eid, _ in entries:
            if eid not in retained:
                continue
            meta_raw, tags_raw = conn.execute("SELECT meta, tags FROM entries WHERE seq=?",
                                              (seq,)).fetchone()
            meta = {k: v for k, v in json.loads(meta_raw).items()
                    if k not in _RETAINED_META_DROP}
            rule = retained[eid]
            meta["retained"] = {"until": rule.until.isoformat(), "reason": rule.reason}
            tags = [t for t in json.loads(tags_raw) if t != RETAINED_TAG] + [RETAINED_TAG]
            conn.execute("UPDATE entries SET customer_id=?, meta=?, tags=? WHERE seq=?",
                         (placeholder, json.dumps(meta), json.dumps(tags), seq))
            conn.execute("INSERT INTO index_outbox (seq) VALUES (?)", (seq,))
    gone = [(s, i, a) for s, i, a in entries if i not in retained] + list(notes)
    gone_ids = [i for _, i, _ in gone]
    blobs = [a["sha256"] for _, _, atts in gone for a in json.loads(atts)]
    counts["entries"] = len(gone) - len(notes)
    counts["merge_notes"] = len(notes)
    counts["attachments"] = len(blobs)
    counts["retained"] = len(retained)

    # the person's inbox items, counted before those of erased entries go with them
    counts["portal_inbox"] = conn.execute(
        f"SELECT count(*) FROM portal_inbox WHERE office_id=? AND customer_id IN "
        f"({_marks(people)})", (office, *people)).fetchone()[0]
    jobs = [r[0] for r in conn.execute(
        f"SELECT id FROM notify_jobs WHERE office_id=? AND customer_id IN ({_marks(people)})",
        (office, *people))]
    counts["notification_attempts"] = _delete_jobs(conn, jobs)
    counts["notification_jobs"] = len(jobs) + _drop_entries(conn, gone_ids,
                                                            [s for s, _, _ in gone])
    conn.execute(
        f"DELETE FROM portal_inbox WHERE office_id=? AND customer_id IN ({_marks(people)})",
        (office, *people))

    # quarantine: items naming the person, and those processed into an erased entry
    quarantine = list(order.quarantine_ids) + [r[0] for chunk in _chunks(gone_ids)
                                               for r in conn.execute(
        f"SELECT id FROM quarantine WHERE office_id=? AND entry_id IN ({_marks(chunk)})",
        (office, *chunk))]
    quarantine = list(dict.fromkeys(quarantine))
    for chunk in _chunks(quarantine):
        blobs += [r[0] for r in conn.execute(
            f"SELECT raw_sha256 FROM quarantine WHERE office_id=? AND id IN ({_marks(chunk)})",
            (office, *chunk))]
    counts["quarantine"] = _delete_in(
        conn, "DELETE FROM quarantine WHERE office_id=? AND id IN ({marks})", quarantine,
        (office,))

    def person_rows(table: str, column: str = "customer_id", extra: str = "") -> int:
        return int(conn.execute(
            f"DELETE FROM {table} WHERE office_id=? {extra} AND {column} IN ({_marks(people)})",
            (office, *people)).rowcount)

    counts["cti_calls"] = person_rows("cti_calls")
    person_rows("events")  # the live-event feed (ids only, but naming the person)
    counts["customer_tokens"] = person_rows("customer_tokens")
    counts["portal_sessions"] = person_rows("web_sessions", "subject_id",
                                            "AND audience='portal'")
    counts["login_codes"] = person_rows("login_codes", "subject_id", "AND audience='portal'")
    # the day's count of their sign-in codes (keyed by customer id, no office column)
    conn.execute(f"DELETE FROM sign_in_attempts WHERE scope=? AND key IN ({_marks(people)})",
                 (CUSTOMER_CODES, *people))
    counts["consents"] = person_rows("consents")
    counts["preferences"] = person_rows("preferences")
    # Telegram updates from the person's chats, received but not processed yet (h6-telegram)
    conn.execute("DELETE FROM telegram_updates WHERE office_id=? AND status='pending' AND "
                 "chat_id IN (SELECT CAST(value AS INTEGER) FROM identities WHERE office_id=? "
                 f"AND kind='telegram' AND customer_id IN ({_marks(people)}))",
                 (office, office, *people))
    counts["identities"] = person_rows("identities")
    counts["merges"] = _delete_in(conn, "DELETE FROM merges WHERE id IN ({marks})", merges)
    # the file of a finished export, and the one an export still running will write
    files = [r[0] for r in conn.execute(
        f"SELECT COALESCE(file, id || '.zip') FROM data_exports WHERE office_id=? AND "
        f"customer_id IN ({_marks(people)})", (office, *people))]
    counts["exports"] = person_rows("data_exports")
    conn.execute(f"UPDATE customers SET merged_into=NULL WHERE office_id=? AND merged_into IN "
                 f"({_marks(people)})", (office, *people))
    person_rows("customers", "id")
    conn.executemany("INSERT OR IGNORE INTO erasure_suppression VALUES (?,?,?,?)",
                     [(office, kind, digest, now) for kind, digest in order.suppress])
    receipt = new_ulid()
    conn.execute("INSERT INTO erasure_receipts VALUES (?,?,?,?,?,?)", (
        receipt, office, order.erased_by, now, json.dumps(counts),
        json.dumps([{"entry_id": r.entry_id, "kind": r.kind, "until": r.until.isoformat(),
                     "reason": r.reason, "placeholder_id": placeholder}
                    for r in order.retained])))
    if order.access_log_until is not None:
        _insert_access(conn, AccessRecord(
            id=new_ulid(), office_id=office, agent_id=order.erased_by,
            action=AccessAction.ERASE, customer_id=order.customer_id,
            at=datetime.fromisoformat(now), expires_at=order.access_log_until))
    return ErasureOutcome(receipt_id=receipt, counts=counts,
                          erased_seqs=tuple(s for s, _, _ in gone),
                          blob_candidates=tuple(dict.fromkeys(blobs)),
                          export_files=tuple(files), placeholder_id=placeholder)
