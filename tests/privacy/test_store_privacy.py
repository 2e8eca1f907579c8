"""The store's part of erasure, against the SQLite store directly: after ``erase_customer``
no row of any table holds the customer's id, address or number; drop rows for the search
index are written in the same transaction; suppression, receipts, retention rules and
export records behave."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from timeline.accounts import CUSTOMER_CODES, LoginCode, WebSession
from timeline.errors import NotFound
from timeline.ids import new_ulid
from timeline.models import (
    Attachment,
    Channel,
    Direction,
    EntryDraft,
    Identity,
    IdentityKind,
    Preferences,
    Visibility,
    utcnow,
)
from timeline.privacy_models import (
    ErasureOrder,
    ExportRecord,
    ExportStatus,
    RetentionAction,
    RetentionRule,
)
from timeline.sqlite_store import SqliteStore

EMAIL, PHONE = "sweep@kunde.test", "+491715550999"
SHA = "ab" * 32


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_erase_customer_leaves_no_row_naming_them(store: SqliteStore,
                                                        tmp_path: Path) -> None:
    office = await store.create_office("Büro", "DE")
    person = await store.create_customer(office.id, "Sweep Person", [
        Identity(kind=IdentityKind.EMAIL, value=EMAIL),
        Identity(kind=IdentityKind.PHONE, value=PHONE, raw="0171 5550999")])
    other = await store.create_customer(office.id, "Other", [])
    now = utcnow()

    def draft(customer_id: str, subject: str, notify: bool = False) -> EntryDraft:
        return EntryDraft(office_id=office.id, customer_id=customer_id, channel=Channel.NOTE,
                          direction=Direction.INTERNAL, kind="note",
                          visibility=Visibility.PUBLISHED if notify else Visibility.INTERNAL,
                          notify=notify, occurred_at=now, subject=subject,
                          attachments=(Attachment(name="a.txt", content_type="text/plain",
                                                  size=1, sha256=SHA),))
    mine, _ = await store.append(draft(person.id, "mine", notify=True))
    theirs, _ = await store.append(draft(other.id, "theirs"))
    now = utcnow()  # the job is due from its entry's write on
    jobs = await store.claim_notify_jobs("w", now, now + timedelta(minutes=5), 10)
    assert [j.entry_id for j in jobs] == [mine.id]
    await store.begin_delivery(jobs[0].id, "w", now + timedelta(minutes=5), mine.id, "email")
    await store.add_inbox_item(office.id, person.id, mine.id, "s", "b", [])
    await store.record_consent(office.id, person.id, "email", False, actor="customer",
                               route="portal")
    await store.set_preferences(office.id, person.id, Preferences(language="en"))
    await store.add_customer_token(office.id, person.id, "portal", "hash1",
                                   now + timedelta(days=1))
    await store.create_web_session(WebSession(
        id_hash="sess1", audience="portal", office_id=office.id, subject_id=person.id,
        csrf="c", created_at=now, expires_at=now + timedelta(hours=1)))
    await store.add_login_code(LoginCode(id=new_ulid(), audience="portal", office_id=office.id,
                                         subject_id=person.id,
                                         next_path=None,
                                         expires_at=now + timedelta(minutes=10)), "h", now)
    await store.save_call_state(office.id, "call-1", {"from": PHONE}, person.id)
    q = await store.add_quarantine(office.id, "email", "unparseable", "test", "cd" * 32, 10)
    await store.add_export(ExportRecord(id=new_ulid(), office_id=office.id,
                                        customer_id=person.id, requested_by="a",
                                        status=ExportStatus.DONE, progress=100,
                                        created_at=now, file="x.zip"))
    dup = await store.create_customer(office.id, "Dup", [])
    await store.merge_customers(office.id, dup.id, person.id)
    for customer_id in (person.id, dup.id):  # the day's sign-in codes counted
        assert await store.take_attempt(CUSTOMER_CODES, customer_id, now,
                                        now - timedelta(days=1), 10)
    assert await store.take_attempt(CUSTOMER_CODES, other.id, now, now - timedelta(days=1), 10)
    pending = {t.seq for t in await store.pending_index_tasks(1000)}
    await store.ack_index_tasks([t.outbox_id for t in await store.pending_index_tasks(1000)])
    assert mine.seq in pending

    outcome = await store.erase_customer(ErasureOrder(
        office_id=office.id, customer_id=person.id, erased_by="admin",
        quarantine_ids=(q.id,), suppress=(("email", "d1"), ("phone", "d2"))))
    await store.scrub()
    assert outcome.counts["entries"] == 1 and outcome.counts["customers"] == 2
    assert outcome.counts["notification_attempts"] == 1 and outcome.counts["quarantine"] == 1
    assert outcome.export_files == ("x.zip",)
    assert set(outcome.blob_candidates) == {SHA, "cd" * 32}
    assert await store.blobs_in_use(outcome.blob_candidates) == {SHA}  # "theirs" has it too
    drops = await store.pending_index_tasks(1000)
    assert {t.seq for t in drops if t.entry is None} == {mine.seq}
    assert await store.is_suppressed(office.id, "email", "d1")
    assert not await store.is_suppressed(office.id, "email", "d2")
    assert await store.get_entry(office.id, theirs.id) is not None
    assert await store.count_attempts(CUSTOMER_CODES, other.id, now - timedelta(days=1)) == 1

    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                text = repr(row)
                for needle in (person.id, dup.id, EMAIL, PHONE, mine.id):
                    assert needle not in text, (table, row)
    finally:
        conn.close()
    receipts = await store.erasure_receipts(office.id)
    assert [r.id for r in receipts] == [outcome.receipt_id]


async def test_unknown_customer_and_rules_and_exports(store: SqliteStore) -> None:
    office = await store.create_office("Büro", "DE")
    with pytest.raises(NotFound, match="no such customer"):
        await store.erase_customer(ErasureOrder(office_id=office.id, customer_id="nope",
                                                erased_by="a"))
    await store.set_retention_rule(office.id, RetentionRule("document", RetentionAction.KEEP,
                                                            10))
    await store.set_retention_rule(office.id, RetentionRule("document", RetentionAction.DELETE,
                                                            3))
    assert await store.retention_rules(office.id) == [
        RetentionRule("document", RetentionAction.DELETE, 3)]
    assert await store.remove_retention_rule(office.id, "document")
    assert not await store.remove_retention_rule(office.id, "document")
    old = utcnow() - timedelta(days=8)
    record = ExportRecord(id=new_ulid(), office_id=office.id, customer_id="c",
                          requested_by="a", status=ExportStatus.RUNNING, progress=0,
                          created_at=old)
    await store.add_export(record)
    await store.update_export(record.id, progress=50)
    got = await store.get_export(office.id, record.id)
    assert got is not None and got.progress == 50 and got.status is ExportStatus.RUNNING
    assert await store.get_export("other-office", record.id) is None
    assert [r.id for r in await store.take_expired_exports(utcnow() - timedelta(days=7))] == [
        record.id]
    assert await store.list_exports(office.id) == []
