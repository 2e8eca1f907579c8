"""Contract of ``Store.entries_with_tag``: entries by tag across one office (open data
requests, open complaints). Every Store implementation must pass it unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from timeline.models import Channel, Direction, EntryDraft, Visibility
from timeline.sqlite_store import SqliteStore
from timeline.store import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite"], ids=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    impl = SqliteStore(tmp_path / "store.sqlite3")
    await impl.open()
    yield impl
    await impl.close()


async def _entry(store: Store, office: str, customer: str, tags: tuple[str, ...],
                 minutes: int, body: str = "text") -> str:
    entry, _ = await store.append(EntryDraft(
        office_id=office, customer_id=customer, channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind="data_request", visibility=Visibility.PUBLISHED,
        occurred_at=T0 + timedelta(minutes=minutes), body=body, tags=tags))
    return entry.id


async def test_exact_tags_oldest_first_and_without(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "Erika", [])
    newer = await _entry(store, office.id, c.id, ("data-request",), 10)
    older = await _entry(store, office.id, c.id, ("x", "data-request"), 1)
    done = await _entry(store, office.id, c.id, ("data-request", "data-request:done"), 5)
    await _entry(store, office.id, c.id, ("data-request:done",), 6)  # not the tag itself
    await _entry(store, office.id, c.id, ("data-requests",), 7)  # not a prefix match
    await _entry(store, office.id, c.id, ("DATA-REQUEST",), 8)  # tags are case-sensitive
    await _entry(store, office.id, c.id, (), 9, body='"data-request"')  # not the body

    got = await store.entries_with_tag(office.id, "data-request")
    assert [e.id for e in got] == [older, done, newer]
    got = await store.entries_with_tag(office.id, "data-request",
                                       without_tag="data-request:done")
    assert [e.id for e in got] == [older, newer]
    assert got[0].tags == ("x", "data-request") and got[0].kind == "data_request"
    assert [e.id for e in await store.entries_with_tag(office.id, "data-request",
                                                       limit=1)] == [older]


async def test_retagging_moves_an_entry_out_and_offices_stay_apart(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    c = await store.create_customer(office.id, "Erika", [])
    d = await store.create_customer(other.id, "Dora", [])
    mine = await _entry(store, office.id, c.id, ("complaint",), 1)
    theirs = await _entry(store, other.id, d.id, ("complaint",), 2)
    assert [e.id for e in await store.entries_with_tag(
        office.id, "complaint", without_tag="complaint:resolved")] == [mine]
    assert [e.id for e in await store.entries_with_tag(other.id, "complaint")] == [theirs]
    c2 = await store.create_customer(office.id, "Karl", [])
    his = await _entry(store, office.id, c2.id, ("complaint",), 3)
    assert [e.id for e in await store.entries_with_tag(office.id, "complaint")] == [mine, his]
    assert [e.id for e in await store.entries_with_tag(
        office.id, "complaint", customer_id=c2.id)] == [his]
    assert await store.entries_with_tag(office.id, "complaint", customer_id=d.id) == []
    assert await store.retag_entry(office.id, his, remove=["complaint"]) == ()
    assert await store.retag_entry(office.id, mine, add=["complaint:resolved"])
    assert await store.entries_with_tag(office.id, "complaint",
                                        without_tag="complaint:resolved") == []
    assert [e.id for e in await store.entries_with_tag(office.id, "complaint")] == [mine]


@pytest.mark.parametrize("tag", ["beschwerde-ä", "100%_sicher", 'a"b', "back\\slash"])
async def test_tags_with_special_characters(store: Store, tag: str) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "Erika", [])
    hit = await _entry(store, office.id, c.id, (tag,), 1)
    await _entry(store, office.id, c.id, ("100x-sicher", "beschwerde-a", "ab"), 2)
    assert [e.id for e in await store.entries_with_tag(office.id, tag)] == [hit]
    assert await store.entries_with_tag(office.id, tag, without_tag=tag) == []
