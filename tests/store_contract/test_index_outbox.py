"""Contract: the index outbox (rows written with the change, drained by the indexers). The
live-event feed is ``test_event_feed.py``."""

from __future__ import annotations

import asyncio

from tests.store_contract.helpers import draft, seed
from timeline.models import Channel
from timeline.repositories import IndexTask
from timeline.store import Store

COVERS = frozenset({
    "pending_index_tasks", "ack_index_tasks", "index_backlog", "ack_index_through",
    "requeue_index",
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


async def test_two_indexers_together_index_every_change(store: Store,
                                                       second_store: Store) -> None:
    """Two handles (indexer processes) drain one outbox at once: every entry is handed out
    with its latest state, and the outbox ends empty."""
    s = await seed(store)
    office = s.office.id
    made = await store.append_many([draft(office, s.customer.id, body=f"b{i}")
                                    for i in range(40)])
    first = made[0][0]
    await second_store.retag_entry(office, first.id, add=["vip"])
    seen: list[IndexTask] = []

    async def drain(handle: Store) -> None:
        while tasks := await handle.pending_index_tasks(7):
            seen.extend(tasks)
            await asyncio.sleep(0)
            await handle.ack_index_tasks([t.outbox_id for t in tasks])
    await asyncio.gather(drain(store), drain(second_store))
    assert {t.seq for t in seen} == {e.seq for e, _ in made}
    latest = [t.entry for t in seen if t.seq == first.seq][-1]
    assert latest is not None and latest.tags == ("vip",)
    assert await store.index_backlog() == (0, 0)
    assert await second_store.pending_index_tasks(10) == []


async def test_entries_are_queued_again_when_their_files_were_read(store: Store) -> None:
    """The indexer reads new attached files after indexing an entry, then queues it again
    (``requeue_index``); an entry deleted meanwhile comes back as a drop row."""
    s = await seed(store)
    kept, gone = [e for e, _ in await store.append_many(
        [draft(s.office.id, s.customer.id, body=f"b{i}") for i in range(2)])]
    await store.ack_index_through((await store.index_backlog())[1])
    await store.requeue_index([])
    assert await store.pending_index_tasks(10) == []
    await store.delete_entries(s.office.id, [gone.id])
    await store.ack_index_through((await store.index_backlog())[1])
    await store.requeue_index([kept.seq, gone.seq])
    tasks = await store.pending_index_tasks(10)
    assert [(t.seq, t.entry) for t in tasks] == [(kept.seq, kept), (gone.seq, None)]
