"""Contract: held notification jobs (quiet hours, daily digest) released together, the
admin's job list and retry, and the customer's portal inbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.store_contract.helpers import (
    LEASE,
    REFUSED,
    Seeded,
    claim_one,
    job_status,
    published,
    queued,
    seed,
)
from timeline.models import Customer, utcnow
from timeline.notifications import JobOutcome, JobStatus, NotifyJob
from timeline.store import Store

COVERS = frozenset({
    "claim_held_jobs", "release_held_jobs", "list_notify_jobs", "retry_notify_job",
    "add_inbox_item", "list_inbox", "mark_inbox_read",
})

HOUR = timedelta(hours=1)


async def warm(*handles: Store, calls: int = 4) -> None:
    """Let each handle open its connections first, so the calls that follow really run
    at the same time (on PostgreSQL a handle's first use waits for its connection)."""
    await asyncio.gather(*(h.list_offices() for h in handles for _ in range(calls)))


async def hold(store: Store, job: NotifyJob, owner: str, held: str, *, hours: int = 1,
               attempts: int = 0) -> None:
    await store.reschedule_notify_job(job.id, owner, next_at=utcnow() + hours * HOUR,
                                      attempts=attempts, reason=f"held: {held}",
                                      skip_channels=[], held=held)


async def two_customers_jobs(store: Store, mine: int, owner: str
                             ) -> tuple[Seeded, Customer, list[NotifyJob]]:
    """``mine`` jobs for the seeded customer and one for a second customer, all leased to
    ``owner``."""
    s, _ = await queued(store, mine)
    stranger = await store.create_customer(s.office.id, "Other", [])
    await store.append(published(s.office.id, stranger.id))
    now = utcnow()
    return s, stranger, await store.claim_notify_jobs(owner, now, now + LEASE, 10)


async def test_held_jobs_go_out_together_leased_to_one_worker(store: Store) -> None:
    s, stranger, jobs = await two_customers_jobs(store, 2, "w1")
    now = utcnow()
    mine = sorted((j for j in jobs if j.customer_id == s.customer.id), key=lambda j: j.id)
    [theirs] = [j for j in jobs if j.customer_id == stranger.id]
    await hold(store, mine[0], "w1", "quiet_hours")
    await hold(store, mine[1], "w1", "digest")
    await hold(store, theirs, "w1", "quiet_hours")

    assert await store.claim_held_jobs(s.office.id, s.customer.id, "w2", now,
                                       now + LEASE) == []  # not due yet
    due = now + 2 * HOUR
    together = await store.claim_held_jobs(s.office.id, s.customer.id, "w2", due,
                                           due + LEASE)
    assert [(j.id, j.held) for j in together] == [(mine[0].id, "quiet_hours"),
                                                  (mine[1].id, "digest")]
    # leased to w2 now: nobody else takes them, the other customer's job is still free
    rest = await store.claim_notify_jobs("w3", due, due + LEASE, 10)
    assert [j.id for j in rest] == [theirs.id]
    assert await store.claim_held_jobs(s.office.id, s.customer.id, "w3", due,
                                       due + LEASE) == []
    other = await store.create_office("B", "DE")
    assert await store.claim_held_jobs(other.id, stranger.id, "w3", due + LEASE * 2,
                                       due + LEASE * 3) == []


async def test_workers_racing_for_held_jobs_never_share_one(store: Store,
                                                            second_store: Store) -> None:
    """Two workers gather the same customer's held jobs while a third claims due jobs:
    every held job is leased to exactly one of them."""
    s, _ = await queued(store, 12)
    now = utcnow()
    jobs = await store.claim_notify_jobs("w", now, now + LEASE, 20)
    for job in jobs:
        await hold(store, job, "w", "quiet_hours", hours=-1)  # due again
    due = utcnow()
    office, customer = s.office.id, s.customer.id
    await warm(store, second_store)
    got = await asyncio.gather(
        store.claim_held_jobs(office, customer, "w1", due, due + LEASE),
        second_store.claim_held_jobs(office, customer, "w2", due, due + LEASE),
        second_store.claim_notify_jobs("w3", due, due + LEASE, 5),
        store.claim_held_jobs(office, customer, "w4", due, due + LEASE))
    taken = [j.id for batch in got for j in batch]
    assert len(taken) == len(set(taken)) == 12
    assert set(taken) == {j.id for j in jobs}


async def test_released_jobs_are_due_now_and_leave_the_digest(store: Store) -> None:
    s, _ = await queued(store, 4)
    now = utcnow()
    jobs = sorted(await store.claim_notify_jobs("w", now, now + LEASE, 10), key=lambda j: j.id)
    quiet, digest, backoff, leased = jobs
    await hold(store, quiet, "w", "quiet_hours", hours=8)
    await hold(store, digest, "w", "digest", hours=8)
    await hold(store, backoff, "w", "quiet_hours", hours=8, attempts=2)  # a retry: stays
    await hold(store, leased, "w", "digest", hours=-1)
    taken = await store.claim_held_jobs(s.office.id, s.customer.id, "w2", utcnow(),
                                        utcnow() + LEASE)
    assert [j.id for j in taken] == [leased.id]  # being sent: stays as it is

    assert await store.release_held_jobs(s.office.id, s.customer.id, digest_held="now") == 2
    after = {j.id: j for j in await store.list_notify_jobs(s.office.id)}
    soon = utcnow() + timedelta(seconds=1)
    assert after[quiet.id].next_at <= soon and after[quiet.id].held == "quiet_hours"
    assert after[digest.id].next_at <= soon and after[digest.id].held == "now"
    assert after[backoff.id].next_at > now + 7 * HOUR
    assert after[leased.id].held == "digest"
    other = await store.create_office("B", "DE")
    assert await store.release_held_jobs(other.id, s.customer.id, digest_held=None) == 0


async def test_the_digest_may_be_kept_waiting_for_its_new_time(store: Store) -> None:
    s, _ = await queued(store)
    job = await claim_one(store, "w")
    await hold(store, job, "w", "digest", hours=8)
    assert await store.release_held_jobs(s.office.id, s.customer.id, digest_held=None) == 1
    current = await store.get_notify_job(s.office.id, job.id)
    assert current is not None and current.held is None and current.next_at <= utcnow()


async def test_the_job_list_is_newest_first_and_filtered(store: Store) -> None:
    s, stranger, jobs = await two_customers_jobs(store, 3, "w")
    newest_first = sorted((j.id for j in jobs), reverse=True)
    office = s.office.id
    assert [j.id for j in await store.list_notify_jobs(office)] == newest_first
    assert [j.id for j in await store.list_notify_jobs(office, limit=2)] == newest_first[:2]
    assert [j.id for j in await store.list_notify_jobs(
        office, before_id=newest_first[1])] == newest_first[2:]
    [theirs] = await store.list_notify_jobs(office, customer_id=stranger.id)
    assert theirs.customer_id == stranger.id
    await store.complete_notify_job(theirs.id, "w", JobOutcome(
        status=JobStatus.SUPPRESSED, reason="opted out"), None)
    [done] = await store.list_notify_jobs(office, status="suppressed")
    assert (done.id, done.reason) == (theirs.id, "opted out")
    assert len(await store.list_notify_jobs(office, status="pending")) == 3
    other = await store.create_office("B", "DE")
    assert await store.list_notify_jobs(other.id) == []


@pytest.mark.parametrize("final", [JobStatus.DEAD, JobStatus.FAILED, JobStatus.UNKNOWN])
async def test_an_admin_retry_makes_a_finished_job_pending_again(store: Store,
                                                                 final: JobStatus) -> None:
    s, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "w", now)
    start = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    await store.fail_delivery(job.id, start.attempt_id or 0, "email", "permanent", "no",
                              ["email"])
    chat = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "telegram")
    await store.complete_notify_job(job.id, "w", JobOutcome(
        status=final, channel="telegram", reason="gave up", attempt_id=chat.attempt_id,
        attempt_outcome="unknown", delivery_state="unknown"), None)

    retried = await store.retry_notify_job(s.office.id, job.id)
    assert retried is not None
    assert (retried.status, retried.attempts, retried.generation, retried.skip_channels,
            retried.reason, retried.held) == (JobStatus.PENDING, 0, 1, (), None, "now")
    assert await store.get_notify_job(s.office.id, job.id) == retried
    later = utcnow() + timedelta(seconds=1)
    [again] = await store.claim_notify_jobs("w2", later, later + LEASE, 1)
    assert again.id == job.id
    for channel in ("telegram", "email"):  # the admin's retry may send on each channel again
        start = await store.begin_delivery(job.id, "w2", later + LEASE, entry.id, channel)
        assert start.previous == "failed" and start.attempt_id is not None


async def test_a_delivery_recorded_as_sent_is_not_started_again_after_a_retry(
        store: Store) -> None:
    s, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "w", now)
    start = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    await store.complete_notify_job(job.id, "w", JobOutcome(
        status=JobStatus.DEAD, channel="email", reason="bug after the send",
        attempt_id=start.attempt_id, attempt_outcome="sent", delivery_state="sent"), None)
    await store.retry_notify_job(s.office.id, job.id)
    later = utcnow() + timedelta(seconds=1)
    await store.claim_notify_jobs("w", later, later + LEASE, 1)
    again = await store.begin_delivery(job.id, "w", later + LEASE, entry.id, "email")
    assert (again.previous, again.attempt_id) == ("sent", None)


async def test_a_retry_of_a_live_or_sent_job_is_refused(store: Store) -> None:
    s, _ = await queued(store)
    now = utcnow()
    job = await claim_one(store, "w", now)
    with pytest.raises(REFUSED):
        await store.retry_notify_job(s.office.id, job.id)  # pending
    assert await store.get_notify_job(s.office.id, job.id) == job
    await store.complete_notify_job(job.id, "w", JobOutcome(status=JobStatus.SENT,
                                                            channel="email"), None)
    with pytest.raises(REFUSED):
        await store.retry_notify_job(s.office.id, job.id)  # sent
    assert await job_status(store, job) is JobStatus.SENT
    other = await store.create_office("B", "DE")
    assert await store.retry_notify_job(other.id, job.id) is None
    assert await store.retry_notify_job(s.office.id, "no-such-job") is None


async def test_two_admins_retrying_at_once_retry_once(store: Store,
                                                     second_store: Store) -> None:
    s, _ = await queued(store)
    job = await claim_one(store, "w")
    await store.complete_notify_job(job.id, "w", JobOutcome(status=JobStatus.DEAD,
                                                            reason="gave up"), None)
    await warm(store, second_store)
    results = await asyncio.gather(*(handle.retry_notify_job(s.office.id, job.id)
                                     for handle in [store, second_store] * 2),
                                   return_exceptions=True)
    retried = [r for r in results if isinstance(r, NotifyJob)]
    assert len(retried) == 1 and all(isinstance(r, REFUSED) for r in results
                                     if r is not retried[0])
    current = await store.get_notify_job(s.office.id, job.id)
    assert current == retried[0] and (current.status, current.generation) == (
        JobStatus.PENDING, 1)


async def test_an_inbox_item_added_twice_at_once_is_one_item(store: Store,
                                                             second_store: Store) -> None:
    s, [entry] = await queued(store)
    office, c = s.office.id, s.customer.id
    await warm(store, second_store)
    items = await asyncio.gather(*(
        handle.add_inbox_item(office, c, entry.id, f"s{i}", "b", [])
        for i, handle in enumerate([store, second_store, store, second_store])))
    assert len(set(items)) == 1
    assert await store.list_inbox(office, c) == [items[0]]
    read = await asyncio.gather(store.mark_inbox_read(office, c, items[0].id),
                                second_store.mark_inbox_read(office, c, items[0].id))
    assert read[0] == read[1] and read[0] is not None and read[0].read_at is not None


async def test_the_inbox_keeps_one_item_per_entry_newest_first(store: Store) -> None:
    s, entries = await queued(store, 3)
    office, c = s.office.id, s.customer.id
    files = [{"name": "a.pdf", "sha256": "ab" * 32, "size": 3}]
    items = [await store.add_inbox_item(office, c, e.id, f"s{i}", f"b{i}", files if i else [])
             for i, e in enumerate(entries)]
    assert (items[1].subject, items[1].body, items[1].attachments, items[1].read_at) == (
        "s1", "b1", tuple(files), None)
    assert await store.add_inbox_item(office, c, entries[0].id, "x", "y", []) == items[0]
    newest_first = sorted((i.id for i in items), reverse=True)
    assert [i.id for i in await store.list_inbox(office, c)] == newest_first
    assert [i.id for i in await store.list_inbox(office, c, limit=1)] == newest_first[:1]
    assert [i.id for i in await store.list_inbox(office, c, before_id=newest_first[0])] == (
        newest_first[1:])

    read = await store.mark_inbox_read(office, c, items[0].id)
    assert read is not None and read.read_at is not None
    again = await store.mark_inbox_read(office, c, items[0].id)
    assert again == read  # the first reading counts
    assert {i.id for i in await store.list_inbox(office, c, unread_only=True)} == {
        items[1].id, items[2].id}
    stranger = await store.create_customer(office, "Other", [])
    assert await store.mark_inbox_read(office, stranger.id, items[1].id) is None
    assert await store.list_inbox(office, stranger.id) == []
    other = await seed(store, office_name="B")
    assert await store.list_inbox(other.office.id, c) == []
    assert await store.mark_inbox_read(other.office.id, c, items[1].id) is None
    assert len(await store.list_inbox(office, c, unread_only=True)) == 2
