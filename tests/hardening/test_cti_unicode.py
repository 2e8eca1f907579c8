"""A lone surrogate in a CTI JSON body (``"\\ud800"`` as raw JSON text) is a 400, and
nothing is stored; a proper non-ASCII value still works."""

from __future__ import annotations

import pytest

from tests.conftest import Hub


async def cti_path(hub: Hub) -> str:
    _, office = await hub.admin.get("/office")
    return str(office["cti_url_path"]).removeprefix("/api/v1")


@pytest.mark.parametrize("body", [
    b'{"event": "newCall", "callId": "c1", "from": "\\ud800", "to": "4921112345670", '
    b'"direction": "in"}',
    b'{"event": "newCall", "callId": "c1", "from": "491711234567", "to": "4921112345670", '
    b'"direction": "in", "user": ["Anna", "\\udfff"]}',
    b'{"event": "newCall", "callId": "c1", "from": "491711234567", "to": "4921112345670", '
    b'"direction": "in", "\\ud800": "x"}',
], ids=["value", "list-item", "key"])
async def test_lone_surrogate_in_cti_json_is_400(hub: Hub, body: bytes) -> None:
    path = await cti_path(hub)
    status, got = await hub.anon.post(path, data=body,
                                      headers={"Content-Type": "application/json"})
    assert status == 400, got
    assert got["error"]["code"] == "invalid_json" and "surrogate" in got["error"]["message"]
    _, customers = await hub.agent.get("/customers")
    assert customers["items"] == []


async def test_non_ascii_user_names_still_work(hub: Hub) -> None:
    path = await cti_path(hub)
    status, got = await hub.anon.post(path, json={
        "event": "newCall", "callId": "c2", "from": "491711234567", "to": "4921112345670",
        "direction": "in", "user": ["Jürgen Öztürk 😀"]})
    assert status == 200, got
    assert got["customer_id"]
