"""Filing an entry on the customer it is really about: ``POST /entries/{id}/move``.

A mail from a shared family address lands on the husband, a phone note on the wrong one of
two callers with one number: the agent moves the entry, and everything follows -- both
timelines and search under the customer filter (the portal, notifications not sent yet
and the portal inbox: ``tests/store_contract/test_entries.py``)."""

from __future__ import annotations

from typing import Any

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub


async def note(hub: Hub, customer_id: str, body: str, **kw: Any) -> dict[str, Any]:
    status, entry = await hub.agent.post(f"/customers/{customer_id}/entries",
                                         json={"kind": "note", "body": body, **kw})
    assert status == 201, entry
    return entry


async def timeline_ids(hub: Hub, customer_id: str) -> list[str]:
    status, page = await hub.agent.get(f"/customers/{customer_id}/timeline")
    assert status == 200
    return [e["id"] for e in page["items"]]


async def test_an_entry_moves_with_its_history_and_search(hub: Hub) -> None:
    hans = await make_customer(hub, "Hans Mustermann", emails=["familie@example.de"])
    erika = await make_customer(hub, "Erika Mustermann")
    older = await note(hub, erika["id"], "Erstgespräch Hausrat", visibility="internal")
    misfiled = await note(hub, hans["id"], "Kfz-Schaden Erikas Golf, Gutachten folgt",
                          visibility="internal")
    kept = await note(hub, hans["id"], "Hans fragt nach der Haftpflicht",
                      visibility="internal")

    status, moved = await hub.agent.post(f"/entries/{misfiled['id']}/move",
                                         json={"customer_id": erika["id"]})
    assert status == 200, moved
    assert moved["id"] == misfiled["id"] and moved["customer_id"] == erika["id"]
    assert moved["occurred_at"] == misfiled["occurred_at"]
    [record] = moved["meta"]["moved"]
    assert (record["from"], record["to"]) == (hans["id"], erika["id"]) and record["by"]
    assert await timeline_ids(hub, hans["id"]) == [kept["id"]]
    assert await timeline_ids(hub, erika["id"]) == [misfiled["id"], older["id"]]  # by time

    await hub.indexed()
    status, found = await hub.agent.get("/search", params={"q": "Gutachten",
                                                           "customer": erika["id"]})
    assert status == 200 and [h["entry"]["id"] for h in found["items"]] == [misfiled["id"]]
    status, found = await hub.agent.get("/search", params={"q": "Gutachten",
                                                           "customer": hans["id"]})
    assert status == 200 and found["items"] == []


async def test_moving_says_what_is_wrong(hub: Hub) -> None:
    hans = await make_customer(hub, "Hans Mustermann")
    erika = await make_customer(hub, "Erika Mustermann")
    dup = await make_customer(hub, "Erika (doppelt)")
    entry = await note(hub, hans["id"], "Rückruf", visibility="internal")
    for body, status_wanted, code in (
            ({"customer_id": hans["id"]}, 400, "invalid_input"),  # already there
            ({"customer_id": "01NOSUCHCUSTOMER0000000000"}, 404, "not_found"),
            ({}, 400, "invalid_input"),
            ({"customer_id": erika["id"], "extra": 1}, 400, "invalid_input")):
        status, answer = await hub.agent.post(f"/entries/{entry['id']}/move", json=body)
        assert (status, answer["error"]["code"]) == (status_wanted, code), answer
    status, answer = await hub.agent.post("/entries/no-such-entry/move",
                                          json={"customer_id": erika["id"]})
    assert (status, answer["error"]["code"]) == (404, "not_found")
    status, _ = await hub.agent.post(f"/customers/{dup['id']}/merge",
                                     json={"into": erika["id"]})
    assert status == 201
    status, answer = await hub.agent.post(f"/entries/{entry['id']}/move",
                                          json={"customer_id": dup["id"]})
    assert (status, answer["error"]["code"]) == (409, "conflict")
    assert "merged" in answer["error"]["message"]
    _, other_admin = await hub.new_office()
    status, _ = await other_admin.post(f"/entries/{entry['id']}/move",
                                       json={"customer_id": erika["id"]})
    assert status == 404  # another office's entry does not exist for it
    assert await timeline_ids(hub, hans["id"]) == [entry["id"]]  # nothing moved
