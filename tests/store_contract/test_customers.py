"""Contract: customers, their identities, look-ups by identity, and merges (with undo)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from tests.store_contract.helpers import REFUSED, T0, draft, seed
from timeline.models import (
    Attachment,
    Channel,
    CustomerStatus,
    Identity,
    IdentityKind,
    Merge,
)
from timeline.public import public_entry
from timeline.store import CustomerListQuery, Store, TimelineQuery

COVERS = frozenset({
    "create_customer", "get_customer", "update_customer", "list_customers", "add_identity",
    "remove_identity", "find_customers", "customers_with_recent", "customers_with_recent_json",
    "customers_by_identities",
    "set_identity_undeliverable", "merge_customers", "undo_merge", "get_merge",
})

PHONE = Identity(kind=IdentityKind.PHONE, value="+491711234567", raw="0171 1234567")
MAIL = Identity(kind=IdentityKind.EMAIL, value="j@example.de")
MAIL2 = Identity(kind=IdentityKind.EMAIL, value="jw@example.de")


async def test_customer_roundtrip_and_identities(store: Store) -> None:
    office = await store.create_office("A", "DE")
    c = await store.create_customer(office.id, "Jürgen Weiß", [PHONE])
    got = await store.get_customer(office.id, c.id)
    assert got == c and got.status is CustomerStatus.ACTIVE
    assert got.identities == (PHONE,)  # the raw form is kept for display
    c2 = await store.add_identity(office.id, c.id, MAIL)
    assert c2 is not None and c2.identities == (PHONE, MAIL)
    twice = await store.add_identity(office.id, c.id, MAIL)  # the same identity again: once
    assert twice is not None and twice.identities == (PHONE, MAIL)
    assert [x.id for x in await store.find_customers(office.id, IdentityKind.EMAIL,
                                                     MAIL.value)] == [c.id]
    c3 = await store.remove_identity(office.id, c.id, IdentityKind.EMAIL, MAIL.value)
    assert c3 is not None and c3.identities == (PHONE,)
    assert await store.remove_identity(office.id, c.id, IdentityKind.EMAIL, "nope@x.de") is None
    assert await store.find_customers(office.id, IdentityKind.EMAIL, MAIL.value) == []
    renamed = await store.update_customer(office.id, c.id, name="Jürgen Weiss",
                                          status=CustomerStatus.UNVERIFIED)
    assert renamed is not None and renamed.name == "Jürgen Weiss"
    assert renamed.status is CustomerStatus.UNVERIFIED and renamed.identities == (PHONE,)
    assert await store.get_customer(office.id, c.id) == renamed
    assert await store.update_customer(office.id, "no-such-customer", name="x") is None
    assert await store.add_identity(office.id, "no-such-customer", MAIL) is None


async def test_tenant_isolation(store: Store) -> None:
    a = await store.create_office("A", "DE")
    b = await store.create_office("B", "DE")
    c = await store.create_customer(a.id, "Only A", [MAIL])
    (entry, _), = await store.append_many([draft(a.id, c.id)])
    assert await store.get_customer(b.id, c.id) is None
    assert await store.find_customers(b.id, IdentityKind.EMAIL, MAIL.value) == []
    assert await store.customers_by_identities(b.id, IdentityKind.EMAIL, [MAIL.value]) == {}
    assert await store.customers_with_recent(b.id, IdentityKind.EMAIL, MAIL.value, 5) == []
    assert await store.get_entry(b.id, entry.id) is None
    assert (await store.timeline(b.id, c.id, TimelineQuery())).items == []
    assert await store.entries_by_seq(b.id, [entry.seq]) == []
    assert await store.update_customer(b.id, c.id, name="hijack") is None
    assert await store.add_identity(b.id, c.id, PHONE) is None
    assert await store.remove_identity(b.id, c.id, IdentityKind.EMAIL, MAIL.value) is None
    assert (await store.list_customers(b.id, CustomerListQuery())).items == []
    assert await store.get_customer(a.id, c.id) == c  # untouched by all of the above


async def test_list_customers_by_name_and_cursor(store: Store) -> None:
    office = await store.create_office("A", "DE")
    for name in ["Max Müller", "Anna Mueller", "Eva Schulz", "Müllerin Frei"]:
        await store.create_customer(office.id, name, [])
    page = await store.list_customers(office.id, CustomerListQuery(name="muller"))
    assert sorted(c.name for c in page.items) == ["Anna Mueller", "Max Müller", "Müllerin Frei"]
    first = await store.list_customers(office.id, CustomerListQuery(limit=2))
    assert first.next_cursor is not None
    second = await store.list_customers(office.id, CustomerListQuery(
        limit=2, after_id=first.next_cursor))
    assert len({c.id for c in first.items + second.items}) == 4
    assert second.next_cursor is None


async def test_list_customers_by_status_and_ids(store: Store) -> None:
    office = await store.create_office("A", "DE")
    a = await store.create_customer(office.id, "Anna Scholl", [])
    b = await store.create_customer(office.id, "Bert", [], CustomerStatus.UNVERIFIED)
    c = await store.create_customer(office.id, "Carl Holz", [])
    unverified = await store.list_customers(office.id, CustomerListQuery(
        status=CustomerStatus.UNVERIFIED))
    assert [x.id for x in unverified.items] == [b.id]
    picked = await store.list_customers(office.id, CustomerListQuery(ids=(a.id, c.id)))
    assert {x.id for x in picked.items} == {a.id, c.id}
    inside = await store.list_customers(office.id, CustomerListQuery(name="olz"))
    assert inside.items == []  # names match at word beginnings
    word = await store.list_customers(office.id, CustomerListQuery(name="holz"))
    assert [x.id for x in word.items] == [c.id]


async def test_lookups_by_identity_single_and_batched(store: Store) -> None:
    office = await store.create_office("A", "DE")
    one = await store.create_customer(office.id, "One", [PHONE, MAIL])
    two = await store.create_customer(office.id, "Two", [PHONE])
    found = await store.find_customers(office.id, IdentityKind.PHONE, PHONE.value)
    assert {c.id for c in found} == {one.id, two.id}
    batched = await store.customers_by_identities(
        office.id, IdentityKind.PHONE, [PHONE.value, "+49301234567", PHONE.value])
    assert set(batched) == {PHONE.value}
    assert {c.id for c in batched[PHONE.value]} == {one.id, two.id}
    mails = await store.customers_by_identities(office.id, IdentityKind.EMAIL,
                                                [MAIL.value, MAIL2.value])
    assert {k: [c.id for c in v] for k, v in mails.items()} == {MAIL.value: [one.id]}
    assert await store.customers_by_identities(office.id, IdentityKind.EMAIL, []) == {}


async def test_customers_with_recent_conversation_leaves_out_bookkeeping(store: Store) -> None:
    s = await seed(store, PHONE)
    office, c = s.office.id, s.customer.id
    await store.append_many([
        draft(office, c, body=f"n{i}", occurred_at=T0 + timedelta(minutes=i)) for i in range(4)])
    await store.append(draft(office, c, channel=Channel.NOTIFICATION, kind="notification",
                             body="sent", occurred_at=T0 + timedelta(hours=1)))
    [(customer, recent)] = await store.customers_with_recent(office, IdentityKind.PHONE,
                                                             PHONE.value, 2)
    assert customer.id == c
    assert [e.body for e in recent] == ["n3", "n2"]  # newest first, no notification
    assert await store.customers_with_recent(office, IdentityKind.PHONE, "+4930999", 2) == []


async def test_customers_with_recent_gives_each_sharer_whole_and_apart(store: Store) -> None:
    """Two customers share a number: each comes whole (every identity, as ``get_customer``
    gives it) with only its own newest entries; one without entries comes with none."""
    s = await seed(store, PHONE, MAIL)
    office, c = s.office.id, s.customer.id
    quiet = await store.create_customer(office, "Quiet", [PHONE])
    other = await store.create_customer(office, "Other", [MAIL])
    await store.append_many([
        draft(office, c, body=f"c{i}", occurred_at=T0 + timedelta(minutes=i)) for i in range(3)]
        + [draft(office, other.id, body="o", occurred_at=T0 + timedelta(hours=2))])
    found = await store.customers_with_recent(office, IdentityKind.PHONE, PHONE.value, 10)
    assert sorted((cust.id, [e.body for e in recent]) for cust, recent in found) == sorted(
        [(c, ["c2", "c1", "c0"]), (quiet.id, [])])
    for cust, _ in found:
        assert cust == await store.get_customer(office, cust.id)


async def test_customers_with_recent_json_is_what_the_api_shows(store: Store) -> None:
    """``customers_with_recent_json``: the customers ``customers_with_recent`` finds, each
    with the same entries, as ``public_entry`` shows them (times in UTC whatever their
    offset, attachments with their paths, no bookkeeping entries) and the first one's key;
    a customer without entries comes with ``[]``."""
    s = await seed(store, PHONE, MAIL)
    office, c = s.office.id, s.customer.id
    quiet = await store.create_customer(office, "Quiet", [PHONE])
    await store.append_many([
        draft(office, c, body=f"c{i}", occurred_at=T0 + timedelta(minutes=i)) for i in range(3)]
        + [draft(office, c, channel=Channel.EMAIL, kind="email", subject="Bitte \"so\"",
                 body="Grüße\n\x02", html="<p>x</p>", tags=("a",), meta={"n": [1, 2.5]},
                 attachments=(Attachment(name="ä.pdf", content_type="application/pdf",
                                         size=3, sha256="b" * 64),) * 2,
                 occurred_at=datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))),
           draft(office, c, channel=Channel.NOTIFICATION, kind="notification", body="sent",
                 occurred_at=T0 + timedelta(days=900))])
    for recent in (10, 2):
        objects = await store.customers_with_recent(office, IdentityKind.PHONE, PHONE.value,
                                                    recent)
        shown = await store.customers_with_recent_json(office, IdentityKind.PHONE,
                                                       PHONE.value, recent)
        assert sorted((m.customer.id, orjson.loads(m.recent_json), m.newest_seq)
                      for m in shown) == sorted(
            (customer.id, orjson.loads(orjson.dumps([public_entry(e) for e in entries],
                                                    option=orjson.OPT_UTC_Z)),
             entries[0].seq if entries else None)
            for customer, entries in objects)
        assert {m.customer.id: m.customer for m in shown} == {
            customer.id: customer for customer, _ in objects}
    [mine] = [m for m in shown if m.customer.id == c]
    assert [e["body"] for e in orjson.loads(mine.recent_json)] == ["Grüße\n\x02", "c2"]
    mail = orjson.loads(mine.recent_json)[0]
    assert mail["occurred_at"] == "2026-03-01T09:00:00Z"
    assert [a["url"] for a in mail["attachments"]] == [
        f"/api/v1/entries/{mail['id']}/attachments/{i}" for i in (0, 1)]
    [silent] = [m for m in shown if m.customer.id == quiet.id]
    assert (silent.recent_json, silent.newest_seq) == (b"[]", None)
    assert await store.customers_with_recent_json(office, IdentityKind.PHONE, "+4930999",
                                                  2) == []


async def test_undeliverable_marks_every_match_in_the_office_only(store: Store) -> None:
    s = await seed(store, MAIL, PHONE)
    second = await store.create_customer(s.office.id, "Two", [MAIL])
    other = await seed(store, MAIL, office_name="B")
    marked = await store.set_identity_undeliverable(s.office.id, IdentityKind.EMAIL,
                                                    MAIL.value, True)
    assert sorted(marked) == sorted([s.customer.id, second.id])
    got = await store.get_customer(s.office.id, s.customer.id)
    assert got is not None
    assert {i.kind: i.undeliverable for i in got.identities} == {
        IdentityKind.EMAIL: True, IdentityKind.PHONE: False}
    theirs = await store.get_customer(other.office.id, other.customer.id)
    assert theirs is not None and not theirs.identities[0].undeliverable
    await store.set_identity_undeliverable(s.office.id, IdentityKind.EMAIL, MAIL.value, False)
    back = await store.get_customer(s.office.id, second.id)
    assert back is not None and not back.identities[0].undeliverable
    assert await store.set_identity_undeliverable(s.office.id, IdentityKind.EMAIL,
                                                  "none@x.de", True) == []


async def test_merge_moves_everything_and_undo_puts_it_back(store: Store) -> None:
    office = await store.create_office("A", "DE")
    source = await store.create_customer(office.id, "Dup", [PHONE, MAIL2])
    target = await store.create_customer(office.id, "Main", [PHONE, MAIL])
    (moved, _), = await store.append_many([draft(office.id, source.id, body="from dup")])
    (kept, _), = await store.append_many([draft(office.id, target.id, body="own")])

    merge = await store.merge_customers(office.id, source.id, target.id)
    assert (merge.source_id, merge.target_id, merge.undone_at) == (source.id, target.id, None)
    assert merge.entry_ids == (moved.id,)
    assert merge.identities == (MAIL2,) and merge.shared_identities == (PHONE,)
    assert await store.get_merge(office.id, merge.id) == merge
    merged_away = await store.get_customer(office.id, source.id)
    assert merged_away is not None and merged_away.status is CustomerStatus.MERGED
    assert merged_away.identities == ()
    page = await store.timeline(office.id, target.id, TimelineQuery())
    assert {e.id for e in page.items} == {moved.id, kept.id}
    assert [c.id for c in await store.find_customers(office.id, IdentityKind.EMAIL,
                                                     MAIL2.value)] == [target.id]

    undone = await store.undo_merge(office.id, merge.id)
    assert undone.undone_at is not None and undone.id == merge.id
    assert await store.get_merge(office.id, merge.id) == undone
    back = await store.get_customer(office.id, source.id)
    assert back is not None and back.status is CustomerStatus.ACTIVE
    assert {(i.kind, i.value) for i in back.identities} == {(PHONE.kind, PHONE.value),
                                                            (MAIL2.kind, MAIL2.value)}
    main = await store.get_customer(office.id, target.id)
    assert main is not None and {i.value for i in main.identities} == {PHONE.value, MAIL.value}
    assert [e.id for e in (await store.timeline(office.id, source.id,
                                                TimelineQuery())).items] == [moved.id]
    assert [e.id for e in (await store.timeline(office.id, target.id,
                                                TimelineQuery())).items] == [kept.id]


async def test_refused_merges_change_nothing(store: Store) -> None:
    office = await store.create_office("A", "DE")
    other = await store.create_office("B", "DE")
    a = await store.create_customer(office.id, "A", [MAIL])
    b = await store.create_customer(office.id, "B", [])
    foreign = await store.create_customer(other.id, "F", [])
    with pytest.raises(REFUSED):
        await store.merge_customers(office.id, a.id, foreign.id)  # another office's customer
    with pytest.raises(REFUSED):
        await store.merge_customers(office.id, a.id, "no-such-customer")
    assert await store.get_customer(office.id, a.id) == a

    with pytest.raises(REFUSED):
        await store.merge_customers(office.id, a.id, a.id)  # into itself
    assert await store.get_customer(office.id, a.id) == a

    merge = await store.merge_customers(office.id, a.id, b.id)
    c = await store.create_customer(office.id, "C", [])
    with pytest.raises(REFUSED):
        await store.merge_customers(office.id, a.id, c.id)  # merged already
    assert await store.get_customer(office.id, c.id) == c
    with pytest.raises(REFUSED):
        await store.undo_merge(other.id, merge.id)  # not this office's merge
    assert await store.get_merge(other.id, merge.id) is None
    await store.undo_merge(office.id, merge.id)
    with pytest.raises(REFUSED):
        await store.undo_merge(office.id, merge.id)  # undone already
    with pytest.raises(REFUSED):
        await store.undo_merge(office.id, "no-such-merge")
    restored = await store.get_customer(office.id, a.id)
    assert restored is not None and restored.status is CustomerStatus.ACTIVE
    assert restored.identities == (MAIL,)


async def entry_ids(store: Store, office: str, customer: str) -> set[str]:
    page = await store.timeline(office, customer, TimelineQuery(limit=500))
    assert page.next_cursor is None
    return {e.id for e in page.items}


async def test_racing_merges_of_one_customer_merge_it_once(store: Store,
                                                           second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    source = await store.create_customer(office.id, "Dup", [MAIL2])
    one = await store.create_customer(office.id, "One", [])
    two = await store.create_customer(office.id, "Two", [])
    (entry, _), = await store.append_many([draft(office.id, source.id)])
    results = await asyncio.gather(store.merge_customers(office.id, source.id, one.id),
                                   second_store.merge_customers(office.id, source.id, two.id),
                                   return_exceptions=True)
    won = [r for r in results if isinstance(r, Merge)]
    assert len(won) == 1 and all(isinstance(r, (Merge, *REFUSED)) for r in results)
    merge = won[0]
    assert merge.entry_ids == (entry.id,) and merge.identities == (MAIL2,)
    lost = two.id if merge.target_id == one.id else one.id
    assert await entry_ids(store, office.id, merge.target_id) == {entry.id}
    assert await entry_ids(store, office.id, lost) == set()
    assert [c.id for c in await store.find_customers(office.id, IdentityKind.EMAIL,
                                                     MAIL2.value)] == [merge.target_id]


async def test_crosswise_merges_one_wins_without_deadlock(store: Store,
                                                          second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    a = await store.create_customer(office.id, "A", [MAIL])
    b = await store.create_customer(office.id, "B", [MAIL2])
    results = await asyncio.gather(store.merge_customers(office.id, a.id, b.id),
                                   second_store.merge_customers(office.id, b.id, a.id),
                                   return_exceptions=True)
    won = [r for r in results if isinstance(r, Merge)]
    assert len(won) == 1 and all(isinstance(r, (Merge, *REFUSED)) for r in results)
    survivor = await store.get_customer(office.id, won[0].target_id)
    assert survivor is not None and survivor.status is CustomerStatus.ACTIVE
    assert {i.value for i in survivor.identities} == {MAIL.value, MAIL2.value}


async def test_racing_undos_undo_once(store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    source = await store.create_customer(office.id, "Dup", [PHONE, MAIL2])
    target = await store.create_customer(office.id, "Main", [PHONE])
    (entry, _), = await store.append_many([draft(office.id, source.id)])
    merge = await store.merge_customers(office.id, source.id, target.id)
    results = await asyncio.gather(store.undo_merge(office.id, merge.id),
                                   second_store.undo_merge(office.id, merge.id),
                                   return_exceptions=True)
    assert sum(isinstance(r, Merge) for r in results) == 1
    assert all(isinstance(r, (Merge, *REFUSED)) for r in results)
    back = await store.get_customer(office.id, source.id)
    assert back is not None and back.status is CustomerStatus.ACTIVE
    assert sorted(i.value for i in back.identities) == sorted([PHONE.value, MAIL2.value])
    assert await entry_ids(store, office.id, source.id) == {entry.id}


async def test_merge_racing_appends_records_exactly_what_it_moved(
        store: Store, second_store: Store) -> None:
    """Entries appended to the source while it is merged: each is either moved (and in the
    merge record, so the undo brings it back) or stays on the source; none is lost."""
    office = await store.create_office("A", "DE")
    source = await store.create_customer(office.id, "Dup", [])
    target = await store.create_customer(office.id, "Main", [])
    (first, _), = await store.append_many([draft(office.id, source.id, body="before")])
    stop = asyncio.Event()
    writing = [asyncio.Event() for _ in range(4)]

    async def writer(n: int) -> set[str]:
        written: set[str] = set()
        while not stop.is_set() and len(written) < 90:  # 4 * 90 < 500
            batch = await second_store.append_many([
                draft(office.id, source.id, body=f"{n}.{len(written)}.{j}",
                      occurred_at=T0 + timedelta(seconds=n + 1, milliseconds=len(written)))
                for j in range(3)])
            written |= {e.id for e, _ in batch}
            writing[n].set()
        return written

    tasks = [asyncio.create_task(writer(n)) for n in range(4)]
    for started in writing:  # every writer is busy when the merge begins
        await started.wait()
    merge = await store.merge_customers(office.id, source.id, target.id)
    stop.set()
    appended = {first.id}.union(*await asyncio.gather(*tasks))
    on_target = await entry_ids(store, office.id, target.id)
    on_source = await entry_ids(store, office.id, source.id)
    assert first.id in on_target and on_target == set(merge.entry_ids)
    assert on_source == appended - on_target
    await store.undo_merge(office.id, merge.id)
    assert await entry_ids(store, office.id, source.id) == appended
    assert await entry_ids(store, office.id, target.id) == set()


async def test_a_token_handed_out_for_a_duplicate_follows_the_merge(store: Store) -> None:
    """A Telegram link (or portal token) made for a record later merged into another still
    works: it is the person's, and the person is the merge's target now."""
    office = await store.create_office("A", "DE")
    source = await store.create_customer(office.id, "Dup", [MAIL2])
    target = await store.create_customer(office.id, "Main", [MAIL])
    await store.add_customer_token(office.id, source.id, "telegram_link", "h" * 64,
                                   datetime.now(UTC) + timedelta(days=7))
    await store.merge_customers(office.id, source.id, target.id)
    assert await store.resolve_customer_token("h" * 64, "telegram_link") == (office.id,
                                                                             target.id)
