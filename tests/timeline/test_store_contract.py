"""The store contract: every Store implementation must pass this suite unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from timeline.models import (
    Channel,
    CustomerStatus,
    Direction,
    EntryDraft,
    Identity,
    IdentityKind,
    Role,
    Visibility,
)
from timeline.policy import KindPreset
from timeline.sqlite_store import SqliteStore
from timeline.store import CustomerListQuery, Store, TimelineQuery

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite"], ids=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    impl = SqliteStore(tmp_path / "store.sqlite3")
    await impl.open()
    yield impl
    await impl.close()


def draft(office: str, customer: str, **kw: object) -> EntryDraft:
    base: dict[str, object] = dict(
        office_id=office, customer_id=customer, channel=Channel.NOTE,
        direction=Direction.INTERNAL, kind="note", visibility=Visibility.INTERNAL,
        occurred_at=T0, body="text")
    base.update(kw)
    return EntryDraft.model_validate(base)


async def test_offices_agents_tokens(store: Store) -> None:
    office = await store.create_office("A", "de")
    assert office.region == "DE"
    agent = await store.create_agent(office.id, "Ann", Role.ADMIN, "hash-1")
    found = await store.agent_for_token("hash-1")
    assert found is not None and found.id == agent.id and found.role is Role.ADMIN
    assert await store.agent_for_token("hash-2") is None
    assert [o.id for o in await store.list_offices()] == [office.id]


async def test_customer_roundtrip_and_identities(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "Jürgen Weiß", [
        Identity(kind=IdentityKind.PHONE, value="+491711234567", raw="0171 1234567")])
    got = await store.get_customer(office.id, c.id)
    assert got is not None and got.name == "Jürgen Weiß"
    assert got.identities[0].value == "+491711234567"
    c2 = await store.add_identity(office.id, c.id, Identity(kind=IdentityKind.EMAIL,
                                                             value="j@example.de"))
    assert c2 is not None and {i.kind for i in c2.identities} == {IdentityKind.PHONE,
                                                                  IdentityKind.EMAIL}
    assert [x.id for x in await store.find_customers(office.id, IdentityKind.EMAIL,
                                                     "j@example.de")] == [c.id]
    c3 = await store.remove_identity(office.id, c.id, IdentityKind.EMAIL, "j@example.de")
    assert c3 is not None and len(c3.identities) == 1
    assert await store.remove_identity(office.id, c.id, IdentityKind.EMAIL, "nope@x.de") is None
    renamed = await store.update_customer(office.id, c.id, name="Jürgen Weiss",
                                          status=CustomerStatus.UNVERIFIED)
    assert renamed is not None and renamed.name == "Jürgen Weiss"
    assert renamed.status is CustomerStatus.UNVERIFIED


async def test_tenant_isolation(store: Store) -> None:
    a = await store.create_office("A", "DE")
    b = await store.create_office("B", "DE")
    c = await store.create_customer(a.id, "Only A", [Identity(kind=IdentityKind.EMAIL,
                                                              value="x@example.de")])
    (entry, _), = await store.append_many([draft(a.id, c.id)])
    assert await store.get_customer(b.id, c.id) is None
    assert await store.find_customers(b.id, IdentityKind.EMAIL, "x@example.de") == []
    assert await store.get_entry(b.id, entry.id) is None
    assert (await store.timeline(b.id, c.id, TimelineQuery())).items == []
    assert await store.entries_by_seq(b.id, [entry.seq]) == []
    assert await store.update_customer(b.id, c.id, name="hijack") is None
    assert (await store.list_customers(b.id, CustomerListQuery())).items == []


async def test_append_is_idempotent_on_source_id(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "C", [])
    first, created = await store.append(draft(office.id, c.id, channel=Channel.EMAIL,
                                              source_id="<m1@x>"))
    again, created2 = await store.append(draft(office.id, c.id, channel=Channel.EMAIL,
                                               source_id="<m1@x>", body="changed"))
    assert created and not created2
    assert again.id == first.id and again.body == "text"
    # same source id on another channel is another message
    _, created3 = await store.append(draft(office.id, c.id, channel=Channel.CHAT,
                                           source_id="<m1@x>"))
    assert created3
    # duplicates inside one batch collapse too
    results = await store.append_many([
        draft(office.id, c.id, channel=Channel.EMAIL, source_id="<m2@x>"),
        draft(office.id, c.id, channel=Channel.EMAIL, source_id="<m2@x>")])
    assert [r[1] for r in results] == [True, False]
    assert results[0][0].id == results[1][0].id
    page = await store.timeline(office.id, c.id, TimelineQuery(limit=100))
    assert len(page.items) == 3


async def test_timeline_newest_first_with_stable_cursor(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "C", [])
    drafts = [draft(office.id, c.id, occurred_at=T0 + timedelta(minutes=i), body=f"n{i}")
              for i in range(25)]
    await store.append_many(drafts)
    seen: list[str] = []
    page = await store.timeline(office.id, c.id, TimelineQuery(limit=10))
    seen += [e.body for e in page.items]
    # new entries arriving between pages (newer and older) must not shift the pages
    await store.append(draft(office.id, c.id, occurred_at=T0 + timedelta(hours=5), body="new"))
    while page.next_cursor:
        page = await store.timeline(office.id, c.id, TimelineQuery(
            limit=10, before_seq=int(page.next_cursor)))
        seen += [e.body for e in page.items]
    assert seen == [f"n{i}" for i in reversed(range(25))]


async def test_same_instant_entries_keep_distinct_order(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "C", [])
    await store.append_many([draft(office.id, c.id, body=f"s{i}") for i in range(5)])
    await store.append(draft(office.id, c.id, body="s5"))
    page = await store.timeline(office.id, c.id, TimelineQuery(limit=3))
    rest = await store.timeline(office.id, c.id, TimelineQuery(
        limit=10, before_seq=int(page.next_cursor or 0)))
    assert [e.body for e in page.items + rest.items] == [f"s{i}" for i in reversed(range(6))]


async def test_timeline_filters(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "C", [])
    await store.append_many([
        draft(office.id, c.id, channel=Channel.EMAIL, kind="email", body="mail",
              visibility=Visibility.PUBLISHED, occurred_at=T0),
        draft(office.id, c.id, channel=Channel.PHONE, kind="call", body="call",
              occurred_at=T0 + timedelta(days=1)),
        draft(office.id, c.id, channel=Channel.PHONE, kind="phone_note", body="pn",
              visibility=Visibility.PUBLISHED, occurred_at=T0 + timedelta(days=2)),
    ])

    async def bodies(**kw: object) -> list[str]:
        page = await store.timeline(office.id, c.id, TimelineQuery(**kw))  # type: ignore[arg-type]
        return [e.body for e in page.items]

    assert await bodies(channels=(Channel.PHONE,)) == ["pn", "call"]
    assert await bodies(kinds=("call", "email")) == ["call", "mail"]
    assert await bodies(visibility=Visibility.PUBLISHED) == ["pn", "mail"]
    assert await bodies(since=T0 + timedelta(hours=1)) == ["pn", "call"]
    assert await bodies(until=T0 + timedelta(days=1)) == ["call", "mail"]


async def test_outbox_rows_commit_with_entries(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "C", [])
    (e1, _), (e2, _) = await store.append_many([draft(office.id, c.id), draft(
        office.id, c.id, channel=Channel.EMAIL, source_id="s")])
    await store.append(draft(office.id, c.id, channel=Channel.EMAIL, source_id="s"))  # dup
    tasks = await store.pending_index_tasks(10)
    assert sorted(t.seq for t in tasks) == sorted([e1.seq, e2.seq])
    assert all(t.entry is not None for t in tasks)
    await store.ack_index_tasks([tasks[0].outbox_id])
    assert [t.seq for t in await store.pending_index_tasks(10)] == [tasks[1].seq]


async def test_policy_and_tone_words(store: Store) -> None:
    office = await store.create_office("A", "DE")
    await store.set_policy(office.id, None, {"document": KindPreset(notify=False)})
    await store.set_policy(office.id, "agent-1", {"note": KindPreset(
        visibility=Visibility.INTERNAL)})
    assert await store.get_policy(office.id, None) == {"document": KindPreset(notify=False)}
    assert await store.get_policy(office.id, "agent-1") == {
        "note": KindPreset(visibility=Visibility.INTERNAL)}
    await store.set_policy(office.id, None, {"document": KindPreset()})
    assert await store.get_policy(office.id, None) == {}
    await store.set_tone_words(office.id, ["nervensäge", "meckerer*"])
    assert await store.get_tone_words(office.id) == ("meckerer*", "nervensäge")


async def test_list_customers_by_name_and_cursor(store: Store) -> None:
    office = await store.create_office("A", "DE")
    for name in ["Max Müller", "Anna Mueller", "Eva Schulz", "Müllerin Frei"]:
        await store.create_customer(office.id, name, [])
    page = await store.list_customers(office.id, CustomerListQuery(name="muller"))
    assert sorted(c.name for c in page.items) == ["Anna Mueller", "Max Müller", "Müllerin Frei"]
    first = await store.list_customers(office.id, CustomerListQuery(limit=2))
    second = await store.list_customers(office.id, CustomerListQuery(
        limit=2, after_id=first.next_cursor))
    assert len({c.id for c in first.items + second.items}) == 4
    assert second.next_cursor is None


async def test_scan_entries_for_reindex(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "C", [])
    await store.append_many([draft(office.id, c.id, occurred_at=T0 + timedelta(seconds=i))
                             for i in range(7)])
    got, after = [], -(2**63)
    while batch := await store.scan_entries(after, 3):
        got += batch
        after = batch[-1].seq
    assert len(got) == 7 and [e.seq for e in got] == sorted(e.seq for e in got)
