"""The PostgreSQL schema against the embedded one: same tables and columns (so the two cannot
drift), and what changes for many writers behaves as users need it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from timeline.ids import SEQ_SLOTS, seq_base
from timeline.pg_migrate import database_url
from timeline.pg_seq import allocate_seqs
from timeline.sql_tables import (
    PG_ONLY_COLUMNS,
    PG_ONLY_TABLES,
    entries,
    identities,
    privacy_access_log,
)
from timeline.sqlite_db import Migration, SqliteDb
from timeline.sqlite_schema import MIGRATIONS

SQLITE_ONLY_TABLES = {"sqlite_sequence", "schema_migrations", "lookup_changes"}
"""AUTOINCREMENT bookkeeping, the migration record (Alembic keeps ``alembic_version``) and
the count triggers raise for kept lookups (``SqliteDb.change_token``; PostgreSQL keeps
none)."""

Columns = dict[str, dict[str, tuple[bool, bool]]]
"""table -> column -> (nullable, part of the primary key)"""


async def sqlite_columns(path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> Columns:
    db = SqliteDb(path, migrations)
    await db.open()
    try:
        def read(conn: sqlite3.Connection) -> Columns:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")]
            out: Columns = {}
            for table in tables:
                if table in SQLITE_ONLY_TABLES:
                    continue
                # cid, name, type, notnull, default, pk; a lone INTEGER PRIMARY KEY (the
                # rowid) reports notnull=0 but can never be NULL
                out[table] = {r[1]: (not (r[3] or r[5]), bool(r[5]))
                              for r in conn.execute(f"PRAGMA table_info({table})")}
            return out
        return await db.read(read)
    finally:
        await db.close()


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url(migrated), pool_size=25)
    yield eng
    await eng.dispose()


async def pg_columns(engine: AsyncEngine) -> Columns:
    def read(conn: sa.Connection) -> Columns:
        insp = sa.inspect(conn)
        out: Columns = {}
        for table in insp.get_table_names():
            if table == "alembic_version" or table in PG_ONLY_TABLES:
                continue
            pk = set(insp.get_pk_constraint(table)["constrained_columns"])
            out[table] = {c["name"]: (bool(c["nullable"]), c["name"] in pk)
                          for c in insp.get_columns(table)
                          if (table, c["name"]) not in PG_ONLY_COLUMNS}
        return out
    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def test_same_tables_and_columns_as_the_embedded_schema(
        engine: AsyncEngine, tmp_path: Path) -> None:
    lite = await sqlite_columns(tmp_path / "store.sqlite3")
    pg = await pg_columns(engine)
    assert drift(lite, pg) == []


def drift(lite: Columns, pg: Columns) -> list[str]:
    out = [f"table {t} only on SQLite" for t in sorted(set(lite) - set(pg))]
    out += [f"table {t} only on PostgreSQL" for t in sorted(set(pg) - set(lite))]
    for table in sorted(set(lite) & set(pg)):
        for col in sorted(set(lite[table]) | set(pg[table])):
            if lite[table].get(col) != pg[table].get(col):
                out.append(f"{table}.{col}: SQLite {lite[table].get(col)} "
                           f"PostgreSQL {pg[table].get(col)} (nullable, primary key)")
    return out


async def test_the_comparison_sees_a_new_sqlite_migration(
        engine: AsyncEngine, tmp_path: Path) -> None:
    """A SQLite migration without its Alembic revision is caught."""
    later = [*MIGRATIONS, (10_000, "ALTER TABLE entries ADD COLUMN pinned INTEGER;\n"
                                   "CREATE TABLE reminders (id TEXT PRIMARY KEY);")]
    lite = await sqlite_columns(tmp_path / "later.sqlite3", later)
    assert drift(lite, await pg_columns(engine)) == [
        "table reminders only on SQLite",
        "entries.pinned: SQLite (True, False) PostgreSQL None (nullable, primary key)"]


def entry_row(seq: int, entry_id: str, source_id: str | None = None,
              occurred_at: datetime | None = None) -> dict[str, object]:
    at = occurred_at or datetime.fromisoformat("2026-03-01T10:00:00+00:00")
    return {"seq": seq, "id": entry_id, "office_id": "o1", "customer_id": "c1",
            "channel": "email", "direction": "in", "kind": "message", "author": None,
            "visibility": "internal", "notify": False, "occurred_at": at, "recorded_at": at,
            "subject": "s", "body": "b", "html": None, "attachments": [], "tags": [],
            "source_id": source_id, "meta": {}}


async def test_the_same_source_message_twice_gives_one_entry(engine: AsyncEngine) -> None:
    """SQLite's ``ON CONFLICT (office_id, channel, source_id) WHERE source_id IS NOT NULL DO
    NOTHING`` works unchanged on the partial unique index."""
    stmt = insert(entries).on_conflict_do_nothing(
        index_elements=["office_id", "channel", "source_id"],
        index_where=entries.c.source_id.is_not(None)).returning(entries.c.id)
    async with engine.begin() as conn:
        first = (await conn.execute(stmt, entry_row(1, "e1", "<m1@x>"))).scalars().all()
        again = (await conn.execute(stmt, entry_row(2, "e2", "<m1@x>"))).scalars().all()
        other = (await conn.execute(stmt, entry_row(3, "e3", None))).scalars().all()
        also = (await conn.execute(stmt, entry_row(4, "e4", None))).scalars().all()
        count = await conn.scalar(sa.select(sa.func.count()).select_from(entries))
    assert (first, again, other, also, count) == (["e1"], [], ["e3"], ["e4"], 3)


async def test_insert_or_ignore_becomes_on_conflict_do_nothing(engine: AsyncEngine) -> None:
    """``identities`` keeps one row per (customer, kind, value), as ``INSERT OR IGNORE``."""
    async with engine.begin() as conn:
        await conn.execute(sa.text(
            "INSERT INTO offices VALUES ('o1', 'Office', 'DE', now()),"
            " ('o2', 'Other', 'DE', now())"))
        await conn.execute(sa.text(
            "INSERT INTO customers (id, office_id, name, name_fold, status, created_at, "
            "updated_at) VALUES ('c1', 'o1', 'A', 'a', 'active', now(), now())"))
        row = {"office_id": "o1", "customer_id": "c1", "kind": "phone", "value": "+4930"}
        stmt = insert(identities).on_conflict_do_nothing().returning(identities.c.id)
        first = (await conn.execute(stmt, row)).scalars().all()
        again = (await conn.execute(stmt, row)).scalars().all()
    assert len(first) == 1 and again == []


async def test_timestamps_compare_as_instants_not_as_text(engine: AsyncEngine) -> None:
    """On SQLite ``'…T10:00+01:00' < '…T09:30+00:00'`` is false as text; here 09:00 UTC is
    before 09:30 UTC, whatever offset the writer used."""
    early = datetime.fromisoformat("2026-03-01T10:00:00+01:00")
    late = datetime.fromisoformat("2026-03-01T09:30:00+00:00")
    assert early.isoformat() > late.isoformat()  # the text order SQLite would use
    log = privacy_access_log
    async with engine.begin() as conn:
        for name, at in (("early", early), ("late", late)):
            await conn.execute(sa.insert(log).values(
                id=name, office_id="o1", agent_id="a1", action="view", customer_id="c1",
                at=at, expires_at=at))
        cutoff = datetime.fromisoformat("2026-03-01T09:15:00+00:00")
        expired = (await conn.execute(sa.select(log.c.id).where(log.c.expires_at < cutoff))
                   ).scalars().all()
    assert expired == ["early"]


async def test_concurrent_writers_of_one_millisecond_get_distinct_ordered_keys(
        engine: AsyncEngine) -> None:
    """Twenty transactions at once, each writing five entries of the same millisecond:
    every key distinct, all in that millisecond's range, none lost."""
    when = datetime.fromisoformat("2026-03-01T10:00:00.123+00:00")
    base = seq_base(when)

    async def writer(n: int) -> list[int]:
        async with engine.begin() as conn:
            seqs = await allocate_seqs(conn, [base] * 5)
            await conn.execute(sa.insert(entries), [
                entry_row(seq, f"w{n}-{i}", occurred_at=when) for i, seq in enumerate(seqs)])
            return seqs

    results = await asyncio.gather(*(writer(n) for n in range(20)))
    everything = [seq for seqs in results for seq in seqs]
    assert sorted(everything) == list(range(base, base + 100))
    assert all(seqs == sorted(seqs) for seqs in results)  # one writer's entries keep order
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(entries.c.seq).order_by(entries.c.seq))
                  ).scalars().all()
    assert stored == list(range(base, base + 100))
    assert all(seq // SEQ_SLOTS == base // SEQ_SLOTS for seq in stored)


async def test_a_rolled_back_writer_frees_its_keys(engine: AsyncEngine) -> None:
    when = datetime.fromisoformat("2026-03-01T10:00:00.5+00:00")
    base = seq_base(when)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await conn.execute(sa.insert(entries), [
                entry_row(s, "gone", occurred_at=when)
                for s in await allocate_seqs(conn, [base])])
            raise RuntimeError("the use case failed")
    async with engine.begin() as conn:
        assert await allocate_seqs(conn, [base, base]) == [base, base + 1]
