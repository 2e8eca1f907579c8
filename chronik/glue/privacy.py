"""Glue for data protection's scheduled work: the retention job as a supervised component
(in ``chronik serve`` every ``CHRONIK_RETENTION_INTERVAL_HOURS``, default 24; 0 = off, then
run ``chronik retention`` from cron).

One run applies the ``delete`` retention rules of every office, removes exports older than
7 days, prunes the expired rows of the access record and forgets CTI call states older than
7 days; when anything was deleted it
ends with the same clean-up as an erasure (``scrub_after_erasure``: index drop rows, backend
compaction, WAL checkpoint). Its diagnostics show the last run with counts only."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chronik import privacy
from timeline.models import utcnow
from timeline.privacy import CALL_STATE_KEEP

if TYPE_CHECKING:
    from chronik.components import Component
    from chronik.state import AppState

log = logging.getLogger(__name__)

FIRST_RUN_DELAY = 300.0
"""Seconds after start before the first run (never at start: a restart loop must not turn
into a retention loop); a shorter interval wins."""


class RetentionComponent:
    kind = "worker"
    name = "retention"

    def __init__(self, state: AppState, interval_seconds: float,
                 first_delay_seconds: float | None = None,
                 call_state_keep: timedelta = CALL_STATE_KEEP) -> None:
        self.state = state
        self.call_state_keep = call_state_keep
        self.interval = interval_seconds
        self.first_delay = (min(FIRST_RUN_DELAY, interval_seconds)
                            if first_delay_seconds is None else first_delay_seconds)
        self.runs = 0
        self.last_run: dict[str, Any] | None = None
        self.next_run_at: datetime | None = None

    async def run(self) -> None:
        delay = self.first_delay
        while True:
            self.next_run_at = utcnow() + timedelta(seconds=delay)
            await asyncio.sleep(delay)
            await self.run_once()
            delay = self.interval

    async def run_once(self) -> dict[str, Any]:
        """Apply every office's rules once; the summary (counts only) is the last run."""
        state = self.state
        service = await privacy.service(state)
        started = utcnow()
        deleted: dict[str, int] = {}
        for office in await state.store.list_offices():
            deleted[office.id] = len(await service.retention(office, dry_run=False))
        exports = await service.purge_expired_exports()
        pruned = await service.prune_access_log()
        calls = await service.prune_call_states(self.call_state_keep)
        if sum(deleted.values()) or exports or pruned or calls:
            await privacy.scrub_after_erasure(state)
        self.runs += 1
        self.last_run = {"at": started.isoformat(), "deleted_entries": deleted,
                         "expired_exports": exports, "access_log_pruned": pruned,
                         "call_states_pruned": calls}
        log.info("retention run: %d entries deleted in %d offices, %d expired exports, "
                 "%d access-record rows pruned", sum(deleted.values()),
                 sum(1 for n in deleted.values() if n), exports, pruned)
        return self.last_run

    def diagnostics(self) -> dict[str, Any]:
        return {"interval_hours": round(self.interval / 3600, 4),
                "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
                "runs": self.runs, "last_run": self.last_run}


def components(state: AppState) -> list[Component]:
    """The retention job, unless ``CHRONIK_RETENTION_INTERVAL_HOURS=0``."""
    hours = state.settings.retention_interval_hours
    if hours <= 0:
        return []
    return [RetentionComponent(state, hours * 3600)]
