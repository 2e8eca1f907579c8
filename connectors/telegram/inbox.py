"""Received Telegram updates: stored first, processed after, never lost to a failure.

Telegram may deliver webhook updates in parallel (up to ``max_connections``), out of order,
and gives up on one it cannot deliver after some attempts; polling confirms an update with
the next ``getUpdates`` whatever became of it. So every update is written to the store the
moment it arrives (:meth:`UpdateInbox.accept`; a redelivered ``update_id`` is recognised
there) and Telegram is told "received" only then. :meth:`UpdateInbox.run` drains the stored
updates in ``update_id`` order per chat: an update that fails for a while (a file download
hitting Telegram's 429/5xx/timeouts) is retried with backoff and holds back the later
updates of its chat only; what can never succeed is quarantined by the handler."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from connectors.telegram.errors import TelegramUnavailable
from timeline.models import utcnow
from timeline.repositories import ReceivedUpdate, TelegramUpdateStore
from timeline.waiting import wait_set

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
KEEP_IDS = timedelta(hours=48)
"""Processed update ids are remembered this long (Telegram keeps an update 24 hours)."""
PRUNE_EVERY = timedelta(hours=1)
IDLE_SECONDS = 30.0

Handler = Callable[[ReceivedUpdate], Awaitable[None]]
"""Processes one update (quarantining what can never succeed); raises
:class:`TelegramUnavailable` to have it retried later."""


def backoff(attempts: int, retry_after: float | None) -> float:
    delay: float = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2.0 ** max(0, attempts - 1))
    delay *= 0.8 + 0.4 * random.random()  # noqa: S311  (jitter, not crypto)
    return max(delay, retry_after or 0.0)


class UpdateInbox:
    def __init__(self, store: TelegramUpdateStore, bot_id: int, *,
                 reorder_seconds: float = 0.0, idle_seconds: float | None = None) -> None:
        self.store = store
        self.bot_id = bot_id
        self.reorder_seconds = reorder_seconds
        self.idle_seconds = idle_seconds or IDLE_SECONDS
        """How long :meth:`run` waits when nothing is due and nobody woke it."""
        self.waiting = 0
        """Stored updates not processed yet (as of the last drain)."""
        self.last_error: str | None = None
        self.retries = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._pruned_at: datetime | None = None

    async def accept(self, office_id: str, update_id: int, chat_id: int | None, raw: bytes
                     ) -> bool:
        """Store one update; ``False`` if it was received before."""
        new = await self.store.add_telegram_update(office_id, self.bot_id, update_id, chat_id,
                                                   raw, utcnow())
        if new:
            self.waiting += 1
            self._wake.set()
        return new

    def stop_soon(self) -> None:
        """Let :meth:`run` return after the update it is working on."""
        self._stopping = True
        self._wake.set()

    async def run(self, office_id: str, handle: Handler) -> None:
        self._stopping = False
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self.drain(office_id, handle)
            except Exception:  # the store failed: try again in a while, lose nothing
                log.exception("draining received Telegram updates failed")
                wait = RETRY_BASE_SECONDS
            if self._stopping:
                break
            await wait_set(self._wake, min(wait or self.idle_seconds, self.idle_seconds))

    async def drain(self, office_id: str, handle: Handler) -> float | None:
        """Process every update that is due, oldest first per chat; returns the seconds
        until the next one will be due (``None``: nothing waits)."""
        await self._prune()
        rows = await self.store.pending_telegram_updates(office_id, self.bot_id)
        self.waiting = len(rows)
        held: set[int | None] = set()
        soonest: float | None = None
        for row in rows:
            if self._stopping:
                break
            if row.chat_id in held:
                continue
            now = utcnow()
            due = max(row.next_at, row.received_at + timedelta(seconds=self.reorder_seconds))
            if due > now:
                held.add(row.chat_id)  # later updates of this chat wait behind it
                soonest = _sooner(soonest, (due - now).total_seconds())
                continue
            try:
                await handle(row)
            except TelegramUnavailable as exc:
                held.add(row.chat_id)
                delay = backoff(row.attempts + 1, exc.retry_after)
                self.retries += 1
                self.last_error = str(exc)
                log.warning("telegram update %s: %s; retrying in %.1fs", row.update_id, exc,
                            delay)
                await self.store.retry_telegram_update(
                    office_id, self.bot_id, row.update_id,
                    utcnow() + timedelta(seconds=delay), str(exc))
                soonest = _sooner(soonest, delay)
                continue
            await self.store.finish_telegram_update(office_id, self.bot_id, row.update_id)
            self.waiting = max(0, self.waiting - 1)
        return soonest

    async def _prune(self) -> None:
        now = utcnow()
        if self._pruned_at is None or now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            await self.store.prune_telegram_updates(now - KEEP_IDS)

    def diagnostics(self) -> dict[str, object]:
        return {"waiting": self.waiting, "retries": self.retries, "last_error": self.last_error}


def _sooner(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)
