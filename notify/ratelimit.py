"""Rate limits per transport: an overall rate plus a minimum gap per recipient.

Slots are reserved without awaiting between reading and writing the schedule, so concurrent
senders on one event loop never share a slot."""

from __future__ import annotations

import asyncio


class RateLimiter:
    def __init__(self, per_second: float | None = None,
                 per_key_interval: float | None = None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self.per_key_interval = per_key_interval or 0.0
        self._next = 0.0
        self._next_by_key: dict[str, float] = {}

    def reserve(self, key: str, now: float) -> float:
        """Reserve the next slot for ``key``; returns how long to wait for it."""
        start = max(now, self._next, self._next_by_key.get(key, 0.0))
        if self.interval:
            self._next = start + self.interval
        if self.per_key_interval:
            self._next_by_key[key] = start + self.per_key_interval
            if len(self._next_by_key) > 10_000:
                self._next_by_key = {k: t for k, t in self._next_by_key.items() if t > now}
        return start - now

    async def acquire(self, key: str) -> None:
        delay = self.reserve(key, asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)
