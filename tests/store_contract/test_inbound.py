"""Contract: what inbound channels keep — the office's CTI token and inbound addresses,
customer tokens (portal links, unsubscribe links), the quarantine and CTI call state."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest

from tests.store_contract.helpers import REFUSED, seed
from timeline.models import utcnow
from timeline.store import Store

COVERS = frozenset({
    "cti_token", "office_for_cti_token", "add_inbound_address", "remove_inbound_address",
    "inbound_addresses", "add_customer_token", "resolve_customer_token",
    "revoke_customer_tokens", "add_quarantine", "list_quarantine", "get_quarantine",
    "resolve_quarantine", "call_state", "save_call_state", "replace_call_state",
    "unended_calls",
})

RAW1, RAW2, RAW3 = "a1" * 32, "b2" * 32, "c3" * 32


async def test_the_cti_token_is_made_once_per_office(store: Store) -> None:
    a = await store.create_office("A", "DE")
    b = await store.create_office("B", "DE")
    token = await store.cti_token(a.id)
    assert token and await store.cti_token(a.id) == token
    other = await store.cti_token(b.id)
    assert other != token
    assert await store.office_for_cti_token(token) == a.id
    assert await store.office_for_cti_token(other) == b.id
    assert await store.office_for_cti_token("cti_guess") is None
    with pytest.raises(REFUSED):
        await store.cti_token("no-such-office")


async def test_an_inbound_address_belongs_to_one_office(store: Store) -> None:
    a = await store.create_office("A", "DE")
    b = await store.create_office("B", "DE")
    assert await store.add_inbound_address(a.id, "info@buero-a.test")
    assert await store.add_inbound_address(a.id, "info@buero-a.test")  # its own: fine
    assert not await store.add_inbound_address(b.id, "info@buero-a.test")  # taken
    assert await store.add_inbound_address(b.id, "post@buero-b.test")
    assert await store.inbound_addresses(a.id) == {"info@buero-a.test": a.id}
    assert await store.inbound_addresses() == {"info@buero-a.test": a.id,
                                               "post@buero-b.test": b.id}
    assert not await store.remove_inbound_address(b.id, "info@buero-a.test")  # not theirs
    assert await store.remove_inbound_address(a.id, "info@buero-a.test")
    assert not await store.remove_inbound_address(a.id, "info@buero-a.test")
    assert await store.inbound_addresses(a.id) == {}
    assert await store.add_inbound_address(b.id, "info@buero-a.test")  # free again


async def test_customer_tokens_resolve_by_purpose_until_expiry(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    now = utcnow()
    await store.add_customer_token(office, c, "portal", "h-portal", now + timedelta(days=1))
    await store.add_customer_token(office, c, "unsubscribe", "h-unsub", now + timedelta(days=1))
    await store.add_customer_token(office, c, "portal", "h-old", now - timedelta(seconds=1))
    assert await store.resolve_customer_token("h-portal", "portal") == (office, c)
    assert await store.resolve_customer_token("h-portal", "unsubscribe") is None
    assert await store.resolve_customer_token("h-old", "portal") is None  # expired
    assert await store.resolve_customer_token("h-none", "portal") is None
    assert await store.resolve_customer_token("h-unsub", "unsubscribe", consume=True) == (
        office, c)
    assert await store.resolve_customer_token("h-unsub", "unsubscribe") is None  # used up
    assert await store.resolve_customer_token("h-portal", "portal") == (office, c)  # kept


async def test_revoking_customer_tokens_by_purpose(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    other = await store.create_customer(office, "Other", [])
    later = utcnow() + timedelta(days=1)
    for token_hash, customer, purpose in (("t1", c, "portal"), ("t2", c, "portal"),
                                          ("t3", c, "unsubscribe"), ("t4", other.id, "portal")):
        await store.add_customer_token(office, customer, purpose, token_hash, later)
    assert await store.revoke_customer_tokens(office, c, "portal") == 2
    assert await store.resolve_customer_token("t1", "portal") is None
    assert await store.resolve_customer_token("t2", "portal") is None
    assert await store.resolve_customer_token("t3", "unsubscribe") == (office, c)
    assert await store.resolve_customer_token("t4", "portal") == (office, other.id)
    assert await store.revoke_customer_tokens(office, c, "portal") == 0


async def test_quarantine_is_idempotent_while_open(store: Store) -> None:
    office = await store.create_office("A", "DE")
    item = await store.add_quarantine(office.id, "email", "unparseable", "imap:INBOX/7",
                                      RAW1, 2048)
    assert (item.status, item.channel, item.reason, item.origin, item.raw_sha256,
            item.size, item.entry_id) == ("open", "email", "unparseable", "imap:INBOX/7",
                                          RAW1, 2048, None)
    assert await store.add_quarantine(office.id, "email", "again", "x", RAW1, 2048) == item
    assert await store.get_quarantine(office.id, item.id) == item
    other = await store.create_office("B", "DE")
    assert await store.get_quarantine(other.id, item.id) is None
    theirs = await store.add_quarantine(other.id, "email", "unparseable", "x", RAW1, 2048)
    assert theirs.id != item.id


async def test_many_messages_quarantined_in_a_row_are_each_kept_once(store: Store) -> None:
    """An import or a mailbox full of unreadable mail quarantines one message after another
    on the same connection. (PostgreSQL plans a statement anew for its first five runs and
    may then reuse a generic plan: the statement must not depend on a value it only knows
    from the first runs.)"""
    office = await store.create_office("A", "DE")
    digests = [hashlib.sha256(f"raw {n}".encode()).hexdigest() for n in range(12)]
    items = [await store.add_quarantine(office.id, "email", f"unparseable {n}", "import", d,
                                       100 + n) for n, d in enumerate(digests)]
    again = [await store.add_quarantine(office.id, "email", "again", "import", d, 100 + n)
             for n, d in enumerate(digests)]
    assert again == items
    listed = await store.list_quarantine(office.id, limit=50)
    assert sorted((q.raw_sha256, q.reason) for q in listed) == sorted(
        (d, f"unparseable {n}") for n, d in enumerate(digests))


async def test_quarantine_is_listed_by_status_and_resolved(store: Store) -> None:
    office = await store.create_office("A", "DE")
    first = await store.add_quarantine(office.id, "email", "r1", "o", RAW1, 1)
    second = await store.add_quarantine(office.id, "telegram", "r2", "o", RAW2, 2)
    third = await store.add_quarantine(office.id, "email", "r3", "o", RAW3, 3)
    assert [q.id for q in await store.list_quarantine(office.id)] == [
        first.id, second.id, third.id]
    page = await store.list_quarantine(office.id, limit=2)
    assert [q.id for q in page] == [first.id, second.id]
    assert [q.id for q in await store.list_quarantine(office.id, after_id=page[-1].id)] == [
        third.id]

    done = await store.resolve_quarantine(office.id, second.id, "processed", entry_id="e-1")
    assert done is not None and (done.status, done.entry_id, done.reason) == (
        "processed", "e-1", "r2")
    gone = await store.resolve_quarantine(office.id, third.id, "discarded", reason="spam")
    assert gone is not None and (gone.status, gone.reason) == ("discarded", "spam")
    assert [q.id for q in await store.list_quarantine(office.id)] == [first.id]
    assert [q.id for q in await store.list_quarantine(office.id, status="processed")] == [
        second.id]
    assert len(await store.list_quarantine(office.id, status=None)) == 3
    other = await store.create_office("B", "DE")
    assert await store.resolve_quarantine(other.id, first.id, "discarded") is None
    still = await store.get_quarantine(office.id, first.id)
    assert still is not None and still.status == "open"
    # resolved, the same bytes may be quarantined again as a new item
    again = await store.add_quarantine(office.id, "telegram", "r2", "o", RAW2, 2)
    assert again.id != second.id and again.status == "open"


async def test_call_state_is_saved_per_office_and_keeps_its_customer(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    assert await store.call_state(office, "call-1") is None
    await store.save_call_state(office, "call-1", {"state": "ringing", "from": "+4930123"})
    assert await store.call_state(office, "call-1") == {"state": "ringing", "from": "+4930123"}
    await store.save_call_state(office, "call-1", {"state": "answered"}, s.customer.id)
    await store.save_call_state(office, "call-1", {"state": "ended", "seconds": 61})
    assert await store.call_state(office, "call-1") == {"state": "ended", "seconds": 61}
    other = await store.create_office("B", "DE")
    assert await store.call_state(other.id, "call-1") is None
    data = await store.personal_data(office, s.customer.id)
    assert data is not None  # the call stays linked to its customer after a later update
    assert [c["call_id"] for c in data.cti_calls] == ["call-1"]


async def test_calls_without_an_end_are_listed_once_old_enough(store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    await store.save_call_state(office, "ringing", {"call_id": "ringing", "ended_at": None})
    await store.save_call_state(office, "answered", {"call_id": "answered",
                                                     "answered_at": "2026-12-06T10:00:00Z"})
    await store.save_call_state(office, "ended", {"call_id": "ended",
                                                  "ended_at": "2026-12-06T10:05:00Z"})
    await store.save_call_state(office, "erased", {"call_id": "erased", "dropped": True})
    await store.save_call_state(office, "colleagues", {"call_id": "colleagues",
                                                       "internal": True})
    other = await store.create_office("B", "DE")
    await store.save_call_state(other.id, "ringing", {"call_id": "ringing"})
    assert await store.unended_calls(utcnow() - timedelta(minutes=5)) == []  # too recent
    later = utcnow() + timedelta(seconds=1)
    assert sorted(await store.unended_calls(later)) == sorted(
        [(office, "ringing"), (office, "answered"), (other.id, "ringing")])
    assert len(await store.unended_calls(later, limit=2)) == 2
    await store.save_call_state(office, "ringing", {"call_id": "ringing",
                                                    "ended_at": "2026-12-06T11:00:00Z"})
    assert (office, "ringing") not in await store.unended_calls(utcnow() + timedelta(seconds=1))


async def test_a_call_state_is_replaced_only_while_it_is_what_was_read(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    ringing = {"status": "ringing", "events": ["newCall"], "n": 1}
    assert await store.replace_call_state(office, "call-2", None, ringing, c,
                                          event="call.ringing")
    assert not await store.replace_call_state(office, "call-2", None, {"status": "x"})
    answered = {"status": "answered", "events": ["newCall", "answer"], "n": 2}
    assert await store.replace_call_state(office, "call-2", dict(ringing), answered)
    # what was read before that change is stale now: nothing is written, no event
    assert not await store.replace_call_state(office, "call-2", ringing, {"status": "ended"},
                                              event="call.ended")
    assert await store.call_state(office, "call-2") == answered
    other = await store.create_office("B", "DE")  # the same call id in another office
    assert await store.replace_call_state(other.id, "call-2", None, {"status": "ringing"})
    assert await store.call_state(office, "call-2") == answered
    data = await store.personal_data(office, c)  # a later save without customer keeps it
    assert data is not None and [x["call_id"] for x in data.cti_calls] == ["call-2"]


# ---------------------------------------------------------------- two processes at once
async def test_events_of_one_call_applied_by_two_processes_are_all_kept(
        store: Store, second_store: Store) -> None:
    """Each process reads the call, adds its event and saves with ``replace_call_state``,
    starting over when the other got there first: every event ends up in the state."""
    s = await seed(store)
    office = s.office.id

    async def add(handle: Store, event: str) -> int:
        for tries in range(1, 200):
            read = await handle.call_state(office, "call-7")
            state = {"events": [*(read or {}).get("events", []), event]}
            if await handle.replace_call_state(office, "call-7", read, state):
                return tries
            await asyncio.sleep(0)
        raise AssertionError("never saved")

    tries = await asyncio.gather(*(add(store if i % 2 else second_store, f"e{i}")
                                   for i in range(12)))
    final = await store.call_state(office, "call-7")
    assert final is not None and sorted(final["events"]) == sorted(f"e{i}" for i in range(12))
    assert max(tries) > 1  # they did collide, and started over


async def test_two_first_calls_agree_on_one_cti_token(store: Store, second_store: Store
                                                      ) -> None:
    for n in range(5):
        office = await store.create_office(f"O{n}", "DE")
        a, b, c = await asyncio.gather(store.cti_token(office.id),
                                       second_store.cti_token(office.id),
                                       store.cti_token(office.id))
        assert a == b == c  # the CTI system is configured with one of them: all must work
        assert await second_store.office_for_cti_token(a) == office.id


async def test_an_address_claimed_by_two_offices_at_once_goes_to_one(
        store: Store, second_store: Store) -> None:
    a = await store.create_office("A", "DE")
    b = await store.create_office("B", "DE")
    for n in range(5):
        address = f"info{n}@shared.test"
        won = await asyncio.gather(store.add_inbound_address(a.id, address),
                                   second_store.add_inbound_address(b.id, address))
        owner = (await store.inbound_addresses()).get(address)
        assert sorted(won) == [False, True]
        assert owner == (a.id if won[0] else b.id)


async def test_a_consumed_token_is_used_once_under_concurrency(
        store: Store, second_store: Store) -> None:
    s = await seed(store)
    later = utcnow() + timedelta(days=1)
    for n in range(5):
        await store.add_customer_token(s.office.id, s.customer.id, "link", f"once-{n}", later)
        uses = await asyncio.gather(
            store.resolve_customer_token(f"once-{n}", "link", consume=True),
            second_store.resolve_customer_token(f"once-{n}", "link", consume=True))
        assert sorted(uses, key=lambda u: u is None) == [(s.office.id, s.customer.id), None]


async def test_the_same_bytes_quarantined_at_once_give_one_item(
        store: Store, second_store: Store) -> None:
    office = await store.create_office("A", "DE")
    items = await asyncio.gather(
        store.add_quarantine(office.id, "email", "r", "imap:1", RAW1, 10),
        second_store.add_quarantine(office.id, "email", "r", "imap:2", RAW1, 10),
        store.add_quarantine(office.id, "email", "r", "imap:3", RAW1, 10))
    assert len({item.id for item in items}) == 1
    assert [q.id for q in await second_store.list_quarantine(office.id)] == [items[0].id]


async def test_concurrent_saves_of_one_call_keep_its_customer(
        store: Store, second_store: Store) -> None:
    s = await seed(store)
    office = s.office.id
    await asyncio.gather(
        store.save_call_state(office, "call-9", {"state": "answered"}, s.customer.id),
        second_store.save_call_state(office, "call-9", {"state": "ended"}),
        store.save_call_state(office, "call-9", {"state": "ringing"}))
    assert await second_store.call_state(office, "call-9") in (
        {"state": "answered"}, {"state": "ended"}, {"state": "ringing"})
    data = await store.personal_data(office, s.customer.id)
    assert data is not None and [c["call_id"] for c in data.cti_calls] == ["call-9"]
