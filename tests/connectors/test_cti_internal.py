"""Colleagues calling each other: a PBX that reports every call also reports calls between
two of the office's extensions (``201`` → ``202``), or says ``direction=internal``. They are
nobody's customer call: nothing on a timeline, nothing in the quarantine, no caller banner —
while a call from an extension to a customer stays that customer's call."""

from __future__ import annotations

import pytest

from tests.api.test_customers_entries import make_customer
from tests.api.test_events import stream
from tests.conftest import Hub
from tests.connectors.test_cti import answer, calls_of, cti_path, hangup, new_call, send


@pytest.mark.parametrize("event", [
    new_call("i1", frm="201", to="202"),
    new_call("i1", frm="**610", to="23", direction="out"),
    new_call("i1", frm="0171 1234567", to="202", direction="internal"),
    new_call("i1", frm="201", to="202", direction="Intern"),
])
async def test_a_call_between_extensions_is_stored_nowhere(hub: Hub, event: dict) -> None:
    erika = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    async with stream(hub, hub.agent, hub.office.id) as live:
        done = await send(hub, path, event)
        assert done["internal"] is True and done["quarantined"] is False
        assert done["entry_id"] is None and done["customer_id"] is None
        for later in (answer("i1"), hangup("i1")):  # no numbers: known by the call id
            assert (await send(hub, path, later))["internal"] is True
        await live.nothing_within(0.5)  # no call.ringing: no banner for a colleague
    _, quarantine = await hub.admin.get("/quarantine")
    assert quarantine["items"] == []
    assert await calls_of(hub, erika["id"]) == []
    _, customers = await hub.agent.get("/customers")
    assert [c["id"] for c in customers["items"]] == [erika["id"]]


async def test_an_extension_calling_a_customer_is_the_customers_call(hub: Hub) -> None:
    erika = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    done = await send(hub, path, new_call("o1", frm="201", to="0171 1234567",
                                          direction="out"))
    assert done["internal"] is False and done["customer_id"] == erika["id"]
    assert [c["source_id"] for c in await calls_of(hub, erika["id"])] == ["cti:o1"]
    inbound = await send(hub, path, new_call("o2", frm="0171 1234567", to="201"))
    assert inbound["internal"] is False and inbound["customer_id"] == erika["id"]


async def test_an_unknown_direction_word_is_still_refused(hub: Hub) -> None:
    path = await cti_path(hub)
    body = await send(hub, path, new_call("x1", direction="sideways"), status=400)
    assert body["error"]["details"]["invalid"] == [
        {"field": "direction", "problem": "must be in, out or internal"}]
