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
    """A row of ``sa.select(entries)`` (or an asyncpg ``Record`` of the same columns) read
    by position (the columns' order in ``sql_tables``) as the model; our own rows need no
    validation (as ``sqlite_rows.entry_from_row``). Reading by position costs a tenth of
    reading a ``RowMapping`` by name, and unpacking the row at once a quarter less than
    indexing a ``Record`` nineteen times, which matters for a page of 50 entries."""
    (seq, entry_id, office_id, customer_id, channel, direction, kind, author, visibility,
     notify, occurred_at, recorded_at, subject, body, html, attachments, tags, source_id,
     meta) = row
    return construct_entry({
        "office_id": office_id, "customer_id": customer_id, "channel": CHANNELS[channel],
        "direction": DIRECTIONS[direction], "kind": kind, "author": author,
        "visibility": VISIBILITIES[visibility], "notify": bool(notify),
        "occurred_at": occurred_at, "subject": subject, "body": body, "html": html,
        "attachments": tuple(map(construct_attachment, attachments)) if attachments else (),
        "tags": tuple(tags), "source_id": source_id, "meta": meta,
        "id": entry_id, "seq": seq, "recorded_at": recorded_at,
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
