"""What only PostgreSQL shows of the entries repository (``timeline/pg_entries.py``): with
several indexers on one database each index-outbox row is handed to one indexer at a time,
every row of one entry to the same one, a crashed indexer's rows come back after their lease,
and acknowledging "everything up to N" after a rebuild keeps a row that committed after N was
read; keys from a URL beyond ``BIGINT`` page like any other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.store_contract.helpers import T0, draft, seed
from timeline import pg_entries
from timeline.pg_migrate import database_url
from timeline.pg_store import PgStore
from timeline.repositories import TimelineQuery
from timeline.sql_tables import index_outbox


@pytest.fixture
async def stores(migrated: str) -> AsyncIterator[tuple[PgStore, PgStore]]:
    """Two handles on one database (two indexer processes)."""
    first, second = PgStore(migrated), PgStore(migrated)
    await first.open()
    await second.open()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url(migrated), poolclass=sa.NullPool)
    yield eng
    await eng.dispose()


async def test_two_indexers_get_disjoint_rows(stores: tuple[PgStore, PgStore]) -> None:
    a, b = stores
    s = await seed(a)
    made = await a.append_many([draft(s.office.id, s.customer.id, body=f"b{i}")
                                for i in range(10)])
    mine = await a.pending_index_tasks(4)
    theirs = await b.pending_index_tasks(100)
    assert len(mine) == 4 and len(theirs) == 6
    assert {t.seq for t in mine + theirs} == {e.seq for e, _ in made}
    # a handle gets its own rows again (a retry after a failed batch), nobody else's
    assert [t.outbox_id for t in await a.pending_index_tasks(100)] == [
        t.outbox_id for t in mine]
    await b.ack_index_tasks([t.outbox_id for t in theirs])
    assert await a.index_backlog() == (4, max(t.outbox_id for t in mine))


async def test_rows_of_one_entry_go_to_the_indexer_holding_it(
        stores: tuple[PgStore, PgStore]) -> None:
    """Otherwise the second indexer could index the newer text first and the first one
    overwrite it with the older."""
    a, b = stores
    s = await seed(a)
    entry, _ = await a.append(draft(s.office.id, s.customer.id, body="old"))
    other, _ = await a.append(draft(s.office.id, s.customer.id, body="other"))
    [held] = await a.pending_index_tasks(1)
    assert held.seq == entry.seq and held.entry is not None and held.entry.body == "old"
    await b.revise_entry(s.office.id, entry.id, body="new")
    assert [t.seq for t in await b.pending_index_tasks(10)] == [other.seq]
    await a.ack_index_tasks([held.outbox_id])
    later = [t for t in await b.pending_index_tasks(10) if t.seq == entry.seq]
    assert len(later) == 1 and later[0].entry is not None and later[0].entry.body == "new"


async def test_a_crashed_indexers_rows_come_back_after_the_lease(
        stores: tuple[PgStore, PgStore], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = stores
    s = await seed(a)
    await a.append_many([draft(s.office.id, s.customer.id, body=f"b{i}") for i in range(3)])
    assert len(await a.pending_index_tasks(10)) == 3
    assert await b.pending_index_tasks(10) == []
    monkeypatch.setattr(pg_entries, "INDEX_LEASE", timedelta(seconds=-1))
    assert len(await a.pending_index_tasks(10)) == 3  # claimed again, lease already over
    assert len(await b.pending_index_tasks(10)) == 3


async def test_ack_through_keeps_a_row_that_committed_after_the_backlog_was_read(
        stores: tuple[PgStore, PgStore], engine: AsyncEngine) -> None:
    a, _ = stores
    s = await seed(a)
    before, _ = await a.append(draft(s.office.id, s.customer.id, body="before"))
    async with engine.connect() as conn:
        slow = await conn.begin()  # a writer whose row gets the smaller id but commits last
        slow_id = await conn.scalar(sa.insert(index_outbox).values(seq=before.seq)
                                    .returning(index_outbox.c.id))
        after, _ = await a.append(draft(s.office.id, s.customer.id, body="after"))
        count, covered = await a.index_backlog()  # what a rebuild starting now covers
        assert count == 2 and slow_id is not None and slow_id < covered
        await slow.commit()
    assert await a.ack_index_through(covered) == 2
    assert [t.outbox_id for t in await a.pending_index_tasks(10)] == [slow_id]


async def test_cursors_beyond_bigint_are_no_error(stores: tuple[PgStore, PgStore]) -> None:
    """A cursor is any integer a URL holds (the portal accepts up to 29 digits)."""
    a, _ = stores
    s = await seed(a)
    made = await a.append_many([draft(s.office.id, s.customer.id, body=f"b{i}",
                                      occurred_at=T0 + timedelta(seconds=i)) for i in range(3)])
    newest_first = [e.seq for e, _ in reversed(made)]
    page = await a.timeline(s.office.id, s.customer.id, TimelineQuery(before_seq=10**28))
    assert [e.seq for e in page.items] == newest_first
    assert (await a.timeline(s.office.id, s.customer.id,
                             TimelineQuery(before_seq=-(10**28)))).items == []
    assert [e.seq for e in await a.scan_entries(-(10**28), 10)] == newest_first[::-1]
    assert await a.scan_entries(10**28, 10) == []
    assert [e.seq for e in await a.entries_by_seq(s.office.id, [10**28, made[0][0].seq])] == [
        made[0][0].seq]
