"""Phone notes: written against a call entry (linked both ways) or free-standing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import FormData

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.connectors.test_cti import calls_of, cti_path, hangup, new_call, send


async def a_call(hub: Hub, call_id: str = "c1", frm: str = "491711234567") -> dict[str, Any]:
    path = await cti_path(hub)
    await send(hub, path, new_call(call_id, frm=frm))
    done = await send(hub, path, hangup(call_id))
    status, entry = await hub.agent.get(f"/entries/{done['entry_id']}")
    assert status == 200
    return dict(entry)


async def test_phone_note_linked_to_its_call(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    call = await a_call(hub)
    notes = []
    for text in ("Asked about the invoice", "Called back: solved"):
        status, note = await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": "phone_note", "body": text, "visibility": "internal",
            "call_entry_id": call["id"]})
        assert status == 201, note
        assert note["meta"]["call_entry_id"] == call["id"] and note["channel"] == "phone"
        notes.append(note["id"])
    _, linked = await hub.agent.get(f"/entries/{call['id']}")
    assert linked["meta"]["phone_notes"] == notes
    assert linked["meta"]["outcome"] == "answered"
    assert "revisions" not in linked["meta"]


async def test_late_call_events_keep_the_note_link(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    ringing = await send(hub, path, new_call())
    _, note = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "phone_note", "body": "Still on the phone", "visibility": "internal",
        "call_entry_id": ringing["entry_id"]})
    await send(hub, path, hangup())
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["phone_notes"] == [note["id"]] and call["meta"]["status"] == "ended"


async def test_free_standing_phone_note_and_multipart_link(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    status, note = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "phone_note", "body": "Called from a colleague's phone",
        "visibility": "internal"})
    assert status == 201 and "call_entry_id" not in note["meta"]
    call = await a_call(hub)
    status, with_file = await hub.agent.post(f"/customers/{c['id']}/entries", data=multipart(
        kind="phone_note", body="Protocol attached", visibility="internal",
        call_entry_id=call["id"]))
    assert status == 201, with_file
    assert with_file["meta"]["call_entry_id"] == call["id"]
    assert [a["name"] for a in with_file["attachments"]] == ["protocol.txt"]
    status, empty_link = await hub.agent.post(f"/customers/{c['id']}/entries", data=multipart(
        kind="phone_note", body="No call", visibility="internal", call_entry_id=""))
    assert status == 201 and "call_entry_id" not in empty_link["meta"]


def multipart(**fields: str) -> FormData:
    form = FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", b"call protocol", filename="protocol.txt", content_type="text/plain")
    return form


@pytest.mark.parametrize("case", ["other-customer", "not-a-call", "unknown", "wrong-kind",
                                  "other-office"])
async def test_bad_call_links_are_refused_and_store_nothing(hub: Hub, case: str) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    other = await make_customer(hub, "Other", phones=["0171 7654321"])
    call = await a_call(hub)
    _, plain = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "plain", "visibility": "internal"})
    target, kind, call_id, expected = {
        "other-customer": (other["id"], "phone_note", call["id"], 400),
        "not-a-call": (c["id"], "phone_note", plain["id"], 400),
        "unknown": (c["id"], "phone_note", "01JUNKNOWN0000000000000000", 404),
        "wrong-kind": (c["id"], "note", call["id"], 400),
        "other-office": (c["id"], "phone_note", "", 404),
    }[case]
    if case == "other-office":
        _, admin = await hub.new_office()
        await admin.post("/customers", json={"name": "X", "phones": ["0171 1234567"]})
        _, office = await admin.get("/office")
        theirs = await send(hub, office["cti_url_path"].removeprefix("/api/v1"), new_call())
        call_id = theirs["entry_id"]
    _, before = await hub.agent.get(f"/customers/{target}/timeline")
    status, body = await hub.agent.post(f"/customers/{target}/entries", json={
        "kind": kind, "body": "note", "visibility": "internal", "call_entry_id": call_id})
    assert status == expected, body
    assert set(body["error"]) >= {"code", "message"}
    _, after = await hub.agent.get(f"/customers/{target}/timeline")
    assert after["items"] == before["items"]
    _, unchanged = await hub.agent.get(f"/entries/{call['id']}")
    assert "phone_notes" not in unchanged["meta"]
