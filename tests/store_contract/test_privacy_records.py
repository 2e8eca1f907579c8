"""Contract: the records of data-protection work — retention rules, export jobs, the access
record (who exported or erased whom) and the office's erased-sender policy."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from tests.store_contract.helpers import T0
from timeline.ids import new_ulid
from timeline.privacy_models import (
    AccessAction,
    AccessRecord,
    ErasedSenderPolicy,
    ExportRecord,
    ExportStatus,
    RetentionAction,
    RetentionRule,
)
from timeline.store import Store

COVERS = frozenset({
    "retention_rules", "set_retention_rule", "remove_retention_rule", "add_export",
    "update_export", "get_export", "list_exports", "take_expired_exports",
    "add_access_record", "access_records", "prune_access_records", "office_erased_sender",
    "set_office_erased_sender",
})

DAY = timedelta(days=1)


def export(office_id: str, customer_id: str, *, days: int = 0) -> ExportRecord:
    return ExportRecord(id=new_ulid(), office_id=office_id, customer_id=customer_id,
                        requested_by="agent-1", status=ExportStatus.RUNNING, progress=0,
                        created_at=T0 + days * DAY)


def access(office_id: str, action: AccessAction, *, expires_days: int) -> AccessRecord:
    return AccessRecord(id=new_ulid(), office_id=office_id, agent_id="agent-1", action=action,
                        customer_id="cust-1", at=T0, expires_at=T0 + expires_days * DAY)


async def test_retention_rules_one_per_kind_per_office(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    assert await store.retention_rules(office.id) == []
    await store.set_retention_rule(office.id, RetentionRule("invoice", RetentionAction.KEEP, 10))
    await store.set_retention_rule(office.id, RetentionRule("call", RetentionAction.DELETE, 1))
    await store.set_retention_rule(office.id, RetentionRule("call", RetentionAction.DELETE, 2))
    assert await store.retention_rules(office.id) == [
        RetentionRule("call", RetentionAction.DELETE, 2),
        RetentionRule("invoice", RetentionAction.KEEP, 10)]
    assert await store.retention_rules(other.id) == []
    assert not await store.remove_retention_rule(other.id, "call")
    assert await store.remove_retention_rule(office.id, "call")
    assert not await store.remove_retention_rule(office.id, "call")
    assert await store.retention_rules(office.id) == [
        RetentionRule("invoice", RetentionAction.KEEP, 10)]


async def test_an_export_job_is_tracked_to_its_end(store: Store) -> None:
    office = await store.create_office("A", "DE")
    record = export(office.id, "cust-1")
    await store.add_export(record)
    assert await store.get_export(office.id, record.id) == record
    await store.update_export(record.id, progress=40)
    running = await store.get_export(office.id, record.id)
    assert running is not None and (running.progress, running.status) == (
        40, ExportStatus.RUNNING) and running.finished_at is None
    await store.update_export(record.id, status=ExportStatus.DONE, progress=100,
                              file="export-1.zip")
    done = await store.get_export(office.id, record.id)
    assert done is not None
    assert (done.status, done.progress, done.file, done.error) == (
        ExportStatus.DONE, 100, "export-1.zip", None)
    assert done.finished_at is not None
    await store.update_export(record.id, progress=7)  # the file stays
    assert await store.get_export(office.id, record.id) == replace(done, progress=7)

    failed = export(office.id, "cust-1")
    await store.add_export(failed)
    await store.update_export(failed.id, status=ExportStatus.FAILED, error="disk full")
    got = await store.get_export(office.id, failed.id)
    assert got is not None and (got.status, got.error) == (ExportStatus.FAILED, "disk full")
    other = await store.create_office("B", "DE")
    assert await store.get_export(other.id, record.id) is None
    assert await store.get_export(office.id, "no-such-export") is None


async def test_exports_are_listed_newest_first_and_expire(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    first = export(office.id, "cust-1", days=0)
    second = export(office.id, "cust-2", days=1)
    third = export(office.id, "cust-1", days=2)
    theirs = export(other.id, "cust-9", days=0)
    for record in (first, second, third, theirs):
        await store.add_export(record)
    assert [e.id for e in await store.list_exports(office.id)] == [third.id, second.id,
                                                                   first.id]
    assert [e.id for e in await store.list_exports(office.id, "cust-1")] == [third.id,
                                                                             first.id]
    assert [e.id for e in await store.list_exports(office.id, limit=1)] == [third.id]

    expired = await store.take_expired_exports(T0 + DAY)  # every office's
    assert {e.id for e in expired} == {first.id, theirs.id}
    assert [e.id for e in await store.list_exports(office.id)] == [third.id, second.id]
    assert await store.list_exports(other.id) == []
    assert await store.take_expired_exports(T0 + DAY) == []


async def test_the_access_record_pages_newest_first_and_expires(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    records = [access(office.id, AccessAction.EXPORT, expires_days=30),
               access(office.id, AccessAction.ERASE, expires_days=400),
               access(office.id, AccessAction.EXPORT, expires_days=30)]
    for record in records:
        await store.add_access_record(record)
    await store.add_access_record(access(other.id, AccessAction.EXPORT, expires_days=30))
    newest_first = list(reversed(records))
    assert await store.access_records(office.id) == newest_first
    assert await store.access_records(office.id, limit=2) == newest_first[:2]
    assert await store.access_records(office.id, before_id=newest_first[0].id) == (
        newest_first[1:])

    assert await store.prune_access_records(T0 + 30 * DAY) == 3  # both offices' expired rows
    assert await store.access_records(office.id) == [records[1]]
    assert await store.access_records(other.id) == []
    assert await store.prune_access_records(T0 + 30 * DAY) == 0


async def test_the_erased_sender_policy_is_the_offices_own(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    assert await store.office_erased_sender(office.id) is None
    await store.set_office_erased_sender(office.id, ErasedSenderPolicy.DROP)
    assert await store.office_erased_sender(office.id) is ErasedSenderPolicy.DROP
    await store.set_office_erased_sender(office.id, ErasedSenderPolicy.QUARANTINE)
    assert await store.office_erased_sender(office.id) is ErasedSenderPolicy.QUARANTINE
    assert await store.office_erased_sender(other.id) is None
    await store.set_office_erased_sender(office.id, None)  # back to the server's default
    assert await store.office_erased_sender(office.id) is None


# ---------------------------------------------------------------------- several processes
async def test_concurrent_cleaners_take_each_expired_export_once(
        store: Store, second_store: Store) -> None:
    """Two processes forget expired exports at once: each record (and so each file to
    remove) goes to exactly one of them; the fresh one stays."""
    office = await store.create_office("A", "DE")
    old = [export(office.id, f"cust-{i}") for i in range(30)]
    fresh = export(office.id, "cust-new", days=5)
    for record in (*old, fresh):
        await store.add_export(record)
    batches = await asyncio.gather(*(handle.take_expired_exports(T0 + DAY)
                                     for handle in (store, second_store) * 3))
    taken = [e.id for batch in batches for e in batch]
    assert sorted(taken) == sorted(e.id for e in old)  # each once
    assert [e.id for e in await second_store.list_exports(office.id)] == [fresh.id]


async def test_concurrent_prunes_count_each_expired_access_record_once(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    for i in range(30):
        await store.add_access_record(access(office.id, AccessAction.EXPORT,
                                             expires_days=1 + i % 2 * 400))
    counts = await asyncio.gather(*(handle.prune_access_records(T0 + 30 * DAY)
                                    for handle in (store, second_store) * 3))
    assert sum(counts) == 15
    assert len(await second_store.access_records(office.id)) == 15
