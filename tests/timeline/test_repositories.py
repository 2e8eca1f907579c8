"""The SQLite repositories, each built on its own over one shared ``SqliteDb`` (no
``SqliteStore``): what one writes, the others read, in the same database and through the
same single writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from timeline.errors import Conflict, NotFound
from timeline.models import (
    Channel,
    Direction,
    EntryDraft,
    Identity,
    IdentityKind,
    Role,
    Visibility,
    utcnow,
)
from timeline.privacy_models import ErasureOrder
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


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDb]:
    db = SqliteDb(tmp_path / "store.db", MIGRATIONS, readers=2, name="store")
    await db.open()
    yield db
    await db.close()


def draft(office_id: str, customer_id: str, body: str, *, notify: bool = False,
          source_id: str | None = None) -> EntryDraft:
    return EntryDraft(office_id=office_id, customer_id=customer_id, channel=Channel.NOTE,
                      direction=Direction.INTERNAL, kind="note", author="agent",
                      visibility=Visibility.PUBLISHED if notify else Visibility.INTERNAL,
                      notify=notify, occurred_at=utcnow(), body=body, source_id=source_id)


async def test_repositories_share_one_database(db: SqliteDb) -> None:
    offices, customers, entries = SqliteOffices(db), SqliteCustomers(db), SqliteEntries(db)
    office = await offices.create_office("Büro", "de")
    agent = await offices.create_agent(office.id, "Tom", Role.AGENT, "hash")
    person = await customers.create_customer(
        office.id, "Erika", [Identity(kind=IdentityKind.EMAIL, value="erika@example.de")])
    feed_start = await SqliteEvents(db).last_event_id()

    # many appends from two repository objects at once: one writer, group commit
    other = SqliteEntries(db)
    results = await asyncio.gather(*(
        (entries if i % 2 else other).append(draft(office.id, person.id, f"n{i}",
                                                   source_id=f"s{i % 5}"))
        for i in range(10)))
    assert sum(created for _, created in results) == 5  # idempotent on the source id
    published, created = await entries.append(draft(office.id, person.id, "für Sie",
                                                     notify=True))
    assert created

    context = await SqlitePolicy(db).entry_context(office.id, agent.id, person.id)
    assert context is not None and context.customer_name == "Erika"
    events = await SqliteEvents(db).events_after(feed_start, 100)
    assert [e.type for e in events] == ["entry.created"] * 6
    now = utcnow()
    notify = SqliteNotify(db)
    jobs = await notify.claim_notify_jobs("w1", now, now + timedelta(minutes=1), 10)
    assert [j.entry_id for j in jobs] == [published.id]
    assert await notify.published_entry(office.id, published.id) == published

    privacy = SqlitePrivacy(db)
    data = await privacy.personal_data(office.id, person.id)
    assert data is not None and len(data.entries) == 6 and len(data.notify_jobs) == 1
    await privacy.erase_customer(ErasureOrder(office_id=office.id, customer_id=person.id,
                                              erased_by=agent.id))
    assert await customers.get_customer(office.id, person.id) is None
    assert await entries.get_entry(office.id, published.id) is None
    assert await notify.get_notify_job(office.id, jobs[0].id) is None


async def test_domain_failures_are_typed(db: SqliteDb) -> None:
    office = await SqliteOffices(db).create_office("Büro", "DE")
    customers = SqliteCustomers(db)
    a = await customers.create_customer(office.id, "A", [])
    b = await customers.create_customer(office.id, "B", [])
    with pytest.raises(NotFound, match="no such customer"):
        await customers.merge_customers(office.id, a.id, "01NOSUCHCUSTOMER")
    merge = await customers.merge_customers(office.id, a.id, b.id)
    with pytest.raises(Conflict, match="already merged"):
        await customers.merge_customers(office.id, a.id, b.id)
    await customers.undo_merge(office.id, merge.id)
    with pytest.raises(Conflict, match="already undone"):
        await customers.undo_merge(office.id, merge.id)
    with pytest.raises(NotFound, match="no such merge"):
        await customers.undo_merge(office.id, "01NOSUCHMERGE")
    with pytest.raises(NotFound, match="no such office"):
        await SqliteInbound(db).cti_token("01NOSUCHOFFICE")
    with pytest.raises(NotFound, match="no such agent"):
        await SqliteAccounts(db).set_agent_login("01NOSUCHAGENT", language="de")
    with pytest.raises(NotFound, match="no such customer"):
        await SqlitePrivacy(db).erase_customer(ErasureOrder(
            office_id=office.id, customer_id="01NOSUCHCUSTOMER", erased_by="x"))
