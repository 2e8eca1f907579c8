"""Telegram updates drained by several processes at once (PostgreSQL only: the embedded store
serves one process). Each update is handled once, the updates of a chat one after another in
``update_id`` order, and the chats of a process that is gone are taken over
(``timeline/pg_telegram.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from connectors.telegram.inbox import UpdateInbox
from timeline.models import utcnow
from timeline.pg_store import PgStore
from timeline.repositories import ReceivedUpdate

BOT = 4711


@pytest.fixture
async def two_processes(pg_url: str) -> AsyncIterator[tuple[PgStore, PgStore, str]]:
    first, second = PgStore(pg_url), PgStore(pg_url)
    await first.open()
    await second.open()
    try:
        office = await first.create_office("A", "DE")
        yield first, second, office.id
    finally:
        await first.close()
        await second.close()


def ids(updates: list[ReceivedUpdate]) -> list[int]:
    return [u.update_id for u in updates]


async def test_a_chat_is_handed_to_one_process_at_a_time(
        two_processes: tuple[PgStore, PgStore, str]) -> None:
    a, b, office = two_processes
    now = utcnow()
    for update_id, chat in ((1, 100), (2, 200), (3, 100), (4, None)):
        await a.add_telegram_update(office, BOT, update_id, chat, b"u", now)
    assert ids(await b.pending_telegram_updates(office, BOT, limit=1)) == [1]
    # chat 100 is b's now, its later update 3 included: a gets the other chats only
    assert ids(await a.pending_telegram_updates(office, BOT)) == [2, 4]
    assert ids(await b.pending_telegram_updates(office, BOT)) == [1, 3]
    await b.finish_telegram_update(office, BOT, 1)
    await b.finish_telegram_update(office, BOT, 3)
    await a.add_telegram_update(office, BOT, 5, 100, b"u", now)
    assert ids(await a.pending_telegram_updates(office, BOT)) == [2, 4, 5]  # chat 100 free
    # a retry keeps the chat with its process, later updates of the chat wait behind it
    await a.retry_telegram_update(office, BOT, 5, now + timedelta(minutes=1), "timeout")
    await a.finish_telegram_update(office, BOT, 2)
    await a.finish_telegram_update(office, BOT, 4)
    await a.add_telegram_update(office, BOT, 6, 100, b"u", now)
    assert ids(await b.pending_telegram_updates(office, BOT)) == []
    assert ids(await a.pending_telegram_updates(office, BOT)) == [5, 6]


async def test_the_chats_of_a_process_that_is_gone_are_taken_over(
        two_processes: tuple[PgStore, PgStore, str], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, office = two_processes
    await a.add_telegram_update(office, BOT, 1, 100, b"u", utcnow())
    monkeypatch.setattr("timeline.pg_telegram.LEASE", timedelta(0))  # lapses at once
    assert ids(await a.pending_telegram_updates(office, BOT)) == [1]
    await a.close()  # gone without finishing it
    [update] = await b.pending_telegram_updates(office, BOT)
    assert (update.update_id, update.raw) == (1, b"u")


async def test_a_chat_waits_for_the_process_handling_it_while_others_go_on(
        two_processes: tuple[PgStore, PgStore, str]) -> None:
    """Two drains as the Telegram connector runs them: while one process is still handling
    a chat's update, another process takes the new chats but not the chat's next update."""
    a, b, office = two_processes
    now = utcnow()
    handled: list[tuple[str, int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(update: ReceivedUpdate) -> None:
        handled.append(("a", update.update_id))
        started.set()
        await release.wait()

    async def quick(update: ReceivedUpdate) -> None:
        handled.append(("b", update.update_id))

    await a.add_telegram_update(office, BOT, 1, 100, b"u1", now)
    draining = asyncio.create_task(UpdateInbox(a, BOT).drain(office, slow))
    await started.wait()
    await b.add_telegram_update(office, BOT, 2, 100, b"u2", now)  # same chat: must wait
    await b.add_telegram_update(office, BOT, 3, 200, b"u3", now)
    await UpdateInbox(b, BOT).drain(office, quick)
    assert handled == [("a", 1), ("b", 3)]
    release.set()
    await draining
    await UpdateInbox(b, BOT).drain(office, quick)
    assert handled == [("a", 1), ("b", 3), ("b", 2)]
    assert ids(await a.pending_telegram_updates(office, BOT)) == []
