"""The store on PostgreSQL (``CHRONIK_DATABASE_URL=postgresql://…``): every ``pg_*``
repository over one ``PgDb``, composed like ``SqliteStore``. The contract suite
(``tests/store_contract``) runs each of its modules on PostgreSQL once the repositories it
covers are all here."""

from __future__ import annotations

from timeline.pg_accounts import PgAccounts
from timeline.pg_customers import PgCustomers
from timeline.pg_db import PgDb
from timeline.pg_entries import PgEntries
from timeline.pg_events import PgEventFeed
from timeline.pg_inbound import PgInbound
from timeline.pg_notify import PgNotify
from timeline.pg_offices import PgOffices
from timeline.pg_policy import PgPolicy
from timeline.pg_privacy import PgPrivacy

REPOSITORIES: tuple[type, ...] = (PgOffices, PgAccounts, PgCustomers, PgEntries, PgInbound,
                                  PgPolicy, PgNotify, PgPrivacy, PgEventFeed)


class PgStore(PgOffices, PgAccounts, PgCustomers, PgEntries, PgInbound, PgPolicy, PgNotify,
              PgPrivacy, PgEventFeed):
    """``timeline.store.Store`` on PostgreSQL: every repository over one ``PgDb``."""

    def __init__(self, url: str) -> None:
        super().__init__(PgDb(url))

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    def change_token(self) -> None:
        """PostgreSQL's change feed (``NOTIFY``) names the changes live views show, not
        every change: nothing is known unchanged, nothing is kept."""
        return None


__all__ = ["REPOSITORIES", "PgStore"]
