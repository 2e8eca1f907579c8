"""Contract: data protection — everything about one person in one read, erasure in one
transaction (with entries retained by law), retention deletes, the suppression list and
receipts. Export jobs, the access record and office settings are in ``test_privacy_records``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.store_contract.helpers import LEASE, REFUSED, T0, claim_one, draft, published, seed
from timeline.accounts import CUSTOMER_CODES, LoginCode, WebSession
from timeline.models import (
    Attachment,
    Identity,
    IdentityKind,
    Preferences,
    utcnow,
)
from timeline.privacy_models import AccessAction, ErasureOrder, ErasureOutcome, RetainedEntry
from timeline.store import Store, TimelineQuery

COVERS = frozenset({
    "personal_data", "erase_customer", "delete_entries", "entries_of_kind_before",
    "blobs_in_use", "scrub", "is_suppressed", "erasure_receipts", "retained_until",
    "prune_call_states",
})

MAIL = Identity(kind=IdentityKind.EMAIL, value="erika@kunde.test")
PHONE = Identity(kind=IdentityKind.PHONE, value="+491715550999", raw="0171 5550999")
SHA_A, SHA_B, SHA_Q = "aa" * 32, "bb" * 32, "cc" * 32


def attached(sha: str) -> tuple[Attachment, ...]:
    return (Attachment(name="brief.pdf", content_type="application/pdf", size=10, sha256=sha),)


async def test_personal_data_holds_everything_about_one_person(store: Store) -> None:
    s = await seed(store, MAIL, PHONE)
    office, c = s.office.id, s.customer.id
    dup = await store.create_customer(office, "Erika (alt)", [])
    await store.append(draft(office, dup.id, body="from the old record"))
    merge = await store.merge_customers(office, dup.id, c)
    entry, _ = await store.append(published(office, c, body="Ihr Vertrag"))
    job = await claim_one(store, "w")
    await store.begin_delivery(job.id, "w", utcnow() + LEASE, entry.id, "email")
    await store.add_inbox_item(office, c, entry.id, "Vertrag", "Ihr Vertrag", [])
    await store.set_preferences(office, c, Preferences(language="en"))
    await store.record_consent(office, c, "email", True, actor="customer", route="portal")
    await store.save_call_state(office, "call-1", {"from": PHONE.value}, c)
    await store.add_customer_token(office, c, "portal", "secret-hash", utcnow() + LEASE)
    await store.create_web_session(WebSession(
        id_hash="s1", audience="portal", office_id=office, subject_id=c, csrf="x",
        created_at=T0, expires_at=T0 + LEASE))
    await store.add_login_code(LoginCode(id="code-1", audience="portal", office_id=office,
                                         subject_id=c, next_path=None,
                                         expires_at=T0 + LEASE), "h", T0)

    data = await store.personal_data(office, c)
    assert data is not None
    assert data.customer.id == c and data.customer.identities == (MAIL, PHONE)
    assert [m.id for m in data.merged_in] == [dup.id]
    assert sorted(e.body for e in data.entries) == ["Ihr Vertrag", "from the old record"]
    assert data.preferences == Preferences(language="en")
    assert [(x.channel, x.granted) for x in data.consents] == [("email", True)]
    [job_data] = data.notify_jobs
    assert job_data["id"] == job.id and len(job_data["attempts_made"]) == 1
    assert [i["entry_id"] for i in data.inbox] == [entry.id]
    assert [m["id"] for m in data.merges] == [merge.id]
    assert [(x["call_id"], x["state"]) for x in data.cti_calls] == [
        ("call-1", {"from": PHONE.value})]
    assert [t["purpose"] for t in data.tokens] == ["portal"]
    assert "secret-hash" not in repr(data.tokens)  # dates and purpose only
    assert data.portal_sessions["count"] == 1 and data.login_codes["count"] == 1
    assert await store.personal_data(office, "no-such-customer") is None
    other = await store.create_office("B", "DE")
    assert await store.personal_data(other.id, c) is None


async def test_erasure_removes_the_person_everywhere(store: Store) -> None:
    s = await seed(store, MAIL, PHONE)
    office, c = s.office.id, s.customer.id
    other = await store.create_customer(office, "Stays", [])
    dup = await store.create_customer(office, "Erika (alt)", [])
    await store.merge_customers(office, dup.id, c)
    theirs, _ = await store.append(draft(office, other.id, attachments=attached(SHA_B)))
    mine, _ = await store.append(published(office, c, attachments=attached(SHA_A)))
    job = await claim_one(store, "w")
    await store.add_inbox_item(office, c, mine.id, "s", "b", [])
    await store.record_consent(office, c, "email", True, actor="customer", route="portal")
    await store.add_customer_token(office, c, "portal", "tok", utcnow() + LEASE)
    await store.save_call_state(office, "call-1", {"from": PHONE.value}, c,
                                event="call.ringing")
    q = await store.add_quarantine(office, "email", "from the person", "imap", SHA_Q, 5)
    await store.ack_index_through((await store.index_backlog())[1])
    day = utcnow() - timedelta(days=1)
    for counted in (c, dup.id, other.id):  # the day's sign-in codes, by customer id
        assert await store.take_attempt(CUSTOMER_CODES, counted, utcnow(), day, 10)

    outcome = await store.erase_customer(ErasureOrder(
        office_id=office, customer_id=c, erased_by="admin-1", quarantine_ids=(q.id,),
        suppress=(("email", "digest-1"),), access_log_until=utcnow() + timedelta(days=365)))
    await store.scrub()
    assert outcome.erased_seqs == (mine.seq,) and outcome.placeholder_id is None
    assert set(outcome.blob_candidates) == {SHA_A, SHA_Q}
    assert outcome.counts["customers"] == 2 and outcome.counts["entries"] == 1
    for cid in (c, dup.id):
        assert await store.get_customer(office, cid) is None
        assert (await store.timeline(office, cid, TimelineQuery())).items == []
    assert await store.get_entry(office, mine.id) is None
    assert await store.get_notify_job(office, job.id) is None
    assert await store.find_customers(office, IdentityKind.EMAIL, MAIL.value) == []
    assert await store.resolve_customer_token("tok", "portal") is None
    assert await store.call_state(office, "call-1") is None
    assert await store.get_quarantine(office, q.id) is None
    assert await store.consents(office, c) == {}
    assert await store.list_inbox(office, c) == []
    assert await store.personal_data(office, c) is None
    assert not [e for e in await store.events_after(0, 1000) if e.customer_id == c]
    drops = [t for t in await store.pending_index_tasks(100) if t.entry is None]
    assert [t.seq for t in drops] == [mine.seq]
    assert await store.is_suppressed(office, "email", "digest-1")
    assert not await store.is_suppressed(office, "phone", "digest-1")
    [receipt] = await store.erasure_receipts(office)
    assert (receipt.id, receipt.erased_by, receipt.counts) == (
        outcome.receipt_id, "admin-1", outcome.counts)
    [access] = await store.access_records(office)
    assert (access.action, access.customer_id, access.agent_id) == (
        AccessAction.ERASE, c, "admin-1")
    assert await store.get_entry(office, theirs.id) == theirs  # someone else's: untouched
    assert [await store.count_attempts(CUSTOMER_CODES, counted, day)
            for counted in (c, dup.id, other.id)] == [0, 0, 1]
    assert await store.blobs_in_use(outcome.blob_candidates) == set()


async def test_erasure_drops_the_persons_telegram_updates_not_processed_yet(
        store: Store) -> None:
    s = await seed(store, Identity(kind=IdentityKind.TELEGRAM, value="4711", raw="4711"))
    office = s.office.id
    await store.create_customer(office, "Max", [
        Identity(kind=IdentityKind.TELEGRAM, value="4712", raw="4712")])
    await store.add_telegram_update(office, 99, 1, 4711, b'{"text": "meine IBAN"}', T0)
    await store.add_telegram_update(office, 99, 2, 4712, b'{"text": "von Max"}', T0)
    await store.erase_customer(ErasureOrder(office_id=office, customer_id=s.customer.id,
                                            erased_by="admin-1"))
    assert [u.raw for u in await store.pending_telegram_updates(office, 99)] == [
        b'{"text": "von Max"}']


async def test_entries_retained_by_law_survive_detached_from_the_person(store: Store) -> None:
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    invoice, _ = await store.append(draft(office, c, kind="invoice", tags=("paid",),
                                          meta={"from": MAIL.value, "number": "R-1"}))
    note, _ = await store.append(draft(office, c))
    until = T0 + timedelta(days=3650)
    outcome = await store.erase_customer(ErasureOrder(
        office_id=office, customer_id=c, erased_by="admin-1", placeholder_name="Gelöscht",
        retained=(RetainedEntry(invoice.id, "invoice", until, "§147 AO"),)))
    assert outcome.placeholder_id is not None and outcome.erased_seqs == (note.seq,)
    kept = await store.get_entry(office, invoice.id)
    assert kept is not None and kept.customer_id == outcome.placeholder_id
    assert kept.tags == ("paid", "retained-by-law")
    assert "from" not in kept.meta and kept.meta["number"] == "R-1"
    assert kept.meta["retained"]["reason"] == "§147 AO"
    placeholder = await store.get_customer(office, outcome.placeholder_id)
    assert placeholder is not None
    assert (placeholder.name, placeholder.identities) == ("Gelöscht", ())
    [receipt] = await store.erasure_receipts(office)
    assert [r["entry_id"] for r in receipt.retained] == [invoice.id]


async def test_retained_entries_are_found_once_their_time_is_over(store: Store) -> None:
    """``retained_until``: the entries kept by law whose ``meta.retained.until`` lies before
    the date asked about, of that office only; others (later, not retained) are not."""
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    early, _ = await store.append(draft(office, c, kind="invoice"))
    late, _ = await store.append(draft(office, c, kind="contract"))
    await store.append(draft(office, c))
    await store.erase_customer(ErasureOrder(
        office_id=office, customer_id=c, erased_by="admin-1", placeholder_name="Gelöscht",
        retained=(RetainedEntry(early.id, "invoice", T0 + timedelta(days=365), "§147 AO"),
                  RetainedEntry(late.id, "contract", T0 + timedelta(days=3650), "§257 HGB"))))
    assert await store.retained_until(office, T0 + timedelta(days=30)) == []
    due = await store.retained_until(office, T0 + timedelta(days=400))
    assert [e.id for e in due] == [early.id]
    both = await store.retained_until(office, T0 + timedelta(days=4000))
    assert [e.id for e in both] == [early.id, late.id]
    other = await store.create_office("Büro B", "DE")
    assert await store.retained_until(other.id, T0 + timedelta(days=4000)) == []


async def test_call_states_not_updated_since_a_date_are_forgotten(store: Store) -> None:
    """``prune_call_states``: the state of calls not updated since ``before`` goes (all
    offices), a call updated after it stays; the answer says how many went."""
    s = await seed(store, PHONE)
    other = await store.create_office("Büro B", "DE")
    await store.save_call_state(s.office.id, "old-1", {"from": PHONE.value}, s.customer.id)
    await store.save_call_state(other.id, "old-2", {"from": PHONE.value})
    cut = utcnow() + timedelta(seconds=1)
    assert await store.prune_call_states(utcnow() - timedelta(days=1)) == 0
    await asyncio.sleep(1.1)
    await store.save_call_state(s.office.id, "new-1", {"from": PHONE.value}, s.customer.id)
    assert await store.prune_call_states(cut) == 2
    assert await store.call_state(s.office.id, "old-1") is None
    assert await store.call_state(other.id, "old-2") is None
    assert await store.call_state(s.office.id, "new-1") is not None


async def test_erasing_an_unknown_customer_is_refused_and_changes_nothing(
        store: Store) -> None:
    s = await seed(store)
    other = await store.create_office("B", "DE")
    for office, customer in ((s.office.id, "no-such-customer"), (other.id, s.customer.id)):
        with pytest.raises(REFUSED):
            await store.erase_customer(ErasureOrder(
                office_id=office, customer_id=customer, erased_by="admin",
                suppress=(("email", "d"),)))
        assert await store.erasure_receipts(office) == []
        assert not await store.is_suppressed(office, "email", "d")
    assert await store.get_customer(s.office.id, s.customer.id) == s.customer


async def test_no_entry_is_written_for_an_erased_customer(store: Store) -> None:
    """A mail or note whose customer was looked up before the erasure and is written after
    it is refused with ``NotFound``, the whole batch, and leaves nothing (no entry, no job,
    no index task): an entry never outlives its customer."""
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    keep = await store.create_customer(office, "Max Bleibt", [])
    await store.erase_customer(ErasureOrder(office_id=office, customer_id=c,
                                            erased_by="admin"))
    _, backlog = await store.index_backlog()
    with pytest.raises(REFUSED) as refused:
        await store.append(published(office, c, body="nach der Löschung"))
    assert refused.value.details == {"customer_ids": [c]}
    with pytest.raises(REFUSED):  # one erased customer in a batch: nothing of it is kept
        await store.append_many([draft(office, keep.id, body="bleibt nicht"),
                                 published(office, c, body="nach der Löschung")])
    assert (await store.timeline(office, keep.id, TimelineQuery())).items == []
    assert await store.scan_entries(0, 100) == []
    assert await store.list_notify_jobs(office) == []
    assert (await store.index_backlog())[1] == backlog
    other = await store.create_office("B", "DE")  # another office's customer: the same
    with pytest.raises(REFUSED):
        await store.append(draft(other.id, keep.id))
    [(written, created)] = await store.append_many([draft(office, keep.id, body="ok")])
    assert created and written.customer_id == keep.id


async def test_appends_racing_an_erasure_leave_no_entry_of_the_person(
        store: Store, second_store: Store) -> None:
    """Notes keep arriving for a person (another process) while the erasure runs: each is
    either erased with the person or refused; afterwards no entry of theirs is left."""
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    await store.append_many([draft(office, c, body=f"vorher {i}") for i in range(20)])
    erasure = asyncio.create_task(second_store.erase_customer(ErasureOrder(
        office_id=office, customer_id=c, erased_by="admin-1")))
    written: list[int] = []
    refused = 0
    for i in range(10_000):
        try:
            [(entry, _)] = await store.append_many([published(office, c, body=f"während {i}")])
            written.append(entry.seq)
        except REFUSED:
            refused += 1
            if erasure.done():
                break
        await asyncio.sleep(0)
    outcome = await erasure
    assert refused >= 1  # the appends went on until the erasure had happened
    assert set(written) <= set(outcome.erased_seqs)
    assert await store.scan_entries(0, 1000) == []
    assert await store.list_notify_jobs(office) == []


async def test_delete_entries_takes_their_notifications_along(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    (old, _), (kept, _) = await store.append_many([
        published(office, c, attachments=attached(SHA_A)), draft(office, c)])
    await claim_one(store, "w")
    await store.add_inbox_item(office, c, old.id, "s", "b", [])
    other = await seed(store, office_name="B")
    theirs, _ = await store.append(draft(other.office.id, other.customer.id))
    seqs, shas = await store.delete_entries(office, [old.id, theirs.id, "no-such-entry"])
    assert (seqs, shas) == ([old.seq], [SHA_A])
    assert await store.get_entry(office, old.id) is None
    assert await store.get_entry(office, kept.id) == kept
    assert await store.get_entry(other.office.id, theirs.id) == theirs
    assert await store.list_notify_jobs(office) == []
    assert await store.list_inbox(office, c) == []
    assert await store.delete_entries(office, []) == ([], [])


async def test_entries_of_a_kind_before_a_date_oldest_first(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    made = await store.append_many([
        draft(office, c, kind="call", body="c2", occurred_at=T0 + timedelta(days=2)),
        draft(office, c, kind="call", body="c0", occurred_at=T0),
        draft(office, c, kind="note", body="n1", occurred_at=T0 + timedelta(days=1)),
        draft(office, c, kind="call", body="c5", occurred_at=T0 + timedelta(days=5))])
    assert len(made) == 4
    got = await store.entries_of_kind_before(office, "call", T0 + timedelta(days=3))
    assert [e.body for e in got] == ["c0", "c2"]
    assert [e.body for e in await store.entries_of_kind_before(
        office, "call", T0 + timedelta(days=3), limit=1)] == ["c0"]
    assert await store.entries_of_kind_before(office, "call", T0) == []
    other = await store.create_office("B", "DE")
    assert await store.entries_of_kind_before(other.id, "call", T0 + timedelta(days=9)) == []


async def test_blobs_in_use_by_entries_quarantine_and_inbox(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    entry, _ = await store.append(draft(office, c, attachments=attached(SHA_A)))
    await store.add_quarantine(office, "email", "broken", "imap", SHA_Q, 1)
    await store.add_inbox_item(office, c, entry.id, "s", "b", [{"sha256": SHA_B}])
    unused = "dd" * 32
    assert await store.blobs_in_use([SHA_A, SHA_B, SHA_Q, unused, SHA_A]) == {
        SHA_A, SHA_B, SHA_Q}
    assert await store.blobs_in_use([]) == set()
    await store.delete_entries(office, [entry.id])  # the inbox item goes along
    assert await store.blobs_in_use([SHA_A, SHA_B, SHA_Q]) == {SHA_Q}


async def test_scrub_keeps_what_is_live(store: Store) -> None:
    s = await seed(store, MAIL)
    entry, _ = await store.append(draft(s.office.id, s.customer.id, body="bleibt"))
    await store.scrub()
    await store.scrub()
    assert await store.get_entry(s.office.id, entry.id) == entry
    assert await store.get_customer(s.office.id, s.customer.id) == s.customer
    again, created = await store.append(draft(s.office.id, s.customer.id, body="danach"))
    assert created and await store.get_entry(s.office.id, again.id) == again


# ---------------------------------------------------------------------- several processes
async def test_two_erasures_of_one_person_at_once_erase_it_once(
        store: Store, second_store: Store) -> None:
    """Two admins confirm the same erasure at the same moment (two processes): one erases,
    the other is refused; one receipt, nothing half done."""
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    made = await store.append_many([draft(office, c, body=f"n{i}") for i in range(5)])
    order = ErasureOrder(office_id=office, customer_id=c, erased_by="admin-1",
                         suppress=(("email", "digest-1"),))
    results = await asyncio.gather(store.erase_customer(order),
                                   second_store.erase_customer(replace(order,
                                                                       erased_by="admin-2")),
                                   return_exceptions=True)
    done = [r for r in results if isinstance(r, ErasureOutcome)]
    refused = [r for r in results if isinstance(r, REFUSED)]
    assert len(done) == 1 and len(refused) == 1, results
    assert sorted(done[0].erased_seqs) == sorted(e.seq for e, _ in made)
    [receipt] = await store.erasure_receipts(office)
    assert receipt.id == done[0].receipt_id
    assert await second_store.get_customer(office, c) is None
    assert await store.is_suppressed(office, "email", "digest-1")


async def _while_workers_claim(store: Store, second_store: Store,
                               work: asyncio.Future[Any]) -> list[str]:
    """Two workers (one per handle) turn the notification outbox into jobs and lease them
    until ``work`` is done; the ids of the jobs they got."""
    now = utcnow()
    claimed: list[str] = []

    async def claim(handle: Store, owner: str) -> None:
        for _ in range(10_000):
            if work.done():
                return
            claimed.extend(j.id for j in await handle.claim_notify_jobs(owner, now,
                                                                        now + LEASE, 3))
            await asyncio.sleep(0)

    await asyncio.gather(claim(store, "w1"), claim(second_store, "w2"), work)
    return claimed


async def test_an_erasure_while_workers_claim_its_notifications_leaves_no_job(
        store: Store, second_store: Store) -> None:
    """The person's published entries are being turned into notification jobs and leased
    by two workers while the erasure runs in another process: the erasure goes through
    (it waits for the workers, it does not fail on a deadlock) and no job is left."""
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    made = await store.append_many([published(office, c, body=f"m{i}") for i in range(40)])
    erasure = asyncio.create_task(second_store.erase_customer(ErasureOrder(
        office_id=office, customer_id=c, erased_by="admin-1")))
    claimed = await _while_workers_claim(store, second_store, erasure)
    assert sorted(erasure.result().erased_seqs) == sorted(e.seq for e, _ in made)
    assert await store.list_notify_jobs(office) == []
    assert [j for j in claimed if await store.get_notify_job(office, j) is not None] == []
    assert await store.claim_notify_jobs("w3", utcnow(), utcnow() + LEASE, 100) == []


async def test_retention_deletes_while_workers_claim_leave_no_job(
        store: Store, second_store: Store) -> None:
    """The same for a retention run deleting published entries (``delete_entries``)."""
    s = await seed(store, MAIL)
    office, c = s.office.id, s.customer.id
    made = await store.append_many([published(office, c, body=f"m{i}") for i in range(40)])
    ids = [e.id for e, _ in made]
    deleting = asyncio.create_task(second_store.delete_entries(office, ids))
    await _while_workers_claim(store, second_store, deleting)
    seqs, _ = deleting.result()
    assert sorted(seqs) == sorted(e.seq for e, _ in made)
    assert await store.list_notify_jobs(office) == []
    assert await store.claim_notify_jobs("w3", utcnow(), utcnow() + LEASE, 100) == []
