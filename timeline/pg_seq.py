"""Entry keys on PostgreSQL with many concurrent writers.

``entries.seq`` is ``occurred_ms * SEQ_SLOTS + n`` (``timeline/ids.py``): newest-first order,
date ranges as key ranges and the search document id all rest on it, so it cannot be an
identity column. SQLite's ``max(seq) + 1`` within the millisecond is safe there only because
one writer thread exists. Here a writer first takes a transaction-scoped advisory lock per
millisecond it writes (``pg_advisory_xact_lock(occurred_ms)``, in ascending order, so two
writers never deadlock), then reads ``max(seq)`` of that millisecond: a second writer of the
same millisecond waits until the first commits or rolls back and then sees its keys. Writers
of different milliseconds never wait for each other.

A key is still taken before its transaction commits, so readers never follow ``seq`` upwards
to find changes (the live feed reads finished transactions only, ``timeline/pg_events.py``;
indexing claims its outbox rows). Keyset pages over ``seq`` stay stable: a later commit only
adds rows, it never moves one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import Conflict
from timeline.ids import SEQ_SLOTS
from timeline.sql_tables import entries

_MS = sa.func.unnest(sa.bindparam("ms", type_=postgresql.ARRAY(sa.BigInteger))
                     ).column_valued("ms")
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(_MS))
"""All of a batch's locks in one statement: ``unnest`` yields the (ascending) array in order."""
_BASE = sa.func.unnest(sa.bindparam("bases", type_=postgresql.ARRAY(sa.BigInteger))
                       ).column_valued("base")
_TOPS = sa.select(_BASE, sa.select(sa.func.max(entries.c.seq)).where(
    entries.c.seq >= _BASE, entries.c.seq < _BASE + SEQ_SLOTS).scalar_subquery())


async def allocate_seqs(conn: AsyncConnection, bases: Sequence[int]) -> list[int]:
    """One new key per item of ``bases`` (each a ``seq_base``: ``occurred_ms * SEQ_SLOTS``),
    in order, inside the caller's transaction; the locks are held until it ends. Two
    statements whatever the batch (a mail import's batch has a millisecond per message)."""
    distinct = sorted(set(bases))
    if not distinct:
        return []
    await conn.execute(_LOCK, {"ms": [base // SEQ_SLOTS for base in distinct]})
    top: dict[int, int] = {
        int(base): int(base) - 1 if high is None else int(high)
        for base, high in (await conn.execute(_TOPS, {"bases": distinct})).all()}
    out: list[int] = []
    for base in bases:
        seq = top[base] + 1
        if seq >= base + SEQ_SLOTS:
            raise Conflict(f"more than {SEQ_SLOTS} entries in one millisecond")
        top[base] = seq
        out.append(seq)
    return out
