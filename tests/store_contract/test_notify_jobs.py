"""Contract: notification jobs under a lease — claim, begin delivery, fail, reschedule,
complete — with the rules that keep a message from going out twice: two claimers never
share a job, a lost lease fences its old owner off, and a send whose outcome is unknown is
never started again automatically."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from tests.store_contract.conftest import NewStore, opened
from tests.store_contract.helpers import (
    LEASE,
    claim_one,
    draft,
    job_status,
    published,
    queued,
    seed,
)
from timeline.models import Channel, Direction, Entry, Visibility, utcnow
from timeline.notifications import DeliveryStart, JobOutcome, JobStatus, NotifyJob
from timeline.store import Store, TimelineQuery

COVERS = frozenset({
    "published_entry", "claim_notify_jobs", "next_notify_due", "reschedule_notify_job",
    "begin_delivery", "fail_delivery", "complete_notify_job", "get_notify_job",
    "notify_attempts",
})

async def test_only_published_entries_that_ask_become_jobs_once(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    (asks, _), (internal, _), (quiet, _) = await store.append_many([
        published(office, c, source_id="m1"),
        draft(office, c, notify=True),  # internal: never a job
        published(office, c, notify=False)])
    await store.append(published(office, c, source_id="m1"))  # a duplicate: no second job
    now = utcnow()
    jobs = await store.claim_notify_jobs("w1", now, now + LEASE, 10)
    assert [(j.entry_id, j.customer_id, j.status, j.attempts, j.generation) for j in jobs] == [
        (asks.id, c, JobStatus.PENDING, 0, 0)]
    assert await store.get_notify_job(office, jobs[0].id) == jobs[0]
    other = await seed(store, office_name="B")
    assert await store.get_notify_job(other.office.id, jobs[0].id) is None
    assert await store.claim_notify_jobs("w2", now, now + LEASE, 10) == []  # leased

    assert await store.published_entry(office, asks.id) == asks
    assert await store.published_entry(office, quiet.id) == quiet
    assert await store.published_entry(office, internal.id) is None
    assert await store.published_entry(other.office.id, asks.id) is None


async def test_the_job_commits_with_its_entry(store: Store, second_store: Store) -> None:
    """No outbox to convert later: once an append has returned, its job is there for every
    handle (process), due from the write on; a batch that fails writes neither."""
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    before = utcnow()
    (entry, _), = await store.append_many([published(office, c, source_id="j1")])
    jobs = await second_store.list_notify_jobs(office)
    assert [(j.entry_id, j.status) for j in jobs] == [(entry.id, JobStatus.PENDING)]
    assert before <= jobs[0].next_at <= utcnow()
    assert await second_store.next_notify_due() == jobs[0].next_at
    # the job cannot be written (its customer does not exist): the entry is not kept either
    with pytest.raises(Exception):  # noqa: B017 -- the store's own integrity error
        await store.append_many([published(office, "no-such-customer", source_id="j2")])
    assert [j.entry_id for j in await second_store.list_notify_jobs(office)] == [entry.id]
    assert await store.entries_by_sources(office, ["j1", "j2"], Channel.NOTE) == {
        "j1": entry}


async def test_two_claimers_never_get_the_same_job(store: Store, second_store: Store) -> None:
    _, entries = await queued(store, 30)
    now = utcnow()

    async def claim(handle: Store, owner: str) -> list[str]:
        return [j.id for j in await handle.claim_notify_jobs(owner, now, now + LEASE, 7)]

    rounds = [await asyncio.gather(claim(store, "w1"), claim(second_store, "w2"),
                                   claim(store, "w3")) for _ in range(2)]
    taken = [job for round_ in rounds for batch in round_ for job in batch]
    assert len(taken) == len(set(taken)) == 30
    jobs = [await store.get_notify_job(entries[0].office_id, j) for j in taken]
    assert {j.entry_id for j in jobs if j is not None} == {e.id for e in entries}


async def test_three_claimers_drain_a_queue_each_job_claimed_exactly_once(
        new_store: NewStore, store: Store, second_store: Store) -> None:
    """Three processes claim in a loop until every job is taken; while they race (turning
    the outbox into jobs and leasing), no job is taken twice and none is left behind. A
    claimer that finds nothing free (another one is converting the outbox or holds the
    rest) keeps trying until all are taken, up to a bound."""
    s, entries = await queued(store, 200)
    now = utcnow()
    seen: set[str] = set()

    async def drain(handle: Store, owner: str) -> list[tuple[str, str]]:
        taken: list[tuple[str, str]] = []
        for _ in range(5000):
            if len(seen) >= 200:
                break
            batch = await handle.claim_notify_jobs(owner, now, now + LEASE, 7)
            assert all(j.next_at <= now for j in batch)
            taken += [(j.id, owner) for j in batch]
            seen.update(j.id for j in batch)
        return taken

    async with opened(new_store) as third:
        results = await asyncio.gather(drain(store, "w1"), drain(second_store, "w2"),
                                       drain(third, "w3"))
    taken = [job for result in results for job, _ in result]
    assert len(taken) == len(set(taken)) == 200
    jobs = [await store.get_notify_job(s.office.id, j) for j in taken]
    assert sorted(j.entry_id for j in jobs if j is not None) == sorted(e.id for e in entries)
    owners = {job: owner for result in results for job, owner in result}
    for job in jobs:  # each job is leased to the claimer that got it, and to nobody else
        assert job is not None and job.status is JobStatus.PENDING
        start = await store.begin_delivery(job.id, "nobody", now + LEASE, job.entry_id, "email")
        assert start.lease_lost
    assert await store.notify_attempts(list(owners)) == {job: [] for job in owners}


async def test_a_late_renewal_racing_a_takeover_leaves_one_holder_per_job(
        store: Store, second_store: Store) -> None:
    """A's leases have run out by B's clock while A, still alive, renews them to begin its
    sends: for every job exactly one of them goes on (A sends, or B took the job and A
    stops), never both."""
    _, entries = await queued(store, 20)
    now = utcnow()
    jobs = await store.claim_notify_jobs("A", now, now + timedelta(minutes=1), 20)
    assert len(jobs) == 20
    b_now = now + timedelta(minutes=2)  # A's leases ended by this clock
    a_lease = now + timedelta(minutes=10)  # A renews past it

    async def take_over() -> set[str]:
        taken: set[str] = set()
        for _ in range(4):
            taken |= {j.id for j in await second_store.claim_notify_jobs(
                "B", b_now, b_now + LEASE, 5)}
        return taken

    starts, taken = await asyncio.gather(
        asyncio.gather(*(store.begin_delivery(j.id, "A", a_lease, j.entry_id, "email")
                         for j in jobs)),
        take_over())
    for job, start in zip(jobs, starts, strict=True):
        assert start.lease_lost == (job.id in taken), job.id
        assert (start.attempt_id is None) == start.lease_lost
    attempts = await store.notify_attempts([j.id for j in jobs])
    assert {j for j, made in attempts.items() if made} == {j.id for j in jobs} - taken
    assert {e.id for e in entries} == {j.entry_id for j in jobs}


async def test_a_claim_takes_due_jobs_up_to_its_limit(store: Store) -> None:
    await queued(store, 4)
    now = utcnow()
    first = await store.claim_notify_jobs("w1", now, now + LEASE, 2)
    second = await store.claim_notify_jobs("w2", now, now + LEASE, 1)
    assert len(first) == 2 and len(second) == 1
    assert {j.id for j in first}.isdisjoint(j.id for j in second)
    # the last job is not due before its entry was written
    assert await store.claim_notify_jobs("w3", now - timedelta(hours=1),
                                         now + timedelta(hours=2), 5) == []
    [last] = await store.claim_notify_jobs("w3", now, now + LEASE, 5)
    assert last.id not in {j.id for j in first + second}


async def test_an_expired_lease_is_taken_over_and_the_old_owner_fenced_off(
        store: Store) -> None:
    s, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "A", now, lease=timedelta(minutes=1))
    assert await store.claim_notify_jobs("B", now, now + LEASE, 1) == []  # still A's
    later = now + timedelta(minutes=2)  # A stalled; its lease ran out
    taken = await store.claim_notify_jobs("B", later, now + timedelta(minutes=10), 1)
    assert [j.id for j in taken] == [job.id]

    lost = await store.begin_delivery(job.id, "A", now + LEASE, entry.id, "email")
    assert lost.lease_lost and lost.attempt_id is None
    assert await store.notify_attempts([job.id]) == {job.id: []}
    assert await store.complete_notify_job(job.id, "A", JobOutcome(
        status=JobStatus.SENT, channel="email"), None) is None
    await store.reschedule_notify_job(job.id, "A", next_at=now + timedelta(days=1),
                                      attempts=1, reason="A thinks so", skip_channels=[])
    current = await store.get_notify_job(s.office.id, job.id)
    assert current is not None and current.status is JobStatus.PENDING
    assert (current.attempts, current.reason, current.next_at) == (0, None, job.next_at)

    start = await store.begin_delivery(job.id, "B", now + timedelta(minutes=10), entry.id,
                                       "email")
    assert start.attempt_id is not None and start.previous is None and not start.lease_lost
    await store.complete_notify_job(job.id, "B", JobOutcome(
        status=JobStatus.SENT, channel="email", attempt_id=start.attempt_id,
        attempt_outcome="sent", delivery_state="sent"), None)
    assert await job_status(store, job) is JobStatus.SENT
    assert await store.claim_notify_jobs("C", later + timedelta(days=1),
                                         later + timedelta(days=2), 5) == []


async def test_a_late_failure_report_racing_the_new_holder_settles_each_job(
        store: Store, second_store: Store) -> None:
    """A began its sends and stalled; B took the jobs over. A's late "refused for good"
    reports and B's starts on the same channel run at once: each pair completes (neither
    waits on the other forever), and B may send again only where A's failure was recorded
    first."""
    _, entries = await queued(store, 20)
    now = utcnow()
    jobs = await store.claim_notify_jobs("A", now, now + timedelta(minutes=1), 20)
    starts_a = [await store.begin_delivery(j.id, "A", now + timedelta(minutes=1), j.entry_id,
                                           "email") for j in jobs]
    b_now = now + timedelta(minutes=2)
    taken = await second_store.claim_notify_jobs("B", b_now, b_now + LEASE, 20)
    assert {j.id for j in taken} == {j.id for j in jobs}
    await asyncio.gather(store.list_offices(), second_store.list_offices())

    async def late_failure(job: NotifyJob, start: DeliveryStart) -> None:
        assert start.attempt_id is not None
        await store.fail_delivery(job.id, start.attempt_id, "email", "permanent", "550 no",
                                  ["email"])

    _, starts_b = await asyncio.gather(
        asyncio.gather(*(late_failure(j, a) for j, a in zip(jobs, starts_a, strict=True))),
        asyncio.gather(*(second_store.begin_delivery(j.id, "B", b_now + LEASE, j.entry_id,
                                                     "email") for j in jobs)))
    for start in starts_b:
        assert not start.lease_lost
        assert start.previous == ("failed" if start.attempt_id is not None else "sending")
    assert {e.id for e in entries} == {j.entry_id for j in jobs}


@dataclass(frozen=True)
class Interrupted:
    """Worker A began a send and died; B took the job over when A's lease ran out."""

    job: NotifyJob
    entry: Entry
    first: DeliveryStart
    """A's start"""
    lease_b: datetime


async def interrupted(store: Store, channel: str) -> Interrupted:
    _, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "A", now, lease=timedelta(minutes=1))
    first = await store.begin_delivery(job.id, "A", now + timedelta(minutes=1), entry.id,
                                       channel)
    assert first.attempt_id is not None and first.previous is None
    lease_b = now + timedelta(minutes=10)
    [taken] = await store.claim_notify_jobs("B", now + timedelta(minutes=2), lease_b, 1)
    assert taken.id == job.id
    return Interrupted(job, entry, first, lease_b)


async def test_an_interrupted_send_becomes_unknown_and_is_never_resent(store: Store) -> None:
    x = await interrupted(store, "email")
    job, entry, first, lease_b = x.job, x.entry, x.first, x.lease_b
    found = await store.begin_delivery(job.id, "B", lease_b, entry.id, "email")
    assert (found.attempt_id, found.previous, found.lease_lost) == (None, "sending", False)
    again = await store.begin_delivery(job.id, "B", lease_b, entry.id, "email",
                                       redo_interrupted=True)
    assert (again.attempt_id, again.previous) == (None, "unknown")  # not even when redoable
    [attempt] = (await store.notify_attempts([job.id]))[job.id]
    assert (attempt.id, attempt.outcome, attempt.channel) == (
        first.attempt_id, "interrupted", "email")
    assert attempt.finished_at is not None

    await store.complete_notify_job(job.id, "B", JobOutcome(
        status=JobStatus.UNKNOWN, channel="email", reason="a worker stopped"), None)
    assert await job_status(store, job) is JobStatus.UNKNOWN
    assert await store.claim_notify_jobs("C", lease_b + timedelta(days=1),
                                         lease_b + timedelta(days=2), 5) == []
    assert await store.next_notify_due() is None


async def test_an_idempotent_transport_may_redo_an_interrupted_send(store: Store) -> None:
    x = await interrupted(store, "portal")
    redo = await store.begin_delivery(x.job.id, "B", x.lease_b, x.entry.id, "portal",
                                      redo_interrupted=True)
    assert redo.previous == "sending" and redo.attempt_id not in (None, x.first.attempt_id)
    attempts = (await store.notify_attempts([x.job.id]))[x.job.id]
    assert [(a.id, a.outcome) for a in attempts] == [(x.first.attempt_id, "interrupted"),
                                                     (redo.attempt_id, "sending")]


async def test_a_failed_channel_is_skipped_and_the_next_one_starts_fresh(store: Store) -> None:
    s, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "w", now)
    mail = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    assert mail.attempt_id is not None
    await store.reschedule_notify_job(job.id, "w", next_at=now, attempts=3, reason="busy",
                                      skip_channels=[], channel="email",
                                      attempt_id=mail.attempt_id)
    job = await claim_one(store, "w", now + timedelta(seconds=1))
    retry = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    assert retry.previous == "failed" and retry.attempt_id is not None
    await store.fail_delivery(job.id, retry.attempt_id, "email", "permanent",
                              "550 no such user", ["email"])
    current = await store.get_notify_job(s.office.id, job.id)
    assert current is not None
    assert (current.skip_channels, current.attempts, current.status) == (
        ("email",), 0, JobStatus.PENDING)
    attempts = (await store.notify_attempts([job.id]))[job.id]
    assert [(a.outcome, a.detail) for a in attempts] == [("transient", "busy"),
                                                         ("permanent", "550 no such user")]
    chat = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "telegram")
    assert chat.previous is None and chat.attempt_id is not None
    assert await store.notify_attempts([]) == {}
    assert await store.notify_attempts(["no-such-job"]) == {"no-such-job": []}


async def test_reschedule_releases_the_lease_until_next_at(store: Store) -> None:
    s, [entry] = await queued(store)
    now = utcnow()
    job = await claim_one(store, "w1", now)
    assert await store.next_notify_due() == now + LEASE  # due again when the lease ends
    start = await store.begin_delivery(job.id, "w1", now + LEASE, entry.id, "email")
    assert start.attempt_id is not None
    retry_at = now + timedelta(hours=1)
    await store.reschedule_notify_job(job.id, "w1", next_at=retry_at, attempts=1,
                                      reason="421 try later", skip_channels=["telegram"],
                                      channel="email", attempt_id=start.attempt_id)
    current = await store.get_notify_job(s.office.id, job.id)
    assert current is not None
    assert (current.status, current.next_at, current.attempts, current.reason,
            current.channel, current.skip_channels, current.held) == (
        JobStatus.PENDING, retry_at, 1, "421 try later", "email", ("telegram",), None)
    [attempt] = (await store.notify_attempts([job.id]))[job.id]
    assert (attempt.outcome, attempt.detail) == ("transient", "421 try later")
    assert await store.next_notify_due() == retry_at
    assert await store.claim_notify_jobs("w2", now, now + LEASE, 1) == []  # not due yet
    due = retry_at + timedelta(seconds=1)
    assert [j.id for j in await store.claim_notify_jobs("w2", due, due + LEASE, 1)] == [job.id]


async def test_complete_records_the_outcome_once(store: Store) -> None:
    s, [entry] = await queued(store)
    office, c = s.office.id, s.customer.id
    now = utcnow()
    job = await claim_one(store, "w", now)
    start = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    record = draft(office, c, channel=Channel.NOTIFICATION, kind="notification",
                   direction=Direction.OUTBOUND, visibility=Visibility.INTERNAL,
                   body="sent by e-mail", source_id=f"notify:{job.id}:{job.generation}")
    outcome = JobOutcome(status=JobStatus.SENT, channel="email", reason="ok",
                         attempt_id=start.attempt_id, attempt_outcome="sent",
                         delivery_state="sent", delivery={"status": "sent", "channel": "email"})
    made = await store.complete_notify_job(job.id, "w", outcome, record)
    assert made is not None and made.channel is Channel.NOTIFICATION
    assert made.source_id == record.source_id and made.customer_id == c
    source = await store.get_entry(office, entry.id)
    assert source is not None and source.meta["delivery"] == {"status": "sent",
                                                              "channel": "email"}
    done = await store.get_notify_job(office, job.id)
    assert done is not None
    assert (done.status, done.channel, done.reason) == (JobStatus.SENT, "email", "ok")
    [attempt] = (await store.notify_attempts([job.id]))[job.id]
    assert attempt.outcome == "sent" and attempt.finished_at is not None

    assert await store.complete_notify_job(job.id, None, outcome, record) is None  # on file
    page = await store.timeline(office, c, TimelineQuery(channels=(Channel.NOTIFICATION,)))
    assert [e.id for e in page.items] == [made.id]
    job2 = await store.claim_notify_jobs("w", now + timedelta(days=1),
                                         now + timedelta(days=2), 1)
    assert job2 == []
    again = await store.begin_delivery(job.id, "w", now + LEASE, entry.id, "email")
    assert again.lease_lost  # a finished job has no lease to renew
    assert await store.complete_notify_job("no-such-job", None, outcome, None) is None
