"""A task waiting for an event with a timeout always ends when cancelled, even when the
event is set in the same moment (Python 3.11's ``wait_for`` loses that cancellation, and
a worker loop around it then never stops: shutdowns and test teardowns hung)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from search.fts import FtsBackend
from search.indexer import Indexer
from timeline.sqlite_store import SqliteStore
from timeline.waiting import wait_set


async def test_a_cancellation_as_the_event_is_set_is_not_lost() -> None:
    for _ in range(50):
        event = asyncio.Event()
        task = asyncio.create_task(wait_set(event, 10.0))
        await asyncio.sleep(0)  # the task waits now
        event.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)


async def test_the_wait_reports_set_or_timed_out() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5.0) is True
    assert await wait_set(event, 0.0) is True  # already set


async def test_a_worker_loop_woken_and_cancelled_together_stops(tmp_path: Path) -> None:
    """The indexer's loop (as the notifier's, the event followers' and the Telegram
    inbox's) on a real, empty store: woken and cancelled in one step, it ends instead of
    waiting on."""
    store = SqliteStore(tmp_path / "chronik.sqlite3")
    await store.open()
    backend = FtsBackend(tmp_path / "search.sqlite3")
    await backend.open()
    try:
        for _ in range(20):
            indexer = Indexer(store, backend, poll_seconds=10.0)
            task = asyncio.create_task(indexer.run())
            await asyncio.sleep(0.01)  # idle: waiting for a wake-up
            indexer.wake()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5.0)
    finally:
        await backend.close()
        await store.close()
