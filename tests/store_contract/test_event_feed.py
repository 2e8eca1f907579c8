"""Contract: the live-event feed (rows written with the change they report, followed by every
process)."""

from __future__ import annotations

from tests.store_contract.helpers import draft, seed
from timeline.accounts import REVOCATION_EVENT
from timeline.models import Role
from timeline.store import Store

COVERS = frozenset({"last_event_id", "events_after"})


async def test_the_feed_reports_changes_by_id_in_order(store: Store) -> None:
    s = await seed(store)
    office, c = s.office.id, s.customer.id
    start = await store.last_event_id()
    assert await store.events_after(start, 10) == []
    (e1, _), (e2, _) = await store.append_many([draft(office, c, body="1"),
                                                draft(office, c, body="2")])
    await store.append(draft(office, c, source_id="x"))
    await store.append(draft(office, c, source_id="x"))  # a duplicate reports nothing
    await store.revise_entry(office, e1.id, body="1b")
    await store.save_call_state(office, "call-9", {"state": "ringing"}, c,
                                event="call.ringing", event_data={"missed": False})
    await store.save_call_state(office, "call-9", {"state": "ended"})  # no event asked for
    events = await store.events_after(start, 100)
    assert [(e.type, e.entry_id) for e in events[:2]] == [("entry.created", e1.id),
                                                          ("entry.created", e2.id)]
    assert [e.type for e in events[2:]] == ["entry.created", "entry.updated", "call.ringing"]
    assert all(e.office_id == office and e.customer_id == c for e in events)
    call = events[-1]
    assert (call.call_id, call.data, call.family) == ("call-9", {"missed": False}, "call")
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > start
    assert await store.last_event_id() == ids[-1]
    assert await store.events_after(ids[1], 2) == events[2:4]
    assert await store.events_after(ids[-1], 10) == []


async def test_the_feed_is_shared_by_every_handle(store: Store, second_store: Store) -> None:
    s = await seed(store)
    start = await second_store.last_event_id()
    entry, _ = await store.append(draft(s.office.id, s.customer.id))
    [event] = await second_store.events_after(start, 10)
    assert (event.type, event.entry_id) == ("entry.created", entry.id)
    assert await second_store.last_event_id() == await store.last_event_id() == event.id


async def test_a_revoked_api_token_is_reported_by_its_id(store: Store,
                                                         second_store: Store) -> None:
    """Every process caches checked tokens: the feed tells them which one is gone (its id,
    never the token or its full hash), in the transaction that revokes it."""
    s = await seed(store)
    agent = await store.create_agent(s.office.id, "Anna", Role.AGENT, "d4" * 32)
    token_hash = "c3" * 32
    token_id = await store.add_agent_token(agent.id, token_hash)
    start = await second_store.last_event_id()
    assert not await store.revoke_agent_token(s.office.id, "f" * 12)  # none: nothing said
    assert await second_store.events_after(start, 10) == []
    assert await store.revoke_agent_token(s.office.id, token_id.upper())
    [event] = await second_store.events_after(start, 10)
    assert (event.office_id, event.type, event.family) == (s.office.id, REVOCATION_EVENT,
                                                           "token")
    assert event.data == {"token_id": token_hash[:12]}
    assert (event.customer_id, event.entry_id, event.call_id) == (None, None, None)
