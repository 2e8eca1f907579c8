"""In-process event bus per office: ``entry.created``, ``call.ringing``, … for live views.

Subscribers get a bounded queue; a slow subscriber loses its oldest events, never blocks the
publisher (a live view can always reload the timeline)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    office_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}

    def publish(self, event: Event) -> None:
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
