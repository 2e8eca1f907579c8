"""What only PostgreSQL shows about erasure (``timeline/pg_privacy.py``,
``timeline/pg_erasure.py``): nothing of the erased person stays in the table files after
``scrub``, an erasure that PostgreSQL aborts to break a deadlock is run again, and an
append still running when the erasure starts is erased with the rest."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

from tests.store_contract.helpers import draft
from timeline.models import Identity, IdentityKind
from timeline.pg_migrate import asyncpg_dsn
from timeline.pg_privacy import SCRUBBED_TABLES
from timeline.pg_store import PgStore
from timeline.privacy_models import ErasureOrder

OTHERS = 20_000
_FINISHED = re.compile(r'finished vacuuming "[^"]*\.([^".]+)"')
_REMOVED = re.compile(r"tuples: (\d+) removed")
_DEAD_ITEMS = re.compile(r"had (\d+) dead item identifiers removed")


async def _left_behind(url: str) -> dict[str, tuple[int, int]]:
    """Per table (and TOAST table): (dead rows, dead item identifiers) a VACUUM removes now."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    reports: list[str] = []
    conn.add_log_listener(lambda _conn, message: reports.append(message.message))
    try:
        names = ", ".join(t.name for t in SCRUBBED_TABLES)
        await conn.execute(f"VACUUM (VERBOSE, INDEX_CLEANUP ON) {names}")
    finally:
        await conn.close()
    found: dict[str, tuple[int, int]] = {}
    for report in reports:
        if (name := _FINISHED.search(report)) is None:
            continue
        removed, dead = _REMOVED.search(report), _DEAD_ITEMS.search(report)
        assert removed is not None and dead is not None, report
        found[name.group(1)] = (int(removed.group(1)), int(dead.group(1)))
    return found


async def test_scrub_leaves_no_dead_row_or_index_entry_of_an_erased_person(
        store: PgStore, migrated: str) -> None:
    """After ``erase_customer`` and ``scrub`` (what the privacy service runs after every
    erasure), a VACUUM finds no dead row and no dead index entry left to remove: the
    person's rows and index entries (an e-mail address in ``identities_lookup``) are gone
    from the pages, not only from queries. The office holds many other identities, so that
    a plain ``VACUUM`` would skip the index pass (``INDEX_CLEANUP AUTO`` does when under 2 %
    of the pages have dead rows, exactly the case after erasing one person) and leave those
    index entries behind."""
    office = await store.create_office("A", "DE")
    person = await store.create_customer(office.id, "Erika Muster", [
        Identity(kind=IdentityKind.EMAIL, value="erika@kunde.test"),
        Identity(kind=IdentityKind.PHONE, value="+491715550999")])
    other = await store.create_customer(office.id, "Stays", [])
    await store.append_many([draft(office.id, person.id, body=f"private {i}")
                             for i in range(3)])
    conn = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        await conn.execute(
            "INSERT INTO identities (office_id, customer_id, kind, value) SELECT $1, $2, "
            "'email', 'kunde' || g || '@kunde.test' FROM generate_series(1, $3::int) g",
            office.id, other.id, OTHERS)
    finally:
        await conn.close()

    await store.erase_customer(ErasureOrder(office_id=office.id, customer_id=person.id,
                                            erased_by="admin-1"))
    await store.scrub()

    left = await _left_behind(migrated)
    assert {t.name for t in SCRUBBED_TABLES} <= set(left)
    assert {name: counts for name, counts in left.items() if counts != (0, 0)} == {}
    assert await store.get_customer(office.id, other.id) is not None


async def test_an_erasure_aborted_for_a_deadlock_is_run_again(
        store: PgStore, migrated: str) -> None:
    """Another transaction takes the person's locks in the opposite order (customer, then
    entries): the erasure, waiting on the customer while holding the entries, is the one
    PostgreSQL aborts; it is run again once the other transaction has ended, and succeeds."""
    office = await store.create_office("A", "DE")
    person = await store.create_customer(office.id, "Erika Muster", [])
    [(entry, _)] = await store.append_many([draft(office.id, person.id)])
    other = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        locks = other.transaction()
        await locks.start()
        await other.execute("SELECT 1 FROM customers WHERE id = $1 FOR KEY SHARE", person.id)
        erasure = asyncio.create_task(store.erase_customer(ErasureOrder(
            office_id=office.id, customer_id=person.id, erased_by="admin-1")))
        for _ in range(500):  # until the erasure waits for the customer row
            if await other.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock'"):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the erasure never waited for the customer row")
        # now the cycle: this waits for the erasure's entry lock until PostgreSQL aborts
        # the erasure (it has waited longer, so its deadlock check runs first)
        await other.execute("SELECT 1 FROM entries WHERE id = $1 FOR KEY SHARE", entry.id)
        await locks.commit()
        outcome = await erasure
    finally:
        await other.close()
    assert outcome.erased_seqs == (entry.seq,)
    assert await store.get_customer(office.id, person.id) is None
    assert await store.get_entry(office.id, entry.id) is None


async def test_an_append_still_running_when_the_erasure_starts_is_erased_too(
        store: PgStore, migrated: str) -> None:
    """An append (a mail being stored) has written its entry but not committed when the
    erasure starts: the erasure waits for it, then erases its entry with the rest."""
    from timeline.pg_batch import append_entries

    office = await store.create_office("A", "DE")
    person = await store.create_customer(office.id, "Erika Muster", [])
    [(old, _)] = await store.append_many([draft(office.id, person.id)])
    watcher = await asyncpg.connect(asyncpg_dsn(migrated))
    try:
        async with store.db.engine.begin() as conn:
            [(late, _)] = await append_entries(conn, [draft(office.id, person.id,
                                                            body="late mail")])
            erasure = asyncio.create_task(store.erase_customer(ErasureOrder(
                office_id=office.id, customer_id=person.id, erased_by="admin-1")))
            for _ in range(500):  # until the erasure waits for the append's customer lock
                if await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'"):
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the erasure never waited for the running append")
            assert not erasure.done()
        outcome = await erasure  # the append has committed: now the erasure goes on
    finally:
        await watcher.close()
    assert sorted(outcome.erased_seqs) == sorted([old.seq, late.seq])
    assert await store.get_entry(office.id, late.id) is None
    assert await store.get_customer(office.id, person.id) is None
