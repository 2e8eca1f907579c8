"""The store's live-event feed on its own: bounded in size, and a follower delivers each
row once per process, even after old rows were pruned under it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timeline.blobs import BlobStore
from timeline.events import EventBus, EventFollower
from timeline.models import Channel, Direction, EntryDraft, Visibility
from timeline.service import TimelineService
from timeline.sqlite_events import KEEP_ROWS, PRUNE_EVERY
from timeline.sqlite_store import SqliteStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    impl = SqliteStore(tmp_path / "store.sqlite3")
    await impl.open()
    yield impl
    await impl.close()


def note(office: str, customer: str, body: str) -> EntryDraft:
    return EntryDraft(office_id=office, customer_id=customer, channel=Channel.NOTE,
                      direction=Direction.INTERNAL, kind="note",
                      visibility=Visibility.INTERNAL, occurred_at=T0, body=body)


async def test_the_feed_stays_bounded_and_a_follower_behind_it_carries_on(
        store: SqliteStore, tmp_path: Path) -> None:
    office = await store.create_office("A", "DE")
    customer = await store.create_customer(office.id, "Erika", [])
    bus = EventBus()
    timeline = TimelineService(store, BlobStore(tmp_path / "blobs"), bus)
    follower = EventFollower(store, bus)
    await follower.start()
    total = KEEP_ROWS + 3 * PRUNE_EVERY
    for start in range(0, total, 1000):  # an import: nobody is listening meanwhile
        await timeline.append_many([note(office.id, customer.id, f"n{i}")
                                    for i in range(start, min(total, start + 1000))])
    kept = await store.events_after(0, 10 * total)
    assert KEEP_ROWS <= len(kept) <= KEEP_ROWS + PRUNE_EVERY
    assert kept[-1].id == await store.last_event_id() == total
    assert await follower.follow_once() == len(kept)  # from before the pruned rows: no error

    with bus.subscribe(office.id) as queue:
        entry, _ = await timeline.append(note(office.id, customer.id, "the newest"))
        await follower.follow_once()
        got = queue.get_nowait()
        assert (got.type, got.data["id"], got.data["customer_id"]) == (
            "entry.created", entry.id, customer.id)
        assert await follower.follow_once() == 0 and queue.empty()  # once, not again


async def test_a_running_follower_delivers_a_local_write_at_once(
        store: SqliteStore, tmp_path: Path) -> None:
    office = await store.create_office("A", "DE")
    customer = await store.create_customer(office.id, "Erika", [])
    bus = EventBus()
    timeline = TimelineService(store, BlobStore(tmp_path / "blobs"), bus)
    follower = EventFollower(store, bus, interval=60.0)  # no polling: only the poke
    await follower.start()
    task = asyncio.create_task(follower.run())
    try:
        with bus.subscribe(office.id) as queue:
            entry, _ = await timeline.append(note(office.id, customer.id, "now"))
            got = await asyncio.wait_for(queue.get(), 2.0)
            assert got.data["id"] == entry.id
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
