"""``empty_all_tables`` (what every app-level test on PostgreSQL starts from, and the store
contract's PostgreSQL half) leaves the database as a fresh migrated one: no rows anywhere,
identities from 1 again -- also of a table whose rows were deleted since."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.postgres import _dsn, empty_all_tables, fresh_database
from timeline.pg_migrate import upgrade
from timeline.sql_tables import metadata


@pytest.fixture
async def db() -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    async with fresh_database() as url:
        await upgrade(url)
        conn = await asyncpg.connect(_dsn(url))
        try:
            yield url, conn
        finally:
            await conn.close()


async def _event(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(
        "INSERT INTO events (office_id, type, at) VALUES ('o1', 'entry.created', now()) "
        "RETURNING id"))


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t.name: int(await conn.fetchval(f'SELECT count(*) FROM "{t.name}"'))
            for t in metadata.sorted_tables}


async def test_rows_and_used_identities_are_gone(db: tuple[str, asyncpg.Connection]
                                                 ) -> None:
    url, conn = db
    await conn.execute("INSERT INTO offices (id, name, region, created_at) "
                       "VALUES ('o1', 'Büro', 'DE', now())")
    assert [await _event(conn) for _ in range(3)] == [1, 2, 3]
    await empty_all_tables(url)
    assert set((await _counts(conn)).values()) == {0}
    assert await _event(conn) == 1

    await conn.execute("DELETE FROM events")  # empty, but its identity has moved on
    await empty_all_tables(url)
    assert await _event(conn) == 1
    await empty_all_tables(url)  # and what nothing touched stays as it is
    assert set((await _counts(conn)).values()) == {0}
