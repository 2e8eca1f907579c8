"""The shared list of customers waiting for a reply (``chronik.awaiting``): one
store read for many pages at once, and never an answer older than the last change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest

from chronik.awaiting import WaitingLists
from tests.web.conftest import Console
from timeline.events import Event
from timeline.models import Entry, Visibility, utcnow


async def settled(console: Console, write: Awaitable[Entry]) -> Entry:
    """Run ``write``, returning once the feed follower has published its event (as it
    would to every page's event stream): no late event changes what a test counts."""
    with console.state.events.subscribe(console.office.id) as queue:
        entry = await write
        while (await asyncio.wait_for(queue.get(), 10)).data.get("id") != entry.id:
            pass
    return entry


async def add(console: Console, customer: Any, **kw: Any) -> Entry:
    return await settled(console, console.add(customer, **kw))


@pytest.fixture
def reads(console: Console, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Office ids the store was asked for; each answer takes a moment to come back (pages
    pile up, and a write can happen between the read and its answer)."""
    seen: list[str] = []
    original = console.state.store.awaiting_reply

    async def counted(office_id: str, since: Any, limit: int) -> list[Entry]:
        seen.append(office_id)
        found = await original(office_id, since, limit)
        await asyncio.sleep(0.05)  # the answer is on its way back
        return found
    monkeypatch.setattr(console.state.store, "awaiting_reply", counted)
    return seen


async def test_pages_asking_at_once_share_one_read(console: Console, reads: list[str]) -> None:
    erika = await console.customer("Erika")
    await add(console, erika, subject="Frage", when=utcnow() - timedelta(hours=1))
    lists = WaitingLists(console.state)
    office = console.office.id
    answers = await asyncio.gather(*(lists.get(office, 30) for _ in range(20)))
    assert reads == [office]
    assert all([e.subject for e in a] == ["Frage"] for a in answers)
    assert [e.subject for e in await lists.get(office, 30)] == ["Frage"]
    assert reads == [office]  # kept
    await lists.get(office, 7)  # another period is another list
    assert reads == [office, office]


async def test_a_change_is_seen_at_once(console: Console, reads: list[str]) -> None:
    erika = await console.customer("Erika")
    karl = await console.customer("Karl")
    await add(console, erika, subject="Frage", when=utcnow() - timedelta(hours=1))
    lists = WaitingLists(console.state)
    office = console.office.id
    assert [e.subject for e in await lists.get(office, 30)] == ["Frage"]
    # written in this process: the timeline's listener
    await add(console, karl, subject="Noch eine Frage", when=utcnow() - timedelta(minutes=5))
    assert [e.subject for e in await lists.get(office, 30)] == ["Frage", "Noch eine Frage"]
    # answered in this process
    await settled(console, console.record(erika, body="Erledigt.",
                                          visibility=Visibility.PUBLISHED, notify=False))
    assert [e.subject for e in await lists.get(office, 30)] == ["Noch eine Frage"]
    # an event from another process (the feed follower publishes it on the bus)
    reads.clear()
    console.state.events.publish(Event(office, "entry.created", {"id": "x"}))
    await lists.get(office, 30)
    assert reads == [office]
    console.state.events.publish(Event(office, "call.ringing", {}))
    await lists.get(office, 30)
    assert reads == [office]  # a ringing phone changes nobody's answer


async def test_a_list_is_kept_a_few_seconds_at_most(console: Console, reads: list[str]) -> None:
    lists = WaitingLists(console.state, ttl=0.1)
    office = console.office.id
    await lists.get(office, 30)
    await asyncio.sleep(0.15)
    await lists.get(office, 30)
    assert reads == [office, office]


async def test_a_change_during_a_read_is_not_kept_stale(console: Console,
                                                        reads: list[str]) -> None:
    erika = await console.customer("Erika")
    lists = WaitingLists(console.state)
    office = console.office.id
    reading = asyncio.ensure_future(lists.get(office, 30))
    await asyncio.sleep(0.01)  # the read is in flight
    await console.add(erika, subject="Mitten hinein", when=utcnow() - timedelta(minutes=1))
    asked_after = asyncio.ensure_future(lists.get(office, 30))  # the old read still runs
    await reading
    assert [e.subject for e in await asked_after] == ["Mitten hinein"]
    assert [e.subject for e in await lists.get(office, 30)] == ["Mitten hinein"]


async def test_an_erased_customer_leaves_the_list_at_once(console: Console,
                                                          reads: list[str]) -> None:
    erika = await console.customer("Erika Vergessen")
    await add(console, erika, subject="Bitte löschen Sie mich",
              when=utcnow() - timedelta(hours=1))
    lists = WaitingLists(console.state)
    office = console.office.id
    assert [e.subject for e in await lists.get(office, 30)] == ["Bitte löschen Sie mich"]
    privacy = console.state.privacy
    assert privacy is not None
    preview = await privacy.preview(console.office, erika.id)
    await privacy.erase(console.office, erika.id, "test", preview["confirm"])
    assert await lists.get(office, 30) == []
