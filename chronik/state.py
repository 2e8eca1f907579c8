"""The typed state one running app holds (``app[STATE]``), built by the app factory."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from cachetools import TTLCache

from chronik.answers import Answers
from chronik.components import Component, Supervisor
from chronik.settings import Settings
from search.backend import SearchBackend
from search.indexer import Indexer
from search.service import SearchService
from timeline.accounts import REVOCATION_EVENT
from timeline.blobs import Blobs
from timeline.events import EventBus, StoredEvent
from timeline.ingest import IngestService
from timeline.service import TimelineService
from timeline.store import Store

if TYPE_CHECKING:
    from chronik.api.base import Caller
    from chronik.awaiting import WaitingLists
    from connectors.phone import CtiService
    from connectors.portal import PortalSettings
    from timeline.models import Entry
    from timeline.privacy import PrivacyService


TOKEN_TTL = 30.0
"""Seconds a checked bearer token is trusted without reading the store again (a token check
per request would be one read). A revoked token is forgotten sooner: at once by the process
that revokes it, and by every other within moments, through the store's change feed
(:meth:`AppState.token_revoked`); the TTL is the fallback should the feed stall."""


def token_cache() -> TTLCache[str, Caller]:
    """Bearer token -> caller."""
    return TTLCache(maxsize=1024, ttl=TOKEN_TTL, timer=time.monotonic)


@dataclass
class AppState:
    settings: Settings
    store: Store
    blobs: Blobs
    timeline: TimelineService[Store]
    backend: SearchBackend
    search: SearchService
    indexer: Indexer
    ingest: IngestService
    events: EventBus
    token_cache: TTLCache[str, Caller] = field(default_factory=token_cache)
    lookups: Answers = field(default_factory=Answers)
    """Caller lookups' answers while the store is unchanged (``chronik.answers``)."""
    components: list[Component] = field(default_factory=list)
    """This process's components: run here (under ``supervisor``) or, in a process without
    the background work (``serve --no-workers``, ``--processes N`` beyond process 0), only
    built -- their HTTP side (the Telegram webhook and deep links) serves in every process."""
    supervisor: Supervisor | None = None
    background_started: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while this process runs the background work (``chronik.app.run_background``)."""
    cti: CtiService | None = None
    """The phone connector (built on first use by ``chronik.glue.phone.cti_service``)."""
    portal: PortalSettings | None = None
    """Portal API settings (read at start-up by ``chronik.glue.portal.components``)."""
    privacy: PrivacyService | None = None
    """Export and erasure (``chronik.privacy.install``, when the state is opened)."""
    waiting: WaitingLists | None = None
    """Customers waiting for a reply, per office (``chronik.awaiting``, made on
    first use)."""

    def __post_init__(self) -> None:
        self.events.keep(REVOCATION_EVENT.partition(".")[0], self.token_revoked)
        self.timeline.subscribe(self._bulk_change)

    def _bulk_change(self, entry: Entry | None) -> None:
        """``None``: entries changed in bulk (an erasure, a move, a merge): kept lookup
        answers go at once (a later lookup would not serve them, the store's change count
        moved; an erased person's must not wait for it in memory)."""
        if entry is None:
            self.lookups.clear()

    def token_revoked(self, row: StoredEvent) -> None:
        """An API token was revoked (by any process, the CLI included): forget it here,
        instead of trusting it until :data:`TOKEN_TTL` runs out. A row that does not say
        which token forgets every cached one."""
        from chronik.api.base import hash_token

        token_id = row.data.get("token_id") if row.type == REVOCATION_EVENT else None
        for token in list(self.token_cache):
            if not isinstance(token_id, str) or hash_token(token).startswith(token_id):
                self.token_cache.pop(token, None)


STATE = web.AppKey("chronik", AppState)
