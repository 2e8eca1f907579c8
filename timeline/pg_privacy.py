"""The privacy repository on PostgreSQL (``timeline.repositories.PrivacyRepository``; the
embedded twin is ``timeline/sqlite_privacy.py``, whose behaviour this matches): everything about
one person in one read (export), their erasure in one transaction, the suppression list,
erasure receipts, retention rules, export jobs, the access record and the office's
erased-sender policy.

What differs from SQLite, and why:

* **One consistent read.** ``personal_data`` runs in one ``REPEATABLE READ, READ ONLY``
  transaction, so the export is a single snapshot although other processes keep writing (on
  SQLite one reader connection gave that for free).
* **Erasure against concurrent writers.** The erasure's transaction locks in the order the
  other writers do and is run again when PostgreSQL aborts it for a deadlock
  (``timeline/pg_erasure.py``).
* **What deleting leaves on disk.** SQLite erases with ``secure_delete`` (freed cells are
  zeroed) and ``scrub`` truncates the WAL. PostgreSQL has no secure delete: a deleted row
  stays in its heap page as a dead tuple, and its index entries (an e-mail address in
  ``identities_lookup``, for one) stay in the index pages, readable in the table files,
  until ``VACUUM`` removes them; the WAL holds the rows too until its segments are recycled.
  ``scrub`` (run by the service after every erasure and retention run) therefore runs
  ``VACUUM (INDEX_CLEANUP ON)`` on every table an erasure deletes from. ``INDEX_CLEANUP ON``
  matters: by default (``AUTO``) VACUUM skips the index pass when few tuples are dead -- exactly
  the case after erasing one person -- and would leave their index entries behind. Plain
  ``VACUUM`` does not block readers or writers (``VACUUM FULL`` would lock every table for
  the whole rewrite, so it is not used); it makes the space reusable and cuts it off from
  every query, new rows overwrite it over time. What it cannot reach: tuples still visible
  to an older transaction that is still running (the next (auto)vacuum removes them), WAL
  segments not yet recycled (gone after the next checkpoints, by ``max_wal_size`` /
  ``checkpoint_timeout``), and archived WAL, replicas' own files and backups, which the
  operator's retention has to cover (README "PostgreSQL").
* **Queues and counters.** ``take_expired_exports`` and ``prune_access_records`` are one
  ``DELETE … RETURNING`` each, so two processes cleaning up at once never report the same
  row twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.ids import seq_base
from timeline.models import (
    Consent,
    Customer,
    CustomerStatus,
    Entry,
    Identity,
    IdentityKind,
    Preferences,
    utcnow,
)
from timeline.pg_erasure import RETAINED_TAG, access_values, any_of, drop_entries, erase
from timeline.pg_rows import PgRepository, entry_from_row, read_snapshot
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
from timeline.sql_tables import (
    blobs,
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
    login_codes,
    merges,
    notify_attempts,
    notify_deliveries,
    notify_jobs,
    office_privacy,
    portal_inbox,
    preferences,
    privacy_access_log,
    quarantine,
    retention_rules,
    telegram_updates,
    web_sessions,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

SCRUBBED_TABLES: tuple[sa.Table, ...] = (
    entries, identities, customers, notify_jobs, notify_deliveries, notify_attempts,
    portal_inbox, quarantine, cti_calls, events, customer_tokens, web_sessions,
    login_codes, consents, preferences, telegram_updates, merges, data_exports, blobs,
)
"""Every table an erasure or a retention run deletes personal rows from (``scrub``), the
attachment bytes (``blobs``, deleted by the service once no entry uses them) included."""
_PG_CLASS = sa.table("pg_class", sa.column("oid"), sa.column("relname"),
                     sa.column("relowner"))
"""The catalogue, for who owns the scrubbed tables (only the owner may VACUUM one)."""
DEADLOCK_RETRIES = 3
_RETRY_STATES = frozenset({"40P01", "40001"})
"""deadlock_detected, serialization_failure: the transaction was aborted, run it again."""

_EXPORT = sa.select(data_exports.c.id, data_exports.c.office_id, data_exports.c.customer_id,
                    data_exports.c.requested_by, data_exports.c.status, data_exports.c.progress,
                    data_exports.c.created_at, data_exports.c.file, data_exports.c.error,
                    data_exports.c.finished_at)
_ACCESS = sa.select(privacy_access_log.c.id, privacy_access_log.c.office_id,
                    privacy_access_log.c.agent_id, privacy_access_log.c.action,
                    privacy_access_log.c.customer_id, privacy_access_log.c.at,
                    privacy_access_log.c.expires_at)


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as the export's dict, timestamps as ISO text (what the SQLite store returns)."""
    return {key: _iso(value) for key, value in row.items()}


def _export(row: Mapping[Any, Any]) -> ExportRecord:
    return ExportRecord(id=row["id"], office_id=row["office_id"],
                        customer_id=row["customer_id"], requested_by=row["requested_by"],
                        status=ExportStatus(row["status"]), progress=int(row["progress"]),
                        created_at=row["created_at"], file=row["file"], error=row["error"],
                        finished_at=row["finished_at"])


def _access(row: Mapping[Any, Any]) -> AccessRecord:
    return AccessRecord(id=row["id"], office_id=row["office_id"], agent_id=row["agent_id"],
                        action=AccessAction(row["action"]), customer_id=row["customer_id"],
                        at=row["at"], expires_at=row["expires_at"])


async def _dicts(conn: AsyncConnection, stmt: sa.Executable) -> list[dict[str, Any]]:
    return [_plain(r) for r in (await conn.execute(stmt)).mappings().all()]


async def _load_customer(conn: AsyncConnection, office_id: str, customer_id: str
                         ) -> Customer | None:
    row = (await conn.execute(
        sa.select(customers.c.id, customers.c.office_id, customers.c.name, customers.c.status,
                  customers.c.created_at, customers.c.updated_at)
        .where(customers.c.id == customer_id, customers.c.office_id == office_id)
    )).mappings().first()
    if row is None:
        return None
    idents = tuple(
        Identity(kind=IdentityKind(i["kind"]), value=i["value"], raw=i["raw"],
                 undeliverable=bool(i["undeliverable"]))
        for i in (await conn.execute(
            sa.select(identities.c.kind, identities.c.value, identities.c.raw,
                      identities.c.undeliverable)
            .where(identities.c.customer_id == customer_id)
            .order_by(identities.c.id))).mappings())
    return Customer(id=row["id"], office_id=row["office_id"], name=row["name"],
                    status=CustomerStatus(row["status"]), identities=idents,
                    created_at=row["created_at"], updated_at=row["updated_at"])


class PgPrivacy(PgRepository):
    async def _retrying(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` in one transaction, run again when PostgreSQL aborted it for a deadlock
        or a serialisation failure (the module's notes on locking)."""
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                async with self.db.begin() as conn:
                    return await work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt == DEADLOCK_RETRIES or _sqlstate(exc) not in _RETRY_STATES:
                    raise
                log.warning("PostgreSQL aborted the transaction (SQLSTATE %s): running it "
                            "again (attempt %d of %d)", _sqlstate(exc), attempt + 1,
                            DEADLOCK_RETRIES)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ export
    async def personal_data(self, office_id: str, customer_id: str) -> PersonalData | None:
        """Everything stored about one customer, read in one ``REPEATABLE READ`` snapshot."""
        async with read_snapshot(self.db) as conn:
            return await _personal_data(conn, office_id, customer_id)

    # ------------------------------------------------------------------ erasure
    async def erase_customer(self, order: ErasureOrder) -> ErasureOutcome:
        """Remove the customer and everything naming them in one transaction
        (``timeline/pg_erasure.py``, with its notes on locking); entries in
        ``order.retained`` move to a placeholder customer. ``NotFound``: no such customer
        in the office. Run ``scrub`` afterwards (the service does) to vacuum the dead rows
        away."""
        return await self._retrying(lambda conn: erase(conn, order))

    async def delete_entries(self, office_id: str, entry_ids: Sequence[str]
                             ) -> tuple[list[int], list[str]]:
        """Delete entries (retention) with their notification records, portal inbox items
        and the quarantined raw messages they were processed from; index-outbox drop rows
        in the same transaction. Returns (seqs, the SHA-256 of their attachments and of
        those raw messages). Their notification-outbox rows and then the entries are locked
        first (the erasure's lock order), so a concurrent edit or notification claim either
        commits before or finds the entry gone."""
        if not entry_ids:
            return [], []

        async def run(conn: AsyncConnection) -> tuple[list[int], list[str]]:
            where = (entries.c.office_id == office_id, any_of(entries.c.id, entry_ids))
            rows = (await conn.execute(
                sa.select(entries.c.seq, entries.c.id, entries.c.attachments).where(*where)
                .order_by(entries.c.seq).with_for_update())).all()
            seqs = [r.seq for r in rows]
            ids = [r.id for r in rows]
            raw = (await conn.scalars(  # the quarantined messages they were processed from
                sa.delete(quarantine).where(quarantine.c.office_id == office_id,
                                            any_of(quarantine.c.entry_id, ids))
                .returning(quarantine.c.raw_sha256))).all() if ids else []
            await drop_entries(conn, ids, seqs)
            return seqs, [a["sha256"] for r in rows for a in r.attachments] + list(raw)
        return await self._retrying(run)

    async def retained_until(self, office_id: str, before: datetime, limit: int = 10000
                             ) -> list[Entry]:
        """Entries kept by law after their person's erasure (tag ``retained-by-law``) whose
        ``meta.retained.until`` is before ``before``: their time is over."""
        until = entries.c.meta["retained"]["until"].astext
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(entries).where(
                    entries.c.office_id == office_id,
                    entries.c.tags.contains(sa.cast(sa.literal([RETAINED_TAG], postgresql.JSONB),
                                                    postgresql.JSONB)),
                    sa.cast(until, sa.TIMESTAMP(timezone=True)) < before)
                .order_by(entries.c.seq).limit(limit))).mappings().all()
        return [entry_from_row(r) for r in rows]

    async def entries_of_kind_before(self, office_id: str, kind: str, before: datetime,
                                     limit: int = 10000) -> list[Entry]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(entries).where(entries.c.office_id == office_id,
                                         entries.c.kind == kind,
                                         entries.c.seq < seq_base(before))
                .order_by(entries.c.seq).limit(limit))).mappings().all()
        return [entry_from_row(r) for r in rows]

    async def blobs_in_use(self, sha256s: Sequence[str]) -> set[str]:
        """Which of these content-addressed blobs something still references (any office:
        blobs are shared by content). One pass over each table for all of them."""
        wanted = sorted(set(sha256s))
        if not wanted:
            return set()
        used: set[str] = set()
        async with self.db.connect() as conn:
            for table in (entries, portal_inbox):
                item = sa.func.jsonb_array_elements(table.c.attachments).table_valued(
                    "value").lateral("item")
                sha = item.c.value.op("->>", return_type=sa.Text)(sa.literal("sha256"))
                used.update((await conn.scalars(
                    sa.select(sha).distinct().select_from(table).join(item, sa.true())
                    .where(table.c.attachments != sa.text("'[]'::jsonb"),
                           any_of(sha, wanted)))).all())
            used.update((await conn.scalars(
                sa.select(quarantine.c.raw_sha256).distinct()
                .where(any_of(quarantine.c.raw_sha256, wanted)))).all())
        return used

    async def scrub(self) -> None:
        """After an erasure or a retention run: ``VACUUM (INDEX_CLEANUP ON)`` the tables
        personal rows are deleted from, so their dead tuples and index entries are removed
        from the table files (see the module's notes for what VACUUM cannot reach). Does not
        block readers or writers; a VACUUM already running on a table is waited for.
        VACUUM skips a table this role does not own (with a warning only): that is logged,
        since the erased rows would then stay until autovacuum."""
        async with self.db.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            rel = _PG_CLASS.c
            foreign: list[str] = list((await conn.scalars(
                sa.select(rel.relname)
                .where(rel.oid.in_([sa.cast(t.name, postgresql.REGCLASS)
                                    for t in SCRUBBED_TABLES]),
                       sa.not_(sa.func.pg_has_role(rel.relowner, "USAGE")))
                .order_by(rel.relname))).all())
            if foreign:
                log.warning("scrub: VACUUM skips %s (owned by another role): deleted rows "
                            "stay in their files until autovacuum; run the server as the "
                            "role that owns the schema", ", ".join(foreign))
            # VACUUM cannot run in a transaction and Core has no construct for it
            names = ", ".join(table.name for table in SCRUBBED_TABLES)
            await conn.execute(sa.text(f"VACUUM (INDEX_CLEANUP ON) {names}"))

    async def is_suppressed(self, office_id: str, kind: str, digest: str) -> bool:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(sa.literal(1)).where(
                erasure_suppression.c.office_id == office_id,
                erasure_suppression.c.kind == kind,
                erasure_suppression.c.digest == digest))).first()
        return row is not None

    async def erasure_receipts(self, office_id: str, limit: int = 100,
                               before_id: str | None = None) -> list[ErasureReceipt]:
        """Newest first; ``before_id``: the page after the receipt with that id."""
        stmt = sa.select(erasure_receipts).where(erasure_receipts.c.office_id == office_id)
        if before_id is not None:
            stmt = stmt.where(erasure_receipts.c.id < before_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                stmt.order_by(erasure_receipts.c.id.desc()).limit(limit))).mappings().all()
        return [ErasureReceipt(id=r["id"], office_id=r["office_id"], erased_by=r["erased_by"],
                               erased_at=r["erased_at"], counts=r["counts"],
                               retained=r["retained"]) for r in rows]

    # ------------------------------------------------------------------ retention rules
    async def retention_rules(self, office_id: str) -> list[RetentionRule]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(retention_rules.c.kind, retention_rules.c.action,
                          retention_rules.c.years)
                .where(retention_rules.c.office_id == office_id)
                .order_by(retention_rules.c.kind))).all()
        return [RetentionRule(kind=k, action=RetentionAction(a), years=int(y))
                for k, a, y in rows]

    async def set_retention_rule(self, office_id: str, rule: RetentionRule) -> None:
        stmt = postgresql.insert(retention_rules).values(
            office_id=office_id, kind=rule.kind, action=rule.action.value, years=rule.years)
        async with self.db.begin() as conn:
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[retention_rules.c.office_id, retention_rules.c.kind],
                set_={"action": stmt.excluded.action, "years": stmt.excluded.years}))

    async def remove_retention_rule(self, office_id: str, kind: str) -> bool:
        async with self.db.begin() as conn:
            gone = (await conn.execute(
                sa.delete(retention_rules).where(retention_rules.c.office_id == office_id,
                                                 retention_rules.c.kind == kind)
                .returning(retention_rules.c.kind))).first()
        return gone is not None

    # ------------------------------------------------------------------ export jobs
    async def add_export(self, record: ExportRecord) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(data_exports).values(
                id=record.id, office_id=record.office_id, customer_id=record.customer_id,
                requested_by=record.requested_by, status=record.status.value,
                progress=record.progress, created_at=record.created_at, file=record.file,
                error=record.error, finished_at=None))

    async def update_export(self, export_id: str, *, status: ExportStatus | None = None,
                            progress: int | None = None, file: str | None = None,
                            error: str | None = None) -> None:
        """Set what is given, keep the rest; a final status stamps ``finished_at``."""
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status.value
            if status in (ExportStatus.DONE, ExportStatus.FAILED):
                values["finished_at"] = utcnow()
        if progress is not None:
            values["progress"] = progress
        if file is not None:
            values["file"] = file
        if error is not None:
            values["error"] = error
        if not values:
            return
        async with self.db.begin() as conn:
            await conn.execute(sa.update(data_exports)
                               .where(data_exports.c.id == export_id).values(**values))

    async def get_export(self, office_id: str, export_id: str) -> ExportRecord | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(_EXPORT.where(
                data_exports.c.id == export_id,
                data_exports.c.office_id == office_id))).mappings().first()
        return None if row is None else _export(row)

    async def list_exports(self, office_id: str, customer_id: str | None = None,
                           limit: int = 200) -> list[ExportRecord]:
        stmt = _EXPORT.where(data_exports.c.office_id == office_id)
        if customer_id is not None:
            stmt = stmt.where(data_exports.c.customer_id == customer_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                stmt.order_by(data_exports.c.id.desc()).limit(limit))).mappings().all()
        return [_export(r) for r in rows]

    async def take_expired_exports(self, before: datetime) -> list[ExportRecord]:
        """Forget exports created before ``before`` (all offices); returns them so their
        files can be removed. One ``DELETE … RETURNING``: of two processes cleaning up at
        once, each record goes to exactly one."""
        async with self.db.begin() as conn:
            rows = (await conn.execute(
                sa.delete(data_exports).where(data_exports.c.created_at < before)
                .returning(*_EXPORT.selected_columns))).mappings().all()
        return sorted((_export(r) for r in rows), key=lambda e: e.id)

    # ------------------------------------------------------------------ access record
    async def add_access_record(self, record: AccessRecord) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.insert(privacy_access_log).values(**access_values(record)))

    async def access_records(self, office_id: str, limit: int = 50,
                             before_id: str | None = None) -> list[AccessRecord]:
        """Newest first; ``before_id``: the page after the record with that id."""
        stmt = _ACCESS.where(privacy_access_log.c.office_id == office_id)
        if before_id is not None:
            stmt = stmt.where(privacy_access_log.c.id < before_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                stmt.order_by(privacy_access_log.c.id.desc()).limit(limit))).mappings().all()
        return [_access(r) for r in rows]

    async def prune_call_states(self, before: datetime) -> int:
        """Forget the state of CTI calls not updated since ``before`` (all offices): the
        numbers, who answered, when. It serves only events of a call still going on or
        arriving late; the call itself is an entry. How many went."""
        async with self.db.begin() as conn:
            gone = (await conn.execute(
                sa.delete(cti_calls).where(cti_calls.c.updated_at < before)
                .returning(cti_calls.c.call_id))).all()
        return len(gone)

    async def prune_access_records(self, now: datetime) -> int:
        """Remove the rows whose ``expires_at`` has passed (all offices); how many went."""
        async with self.db.begin() as conn:
            gone = (await conn.execute(
                sa.delete(privacy_access_log).where(privacy_access_log.c.expires_at <= now)
                .returning(privacy_access_log.c.id))).all()
        return len(gone)

    # ------------------------------------------------------------------ office policy
    async def office_erased_sender(self, office_id: str) -> ErasedSenderPolicy | None:
        """The office's own erased-sender policy, or None for the server's default."""
        async with self.db.connect() as conn:
            value = await conn.scalar(sa.select(office_privacy.c.erased_sender).where(
                office_privacy.c.office_id == office_id))
        return None if value is None else ErasedSenderPolicy(value)

    async def set_office_erased_sender(self, office_id: str,
                                       policy: ErasedSenderPolicy | None) -> None:
        async with self.db.begin() as conn:
            if policy is None:
                await conn.execute(sa.delete(office_privacy)
                                   .where(office_privacy.c.office_id == office_id))
                return
            stmt = postgresql.insert(office_privacy).values(office_id=office_id,
                                                            erased_sender=policy.value)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[office_privacy.c.office_id],
                set_={"erased_sender": stmt.excluded.erased_sender}))


# ---------------------------------------------------------------------- the export read
async def _personal_data(conn: AsyncConnection, office_id: str, customer_id: str
                         ) -> PersonalData | None:
    customer = await _load_customer(conn, office_id, customer_id)
    if customer is None:
        return None
    merged_ids = (await conn.scalars(
        sa.select(customers.c.id).where(customers.c.office_id == office_id,
                                        customers.c.merged_into == customer_id,
                                        customers.c.status == CustomerStatus.MERGED.value)
        .order_by(customers.c.id))).all()
    merged_in = [c for cid in merged_ids
                 if (c := await _load_customer(conn, office_id, cid)) is not None]
    found = [entry_from_row(r) for r in (await conn.execute(
        sa.select(entries).where(entries.c.office_id == office_id,
                                 entries.c.customer_id == customer_id)
        .order_by(entries.c.seq))).mappings()]
    pref = await conn.scalar(sa.select(preferences.c.data).where(
        preferences.c.customer_id == customer_id, preferences.c.office_id == office_id))
    given = [Consent(channel=r.channel, granted=bool(r.granted), at=r.at, actor=r.actor,
                     route=r.route)
             for r in (await conn.execute(
                 sa.select(consents.c.channel, consents.c.granted, consents.c.at,
                           consents.c.actor, consents.c.route)
                 .where(consents.c.office_id == office_id,
                        consents.c.customer_id == customer_id)
                 .order_by(consents.c.id))).all()]
    j = notify_jobs.c
    jobs = await _dicts(conn, sa.select(
        j.id, j.entry_id, j.status, j.attempts, j.generation, j.next_at, j.channel, j.reason,
        j.skip_channels, j.created_at, j.updated_at)
        .where(j.office_id == office_id, j.customer_id == customer_id).order_by(j.id))
    for job in jobs:
        job["deliveries"] = await _dicts(conn, sa.select(
            notify_deliveries.c.channel, notify_deliveries.c.state,
            notify_deliveries.c.updated_at).where(notify_deliveries.c.job_id == job["id"]))
        a = notify_attempts.c
        job["attempts_made"] = await _dicts(conn, sa.select(
            a.id, a.channel, a.started_at, a.finished_at, a.outcome, a.detail)
            .where(a.job_id == job["id"]).order_by(a.id))
    p = portal_inbox.c
    inbox = await _dicts(conn, sa.select(
        p.id, p.entry_id, p.subject, p.body, p.attachments, p.created_at, p.read_at)
        .where(p.office_id == office_id, p.customer_id == customer_id).order_by(p.id))
    m = merges.c
    merge_rows = await _dicts(conn, sa.select(
        m.id, m.source_id, m.target_id, m.entry_ids, m.identities, m.created_at, m.undone_at)
        .where(m.office_id == office_id,
               sa.or_(m.source_id == customer_id, m.target_id == customer_id))
        .order_by(m.id))
    calls = await _dicts(conn, sa.select(
        cti_calls.c.call_id, cti_calls.c.state, cti_calls.c.updated_at)
        .where(cti_calls.c.office_id == office_id, cti_calls.c.customer_id == customer_id)
        .order_by(cti_calls.c.updated_at))
    tokens = await _dicts(conn, sa.select(
        customer_tokens.c.purpose, customer_tokens.c.created_at, customer_tokens.c.expires_at)
        .where(customer_tokens.c.office_id == office_id,
               customer_tokens.c.customer_id == customer_id)
        .order_by(customer_tokens.c.created_at))
    w = web_sessions.c
    [sessions] = await _dicts(conn, sa.select(
        sa.func.count().label("count"), sa.func.min(w.created_at).label("first_created"),
        sa.func.max(w.expires_at).label("last_expires"))
        .where(w.office_id == office_id, w.audience == "portal", w.subject_id == customer_id))
    lc = login_codes.c
    [codes] = await _dicts(conn, sa.select(
        sa.func.count().label("count"), sa.func.min(lc.created_at).label("first_created"),
        sa.func.max(lc.created_at).label("last_created"))
        .where(lc.office_id == office_id, lc.audience == "portal",
               lc.subject_id == customer_id))
    return PersonalData(
        customer=customer, merged_in=merged_in, entries=found,
        preferences=Preferences() if pref is None else Preferences.model_validate(pref),
        consents=given, notify_jobs=jobs, inbox=inbox, merges=merge_rows, cti_calls=calls,
        tokens=tokens, portal_sessions=sessions, login_codes=codes)
