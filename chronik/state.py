"""The typed state one running app holds (``app[STATE]``), built by the app factory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from chronik.components import Component, Supervisor
from chronik.settings import Settings
from search.backend import SearchBackend
from search.indexer import Indexer
from search.service import SearchService
from timeline.blobs import Blobs
from timeline.events import EventBus
from timeline.ingest import IngestService
from timeline.service import TimelineService
from timeline.store import Store

if TYPE_CHECKING:
    from chronik.api.base import Caller
    from chronik.awaiting import WaitingLists
    from connectors.phone import CtiService
    from connectors.portal import PortalSettings
    from timeline.privacy import PrivacyService


class TokenCache:
    """Bearer token -> caller, for a short while (a token check per request is one read)."""

    def __init__(self, ttl_seconds: float = 30.0, size: int = 1024) -> None:
        self.ttl = ttl_seconds
        self.size = size
        self._items: dict[str, tuple[float, Caller]] = {}

    def get(self, token: str) -> Caller | None:
        item = self._items.get(token)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, token: str, caller: Caller) -> None:
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[token] = (time.monotonic() + self.ttl, caller)

    def clear(self) -> None:
        self._items.clear()


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
    token_cache: TokenCache = field(default_factory=TokenCache)
    components: list[Component] = field(default_factory=list)
    """This process's components: run here (under ``supervisor``) or, in a process without
    the background work (``serve --no-workers``, ``--processes N`` beyond process 0), only
    built -- their HTTP side (the Telegram webhook and deep links) serves in every process."""
    supervisor: Supervisor | None = None
    cti: CtiService | None = None
    """The phone connector (built on first use by ``chronik.glue.phone.cti_service``)."""
    portal: PortalSettings | None = None
    """Portal API settings (read at start-up by ``chronik.glue.portal.components``)."""
    privacy: PrivacyService | None = None
    """Export and erasure (``chronik.privacy.install``, when the state is opened)."""
    waiting: WaitingLists | None = None
    """Customers waiting for a reply, per office (``chronik.awaiting``, made on
    first use)."""


STATE = web.AppKey("chronik", AppState)
