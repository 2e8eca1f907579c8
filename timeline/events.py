"""Live events per office (``entry.created``, ``call.ringing``, …) for agents' screens.

The store is the one source: every change that agents should see live writes a small row
to its change feed (the ``events`` table: office, type and ids, nothing else) in the same
transaction as the change itself. Each process runs an ``EventFollower`` that reads new
rows (woken at once by ``EventBus.poke`` after a local write, and polling every
``interval`` for the writes of other processes), loads what a live view needs through the
loader registered for the event's family (``entry``, ``call``) and publishes it on the
process's ``EventBus``. So an entry written by another API process or a notification
recorded by a separate ``chronik worker`` reaches every process's subscribers, and each row
is delivered once per process: the follower only ever moves forward over the feed.

Subscribers get a bounded queue; a slow subscriber loses its oldest events, never blocks the
publisher (a live view can always reload the timeline)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from timeline.waiting import wait_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    office_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = field(default=None, compare=False)
    """The change feed row it came from (an SSE stream's event id: a client that reconnects
    with ``Last-Event-ID`` is sent what it missed, ``chronik/api/events.py``)."""


@dataclass(frozen=True)
class StoredEvent:
    """One row of the store's change feed: what changed, by id only."""

    id: int
    office_id: str
    type: str
    customer_id: str | None = None
    entry_id: str | None = None
    call_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    """Small, non-personal fields the writer added (flags, states)."""

    @property
    def family(self) -> str:
        return self.type.partition(".")[0]

    def ids(self) -> dict[str, Any]:
        """The payload when no loader knows the family (ids only)."""
        out = {"customer_id": self.customer_id, "entry_id": self.entry_id,
               "call_id": self.call_id}
        return {k: v for k, v in out.items() if v is not None}


Loader = Callable[[StoredEvent], Awaitable[dict[str, Any] | None]]
"""Turns a feed row into the data the live view gets (``None``: the thing is gone —
erased, deleted — and nothing is published)."""


class EventFeed(Protocol):
    """What the follower reads (``timeline.sqlite_events.SqliteEvents``)."""

    async def last_event_id(self) -> int: ...
    async def events_after(self, after_id: int, limit: int) -> Sequence[StoredEvent]: ...


class EventBus:
    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._loaders: dict[str, Loader] = {}
        self._watchers: list[Callable[[Event], None]] = []
        self._keepers: dict[str, list[Callable[[StoredEvent], None]]] = {}
        self.changed = asyncio.Event()
        """Set by ``poke``: the follower reads the feed now instead of at its next poll."""

    def poke(self) -> None:
        """Something was written to the feed by this process: deliver it without waiting
        for the next poll (call on the event loop, after the write committed)."""
        self.changed.set()

    def loader(self, family: str, fn: Loader) -> None:
        """Register how events of one family (``"entry"``, ``"call"``) are loaded."""
        self._loaders[family] = fn

    def keep(self, family: str, fn: Callable[[StoredEvent], None]) -> None:
        """Call ``fn`` (on the loop) with every feed row of ``family`` (``"token"``), whoever
        wrote it and whether or not anyone in this process subscribes: for state every
        process holds (a cache of checked API tokens) that must follow the store at once.
        Such rows are for processes, not screens: they are never published."""
        self._keepers.setdefault(family, []).append(fn)

    async def deliver(self, stored: StoredEvent) -> None:
        """Load and publish one feed row, unless nobody in this process listens (a row of
        a family kept by :meth:`keep` goes to its keepers only)."""
        keepers = self._keepers.get(stored.family)
        if keepers is not None:
            for keeper in keepers:
                try:
                    keeper(stored)
                except Exception:  # one keeper's bug must not stop the others
                    log.exception("keeping up with %s failed", stored.type)
            return
        if not self._subscribers.get(stored.office_id):
            return
        event = await self.load(stored)
        if event is not None:
            self.publish(event)

    async def load(self, stored: StoredEvent) -> Event | None:
        """What a live view gets for one feed row (``None``: nothing, the thing is gone or
        the row is for processes only), as :meth:`deliver` publishes it."""
        if stored.family in self._keepers:
            return None
        fn = self._loaders.get(stored.family)
        data = stored.ids() if fn is None else await fn(stored)
        return None if data is None else Event(stored.office_id, stored.type, data, stored.id)

    def watch(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn`` (on the loop) with every event published in this process, before the
        subscribers get it (caches of what live views reload on an event)."""
        self._watchers.append(fn)

    def publish(self, event: Event) -> None:
        for fn in self._watchers:
            try:
                fn(event)
            except Exception:  # a watcher's bug must not stop the live views
                log.exception("event watcher failed")
        for queue in list(self._subscribers.get(event.office_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextmanager
    def subscribe(self, office_id: str) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.setdefault(office_id, set()).add(queue)
        try:
            yield queue
        finally:
            subs = self._subscribers.get(office_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subscribers[office_id]

    def subscriber_count(self, office_id: str) -> int:
        return len(self._subscribers.get(office_id, ()))


async def deliver_safely(bus: EventBus, row: StoredEvent) -> None:
    """Publish one feed row; a row that fails to load is logged, never stops the others
    (both change feeds: this module's and ``timeline.pg_events``)."""
    try:
        await bus.deliver(row)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("loading live event %s failed", row.type)


class EventFollower:
    """Reads the store's change feed from where it stood at start and publishes every new
    row on ``bus``. ``on_entries`` is called after a pass that saw entry events (wakes the
    indexer and the notifier for entries other processes wrote)."""

    def __init__(self, feed: EventFeed, bus: EventBus, *, interval: float = 0.05,
                 batch: int = 500, on_entries: Callable[[], None] | None = None) -> None:
        self.feed = feed
        self.bus = bus
        self.interval = interval
        self.batch = batch
        self.on_entries = on_entries
        self.position: int | None = None
        self.delivered = 0

    async def start(self) -> None:
        """Remember where the feed stands (earlier rows are not replayed)."""
        self.position = await self.feed.last_event_id()

    async def run(self) -> None:
        if self.position is None:
            await self.start()
        while True:
            await wait_set(self.bus.changed, self.interval)
            self.bus.changed.clear()
            try:
                await self.follow_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken read must not end live events for good
                log.exception("reading the event feed failed")
                await asyncio.sleep(1.0)

    async def follow_once(self) -> int:
        """Deliver every row after ``position``; returns how many."""
        if self.position is None:
            await self.start()
        assert self.position is not None
        seen = 0
        entries = False
        while True:
            rows = await self.feed.events_after(self.position, self.batch)
            for row in rows:
                self.position = row.id
                entries = entries or row.family == "entry"
                await deliver_safely(self.bus, row)
            seen += len(rows)
            if len(rows) < self.batch:
                break
        self.delivered += seen
        if entries and self.on_entries is not None:
            self.on_entries()
        return seen
