"""The store boundary. ``timeline.repositories`` cuts it into one Protocol per aggregate
(what each consumer receives); ``Store`` is their union with the lifecycle, for the
composition root and the tests. Implemented on SQLite by ``timeline.sqlite_store.SqliteStore``
(one ``timeline.sqlite_*`` repository class per aggregate over one ``SqliteDb``); the
contract suites run against it."""

from __future__ import annotations

from typing import Protocol

from timeline.accounts import AccountStore
from timeline.events import EventFeed
from timeline.repositories import (
    CallRepository,
    CustomerListQuery,
    CustomerRepository,
    EntryContext,
    EntryRepository,
    InboundRepository,
    IndexTask,
    IngestStore,
    NotifyRepository,
    NotifyStore,
    OfficeRepository,
    PolicyRepository,
    PortalInbox,
    PrivacyRepository,
    PrivacyStore,
    ReceivedUpdate,
    SuppressionList,
    TelegramUpdateStore,
    TimelineQuery,
    TimelineStore,
)


class Store(OfficeRepository, AccountStore, CustomerRepository, EntryRepository,
            InboundRepository, PolicyRepository, NotifyRepository, PrivacyRepository,
            Protocol):
    """Every repository over one database, opened and closed as one. The live-event feed
    is not part of it: each database has its own change feed (SQLite: ``EventFeed``, the
    ``events`` table read by id; PostgreSQL: ``timeline.pg_events.PgEventFollower``, by
    finished transaction, woken by ``NOTIFY``), chosen by the composition root."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    def change_token(self) -> object | None:
        """A value that differs once anything in the store changed after it was taken (by
        this process at once, by others within a fraction of a second), so an answer
        read after taking it may be kept while it holds; ``None``: this store cannot tell
        now, keep nothing. Taken on the event loop: no I/O."""
        ...


__all__ = [
    "AccountStore", "CallRepository", "CustomerListQuery", "CustomerRepository",
    "EntryContext", "EntryRepository", "EventFeed", "InboundRepository", "IndexTask",
    "IngestStore", "NotifyRepository", "NotifyStore", "OfficeRepository", "PolicyRepository",
    "PortalInbox", "PrivacyRepository", "PrivacyStore", "ReceivedUpdate", "Store",
    "SuppressionList", "TelegramUpdateStore", "TimelineQuery", "TimelineStore",
]
