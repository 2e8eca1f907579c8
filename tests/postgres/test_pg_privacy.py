"""What only PostgreSQL shows about erasure (``timeline/pg_privacy.py``,
``timeline/pg_erasure.py``): nothing of the erased person stays in the table files after
``scrub``, an erasure that PostgreSQL aborts to break a deadlock is run again, an
append still running when the erasure starts is erased with the rest, and a notification
being delivered while its person is erased waits for the erasure instead of deadlocking."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import pytest

from tests.store_contract.helpers import LEASE, Seeded, claim_one, draft, queued
from timeline.models import Channel, Direction, Entry, Identity, IdentityKind, Visibility, utcnow
from timeline.notifications import DeliveryStart, JobOutcome, JobStatus, NotifyJob
from timeline.pg_migrate import asyncpg_dsn
from timeline.pg_privacy import SCRUBBED_TABLES
from timeline.pg_store import PgStore
from timeline.privacy_models import ErasureOrder, ErasureOutcome

OTHERS = 20_000
_FINISHED = re.compile(r'finished vacuuming "[^"]*\.([^".]+)"')
_REMOVED = re.compile(r"tuples: (\d+) removed")
_DEAD_ITEMS = re.compile(r"had (\d+) dead item identifiers removed")

async def _until_waiting(watcher: asyncpg.Connection, sessions: int,
                         failure: str | None = None) -> None:
    """Until ``sessions`` sessions of this database wait for a lock (the statistics
    snapshot cleared first: inside a transaction it would be read once)."""
    for _ in range(500):
        await watcher.execute("SELECT pg_stat_clear_snapshot()")
        if await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'") >= sessions:
            return
        await asyncio.sleep(0.01)
    pytest.fail(failure or f"{sessions} session(s) never waited for a lock")



async def _left_behind(url: str) -> dict[str, tuple[int, int]]:
    """Per table (and TOAST table): (dead rows, dead item identifiers) a VACUUM removes now."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    reports: list[str] = []
    conn.add_log_listener(lambda _conn, message: reports.append(message.message))
    try:
        names = ", ".join(t.name for t in SCRUBBED_TABLES)
        await conn.execute(f"VACUUM (VERBOSE, INDEX_CLEANUP ON) {names}")
    finally:
        await conn.close()
    found: dict[str, tuple[int, int]] = {}
    for report in reports:
        if (name := _FINISHED.search(report)) is None:
            continue
        removed, dead = _REMOVED.search(report), _DEAD_ITEMS.search(report)
        assert removed is not None and dead is not None, report
        found[name.group(1)] = (int(removed.group(1)), int(dead.group(1)))
    return found


async def test_scrub_leaves_no_dead_row_or_index_entry_of_an_erased_person(
        store: PgStore, migrated: str) -> None:
    """After ``erase_customer`` and ``scrub`` (what the privacy service runs after every
    erasure), a VACUUM finds no dead row and no dead index entry left to remove: the
    person's rows and index entries (an e-mail address in ``identities_lookup``) are gone
    from the pages, not only from queries. The office holds many other identities, so that
    a plain ``VACUUM`` would skip the index pass (``INDEX_CLEANUP AUTO`` does when under 2 %
    of the pages have dead rows, exactly the case after erasing one person) and leave those
    index entries behind."""
    office = await store.create_office("A", "DE")
    person = await store.create_customer(office.id, "Erika Muster", [
        Identity(kind=IdentityKind.EMAIL, value="erika@kunde.test"),
        Identity(kind=IdentityKind.PHONE, value="+491715550999")])
    other = await store.create_customer(office.id, "Stays", [])
    await store.append_many([draft(office.id, person.id, body=f"private {i}")
                             for i in range(3)])
    conn = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        await conn.execute(
            "INSERT INTO identities (office_id, customer_id, kind, value) SELECT $1, $2, "
            "'email', 'kunde' || g || '@kunde.test' FROM generate_series(1, $3::int) g",
            office.id, other.id, OTHERS)
    finally:
        await conn.close()

    await store.erase_customer(ErasureOrder(office_id=office.id, customer_id=person.id,
                                            erased_by="admin-1"))
    await store.scrub()

    left = await _left_behind(migrated)
    assert {t.name for t in SCRUBBED_TABLES} <= set(left)
    assert {name: counts for name, counts in left.items() if counts != (0, 0)} == {}
    assert await store.get_customer(office.id, other.id) is not None


async def test_an_erasure_aborted_for_a_deadlock_is_run_again(
        store: PgStore, migrated: str) -> None:
    """Another transaction takes the person's locks in the opposite order (customer, then
    entries): the erasure, waiting on the customer while holding the entries, is the one
    PostgreSQL aborts; it is run again once the other transaction has ended, and succeeds."""
    office = await store.create_office("A", "DE")
    person = await store.create_customer(office.id, "Erika Muster", [])
    [(entry, _)] = await store.append_many([draft(office.id, person.id)])
    other = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        locks = other.transaction()
        await locks.start()
        await other.execute("SELECT 1 FROM customers WHERE id = $1 FOR KEY SHARE", person.id)
        erasure = asyncio.create_task(store.erase_customer(ErasureOrder(
            office_id=office.id, customer_id=person.id, erased_by="admin-1")))
        await _until_waiting(other, 1, "the erasure never waited for the customer row")
        # now the cycle: this waits for the erasure's entry lock until PostgreSQL aborts
        # the erasure (it has waited longer, so its deadlock check runs first)
        await other.execute("SELECT 1 FROM entries WHERE id = $1 FOR KEY SHARE", entry.id)
        await locks.commit()
        outcome = await erasure
    finally:
        await other.close()
    assert outcome.erased_seqs == (entry.seq,)
    assert await store.get_customer(office.id, person.id) is None
    assert await store.get_entry(office.id, entry.id) is None


async def test_an_append_still_running_when_the_erasure_starts_is_erased_too(
        store: PgStore, migrated: str) -> None:
    """An append (a mail being stored) has written its entry but not committed when the
    erasure starts: the erasure waits for it, then erases its entry with the rest."""
    from timeline.pg_batch import append_entries

    office = await store.create_office("A", "DE")
    person = await store.create_customer(office.id, "Erika Muster", [])
    [(old, _)] = await store.append_many([draft(office.id, person.id)])
    watcher = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        async with store.db.engine.begin() as conn:
            [(late, _)] = await append_entries(conn, [draft(office.id, person.id,
                                                            body="late mail")])
            erasure = asyncio.create_task(store.erase_customer(ErasureOrder(
                office_id=office.id, customer_id=person.id, erased_by="admin-1")))
            await _until_waiting(watcher, 1, "the erasure never waited for the running append")
            assert not erasure.done()
        outcome = await erasure  # the append has committed: now the erasure goes on
    finally:
        await watcher.close()
    assert sorted(outcome.erased_seqs) == sorted([old.seq, late.seq])
    assert await store.get_entry(office.id, late.id) is None
    assert await store.get_customer(office.id, person.id) is None


# ---------------------------------------------------------------- a delivery meets the erasure

_RUN_AGAIN = "running it again"


async def _claimed(store: PgStore) -> tuple[Seeded, Entry, NotifyJob, DeliveryStart]:
    """A published note whose notification a worker has claimed and started to send."""
    s, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "w", now)
    start = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    assert start.attempt_id is not None
    return s, entry, job, start


def _erase(store: PgStore, s: Seeded) -> asyncio.Task[ErasureOutcome]:
    return asyncio.create_task(store.erase_customer(ErasureOrder(
        office_id=s.office.id, customer_id=s.customer.id, erased_by="admin-1")))


@pytest.mark.parametrize("step", ["begin", "complete"])
async def test_a_delivery_that_meets_the_erasure_waits_for_it_and_finds_nothing(
        store: PgStore, migrated: str, caplog: pytest.LogCaptureFixture, step: str) -> None:
    """The erasure holds the person's entries and waits (here for a mail still being
    stored, which holds the customer) when the worker begins the next send of that
    person's notification, or records the outcome of the one it made. The worker waits for
    the erasure and then finds the job gone: nothing is sent or recorded for the erased
    person, and the erasure is not aborted to break a deadlock (before, the worker held the
    job row while waiting for the entry, the erasure waited for the job: PostgreSQL aborted
    one of them)."""
    s, entry, job, start = await _claimed(store)
    gate = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        held = gate.transaction()
        await held.start()
        await gate.execute("SELECT 1 FROM customers WHERE id = $1 FOR KEY SHARE", s.customer.id)
        erasure = _erase(store, s)
        await _until_waiting(gate, 1)
        if step == "begin":
            worker: asyncio.Task[Any] = asyncio.create_task(store.begin_delivery(
                job.id, "w", utcnow() + LEASE, entry.id, "telegram"))
        else:
            worker = asyncio.create_task(store.complete_notify_job(job.id, "w", JobOutcome(
                status=JobStatus.SENT, channel="email", reason="ok",
                attempt_id=start.attempt_id, attempt_outcome="sent", delivery_state="sent",
                delivery={"status": "sent", "channel": "email"}), draft(
                s.office.id, s.customer.id, channel=Channel.NOTIFICATION, kind="notification",
                direction=Direction.OUTBOUND, visibility=Visibility.INTERNAL,
                body="sent by e-mail", source_id=f"notify:{job.id}:{job.generation}")))
        await _until_waiting(gate, 2)
        await held.commit()
        outcome = await erasure
        result = await worker
    finally:
        await gate.close()
    if step == "begin":
        assert result.lease_lost and result.attempt_id is None  # nothing is sent
    else:
        assert result is None  # no notification entry for the erased person
    assert outcome.erased_seqs == (entry.seq,)
    assert await store.get_notify_job(s.office.id, job.id) is None
    assert await store.get_customer(s.office.id, s.customer.id) is None
    assert [r.getMessage() for r in caplog.records if _RUN_AGAIN in r.getMessage()] == []


async def test_an_erasure_waits_for_a_worker_writing_the_job_without_a_deadlock(
        store: PgStore, migrated: str, caplog: pytest.LogCaptureFixture) -> None:
    """A worker holds the job row (as every notifier write does first) and then finishes
    its attempt, while the erasure deletes the job with its attempts: the erasure waits for
    the job before it touches an attempt, so the worker's write goes through and the
    erasure runs once (before, it held the attempt while waiting for the job: PostgreSQL
    aborted it and it was run again)."""
    s, entry, job, start = await _claimed(store)
    worker = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        writing = worker.transaction()
        await writing.start()
        await worker.execute("SELECT 1 FROM notify_jobs WHERE id = $1 FOR NO KEY UPDATE",
                             job.id)
        erasure = _erase(store, s)
        await _until_waiting(worker, 1)
        await asyncio.wait_for(worker.execute(
            "UPDATE notify_attempts SET outcome = 'sent', finished_at = now() WHERE id = $1",
            start.attempt_id), timeout=30)
        await writing.commit()
        outcome = await erasure
    finally:
        await worker.close()
    assert outcome.erased_seqs == (entry.seq,)
    assert await store.notify_attempts([job.id]) == {job.id: []}
    assert [r.getMessage() for r in caplog.records if _RUN_AGAIN in r.getMessage()] == []
