"""Adding an inbound address another office uses says nothing about that office."""

from __future__ import annotations

from tests.conftest import Hub


async def test_another_offices_address_is_just_unavailable(hub: Hub) -> None:
    status, _ = await hub.admin.post("/office/inbound-addresses",
                                     json={"address": "service@buero.example"})
    assert status == 201
    _, other = await hub.new_office()
    status, body = await other.post("/office/inbound-addresses",
                                    json={"address": "Service@Buero.example"})
    assert status == 409
    assert body == {"error": {"code": "address_unavailable",
                              "message": "this address cannot be added; choose another one"}}
    assert "office" not in body["error"]["message"]
    # nothing changed for either office; the owner still has it
    _, mine = await hub.admin.get("/office")
    _, theirs = await other.get("/office")
    assert mine["inbound_addresses"] == ["service@buero.example"]
    assert theirs["inbound_addresses"] == []
    # adding one's own address again stays fine (idempotent), with no other hint
    status, again = await hub.admin.post("/office/inbound-addresses",
                                         json={"address": "service@buero.example"})
    assert status == 201 and again["inbound_addresses"] == ["service@buero.example"]
