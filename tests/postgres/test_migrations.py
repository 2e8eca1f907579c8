"""The Alembic migrations: they build the schema of ``timeline/sql_tables.py`` on an empty
database, a second run changes nothing, concurrent runs do not collide."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from timeline.errors import InvalidInput
from timeline.pg_migrate import current_revision, database_url, head_revision, main, upgrade
from timeline.sql_tables import metadata, offices


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url(pg_url), poolclass=sa.NullPool)
    yield eng
    await eng.dispose()


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_upgrade_builds_every_table_on_an_empty_database(
        pg_url: str, engine: AsyncEngine) -> None:
    assert await current_revision(pg_url) is None
    assert await table_names(engine) == set()
    await upgrade(pg_url)
    assert await current_revision(pg_url) == head_revision()
    assert await table_names(engine) == set(metadata.tables) | {"alembic_version"}


async def test_migrated_schema_is_exactly_the_metadata(pg_url: str, engine: AsyncEngine) -> None:
    """Migrations and ``sql_tables`` cannot drift: autogenerate finds nothing to add."""
    await upgrade(pg_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(
            MigrationContext.configure(c, opts={"compare_type": True,
                                                "compare_server_default": True}),
            metadata))
    assert diff == []


async def test_second_upgrade_changes_nothing(pg_url: str, engine: AsyncEngine) -> None:
    await upgrade(pg_url)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(offices).values(
            id="o1", name="Office", region="DE", created_at=datetime.now(UTC)))
    await upgrade(pg_url)
    assert await current_revision(pg_url) == head_revision()
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(offices.c.id))).scalars().all() == ["o1"]


async def test_processes_upgrading_at_once_all_succeed(pg_url: str, engine: AsyncEngine) -> None:
    """Several processes starting at once: the advisory lock lets one migrate, the others
    then find the schema at head."""
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "timeline.pg_migrate", "upgrade", pg_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(3)]
    outs = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert all(out.decode().strip() == f"at {head_revision()}" for out, _ in outs)
    assert await current_revision(pg_url) == head_revision()
    assert await table_names(engine) == set(metadata.tables) | {"alembic_version"}


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite:///x.db", "postgresql://u@h:5432",
                                 "not a url"],
                         ids=["mysql", "sqlite", "no-database", "garbage"])
def test_a_url_that_is_not_postgresql_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput):
        database_url(url)


def test_cli_says_what_is_wrong_with_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["current", "mysql://u@h/db"]) == 2
    assert "not a PostgreSQL URL" in capsys.readouterr().err


def test_cli_says_when_the_server_cannot_be_reached(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["upgrade", f"postgresql://u:secret@127.0.0.1:{port}/db"]) == 1
    err = capsys.readouterr().err
    assert "cannot migrate" in err and "secret" not in err


async def test_outbox_rows_left_by_revision_0002_become_jobs(pg_url: str,
                                                              engine: AsyncEngine) -> None:
    """Revision 0003: jobs are written with their entries; a published entry still waiting
    in the old notification outbox becomes a pending job, and the outbox table goes."""
    from datetime import timedelta

    from alembic import command

    from tests.store_contract.helpers import published
    from timeline.models import Identity, IdentityKind, utcnow
    from timeline.pg_migrate import alembic_config
    from timeline.pg_store import PgStore

    await upgrade(pg_url)
    store = PgStore(pg_url)
    await store.open()
    try:
        office = await store.create_office("Büro", "DE")
        person = await store.create_customer(office.id, "P", [
            Identity(kind=IdentityKind.EMAIL, value="p@example.org")])
        entry, _ = await store.append(published(office.id, person.id, body="Ihr Vertrag"))
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "0002")
        async with engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM notify_jobs"))
            await conn.execute(sa.text(
                "INSERT INTO notify_outbox (office_id, entry_id, created_at) "
                "VALUES (:o, :e, now())"), {"o": office.id, "e": entry.id})
        await upgrade(pg_url)
        now = utcnow()
        jobs = await store.claim_notify_jobs("w", now, now + timedelta(minutes=1), 10)
        assert [(j.entry_id, j.customer_id) for j in jobs] == [(entry.id, person.id)]
    finally:
        await store.close()
    assert "notify_outbox" not in await table_names(engine)


async def test_idn_domains_stored_the_ascii_way_are_rewritten(pg_url: str) -> None:
    """Revision 0006: e-mail values stored as ``xn--mller-kva.de`` (before domains were read
    as Unicode) still find their customer, agent and office; both spellings on one customer
    become one."""
    from alembic import command

    from tests.store_contract.helpers import ascii_domains, assert_unicode_domains
    from timeline.pg_migrate import alembic_config
    from timeline.pg_store import PgStore

    await upgrade(pg_url)
    store = PgStore(pg_url)
    await store.open()
    try:
        seeded = await ascii_domains(store)
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "0005")
        await upgrade(pg_url)
        await assert_unicode_domains(store, seeded)
    finally:
        await store.close()


async def test_names_folded_before_non_decomposing_letters_were_mapped_are_found(
        pg_url: str) -> None:
    """Revision 0008: a ``Łukasz`` saved when ``ł`` was not folded yet is found by
    ``Lukasz``."""
    from alembic import command

    from tests.store_contract.helpers import (
        OLD_FOLDS,
        assert_names_found_as_typed,
        old_folded_names,
    )
    from timeline.pg_migrate import alembic_config
    from timeline.pg_store import PgStore

    await upgrade(pg_url)
    store = PgStore(pg_url)
    await store.open()
    try:
        office_id, ids = await old_folded_names(store)
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "0007")
        async with store.db.begin() as conn:  # as an older Chronik stored them
            for name, old in OLD_FOLDS.items():
                await conn.execute(sa.text("UPDATE customers SET name_fold = :f "
                                           "WHERE name = :n"), {"f": old, "n": name})
        await upgrade(pg_url)
        await assert_names_found_as_typed(store, office_id, ids)
    finally:
        await store.close()
