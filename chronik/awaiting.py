"""The office's customers waiting for a reply (``timeline.replies``), shared by every agent's
page in this process.

Every open start page and ``/waiting`` page reloads the list when an entry is written (the
event stream), so in a busy office dozens of pages ask for the same list within the same
second. :class:`WaitingLists` answers them from one query: concurrent requests for the same
office and period share the query in flight, and its result is kept until something changes
— an entry written or changed in this process (the timeline's listener: new entries, merges,
erasure, revisions), an event from another process (the event bus: what the live views
reload on) — or for :data:`TTL` seconds at most (writes of processes that this one has no
live view for, and the window moving on)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from cachetools import TTLCache

from chronik.state import AppState
from timeline.events import Event
from timeline.models import Entry, utcnow

PERIODS = (7, 30, 90, 365)
"""Days back the console offers to look (the API takes any number from 1 to 365)."""
DEFAULT_DAYS = 30
TTL = 5.0
"""Seconds a list is kept at most."""
MAX_ROWS = 500
"""Rows a list holds at most (the longest waiting)."""
MAX_KEPT = 256
"""Lists kept at once (offices × periods; the least recently used goes first)."""

_Key = tuple[str, int]


class WaitingLists:
    def __init__(self, state: AppState, ttl: float = TTL) -> None:
        self._state = state
        self._kept: TTLCache[_Key, list[Entry]] = TTLCache(
            maxsize=MAX_KEPT, ttl=ttl, timer=time.monotonic)
        self._flights: dict[_Key, asyncio.Future[list[Entry]]] = {}
        self._generation = 0
        state.timeline.subscribe(lambda _entry: self.forget())
        state.events.watch(self._event)

    def _event(self, event: Event) -> None:
        if event.type.startswith("entry."):
            self.forget()

    def forget(self) -> None:
        """Something changed: the next request reads the store again (a read already
        under way finishes for those who asked before, and is not kept)."""
        self._kept.clear()
        self._flights.clear()
        self._generation += 1

    async def get(self, office_id: str, days: int) -> list[Entry]:
        """Oldest first, at most :data:`MAX_ROWS`, looking back ``days``."""
        key = (office_id, days)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._read(key, self._generation))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    async def _read(self, key: _Key, generation: int) -> list[Entry]:
        office_id, days = key
        entries = await self._state.store.awaiting_reply(
            office_id, utcnow() - timedelta(days=days), MAX_ROWS)
        if generation == self._generation:  # nothing changed while reading
            self._kept[key] = entries
        return entries

    def _landed(self, key: _Key, done: asyncio.Future[list[Entry]]) -> None:
        if self._flights.get(key) is done:
            del self._flights[key]
        if not done.cancelled():
            done.exception()  # a failed read was seen by whoever awaited it


def waiting_lists(state: AppState) -> WaitingLists:
    """This app's lists (made on first use)."""
    if state.waiting is None:
        state.waiting = WaitingLists(state)
    return state.waiting
