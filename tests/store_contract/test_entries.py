"""Contract: entries — idempotent append, reads by id, key and source id, the newest-first
timeline with a stable cursor, revisions, tags and the reindex scan."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from tests.store_contract.helpers import T0, draft, published, seed
from timeline.ids import SEQ_SLOTS, seq_base
from timeline.ingest import BAD_MESSAGE
from timeline.models import (
    Attachment,
    Channel,
    Direction,
    Entry,
    Identity,
    IdentityKind,
    Visibility,
)
from timeline.public import public_entry
from timeline.replies import NO_REPLY, waiting_message
from timeline.store import Store, TimelineQuery

COVERS = frozenset({
    "append", "append_many", "get_entry", "entries_by_seq", "revise_entry",
    "find_entry_by_source", "entries_by_sources", "timeline", "timeline_json", "scan_entries",
    "count_entries",
    "retag_entry", "entries_with_tag", "awaiting_reply", "move_entry",
})

SHA = "5e" * 32


async def test_an_entry_reads_back_as_it_was_written(store: Store) -> None:
    s = await seed(store)
    written = draft(s.office.id, s.customer.id, channel=Channel.EMAIL,
                    direction=Direction.INBOUND, kind="email", author="Jürgen <j@x.de>",
                    visibility=Visibility.PUBLISHED, notify=False, subject="Kündigung 👋",
                    body="Grüße\n\tzweite Zeile", html="<p>Grüße</p>",
                    attachments=(Attachment(name="Vertrag ä.pdf", content_type="application/pdf",
                                            size=1234, sha256=SHA),),
                    tags=("complaint", "vip"), source_id="<m1@x>",
                    meta={"from": "j@x.de", "nested": {"n": [1, 2.5, None, True]}})
    entry, created = await store.append(written)
    assert created and entry.id and entry.seq
    assert entry.model_dump(exclude={"id", "seq", "recorded_at"}) == written.model_dump()
    assert await store.get_entry(s.office.id, entry.id) == entry
    assert await store.get_entry(s.office.id, "no-such-entry") is None


async def test_text_with_nul_characters_is_stored_and_found(store: Store) -> None:
    """A NUL (U+0000, from a broken mail or an API client) never fails a write: the entry
    reads back as ``append`` returned it (PostgreSQL cannot store NUL and drops it) and is
    found by the same source id."""
    s = await seed(store)
    office = s.office.id
    entry, created = await store.append(draft(
        office, s.customer.id, channel=Channel.EMAIL, source_id="<n\x00ul@x>",
        subject="S\x00", body="a\x00b", tags=("t\x00ag",), meta={"k\x00": ["v\x00"]},
        attachments=(Attachment(name="x\x00.pdf", content_type="application/pdf", size=1,
                                sha256=SHA),)))
    assert created and entry.body.replace("\x00", "") == "ab"
    assert await store.get_entry(office, entry.id) == entry
    assert await store.find_entry_by_source(office, "<n\x00ul@x>") == entry
    _, again = await store.append(draft(office, s.customer.id, channel=Channel.EMAIL,
                                        source_id="<n\x00ul@x>"))
    assert not again
    revised = await store.revise_entry(office, entry.id, body="c\x00d")
    assert revised is not None and revised == await store.get_entry(office, entry.id)
    assert revised.body.replace("\x00", "") == "cd"


async def test_text_with_half_a_surrogate_pair_is_refused_as_the_message_s_fault(
        store: Store) -> None:
    """Half of a surrogate pair (``"\\ud800"`` in JSON, as a broken client may send) is no
    character and cannot be written as UTF-8: both stores refuse the draft with an error
    ingest counts as the message's own (``BAD_MESSAGE``: that message is quarantined as
    "unstorable" and the rest of a batch goes on), never with a database error, and store
    nothing of it."""
    s = await seed(store)
    office = s.office.id
    bad = draft(office, s.customer.id, channel=Channel.EMAIL, source_id="<half@x>",
                body="kaputt \ud800")
    for write in (lambda: store.append(bad), lambda: store.append_many([bad])):
        try:
            await write()
        except BAD_MESSAGE:
            pass
        else:
            raise AssertionError("the draft was stored")
    assert await store.find_entry_by_source(office, "<half@x>") is None
    good, created = await store.append(draft(office, s.customer.id, channel=Channel.EMAIL,
                                             source_id="<whole@x>", body="gut"))
    assert created and await store.get_entry(office, good.id) == good


async def test_append_is_idempotent_on_source_id(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    first, created = await store.append(draft(office, c, channel=Channel.EMAIL,
                                              source_id="<m1@x>"))
    again, created2 = await store.append(draft(office, c, channel=Channel.EMAIL,
                                               source_id="<m1@x>", body="changed"))
    assert created and not created2
    assert again == first  # the stored entry, not the new draft
    # the same source id on another channel is another message
    _, created3 = await store.append(draft(office, c, channel=Channel.CHAT, source_id="<m1@x>"))
    assert created3
    # duplicates inside one batch collapse too, and so do ones already on file
    results = await store.append_many([
        draft(office, c, channel=Channel.EMAIL, source_id="<m2@x>"),
        draft(office, c, channel=Channel.EMAIL, source_id="<m2@x>"),
        draft(office, c, channel=Channel.EMAIL, source_id="<m1@x>"),
        draft(office, c)])
    assert [r[1] for r in results] == [True, False, False, True]
    assert results[0][0].id == results[1][0].id and results[2][0] == first
    page = await store.timeline(office, c, TimelineQuery(limit=100))
    assert len(page.items) == 4
    assert await store.count_entries() == 4


async def test_concurrent_writers_store_one_message_once(store: Store,
                                                         second_store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    same = [handle.append(draft(office, c, channel=Channel.EMAIL, source_id="<dup@x>"))
            for handle in (store, second_store) * 3]
    results = await asyncio.gather(*same)
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len({entry.id for entry, _ in results}) == 1


async def test_overlapping_batches_in_opposite_orders_store_each_message_once(
        store: Store, second_store: Store) -> None:
    """Two imports of the same mailbox at once, one reading it backwards (and with other
    timestamps): neither fails, every message is stored once and reported created once."""
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    ids = [f"<m{i}@x>" for i in range(400)]

    def batch(order: list[str], start: timedelta) -> list[Any]:
        return [draft(office, c, channel=Channel.EMAIL, source_id=sid,
                      occurred_at=T0 + start + timedelta(milliseconds=i))
                for i, sid in enumerate(order)]
    plan = [(store, ids), (second_store, ids[::-1]), (store, ids[::-1]), (second_store, ids)]
    runs = await asyncio.gather(*[handle.append_many(batch(order, timedelta(hours=n)))
                                  for n, (handle, order) in enumerate(plan)])
    created = [entry.source_id for run in runs for entry, made in run if made]
    assert sorted(created) == sorted(ids)
    for run, (_, order) in zip(runs, plan, strict=True):  # answers in the order asked
        assert [entry.source_id for entry, _ in run] == order
    found = await store.entries_by_sources(office, ids)
    assert len(found) == 400
    assert {entry.id for run in runs for entry, _ in run} == {e.id for e in found.values()}
    assert await store.count_entries() == 400


async def test_concurrent_writers_at_one_instant_get_distinct_ordered_keys(
        store: Store, second_store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    batches = await asyncio.gather(*[
        handle.append_many([draft(office, c, body=f"{n}.{i}") for i in range(5)])
        for n, handle in enumerate((store, second_store, store, second_store))])
    seqs = [entry.seq for batch in batches for entry, _ in batch]
    assert len(set(seqs)) == 20
    for batch in batches:  # each writer's batch keeps its order
        mine = [entry.seq for entry, _ in batch]
        assert mine == sorted(mine)
    page = await store.timeline(office, c, TimelineQuery(limit=100))
    assert len(page.items) == 20


async def test_many_writers_at_one_millisecond_all_land_in_one_stable_order(
        store: Store, second_store: Store) -> None:
    """Two handles (two processes) write single entries and batches for one customer, all at
    the same millisecond: every entry is stored with a key of that millisecond, no key twice,
    and a reader paging the timeline while more arrive at that instant sees each entry of
    before once, newest first, and none of the new ones."""
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    handles = (store, second_store)
    singles = [handles[i % 2].append(draft(office, c, body=f"one{i}")) for i in range(30)]
    batches = [handles[i % 2].append_many([draft(office, c, body=f"b{i}.{j}")
                                           for j in range(10)]) for i in range(6)]
    results = await asyncio.gather(*singles, *batches)
    written = [r for r in results[:30] if isinstance(r, tuple)]
    written += [pair for batch in results[30:] if isinstance(batch, list) for pair in batch]
    assert len(written) == 90 and all(created for _, created in written)
    seqs = [entry.seq for entry, _ in written]
    assert len(set(seqs)) == 90
    assert all(seq_base(T0) <= seq < seq_base(T0) + SEQ_SLOTS for seq in seqs)
    newest_first = sorted(seqs, reverse=True)

    async def read_all(handle: Store) -> list[Entry]:
        page = await handle.timeline(office, c, TimelineQuery(limit=1000))
        return page.items
    assert [e.seq for e in await read_all(store)] == newest_first
    assert await read_all(second_store) == await read_all(store)

    page = await second_store.timeline(office, c, TimelineQuery(limit=7))
    paged = [e.seq for e in page.items]
    late = asyncio.gather(*[handles[i % 2].append(draft(office, c, body=f"late{i}"))
                            for i in range(20)])
    while page.next_cursor:
        page = await second_store.timeline(office, c, TimelineQuery(
            limit=7, before_seq=int(page.next_cursor)))
        paged += [e.seq for e in page.items]
        await asyncio.sleep(0)
    await late
    assert paged == newest_first
    everything = await read_all(store)
    assert len(everything) == 110 and len({e.seq for e in everything}) == 110
    assert [e.seq for e in everything] == sorted((e.seq for e in everything), reverse=True)


async def test_concurrent_retags_and_revisions_lose_nothing(store: Store,
                                                            second_store: Store) -> None:
    """Read-modify-write from two handles at once: every tag added and every revision's
    meta is kept (no update overwrites another)."""
    s = await seed(store)
    office = s.office.id
    entry, _ = await store.append(draft(office, s.customer.id, body="v0"))
    handles = (store, second_store)
    await asyncio.gather(*[handles[i % 2].retag_entry(office, entry.id, add=[f"t{i}"])
                           for i in range(12)])
    await asyncio.gather(*[handles[i % 2].revise_entry(office, entry.id, body=f"v{i + 1}",
                                                       meta={f"k{i}": i})
                           for i in range(12)])
    final = await second_store.get_entry(office, entry.id)
    assert final is not None
    assert sorted(final.tags) == sorted(f"t{i}" for i in range(12))
    assert all(final.meta[f"k{i}"] == i for i in range(12))
    bodies = [r["body"] for r in final.meta["revisions"]] + [final.body]
    assert len(bodies) == 13 and sorted(bodies) == sorted(f"v{i}" for i in range(13))
    assert bodies[0] == "v0"


async def test_source_ids_are_per_office(store: Store) -> None:
    a = await seed(store)
    b = await seed(store, office_name="B")
    _, made_a = await store.append(draft(a.office.id, a.customer.id, source_id="s"))
    _, made_b = await store.append(draft(b.office.id, b.customer.id, source_id="s"))
    assert made_a and made_b


async def test_find_by_source_single_and_batched(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    (mail, _), (chat, _), _ = await store.append_many([
        draft(office, c, channel=Channel.EMAIL, source_id="x1"),
        draft(office, c, channel=Channel.CHAT, source_id="x1", occurred_at=T0 + timedelta(1)),
        draft(office, c, channel=Channel.EMAIL, source_id="x2")])
    assert await store.find_entry_by_source(office, "x1") == mail  # the oldest
    assert await store.find_entry_by_source(office, "x1", Channel.CHAT) == chat
    assert await store.find_entry_by_source(office, "x1", Channel.PORTAL) is None
    assert await store.find_entry_by_source(office, "nope") is None
    other = await seed(store, office_name="B")
    assert await store.find_entry_by_source(other.office.id, "x1") is None

    found = await store.entries_by_sources(office, ["x1", "x2", "nope", "x1"])
    assert {k: v.id for k, v in found.items()} == {"x1": mail.id, "x2": found["x2"].id}
    assert found["x2"].source_id == "x2"
    chats = await store.entries_by_sources(office, ["x1", "x2"], Channel.CHAT)
    assert {k: v.id for k, v in chats.items()} == {"x1": chat.id}
    assert await store.entries_by_sources(other.office.id, ["x1"]) == {}
    assert await store.entries_by_sources(office, []) == {}


async def test_entries_by_seq_follow_the_order_asked(store: Store) -> None:
    s = await seed(store)
    made = await store.append_many([draft(s.office.id, s.customer.id, body=f"b{i}",
                                          occurred_at=T0 + timedelta(minutes=i))
                                    for i in range(3)])
    seqs = [e.seq for e, _ in made]
    got = await store.entries_by_seq(s.office.id, [seqs[2], 12345, seqs[0]])
    assert [e.body for e in got] == ["b2", "b0"]
    assert await store.entries_by_seq(s.office.id, []) == []


async def test_timeline_newest_first_with_stable_cursor(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    await store.append_many([draft(office, c, occurred_at=T0 + timedelta(minutes=i),
                                   body=f"n{i}") for i in range(25)])
    seen: list[str] = []
    page = await store.timeline(office, c, TimelineQuery(limit=10))
    seen += [e.body for e in page.items]
    # entries arriving between pages (newer, older, and at the same instant as the page's
    # last one) must not shift the pages
    await store.append(draft(office, c, occurred_at=T0 + timedelta(hours=5), body="new"))
    await store.append(draft(office, c, occurred_at=T0 + timedelta(minutes=15), body="same"))
    while page.next_cursor:
        page = await store.timeline(office, c, TimelineQuery(
            limit=10, before_seq=int(page.next_cursor)))
        seen += [e.body for e in page.items]
        await store.append(draft(office, c, occurred_at=T0 - timedelta(days=1), body="old"))
    assert seen[:25] == [f"n{i}" for i in reversed(range(25))]
    assert "new" not in seen and "same" not in seen


async def test_same_instant_entries_keep_distinct_order(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    await store.append_many([draft(office, c, body=f"s{i}") for i in range(5)])
    await store.append(draft(office, c, body="s5"))
    page = await store.timeline(office, c, TimelineQuery(limit=3))
    assert page.next_cursor is not None
    rest = await store.timeline(office, c, TimelineQuery(limit=10,
                                                         before_seq=int(page.next_cursor)))
    assert [e.body for e in page.items + rest.items] == [f"s{i}" for i in reversed(range(6))]
    assert rest.next_cursor is None


async def test_timeline_filters(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    await store.append_many([
        draft(office, c, channel=Channel.EMAIL, kind="email", body="mail",
              visibility=Visibility.PUBLISHED, occurred_at=T0),
        draft(office, c, channel=Channel.PHONE, kind="call", body="call",
              occurred_at=T0 + timedelta(days=1)),
        draft(office, c, channel=Channel.PHONE, kind="phone_note", body="pn",
              visibility=Visibility.PUBLISHED, occurred_at=T0 + timedelta(days=2)),
    ])

    async def bodies(**kw: Any) -> list[str]:
        page = await store.timeline(office, c, TimelineQuery(**kw))
        return [e.body for e in page.items]

    assert await bodies(channels=(Channel.PHONE,)) == ["pn", "call"]
    assert await bodies(kinds=("call", "email")) == ["call", "mail"]
    assert await bodies(visibility=Visibility.PUBLISHED) == ["pn", "mail"]
    assert await bodies(since=T0 + timedelta(hours=1)) == ["pn", "call"]
    assert await bodies(until=T0 + timedelta(days=1)) == ["call", "mail"]
    assert await bodies(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=1)) == [
        "call"]
    assert await bodies(channels=(Channel.PHONE,), visibility=Visibility.PUBLISHED) == ["pn"]
    every = {"channels": (Channel.PHONE, Channel.EMAIL), "kinds": ("call", "phone_note", "email"),
             "since": T0 - timedelta(days=1), "until": T0 + timedelta(days=3)}
    assert await bodies(**every, visibility=Visibility.PUBLISHED) == ["pn", "mail"]
    first = await store.timeline(office, c, TimelineQuery(**every, limit=1))
    assert [e.body for e in first.items] == ["pn"] and first.next_cursor is not None
    assert await bodies(**every, before_seq=int(first.next_cursor)) == ["call", "mail"]


async def test_timeline_json_is_the_timeline_as_the_api_shows_it(store: Store) -> None:
    """``timeline_json`` gives the page ``timeline`` gives, each entry exactly as
    ``public_entry`` shows it: times in UTC whatever offset (or none) they were written
    with, whole seconds and microseconds, attachments with their index and path in their
    order, tags, meta, empty and missing values, every filter, the cursor."""
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    other = await seed(store, name="Other")
    cest = timezone(timedelta(hours=2))
    await store.append_many([
        draft(office, c, channel=Channel.EMAIL, kind="email", direction=Direction.INBOUND,
              visibility=Visibility.PUBLISHED, notify=True, author="Jürgen <j@x.de>",
              subject="Kündigung \"sofort\" \\ 👋", body="Grüße\n\tzweite Zeile\u2028\x01",
              html="<p>Grüße</p>", occurred_at=datetime(2026, 5, 1, 9, 30, 15, 123456,
                                                        tzinfo=cest),
              attachments=tuple(Attachment(name=f"Vertrag {i} ä.pdf",
                                           content_type="application/pdf", size=1234 + i,
                                           sha256=SHA) for i in range(12)),
              tags=("complaint", "vip"), source_id="<m1@x>",
              meta={"from": "j@x.de", "nested": {"n": [1, 2.5, None, True, -0.001]}}),
        draft(office, c, channel=Channel.PHONE, kind="call", body="",
              occurred_at=datetime(2026, 5, 2, 8, 0)),  # no offset: taken as UTC
        draft(office, c, channel=Channel.PHONE, kind="phone_note", body="pn",
              visibility=Visibility.PUBLISHED, occurred_at=T0 + timedelta(days=2)),
        *[draft(office, c, body=f"n{i}", occurred_at=T0 + timedelta(minutes=i))
          for i in range(7)],
    ])
    await store.append(draft(other.office.id, other.customer.id, body="not this customer's"))

    async def both(**kw: Any) -> tuple[list[dict[str, Any]], str | None]:
        query = TimelineQuery(**kw)
        page = await store.timeline(office, c, query)
        shown = await store.timeline_json(office, c, query)
        expected = orjson.loads(orjson.dumps([public_entry(e) for e in page.items],
                                             option=orjson.OPT_UTC_Z))
        assert orjson.loads(shown.items_json) == expected
        assert (shown.next_cursor, shown.count) == (page.next_cursor, len(page.items))
        return expected, shown.next_cursor

    items, cursor = await both()
    assert len(items) == 10 and cursor is None
    mail = next(i for i in items if i["kind"] == "email")
    assert mail["occurred_at"] == "2026-05-01T07:30:15.123456Z" and mail["notify"] is True
    assert [a["index"] for a in mail["attachments"]] == list(range(12))
    assert mail["attachments"][11]["url"] == f"/api/v1/entries/{mail['id']}/attachments/11"
    call = next(i for i in items if i["kind"] == "call")
    assert call["occurred_at"] == "2026-05-02T08:00:00Z" and call["html"] is None
    seen: list[str] = []
    while True:
        items, cursor = await both(limit=3, **({"before_seq": int(cursor)} if cursor else {}))
        seen += [i["body"] for i in items]
        if cursor is None:
            break
    assert len(seen) == 10 and len(set(seen)) == 10
    await both(channels=(Channel.PHONE,))
    await both(kinds=("call", "email"), limit=1)
    await both(visibility=Visibility.PUBLISHED)
    await both(since=T0 + timedelta(minutes=3), until=T0 + timedelta(days=2))
    empty = await store.timeline_json(office, "no-such-customer", TimelineQuery())
    assert (empty.items_json, empty.next_cursor, empty.count) == (b"[]", None, 0)


async def test_revise_keeps_history_unless_told_not_to(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    entry, _ = await store.append(draft(office, s.customer.id, subject="Call", body="ringing",
                                        meta={"call_id": "c1"}))
    revised = await store.revise_entry(office, entry.id, body="answered",
                                       meta={"duration": 42})
    assert revised is not None and (revised.subject, revised.body) == ("Call", "answered")
    assert revised.meta["call_id"] == "c1" and revised.meta["duration"] == 42
    assert [(r["subject"], r["body"]) for r in revised.meta["revisions"]] == [
        ("Call", "ringing")]
    assert (revised.id, revised.seq) == (entry.id, entry.seq)
    assert await store.get_entry(office, entry.id) == revised

    quiet = await store.revise_entry(office, entry.id, subject="Call (2 min)",
                                     keep_history=False)
    assert quiet is not None and quiet.subject == "Call (2 min)" and quiet.body == "answered"
    assert len(quiet.meta["revisions"]) == 1  # no new revision recorded
    unchanged = await store.revise_entry(office, entry.id, body="answered")
    assert unchanged is not None and len(unchanged.meta["revisions"]) == 1  # nothing changed
    assert await store.revise_entry(office, "no-such-entry", body="x") is None
    other = await seed(store, office_name="B")
    assert await store.revise_entry(other.office.id, entry.id, body="hijack") is None
    after = await store.get_entry(office, entry.id)
    assert after is not None and after.body == "answered"


async def test_retag_adds_and_removes_once(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    entry, _ = await store.append(draft(office, s.customer.id, tags=("a", "b")))
    assert await store.retag_entry(office, entry.id, add=["c", "a", "c"], remove=["b"]) == (
        "a", "c")
    got = await store.get_entry(office, entry.id)
    assert got is not None and got.tags == ("a", "c")
    assert await store.retag_entry(office, entry.id) == ("a", "c")
    assert await store.retag_entry(office, "no-such-entry", add=["x"]) is None
    other = await seed(store, office_name="B")
    assert await store.retag_entry(other.office.id, entry.id, add=["x"]) is None


async def test_entries_with_tag_follow_retagging_across_customers(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    second = await store.create_customer(office, "Karl", [])
    (late, _), (early, _), (plain, _) = await store.append_many([
        draft(office, s.customer.id, tags=("request",), occurred_at=T0 + timedelta(hours=2)),
        draft(office, second.id, tags=("request",), occurred_at=T0),
        draft(office, second.id, occurred_at=T0 + timedelta(hours=1))])
    assert [e.id for e in await store.entries_with_tag(office, "request")] == [
        early.id, late.id]
    await store.retag_entry(office, plain.id, add=["request"])
    await store.retag_entry(office, early.id, add=["request:done"])
    open_ = await store.entries_with_tag(office, "request", without_tag="request:done")
    assert [e.id for e in open_] == [plain.id, late.id]
    mine = await store.entries_with_tag(office, "request", customer_id=second.id, limit=1)
    assert [e.id for e in mine] == [early.id]


async def test_scan_entries_goes_through_every_office_in_key_order(store: Store) -> None:
    a = await seed(store)
    b = await seed(store, office_name="B")
    await store.append_many([draft(a.office.id, a.customer.id,
                                   occurred_at=T0 + timedelta(seconds=i)) for i in range(5)])
    await store.append_many([draft(b.office.id, b.customer.id,
                                   occurred_at=T0 + timedelta(seconds=i)) for i in range(2)])
    got, after = [], -(2**63)
    while batch := await store.scan_entries(after, 3):
        assert len(batch) <= 3
        got += batch
        after = batch[-1].seq
    assert len(got) == 7 == await store.count_entries()
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    assert {e.office_id for e in got} == {a.office.id, b.office.id}


async def test_every_read_gives_awkward_text_back_unchanged(store: Store) -> None:
    """Reads that hand many rows over at once (the timeline, the caller lookup, search
    hits by position) give back exactly what ``append`` returned: quotes, backslashes,
    control characters, U+2028, astral characters, a long body, JSON meta with every kind
    of value, no HTML."""
    s = await seed(store, Identity(kind=IdentityKind.PHONE, value="+4930123456"))
    office, c = s.office.id, s.customer.id
    awkward = "\"quoted\" \\back\\slash\t\x01\x1f \u2028\u2029 😀 𝄞 Grüße ' ; -- </p>"
    made = [e for e, _ in await store.append_many([
        draft(office, c, subject=awkward, body=awkward * (2000 if i == 0 else 1), html=None,
              author=awkward, tags=(awkward, "plain"), source_id=f"<{i}{awkward}>",
              attachments=(Attachment(name=awkward, content_type="text/plain", size=2**40,
                                      sha256=SHA),),
              meta={"k": awkward, "n": [1, -2.5, None, True, {"x": 2**53 + 1}]},
              occurred_at=T0 + timedelta(minutes=i))
        for i in range(3)])]
    newest_first = sorted(made, key=lambda e: -e.seq)
    page = await store.timeline(office, c, TimelineQuery(limit=50))
    assert page.items == newest_first
    [(_, recent)] = await store.customers_with_recent(office, IdentityKind.PHONE,
                                                      "+4930123456", 10)
    assert recent == newest_first
    seqs = [e.seq for e in made]
    assert await store.entries_by_seq(office, seqs[::-1]) == made[::-1]


async def test_awaiting_reply_lists_each_waiting_customers_newest_message(store: Store) -> None:
    """Who waits for an answer (``timeline.replies``): the store's query agrees with the
    rule applied to every customer's timeline, across channels, calls, auto-replies,
    notifications, "no reply needed", the window and other offices."""
    s = await seed(store)
    office = s.office.id
    at = [T0 + timedelta(minutes=i) for i in range(40)]

    def inbound(customer: str, minute: int, **kw: Any) -> Any:
        base: dict[str, Any] = dict(channel=Channel.EMAIL, direction=Direction.INBOUND,
                                    kind="email", visibility=Visibility.PUBLISHED,
                                    occurred_at=at[minute], body=f"from {customer} {minute}")
        base.update(kw)
        return draft(office, customer, **base)

    def call(customer: str, minute: int, outcome: str, direction: Direction) -> Any:
        return draft(office, customer, channel=Channel.PHONE, direction=direction,
                     kind="call", occurred_at=at[minute], meta={"outcome": outcome},
                     tags=("missed",) if outcome == "missed" else ())

    names = "email note chat missed not_reached answered auto dismissed portal newest " \
            "old reply internal".split()
    c = {n: (await store.create_customer(office, n, [])).id for n in names}
    await store.append_many([
        inbound(c["email"], 1),
        inbound(c["note"], 2), published(office, c["note"], occurred_at=at[3]),
        inbound(c["chat"], 4, channel=Channel.CHAT, kind="message"),
        draft(office, c["chat"], occurred_at=at[5]),  # an internal note answers nobody
        call(c["missed"], 6, "missed", Direction.INBOUND),
        inbound(c["not_reached"], 7),
        call(c["not_reached"], 8, "not_reached", Direction.OUTBOUND),
        inbound(c["answered"], 9), call(c["answered"], 10, "answered", Direction.OUTBOUND),
        inbound(c["auto"], 11, kind="auto_reply"),
        inbound(c["dismissed"], 12), inbound(c["dismissed"], 13, tags=(NO_REPLY,)),
        inbound(c["portal"], 14, channel=Channel.PORTAL, kind="message"),
        draft(office, c["portal"], channel=Channel.NOTIFICATION,
              direction=Direction.OUTBOUND, kind="notification", occurred_at=at[15]),
        inbound(c["newest"], 16), inbound(c["newest"], 18),
        inbound(c["old"], 0),
        inbound(c["reply"], 19),
        draft(office, c["reply"], channel=Channel.EMAIL, direction=Direction.OUTBOUND,
              kind="reply", visibility=Visibility.PUBLISHED, occurred_at=at[20]),
        inbound(c["internal"], 21, visibility=Visibility.INTERNAL),
    ])
    other = await seed(store, office_name="B")
    await store.append(draft(other.office.id, other.customer.id, channel=Channel.EMAIL,
                             direction=Direction.INBOUND, kind="email", occurred_at=at[5]))

    since = at[1]
    got = await store.awaiting_reply(office, since, 100)
    expected = []
    for customer in c.values():
        page = await store.timeline(office, customer, TimelineQuery(limit=200))
        message = waiting_message(page.items)
        if message is not None and message.occurred_at >= since:
            expected.append(message)
    expected.sort(key=lambda e: e.seq)
    assert got == expected
    assert [e.customer_id for e in got] == [c[n] for n in (
        "email", "chat", "missed", "not_reached", "portal", "newest", "internal")]
    assert got[5].occurred_at == at[18]  # a customer's newest message, once

    assert [e.customer_id for e in await store.awaiting_reply(office, since, 2)] == [
        c["email"], c["chat"]]
    assert c["old"] in [e.customer_id for e in await store.awaiting_reply(office, T0, 100)]
    # "no reply needed", then an answer, take customers off the list
    await store.retag_entry(office, got[0].id, add=[NO_REPLY])
    await store.append(published(office, c["chat"], occurred_at=at[22]))
    assert [e.customer_id for e in await store.awaiting_reply(office, since, 100)] == [
        c[n] for n in ("missed", "not_reached", "portal", "newest", "internal")]
    # a new message after an answer waits again
    await store.append(inbound(c["chat"], 23, channel=Channel.CHAT, kind="message"))
    assert [e.customer_id for e in await store.awaiting_reply(office, since, 100)][-1] == \
        c["chat"]
    assert await store.awaiting_reply(other.office.id, since, 100) != []
    assert await store.awaiting_reply("no-such-office", since, 100) == []


async def test_move_files_an_entry_on_another_customer(store: Store) -> None:
    """``move_entry``: the entry keeps its key and time, records the move, is reindexed;
    its notification not sent yet goes along (one being sent stays); the old customer's
    portal loses it."""
    from tests.store_contract.helpers import claim_one
    from timeline.errors import Conflict, NotFound

    s = await seed(store)
    office = s.office.id
    other = await store.create_customer(office, "Max Muster", [])
    first, _ = await store.append(published(office, s.customer.id, body="eins"))
    second, _ = await store.append(published(office, s.customer.id, body="zwei"))
    await store.add_inbox_item(office, s.customer.id, first.id, "Neu", "eins", [])
    await store.add_inbox_item(office, s.customer.id, second.id, "Neu", "zwei", [])
    claimed = await claim_one(store, "w1")  # being sent right now
    sending = {first.id: first, second.id: second}[claimed.entry_id]
    waiting = second if sending is first else first
    _, outbox_before = await store.index_backlog()
    note = {"from": s.customer.id, "to": other.id, "by": "agent-1", "at": "now"}

    moved = await store.move_entry(office, waiting.id, other.id, note)
    assert moved is not None
    assert (moved.id, moved.seq, moved.occurred_at) == (waiting.id, waiting.seq,
                                                         waiting.occurred_at)
    assert moved.customer_id == other.id and moved.meta["moved"] == [note]
    assert await store.get_entry(office, waiting.id) == moved
    on_other = await store.timeline(office, other.id, TimelineQuery())
    assert [e.id for e in on_other.items] == [waiting.id]
    still = await store.timeline(office, s.customer.id, TimelineQuery())
    assert [e.id for e in still.items] == [sending.id]
    _, outbox_after = await store.index_backlog()
    assert outbox_after > outbox_before  # reindexed under its new customer
    assert [i.entry_id for i in await store.list_inbox(office, s.customer.id)] == [sending.id]

    again = await store.move_entry(office, sending.id, other.id, note)
    assert again is not None and again.customer_id == other.id
    jobs = {j.entry_id: j for j in await store.list_notify_jobs(office)}
    assert jobs[waiting.id].customer_id == other.id  # not sent yet: goes to the new one
    assert jobs[sending.id].customer_id == s.customer.id  # being sent: stays
    assert await store.list_inbox(office, s.customer.id) == []  # they were not hers

    # back again: both moves recorded; an unknown entry, customer or office
    back = await store.move_entry(office, waiting.id, s.customer.id, {**note, "by": "b"})
    assert back is not None and [m["by"] for m in back.meta["moved"]] == ["agent-1", "b"]
    assert await store.move_entry(office, waiting.id, s.customer.id, note) == back
    assert await store.move_entry(office, "no-such-entry", other.id, note) is None
    elsewhere = await seed(store, office_name="B")
    assert await store.move_entry(elsewhere.office.id, waiting.id, elsewhere.customer.id,
                                  note) is None
    third = await store.create_customer(office, "Doppelt", [])
    await store.merge_customers(office, third.id, other.id)
    for target, error in (("no-such-customer", NotFound), (elsewhere.customer.id, NotFound),
                          (third.id, Conflict)):
        try:
            await store.move_entry(office, waiting.id, target, note)
        except error:
            pass
        else:
            raise AssertionError(f"moved onto {target}")
    after = await store.get_entry(office, waiting.id)
    assert after is not None and after.customer_id == s.customer.id


async def test_undoing_a_merge_leaves_an_entry_moved_on_since(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    dup = await store.create_customer(office, "Erika (doppelt)", [])
    third = await store.create_customer(office, "Max Muster", [])
    entry, _ = await store.append(draft(office, dup.id, body="an die Doppelte"))
    kept, _ = await store.append(draft(office, dup.id, body="bleibt"))
    merge = await store.merge_customers(office, dup.id, s.customer.id)
    await store.move_entry(office, entry.id, third.id, {"by": "a"})
    await store.undo_merge(office, merge.id)
    assert (await store.get_entry(office, entry.id)).customer_id == third.id  # type: ignore[union-attr]
    assert (await store.get_entry(office, kept.id)).customer_id == dup.id  # type: ignore[union-attr]
