"""The embedded store: one SQLite file in WAL mode, never blocking the event loop.

``SqliteStore`` is the composition of the repository classes (one per aggregate, each in
its own ``sqlite_*`` module and each usable on its own over a ``SqliteDb``) over one
database handle: reads go to its reader pool, writes through its single writer with group
commit (``timeline/sqlite_db.py``). Only the composition root imports this module; everyone
else receives the narrow protocol it uses (``timeline/repositories.py``)."""

from __future__ import annotations

from pathlib import Path

from timeline.sqlite_accounts import SqliteAccounts
from timeline.sqlite_customers import SqliteCustomers
from timeline.sqlite_db import SqliteDb
from timeline.sqlite_entries import SqliteEntries
from timeline.sqlite_events import SqliteEvents
from timeline.sqlite_inbound import SqliteInbound
from timeline.sqlite_notify import SqliteNotify
from timeline.sqlite_offices import SqliteOffices
from timeline.sqlite_policy import SqlitePolicy
from timeline.sqlite_privacy import SqlitePrivacy
from timeline.sqlite_schema import MIGRATIONS

REPOSITORIES = (SqliteOffices, SqliteAccounts, SqliteCustomers, SqliteEntries, SqliteInbound,
                SqlitePolicy, SqliteNotify, SqlitePrivacy, SqliteEvents)
"""The repository classes ``SqliteStore`` is made of (each takes the one ``SqliteDb``)."""


CHANGE_COUNT = "SELECT n FROM lookup_changes"
"""Raised by triggers with every change of customers, identities and entries (migration
19): what a caller lookup shows (``Store.change_token``, ``chronik.answers``)."""


class SqliteStore(SqliteOffices, SqliteAccounts, SqliteCustomers, SqliteEntries, SqliteInbound,
                  SqlitePolicy, SqliteNotify, SqlitePrivacy, SqliteEvents):
    """``timeline.store.Store`` on SQLite: every repository over one ``SqliteDb``."""

    def __init__(self, path: Path, *, readers: int = 4) -> None:
        super().__init__(SqliteDb(path, MIGRATIONS, readers=readers, name="store",
                                  change_count=CHANGE_COUNT))

    async def open(self) -> None:
        await self.db.open()
        # freed cells are zeroed, so an updated or erased row leaves no copy (invariant 7)
        await self.db.write_raw(lambda c: c.execute("PRAGMA secure_delete=ON"))

    async def close(self) -> None:
        await self.db.close()

    def change_token(self) -> int | None:
        return self.db.change_token()


__all__ = ["REPOSITORIES", "SqliteStore"]
