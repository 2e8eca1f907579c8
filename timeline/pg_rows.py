"""What the PostgreSQL repositories share: the base class holding the one database handle,
and row helpers (rows to models). Every ``pg_*`` repository module imports from here (and
from ``sql_tables``), none from another repository or from the composition (``pg_store``),
so each repository class works on its own over a ``PgDb``.

Rows differ from SQLite's: timestamps come back as aware ``datetime`` (``TIMESTAMPTZ``),
JSON columns as Python values (``JSONB``), flags as ``bool``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import (
    Entry,
    Office,
)
from timeline.pg_db import PgDb
from timeline.sql_tables import entries
from timeline.sqlite_rows import (
    CHANNELS,
    DIRECTIONS,
    VISIBILITIES,
    construct_attachment,
    construct_entry,
)


class PgRepository:
    """One repository over a shared ``PgDb``, opened and closed by whoever made it
    (``PgStore``, or a test)."""

    def __init__(self, db: PgDb) -> None:
        self.db = db


def office_from_row(row: Mapping[Any, Any]) -> Office:
    return Office(id=row["id"], name=row["name"], region=row["region"],
                  created_at=row["created_at"])


def entry_from_row(row: Mapping[Any, Any]) -> Entry:
    """An ``entries`` row (all columns, by name) as the model (``entry_from_tuple``)."""
    return entry_from_tuple([row[name] for name in _ENTRY_NAMES])


_ENTRY_NAMES = tuple(c.name for c in entries.c)


def entry_from_tuple(row: Sequence[Any]) -> Entry:
    """A row of ``sa.select(entries)`` read by position (the columns' order in
    ``sql_tables``) as the model; our own rows need no validation (as
    ``sqlite_rows.entry_from_row``). Reading by position costs a tenth of reading a
    ``RowMapping`` by name, which matters for a page of 50 entries."""
    return construct_entry({
        "office_id": row[2], "customer_id": row[3], "channel": CHANNELS[row[4]],
        "direction": DIRECTIONS[row[5]], "kind": row[6], "author": row[7],
        "visibility": VISIBILITIES[row[8]], "notify": bool(row[9]), "occurred_at": row[10],
        "subject": row[12], "body": row[13], "html": row[14],
        "attachments": tuple(construct_attachment(a) for a in row[15]),
        "tags": tuple(row[16]), "source_id": row[17], "meta": row[18],
        "id": row[1], "seq": row[0], "recorded_at": row[11],
    })


@asynccontextmanager
async def read_snapshot(db: PgDb) -> AsyncIterator[AsyncConnection]:
    """A read of several statements that all see one snapshot, as SQLite's read transaction
    does (``REPEATABLE READ``, read only; SQLAlchemy resets the level when the connection
    goes back to the pool). A plain ``db.connect()`` is ``READ COMMITTED``: each statement
    sees what had committed when it started."""
    async with db.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ",
                                     postgresql_readonly=True)
        yield conn
