"""Contract: the index outbox (rows written with the change, drained by the indexer) and the
live-event feed (rows written with the change, followed by every process)."""

from __future__ import annotations

from tests.store_contract.helpers import draft, seed
from timeline.models import Channel
from timeline.store import Store

COVERS = frozenset({
    "pending_index_tasks", "ack_index_tasks", "index_backlog", "ack_index_through",
    "last_event_id", "events_after",
})


async def test_outbox_rows_commit_with_entries(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    assert await store.index_backlog() == (0, 0)
    (e1, _), (e2, _) = await store.append_many([draft(office, c), draft(
        office, c, channel=Channel.EMAIL, source_id="s")])
    await store.append(draft(office, c, channel=Channel.EMAIL, source_id="s"))  # a duplicate
    tasks = await store.pending_index_tasks(10)
    assert sorted(t.seq for t in tasks) == sorted([e1.seq, e2.seq])
    assert {t.seq: t.entry for t in tasks} == {e1.seq: e1, e2.seq: e2}
    assert await store.index_backlog() == (2, max(t.outbox_id for t in tasks))
    assert len(await store.pending_index_tasks(1)) == 1
    await store.ack_index_tasks([tasks[0].outbox_id])
    assert [t.seq for t in await store.pending_index_tasks(10)] == [tasks[1].seq]
    await store.ack_index_tasks([])
    assert len(await store.pending_index_tasks(10)) == 1


async def test_changes_to_an_entry_queue_it_again_oldest_row_first(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    entry, _ = await store.append(draft(office, s.customer.id))
    await store.ack_index_tasks([t.outbox_id for t in await store.pending_index_tasks(10)])
    await store.revise_entry(office, entry.id, body="revised")
    await store.retag_entry(office, entry.id, add=["vip"])
    await store.retag_entry(office, entry.id, add=["vip"])  # no change: no row
    tasks = await store.pending_index_tasks(10)
    assert [t.seq for t in tasks] == [entry.seq, entry.seq]
    assert tasks[0].outbox_id < tasks[1].outbox_id
    latest = tasks[-1].entry
    assert latest is not None and latest.body == "revised" and latest.tags == ("vip",)


async def test_ack_through_acknowledges_up_to_a_row(store: Store) -> None:
    s = await seed(store)
    await store.append_many([draft(s.office.id, s.customer.id, body=f"b{i}") for i in range(3)])
    tasks = await store.pending_index_tasks(10)
    assert await store.ack_index_through(tasks[1].outbox_id) == 2
    assert [t.outbox_id for t in await store.pending_index_tasks(10)] == [tasks[2].outbox_id]
    assert await store.index_backlog() == (1, tasks[2].outbox_id)
    assert await store.ack_index_through(tasks[1].outbox_id) == 0


async def test_deleted_entries_leave_drop_rows(store: Store) -> None:
    s = await seed(store)
    entry, _ = await store.append(draft(s.office.id, s.customer.id))
    await store.ack_index_through((await store.index_backlog())[1])
    await store.delete_entries(s.office.id, [entry.id])
    [task] = await store.pending_index_tasks(10)
    assert (task.seq, task.entry) == (entry.seq, None)


async def test_the_feed_reports_changes_by_id_in_order(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    start = await store.last_event_id()
    assert await store.events_after(start, 10) == []
    (e1, _), (e2, _) = await store.append_many([draft(office, c, body="1"),
                                                draft(office, c, body="2")])
    await store.append(draft(office, c, source_id="x"))
    await store.append(draft(office, c, source_id="x"))  # a duplicate reports nothing
    await store.revise_entry(office, e1.id, body="1b")
    await store.save_call_state(office, "call-9", {"state": "ringing"}, c,
                                event="call.ringing", event_data={"missed": False})
    await store.save_call_state(office, "call-9", {"state": "ended"})  # no event asked for
    events = await store.events_after(start, 100)
    assert [(e.type, e.entry_id) for e in events[:2]] == [("entry.created", e1.id),
                                                          ("entry.created", e2.id)]
    assert [e.type for e in events[2:]] == ["entry.created", "entry.updated", "call.ringing"]
    assert all(e.office_id == office and e.customer_id == c for e in events)
    call = events[-1]
    assert (call.call_id, call.data, call.family) == ("call-9", {"missed": False}, "call")
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > start
    assert await store.last_event_id() == ids[-1]
    assert await store.events_after(ids[1], 2) == events[2:4]
    assert await store.events_after(ids[-1], 10) == []


async def test_the_feed_is_shared_by_every_handle(store: Store, second_store: Store) -> None:
    s = await seed(store)
    start = await second_store.last_event_id()
    entry, _ = await store.append(draft(s.office.id, s.customer.id))
    [event] = await second_store.events_after(start, 10)
    assert (event.type, event.entry_id) == ("entry.created", entry.id)
    assert await second_store.last_event_id() == await store.last_event_id() == event.id
