"""Contract: received Telegram updates, kept until processed and recognised when Telegram
delivers them again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.store_contract.helpers import T0
from timeline.store import Store

COVERS = frozenset({
    "add_telegram_update", "pending_telegram_updates", "finish_telegram_update",
    "retry_telegram_update", "prune_telegram_updates",
})

BOT, OTHER_BOT = 4711, 4712


async def test_updates_wait_oldest_first_per_office_and_bot(store: Store) -> None:
    a = await store.create_office("A", "DE")
    b = await store.create_office("B", "DE")
    for update_id in (12, 10, 11):
        assert await store.add_telegram_update(a.id, BOT, update_id, 99,
                                               f"u{update_id}".encode(),
                                               T0 + timedelta(seconds=update_id))
    assert await store.add_telegram_update(a.id, OTHER_BOT, 10, None, b"other bot", T0)
    assert await store.add_telegram_update(b.id, BOT, 10, 5, b"other office", T0)
    pending = await store.pending_telegram_updates(a.id, BOT)
    assert [u.update_id for u in pending] == [10, 11, 12]
    first = pending[0]
    assert (first.chat_id, first.raw, first.attempts, first.last_error) == (
        99, b"u10", 0, None)
    assert first.received_at == T0 + timedelta(seconds=10) == first.next_at
    assert [u.update_id for u in await store.pending_telegram_updates(a.id, BOT, limit=2)] == [
        10, 11]
    [theirs] = await store.pending_telegram_updates(b.id, BOT)
    assert theirs.raw == b"other office"
    [other_bot] = await store.pending_telegram_updates(a.id, OTHER_BOT)
    assert other_bot.chat_id is None


async def test_a_redelivered_update_is_recognised_pending_or_done(store: Store) -> None:
    office = await store.create_office("A", "DE")
    assert await store.add_telegram_update(office.id, BOT, 1, 7, b"first", T0)
    assert not await store.add_telegram_update(office.id, BOT, 1, 7, b"again", T0)
    [kept] = await store.pending_telegram_updates(office.id, BOT)
    assert kept.raw == b"first"
    await store.finish_telegram_update(office.id, BOT, 1)
    assert await store.pending_telegram_updates(office.id, BOT) == []
    assert not await store.add_telegram_update(office.id, BOT, 1, 7, b"later", T0)
    assert await store.pending_telegram_updates(office.id, BOT) == []


async def test_a_failed_update_waits_with_its_error(store: Store) -> None:
    office = await store.create_office("A", "DE")
    await store.add_telegram_update(office.id, BOT, 1, 7, b"x", T0)
    await store.retry_telegram_update(office.id, BOT, 1, T0 + timedelta(minutes=1), "timeout")
    await store.retry_telegram_update(office.id, BOT, 1, T0 + timedelta(minutes=5), "E" * 900)
    [update] = await store.pending_telegram_updates(office.id, BOT)
    assert update.attempts == 2 and update.next_at == T0 + timedelta(minutes=5)
    assert update.last_error is not None and update.last_error.startswith("EEE")
    await store.finish_telegram_update(office.id, BOT, 1)
    await store.retry_telegram_update(office.id, BOT, 1, T0, "too late")  # done: no effect
    assert await store.pending_telegram_updates(office.id, BOT) == []


async def test_pruning_forgets_only_processed_ids_received_before(store: Store) -> None:
    office = await store.create_office("A", "DE")
    await store.add_telegram_update(office.id, BOT, 1, 7, b"old done", T0)
    await store.add_telegram_update(office.id, BOT, 2, 7, b"old pending", T0)
    await store.add_telegram_update(office.id, BOT, 3, 7, b"new done", T0 + timedelta(days=2))
    await store.finish_telegram_update(office.id, BOT, 1)
    await store.finish_telegram_update(office.id, BOT, 3)
    assert await store.prune_telegram_updates(T0 + timedelta(days=1)) == 1
    assert [u.update_id for u in await store.pending_telegram_updates(office.id, BOT)] == [2]
    assert await store.add_telegram_update(office.id, BOT, 1, 7, b"seen again", T0)  # forgotten
    assert not await store.add_telegram_update(office.id, BOT, 3, 7, b"x", T0)  # remembered
    assert await store.prune_telegram_updates(T0 + timedelta(days=1)) == 0


async def test_an_update_posted_to_two_processes_at_once_is_stored_once(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    for update_id in range(1, 6):
        new = await asyncio.gather(
            store.add_telegram_update(office.id, BOT, update_id, 7, b"x", T0),
            second_store.add_telegram_update(office.id, BOT, update_id, 7, b"x", T0))
        assert sorted(new) == [False, True]
    assert [u.update_id for u in await store.pending_telegram_updates(office.id, BOT)] == [
        1, 2, 3, 4, 5]
