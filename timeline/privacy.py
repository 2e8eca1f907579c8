"""Data protection: a copy of everything stored about one person (GDPR Art. 15), their
erasure (Art. 17) with the legal retention rules, and the retention job.

The store does the work in single transactions (``timeline/sqlite_privacy.py``); this
service decides what goes and what stays, finds the quarantined messages that name the
person, builds the export zip off the event loop and removes attachment blobs nothing
references any more. Removing search documents physically (indexer drain, backend
``compact``, store ``scrub``) is the composition root's step after ``erase``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.ids import new_ulid
from timeline.models import (
    Agent,
    Channel,
    CustomerStatus,
    Direction,
    Entry,
    EntryDraft,
    Office,
    QuarantineItem,
    Visibility,
    utcnow,
)
from timeline.privacy_match import names_person, needles
from timeline.privacy_models import (
    AccessAction,
    AccessRecord,
    ErasureOrder,
    ExportRecord,
    ExportStatus,
    PersonalData,
    RetainedEntry,
    RetentionAction,
    RetentionRule,
    suppression_digest,
)
from timeline.privacy_summary import Describe, Label, summary_html
from timeline.privacy_zip import ExportZip
from timeline.repositories import PrivacyStore
from timeline.service import SIGN_IN_KINDS, TimelineService

log = logging.getLogger(__name__)

DATA_REQUEST_TAG = "data-request"
DATA_REQUEST_DONE_TAG = "data-request:done"
DATA_COPY_KIND = "data_copy"
DATA_COPY_TAG = "data-copy"
"""The portal message (kind ``data_copy``) that gives a customer their export
(``meta.export_id``)."""
ANSWER_WITHIN = timedelta(days=28)
EXPORT_KEEP = timedelta(days=7)
"""Finished exports are removed after this long."""
CALL_STATE_KEEP = timedelta(days=7)
"""A CTI call's state (numbers, who answered) serves late events of the call; the retention
job forgets it after this long (the call itself is an entry, under the retention rules)."""
ACCESS_LOG_YEARS = 3
"""Rows of the access record (who exported or erased whom) are kept this long by default."""
CLI_AGENT = "cli"
"""The agent of the access record for work done with the command line."""
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def add_years(value: datetime, years: int) -> datetime:
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February
        return value.replace(year=value.year + years, day=28)


def safe_name(name: str) -> str:
    """A file name fit for a zip member: no paths, no odd characters."""
    cleaned = _SAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")
    return cleaned[:120] or "file"


@dataclass(frozen=True)
class Collected:
    """What an export holds and an erasure would touch."""

    data: PersonalData
    quarantine: list[tuple[QuarantineItem, bytes]]
    retained: list[RetainedEntry]

    def counts(self) -> dict[str, int]:
        d = self.data
        return {
            "customers": 1 + len(d.merged_in),
            "identities": len(d.customer.identities),
            "entries": len(d.entries),
            "attachments": sum(len(e.attachments) for e in d.entries),
            "consents": len(d.consents),
            "notification_jobs": len(d.notify_jobs),
            "notification_attempts": sum(len(j["attempts_made"]) for j in d.notify_jobs),
            "portal_inbox": len(d.inbox),
            "merges": len(d.merges),
            "quarantine": len(self.quarantine),
            "cti_calls": len(d.cti_calls),
            "customer_tokens": len(d.tokens),
            "portal_sessions": int(d.portal_sessions.get("count") or 0),
            "login_codes": int(d.login_codes.get("count") or 0),
            "retained": len(self.retained),
        }


def _merged(into: str | None) -> Conflict:
    """A record merged into another is not the person any more: their data (entries,
    identities) is on the customer it was merged into; exporting or erasing the empty
    record would miss all of it."""
    return Conflict("this customer was merged into another one: export or erase that one "
                    "(it holds their data now)",
                    {"reason": "merged", **({"merged_into": into} if into else {})})


class PrivacyService:
    def __init__(self, timeline: TimelineService[PrivacyStore], key: bytes, export_dir: Path,
                 access_log_years: int = ACCESS_LOG_YEARS,
                 describe: Describe | None = None, label: Label | None = None) -> None:
        """``describe``: system-written entries (merge notes, preference changes,
        notification records) and ``label``: stored codes (kinds, channels) in the
        customer's language for ``summary.html`` (the composition root's texts)."""
        self.describe = describe
        self.label = label
        self.timeline = timeline
        self.access_log_years = access_log_years
        self.store: PrivacyStore = timeline.store
        self.blobs = timeline.blobs
        self.key = key
        self.export_dir = export_dir
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ collecting
    async def collect(self, office: Office, customer_id: str) -> Collected:
        data = await self.store.personal_data(office.id, customer_id)
        if data is None:
            raise NotFound("no such customer")
        if data.customer.status is CustomerStatus.MERGED:
            into = [m["target_id"] for m in data.merges
                    if m["source_id"] == customer_id and not m["undone_at"]]
            raise _merged(into[-1] if into else None)
        return Collected(data=data, quarantine=await self._quarantine_naming(office, data),
                         retained=await self._retained(office, data))

    async def _quarantine_naming(self, office: Office, data: PersonalData
                                 ) -> list[tuple[QuarantineItem, bytes]]:
        people = [data.customer, *data.merged_in]
        ids = {c.id for c in people}
        shared = set()  # a phone number the family shares does not single out this person
        for kind, value in {(i.kind, i.value) for c in people for i in c.identities}:
            if any(other.id not in ids
                   for other in await self.store.find_customers(office.id, kind, value)):
                shared.add((kind, value))
        found_by = needles(people, shared)
        if not found_by:
            return []
        found: list[tuple[QuarantineItem, bytes]] = []
        after: str | None = None
        while True:
            page = await self.store.list_quarantine(office.id, status=None, limit=200,
                                                    after_id=after)
            for item in page:
                raw = await self.blobs.get(item.raw_sha256)
                if raw is not None and await asyncio.to_thread(names_person, raw, found_by):
                    found.append((item, raw))
            if len(page) < 200:
                return found
            after = page[-1].id

    async def _retained(self, office: Office, data: PersonalData) -> list[RetainedEntry]:
        keep = {r.kind: r for r in await self.store.retention_rules(office.id)
                if r.action is RetentionAction.KEEP}
        now = utcnow()
        out = []
        for entry in data.entries:
            rule = keep.get(entry.kind)
            if rule is None:
                continue
            until = add_years(entry.occurred_at, rule.years)
            if until > now:
                out.append(RetainedEntry(
                    entry_id=entry.id, kind=entry.kind, until=until,
                    reason=f"entries of kind {entry.kind} are kept {rule.years} years by law"))
        return out

    # ------------------------------------------------------------------ access record
    def access_log_until(self, at: datetime) -> datetime:
        return add_years(at, self.access_log_years)

    async def record_access(self, office: Office, agent_id: str, action: AccessAction,
                            customer_id: str) -> AccessRecord:
        """One row of the access record: who (an agent id, or ``cli``) exported or erased
        whom (the customer's opaque id), when; it expires after ``access_log_years``."""
        now = utcnow()
        record = AccessRecord(id=new_ulid(), office_id=office.id, agent_id=agent_id,
                              action=action, customer_id=customer_id, at=now,
                              expires_at=self.access_log_until(now))
        await self.store.add_access_record(record)
        return record

    async def prune_access_log(self) -> int:
        return await self.store.prune_access_records(utcnow())

    async def prune_call_states(self, keep: timedelta = CALL_STATE_KEEP) -> int:
        return await self.store.prune_call_states(utcnow() - keep)

    # ------------------------------------------------------------------ export
    async def export_to(self, office: Office, customer_id: str, path: Path,
                        progress: Callable[[int], Awaitable[None]] | None = None
                        ) -> dict[str, int]:
        """Write the zip for one customer to ``path``; returns the counts per kind."""
        collected = await self.collect(office, customer_id)
        if progress:
            await progress(30)
        out = ExportZip(path)
        await asyncio.to_thread(out.open)
        try:
            counts = await self._fill_zip(office, collected, out, progress)
        except BaseException:
            await asyncio.to_thread(out.abort)
            raise
        if progress:
            await progress(100)
        return counts

    async def _fill_zip(self, office: Office, collected: Collected, out: ExportZip,
                        progress: Callable[[int], Awaitable[None]] | None) -> dict[str, int]:
        """Every file read and written one at a time, then ``data.json``, the summary and
        the manifest."""
        entries_json = []
        for entry in collected.data.entries:
            row = entry.model_dump(mode="json")
            row["attachment_files"] = []
            for i, att in enumerate(entry.attachments, 1):
                data = await self.blobs.get(att.sha256)
                if data is None:
                    continue
                name = f"attachments/{entry.id}/{i}-{safe_name(att.name)}"
                await asyncio.to_thread(out.add, name, data)
                row["attachment_files"].append(name)
            entries_json.append(row)
        if progress:
            await progress(60)
        quarantine_json = []
        for item, raw in collected.quarantine:
            name = f"quarantine/{item.id}.raw"
            await asyncio.to_thread(out.add, name, raw)
            quarantine_json.append({**item.model_dump(mode="json", exclude={"office_id"}),
                                    "raw_file": name})
        d = collected.data
        document = {
            "format": "chronik-export/1",
            "generated_at": utcnow().isoformat(),
            "office": {"id": office.id, "name": office.name},
            "customer": d.customer.model_dump(mode="json"),
            "merged_records": [c.model_dump(mode="json") for c in d.merged_in],
            "preferences": d.preferences.model_dump(mode="json"),
            "consent_history": [c.model_dump(mode="json") for c in d.consents],
            "entries": entries_json,
            "notification_jobs": d.notify_jobs,
            "portal_inbox": d.inbox,
            "merges": d.merges,
            "quarantine": quarantine_json,
            "phone_calls": d.cti_calls,
            "customer_tokens": d.tokens,
            "portal_sessions": d.portal_sessions,
            "login_codes": d.login_codes,
            "retained_by_law": [{"entry_id": r.entry_id, "kind": r.kind,
                                 "until": r.until.isoformat(), "reason": r.reason}
                                for r in collected.retained],
        }
        counts = collected.counts()
        html = summary_html(office, d, collected.retained, counts, self.describe, self.label)
        await asyncio.to_thread(out.finish, document, html, counts)
        return counts

    async def record_answer(self, office: Office, customer_id: str, author: str | None,
                            export_id: str | None = None, *, note: bool = True) -> None:
        """The request is answered: an open ``data-request`` entry (from the portal) is
        tagged done; without one an internal ``data_request`` entry records it (``note``:
        unless the caller wrote an entry of its own)."""
        open_requests = await self.store.entries_with_tag(
            office.id, DATA_REQUEST_TAG, without_tag=DATA_REQUEST_DONE_TAG,
            customer_id=customer_id)
        for entry in open_requests:
            await self.store.retag_entry(office.id, entry.id, add=(DATA_REQUEST_DONE_TAG,))
        if open_requests:
            self.timeline.notify_reindex()
        if open_requests or not note:
            return
        now = utcnow()
        await self.timeline.append(EntryDraft(
            office_id=office.id, customer_id=customer_id, channel=Channel.NOTE,
            direction=Direction.INTERNAL, kind="data_request", author=author,
            visibility=Visibility.INTERNAL, occurred_at=now,
            subject="Copy of the stored data provided (Art. 15 GDPR)",
            body="A complete export of the data stored about this customer was made.",
            tags=(DATA_REQUEST_TAG, DATA_REQUEST_DONE_TAG),
            meta={"deadline": (now + ANSWER_WITHIN).date().isoformat(),
                  "answered_at": now.isoformat(),
                  **({"export_id": export_id} if export_id else {})}))

    async def start_export(self, office: Office, customer_id: str, requested_by: str, *,
                           answer: bool = True) -> ExportRecord:
        """Start an export in the background (``DATA_DIR/exports/<id>.zip``). ``answer``:
        the finished export answers the customer's open data requests (the API and the
        command line, where the caller hands the copy over); the admin pages answer when
        the copy is provided in the portal (:meth:`provide_export`) or marked answered."""
        customer = await self.store.get_customer(office.id, customer_id)
        if customer is None:
            raise NotFound("no such customer")
        if customer.status is CustomerStatus.MERGED:
            await self.collect(office, customer_id)  # refused, naming the one it went into
        await self.purge_expired_exports()
        record = ExportRecord(id=new_ulid(), office_id=office.id, customer_id=customer_id,
                              requested_by=requested_by, status=ExportStatus.RUNNING,
                              progress=0, created_at=utcnow())
        await self.store.add_export(record)
        task = asyncio.create_task(self._run_export(office, record, answer),
                                   name=f"chronik-export-{record.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _run_export(self, office: Office, record: ExportRecord, answer: bool) -> None:
        path = self.export_dir / f"{record.id}.zip"

        async def progress(value: int) -> None:
            await self.store.update_export(record.id, progress=min(value, 99))
        try:
            await self.export_to(office, record.customer_id, path, progress)
            await self.record_access(office, record.requested_by, AccessAction.EXPORT,
                                     record.customer_id)
            if answer:
                await self.record_answer(office, record.customer_id, record.requested_by,
                                         record.id)
        except Exception as exc:
            log.exception("export %s failed", record.id)
            path.unlink(missing_ok=True)
            await self.store.update_export(record.id, status=ExportStatus.FAILED,
                                           error=type(exc).__name__)
            return
        await self.store.update_export(record.id, status=ExportStatus.DONE, progress=100,
                                       file=path.name)
        if await self.store.get_export(office.id, record.id) is None:
            # the person was erased while their copy was written: it goes with them (an
            # erasure after this point finds the file in the export's row)
            path.unlink(missing_ok=True)

    async def wait_exports(self) -> None:
        """Wait for the exports running now (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def export_path(self, record: ExportRecord) -> Path | None:
        if record.status is not ExportStatus.DONE or not record.file:
            return None
        path = self.export_dir / Path(record.file).name
        return path if path.is_file() else None

    async def current_export(self, office: Office, export_id: str) -> ExportRecord | None:
        """The export while it may still be fetched (younger than ``EXPORT_KEEP``)."""
        record = await self.store.get_export(office.id, export_id)
        if record is not None and record.created_at < utcnow() - EXPORT_KEEP:
            await self.purge_expired_exports()
            return None
        return record

    async def provide_export(self, office: Office, agent: Agent, record: ExportRecord, *,
                             subject: str, body: str) -> Entry:
        """Give the customer their finished export (``record``, from
        :meth:`current_export`) in the portal: a portal message (tag ``data-copy``,
        ``meta.export_id``) notified on the customer's channels, from which the customer
        downloads the zip while it is kept; the customer's open data requests are answered.
        Idempotent per export (a second click gives the first message)."""
        if self.export_path(record) is None:
            running = record.status is ExportStatus.RUNNING
            raise Conflict("the export is not finished yet" if running
                           else "this export failed or was removed",
                           {"reason": "running" if running else "failed"})
        customer = await self.store.get_customer(office.id, record.customer_id)
        if customer is None:
            raise NotFound("no such customer")
        if customer.status is CustomerStatus.MERGED:
            raise Conflict("this customer was merged into another one: export that one",
                           {"reason": "merged"})
        if not any(i.kind in SIGN_IN_KINDS and not i.undeliverable
                   for i in customer.identities):
            raise Conflict("this customer cannot sign in to the portal (no e-mail "
                           "address or Telegram chat to send a code to): hand the "
                           "copy over another way and mark the request answered",
                           {"reason": "no_portal"})
        entry, _ = await self.timeline.append(EntryDraft(
            office_id=office.id, customer_id=customer.id, channel=Channel.PORTAL,
            direction=Direction.OUTBOUND, kind=DATA_COPY_KIND, author=agent.id,
            visibility=Visibility.PUBLISHED, notify=True, occurred_at=utcnow(),
            subject=subject, body=body, tags=(DATA_COPY_TAG,),
            meta={"export_id": record.id, "author_name": agent.name},
            source_id=f"data-copy:{record.id}"))
        await self.record_answer(office, customer.id, agent.id, record.id, note=False)
        return entry

    async def purge_expired_exports(self) -> int:
        gone = await self.store.take_expired_exports(utcnow() - EXPORT_KEEP)
        for record in gone:
            if record.file:
                (self.export_dir / Path(record.file).name).unlink(missing_ok=True)
        return len(gone)

    # ------------------------------------------------------------------ erasure
    def confirm_token(self, office: Office, collected: Collected) -> str:
        """Binds a confirmation to what the preview showed: it no longer fits once the
        customer's history changed."""
        last = collected.data.entries[-1].seq if collected.data.entries else 0
        msg = (f"erase\x00{office.id}\x00{collected.data.customer.id}\x00"
               f"{len(collected.data.entries)}\x00{last}").encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()[:32]

    async def preview(self, office: Office, customer_id: str) -> dict[str, Any]:
        collected = await self.collect(office, customer_id)
        return {
            "customer_id": customer_id,
            "counts": collected.counts(),
            "retained": [{"entry_id": r.entry_id, "kind": r.kind,
                          "until": r.until.isoformat(), "reason": r.reason}
                         for r in collected.retained],
            "kept": ["an erasure receipt (who erased, when, counts per kind; no personal "
                     "content)",
                     "keyed hashes of the e-mail addresses, phone numbers and other "
                     "identities, so that a new message from them does not re-create the "
                     "person"],
            "confirm": self.confirm_token(office, collected),
        }

    async def erase(self, office: Office, customer_id: str, erased_by: str, confirm: str
                    ) -> dict[str, Any]:
        """Erase the customer (the caller made sure ``confirm`` is what the preview gave).
        Returns the receipt."""
        collected = await self.collect(office, customer_id)
        expected = self.confirm_token(office, collected)
        if not hmac.compare_digest(confirm.encode(), expected.encode()):  # any text, no 500
            raise InvalidInput("the confirmation does not match: ask for the erasure preview "
                               "again (the customer's data changed or the token is wrong)")
        people = [collected.data.customer, *collected.data.merged_in]
        order = ErasureOrder(
            office_id=office.id, customer_id=customer_id, erased_by=erased_by,
            retained=tuple(collected.retained),
            quarantine_ids=tuple(item.id for item, _ in collected.quarantine),
            suppress=tuple(dict.fromkeys(
                (i.kind.value, suppression_digest(self.key, office.id, i.kind.value, i.value))
                for c in people for i in c.identities)),
            access_log_until=self.access_log_until(utcnow()))
        outcome = await self.store.erase_customer(order)
        in_use = await self.store.blobs_in_use(outcome.blob_candidates)
        for sha in outcome.blob_candidates:
            if sha not in in_use:
                await self.blobs.delete(sha)
        for name in outcome.export_files:
            (self.export_dir / Path(name).name).unlink(missing_ok=True)
        self.timeline.notify_reindex()
        log.info("erasure %s: %d entries erased, %d retained", outcome.receipt_id,
                 outcome.counts.get("entries", 0), outcome.counts.get("retained", 0))
        return {"receipt_id": outcome.receipt_id, "erased_by": erased_by,
                "counts": outcome.counts, "placeholder_id": outcome.placeholder_id,
                "retained": [{"entry_id": r.entry_id, "kind": r.kind,
                              "until": r.until.isoformat(), "reason": r.reason}
                             for r in collected.retained]}

    # ------------------------------------------------------------------ retention job
    async def retention(self, office: Office, *, dry_run: bool) -> list[dict[str, Any]]:
        """Apply the office's ``delete`` rules: entries of kind K older than N years go;
        so do entries kept by law after an erasure once their ``meta.retained.until`` has
        passed. Returns what went (or would go)."""
        now = utcnow()
        due: list[dict[str, Any]] = []
        for rule in await self.store.retention_rules(office.id):
            if rule.action is not RetentionAction.DELETE:
                continue
            old = await self.store.entries_of_kind_before(office.id, rule.kind,
                                                          add_years(now, -rule.years))
            due += [{"entry_id": e.id, "kind": e.kind, "customer_id": e.customer_id,
                     "occurred_at": e.occurred_at.isoformat(),
                     "rule": f"delete {rule.kind} after {rule.years} years"} for e in old]
        # kept by law after their person's erasure: erased once that time is over
        listed = {d["entry_id"] for d in due}
        for e in await self.store.retained_until(office.id, now):
            if e.id not in listed:
                until = (e.meta.get("retained") or {}).get("until", "")
                due.append({"entry_id": e.id, "kind": e.kind, "customer_id": e.customer_id,
                            "occurred_at": e.occurred_at.isoformat(),
                            "rule": f"kept by law until {str(until)[:10]} after an erasure"})
        if not dry_run and due:
            _, shas = await self.store.delete_entries(office.id, [d["entry_id"] for d in due])
            in_use = await self.store.blobs_in_use(shas)
            for sha in set(shas) - in_use:
                await self.blobs.delete(sha)
            self.timeline.notify_reindex()
        return due

    async def set_rule(self, office: Office, kind: str, action: str, years: int) -> RetentionRule:
        if not kind.strip() or len(kind) > 100:
            raise InvalidInput("a retention rule needs an entry kind")
        if action not in ("keep", "delete"):
            raise InvalidInput("action must be keep or delete")
        if not 0 <= years <= 100:
            raise InvalidInput("years must be between 0 and 100")
        rule = RetentionRule(kind=kind.strip(), action=RetentionAction(action), years=years)
        await self.store.set_retention_rule(office.id, rule)
        return rule
