"""The store of received Telegram updates (migration 10) and the inbox that drains it, on a
real SQLite store: redeliveries recognised, order per chat, retries that hold back only
their own chat, content dropped once processed, offices and bots kept apart."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.telegram.errors import TelegramUnavailable
from connectors.telegram.inbox import UpdateInbox
from timeline.models import Identity, IdentityKind, utcnow
from timeline.privacy_models import ErasureOrder
from timeline.sqlite_store import SqliteStore
from timeline.store import ReceivedUpdate

BOT = 123456


def _row(path: Path, update_id: int) -> tuple[object, ...]:
    """What the database file itself holds for one update (the content must be gone)."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT raw, chat_id FROM telegram_updates WHERE update_id=?",
                           (update_id,)).fetchone()
    return tuple(row)


def _database_bytes(folder: Path) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(folder.glob("store.sqlite3*")))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_updates_are_kept_until_processed_and_recognised_after(
        store: SqliteStore, tmp_path: Path) -> None:
    office = (await store.create_office("Büro", "DE")).id
    now = utcnow()
    assert await store.add_telegram_update(office, BOT, 7, 4711, b'{"secret": "Hallo"}', now)
    assert not await store.add_telegram_update(office, BOT, 7, 4711, b"{}", now)  # redelivered
    assert await store.add_telegram_update(office, BOT, 5, 4712, b"{}", now)
    assert [u.update_id for u in await store.pending_telegram_updates(office, BOT)] == [5, 7]

    await store.retry_telegram_update(office, BOT, 7, now + timedelta(minutes=1), "429")
    [_, seven] = await store.pending_telegram_updates(office, BOT)
    assert (seven.attempts, seven.last_error, seven.raw) == (1, "429", b'{"secret": "Hallo"}')

    await store.finish_telegram_update(office, BOT, 7)
    assert [u.update_id for u in await store.pending_telegram_updates(office, BOT)] == [5]
    assert not await store.add_telegram_update(office, BOT, 7, 4711, b"{}", now)  # still known
    assert await asyncio.to_thread(_row, tmp_path / "store.sqlite3", 7) == (None, None)
    assert await store.prune_telegram_updates(now + timedelta(seconds=1)) == 1  # only done
    assert await store.add_telegram_update(office, BOT, 7, 4711, b"{}", now)  # forgotten


async def test_offices_and_bots_are_kept_apart(store: SqliteStore) -> None:
    a = (await store.create_office("A", "DE")).id
    b = (await store.create_office("B", "DE")).id
    now = utcnow()
    assert await store.add_telegram_update(a, BOT, 1, 1, b"a", now)
    assert await store.add_telegram_update(b, BOT, 1, 1, b"b", now)
    assert await store.add_telegram_update(a, 999, 1, 1, b"other bot", now)
    assert [u.raw for u in await store.pending_telegram_updates(a, BOT)] == [b"a"]
    assert [u.raw for u in await store.pending_telegram_updates(b, BOT)] == [b"b"]
    await store.finish_telegram_update(a, BOT, 1)
    assert [u.raw for u in await store.pending_telegram_updates(b, BOT)] == [b"b"]


async def test_the_inbox_keeps_order_per_chat_and_holds_back_only_a_failing_chat(
        store: SqliteStore) -> None:
    office = (await store.create_office("Büro", "DE")).id
    inbox = UpdateInbox(store, BOT)
    for update_id, chat in [(3, 10), (1, 10), (2, 20), (4, 10), (5, 20)]:  # out of order
        assert await inbox.accept(office, update_id, chat, f"u{update_id}".encode())
    seen: list[int] = []
    failing = {1}

    async def handle(row: ReceivedUpdate) -> None:
        if row.update_id in failing:
            raise TelegramUnavailable("flood control", retry_after=30)
        seen.append(row.update_id)

    wait = await inbox.drain(office, handle)
    assert seen == [2, 5]  # chat 10 waits behind update 1; chat 20 goes on
    assert wait is not None and wait >= 30  # retry_after is honoured
    [first, *_] = await store.pending_telegram_updates(office, BOT)
    assert (first.update_id, first.attempts, first.last_error) == (1, 1, "flood control")
    assert await inbox.drain(office, handle) is not None and seen == [2, 5]  # not due yet

    failing.clear()
    await store.retry_telegram_update(office, BOT, 1, utcnow(), "due now")
    assert await inbox.drain(office, handle) is None
    assert seen == [2, 5, 1, 3, 4]
    assert await store.pending_telegram_updates(office, BOT) == []
    assert inbox.diagnostics() == {"waiting": 0, "retries": 1, "last_error": "flood control"}


async def test_an_update_waits_for_a_late_earlier_one(store: SqliteStore) -> None:
    office = (await store.create_office("Büro", "DE")).id
    inbox = UpdateInbox(store, BOT, reorder_seconds=60)
    await inbox.accept(office, 2, 10, b"later")
    seen: list[int] = []

    async def handle(row: ReceivedUpdate) -> None:
        seen.append(row.update_id)

    wait = await inbox.drain(office, handle)
    assert seen == [] and wait is not None and 55 < wait <= 60


async def test_erasure_reaches_updates_not_processed_yet(store: SqliteStore,
                                                          tmp_path: Path) -> None:
    office = (await store.create_office("Büro", "DE")).id
    person = await store.create_customer(office, "Erika", [
        Identity(kind=IdentityKind.TELEGRAM, value="4711", raw="4711")])
    other = await store.create_customer(office, "Max", [
        Identity(kind=IdentityKind.TELEGRAM, value="4712", raw="4712")])
    now = utcnow()
    await store.add_telegram_update(office, BOT, 1, 4711, b'{"text": "meine IBAN"}', now)
    await store.add_telegram_update(office, BOT, 2, 4712, b'{"text": "von Max"}', now)
    await store.erase_customer(ErasureOrder(office_id=office, customer_id=person.id,
                                            erased_by="test"))
    await store.scrub()  # as the privacy service does after every erasure
    assert [u.raw for u in await store.pending_telegram_updates(office, BOT)] == [
        b'{"text": "von Max"}']
    assert await store.get_customer(office, other.id) is not None
    data = await asyncio.to_thread(_database_bytes, tmp_path)
    assert b"meine IBAN" not in data  # secure_delete: not even in free pages
