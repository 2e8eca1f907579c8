"""Customers, identities, entries and the timeline through the real HTTP API."""

from __future__ import annotations

import asyncio

from aiohttp import FormData

from tests.conftest import Hub


async def make_customer(hub: Hub, name: str = "Erika Mustermann", **kw: object) -> dict:
    status, body = await hub.agent.post("/customers", json={"name": name, **kw})
    assert status == 201, body
    return body


async def test_create_read_update_customer(hub: Hub) -> None:
    c = await make_customer(hub, emails=["Erika@Example.DE"], phones=["0171 1234567"])
    assert {(i["kind"], i["value"]) for i in c["identities"]} == {
        ("email", "erika@example.de"), ("phone", "+491711234567")}
    status, got = await hub.agent.get(f"/customers/{c['id']}")
    assert status == 200 and got["name"] == "Erika Mustermann"
    status, patched = await hub.agent.call("PATCH", f"/customers/{c['id']}",
                                           json={"name": "Erika Muster"})
    assert status == 200 and patched["name"] == "Erika Muster"


async def test_list_customers_by_name_with_cursor(hub: Hub) -> None:
    for name in ["Max Müller", "Anna Mueller", "Eva Schulz"]:
        await make_customer(hub, name)
    status, page = await hub.agent.get("/customers?name=muller")
    assert status == 200
    assert sorted(c["name"] for c in page["items"]) == ["Anna Mueller", "Max Müller"]
    status, first = await hub.agent.get("/customers?limit=2")
    status, second = await hub.agent.get(f"/customers?limit=2&cursor={first['next_cursor']}")
    assert len({c["id"] for c in first["items"] + second["items"]}) == 3


async def test_add_and_remove_identity(hub: Hub) -> None:
    c = await make_customer(hub)
    status, body = await hub.agent.post(f"/customers/{c['id']}/identities",
                                        json={"kind": "phone", "value": "+49 30 1234567"})
    assert status == 201 and body["identities"][0]["value"] == "+49301234567"
    status, body = await hub.agent.post(f"/customers/{c['id']}/identities",
                                        json={"kind": "phone", "value": "not a number"})
    assert status == 400 and body["error"]["code"] == "invalid_input"
    status, body = await hub.agent.call(
        "DELETE", f"/customers/{c['id']}/identities/phone/030 1234567")
    assert status == 200 and body["identities"] == []


async def test_note_defaults_to_published_and_notify_from_system(hub: Hub) -> None:
    c = await make_customer(hub)
    status, e = await hub.agent.post(f"/customers/{c['id']}/entries",
                                     json={"kind": "note", "body": "Police verlängert."})
    assert status == 201, e
    assert (e["visibility"], e["notify"]) == ("published", True)
    assert e["preset_source"] == {"visibility": "system", "notify": "system"}
    assert e["channel"] == "note" and e["author"]


async def test_a_retried_write_with_an_idempotency_key_writes_once(hub: Hub) -> None:
    """An integrator retries after a timeout: with the same ``Idempotency-Key`` the answer
    is the entry written the first time; another key (or another agent) writes anew."""
    c = await make_customer(hub, "Erika Mustermann")
    url = f"/customers/{c['id']}/entries"
    note = {"kind": "note", "body": "Rückruf vereinbart", "visibility": "internal"}
    key = {"Idempotency-Key": "4f1c2b7e-0d5a-4c55-9a53-6a3f0c2a1e11"}
    s1, first = await hub.agent.post(url, json=note, headers=key)
    s2, again = await hub.agent.post(url, json=note, headers=key)
    assert s1 == s2 == 201 and first["id"] == again["id"]
    s3, other = await hub.agent.post(url, json=note, headers={"Idempotency-Key": "zweiter"})
    s4, admins = await hub.admin.post(url, json=note, headers=key)  # keys are per agent
    s5, plain = await hub.agent.post(url, json=note)
    assert len({first["id"], other["id"], admins["id"], plain["id"]}) == 4
    _, timeline = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert len(timeline["items"]) == 4
    status, body = await hub.agent.post(url, json=note, headers={"Idempotency-Key": "ä"})
    assert status == 400 and "Idempotency-Key" in body["error"]["message"]


async def test_internal_note_and_explicit_values(hub: Hub) -> None:
    c = await make_customer(hub)
    status, e = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "intern", "visibility": "internal"})
    assert (e["visibility"], e["notify"]) == ("internal", False)
    assert e["preset_source"] == {"visibility": "request", "notify": "request"}
    status, e = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "x", "visibility": "internal", "notify": True})
    assert status == 400 and "notify" in e["error"]["message"]


async def test_document_upload_multipart_and_download(hub: Hub) -> None:
    c = await make_customer(hub)
    form = FormData()
    form.add_field("subject", "Police 2027")
    form.add_field("notify", "false")
    form.add_field("file", b"%PDF-1.4 police", filename="Police 2027.pdf",
                   content_type="application/pdf")
    status, e = await hub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 201, e
    assert e["kind"] == "document" and e["notify"] is False and e["visibility"] == "published"
    att = e["attachments"][0]
    assert (att["name"], att["size"], att["content_type"]) == (
        "Police 2027.pdf", 15, "application/pdf")
    status, data = await hub.agent.get(f"/entries/{e['id']}/attachments/0")
    assert status == 200 and data == b"%PDF-1.4 police"


async def test_upload_over_limit_is_413(hub: Hub) -> None:
    c = await make_customer(hub)
    form = FormData()
    form.add_field("file", b"x" * (200 * 1024), filename="big.bin")
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 413 and body["error"]["code"] in ("too_large",)
    status, tl = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert tl["items"] == []


async def test_document_without_file_is_400(hub: Hub) -> None:
    c = await make_customer(hub)
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries",
                                        json={"kind": "document", "body": "x"})
    assert status == 400


async def test_timeline_pagination_is_stable_while_entries_arrive(hub: Hub) -> None:
    c = await make_customer(hub)
    url = f"/customers/{c['id']}/entries"
    for i in range(12):
        await hub.agent.post(url, json={"kind": "note", "body": f"n{i}",
                                        "visibility": "internal",
                                        "occurred_at": f"2026-05-01T10:{i:02d}:00+02:00"})
    status, page = await hub.agent.get(f"/customers/{c['id']}/timeline?limit=5")
    seen = [e["body"] for e in page["items"]]
    await hub.agent.post(url, json={"kind": "note", "body": "late", "visibility": "internal"})
    while page["next_cursor"]:
        status, page = await hub.agent.get(
            f"/customers/{c['id']}/timeline?limit=5&cursor={page['next_cursor']}")
        seen += [e["body"] for e in page["items"]]
    assert seen == [f"n{i}" for i in reversed(range(12))]


async def test_timeline_filters(hub: Hub) -> None:
    c = await make_customer(hub)
    url = f"/customers/{c['id']}/entries"
    await hub.agent.post(url, json={"kind": "note", "body": "a", "visibility": "internal",
                                    "occurred_at": "2026-01-10T10:00:00+00:00"})
    await hub.agent.post(url, json={"kind": "phone_note", "body": "b", "notify": False,
                                    "occurred_at": "2026-02-10T10:00:00+00:00"})
    base = f"/customers/{c['id']}/timeline"
    _, r = await hub.agent.get(base + "?channel=phone")
    assert [e["body"] for e in r["items"]] == ["b"]
    _, r = await hub.agent.get(base + "?visibility=internal")
    assert [e["body"] for e in r["items"]] == ["a"]
    _, r = await hub.agent.get(base + "?kind=note,phone_note&since=2026-02-01")
    assert [e["body"] for e in r["items"]] == ["b"]
    _, r = await hub.agent.get(base + "?until=2026-01-31")
    assert [e["body"] for e in r["items"]] == ["a"]
    status, r = await hub.agent.get(base + "?channel=fax")
    assert status == 400
    status, r = await hub.agent.get(base + "?cursor=garbage")
    assert status == 400 and r["error"]["message"]


async def test_many_concurrent_writes_all_land(hub: Hub) -> None:
    c = await make_customer(hub)
    url = f"/customers/{c['id']}/entries"
    results = await asyncio.gather(*(hub.agent.post(url, json={
        "kind": "note", "body": f"c{i}", "visibility": "internal"}) for i in range(40)))
    assert all(s == 201 for s, _ in results)
    _, tl = await hub.agent.get(f"/customers/{c['id']}/timeline?limit=200")
    assert sorted(e["body"] for e in tl["items"]) == sorted(f"c{i}" for i in range(40))
