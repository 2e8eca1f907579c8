"""``Idempotency-Key`` on ``POST /customers/{id}/entries``: the same request again is answered
with the entry written the first time; the key with a different request is refused (422),
as Stripe's API and the IETF Idempotency-Key draft do, and nothing is written."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import FormData

from tests.conftest import Hub

KEY = "7b0e6a52-9d1e-4c1b-8f0a-2f6c3d4e5a61"


async def post(hub: Hub, url: str, key: str = KEY, headers: dict[str, str] | None = None,
               **kw: Any) -> tuple[int, Any, str | None]:
    """(status, body, Idempotent-Replayed header) of one write as the agent."""
    async with hub.agent.session.post(hub.agent.base + url, headers={
            "Authorization": f"Bearer {hub.agent.token}", "Idempotency-Key": key,
            **(headers or {})}, **kw) as resp:
        return resp.status, await resp.json(), resp.headers.get("Idempotent-Replayed")


async def customer(hub: Hub, name: str) -> str:
    status, body = await hub.agent.post("/customers", json={"name": name})
    assert status == 201, body
    return str(body["id"])


async def entries_of(hub: Hub, customer_id: str) -> list[str]:
    status, page = await hub.agent.get(f"/customers/{customer_id}/timeline")
    assert status == 200
    return [e["id"] for e in page["items"]]


async def test_the_key_with_a_different_body_is_422_and_writes_nothing(hub: Hub) -> None:
    erika = await customer(hub, "Erika Mustermann")
    url = f"/customers/{erika}/entries"
    note = {"kind": "note", "body": "Rückruf vereinbart", "visibility": "internal"}
    s1, first, replayed = await post(hub, url, json=note)
    assert s1 == 201 and replayed is None
    # the same request, written differently (key order, spacing, time zone aside): a retry
    s2, again, replayed = await post(hub, url, data=(
        '{ "visibility" : "internal", "body": "R\\u00fcckruf vereinbart", "kind": "note" }'),
        headers={"Content-Type": "application/json"})
    assert (s2, again["id"], replayed) == (201, first["id"], "true")
    assert again["preset_source"] == first["preset_source"]
    # the same key, another text: refused, with the entry the key wrote
    s3, error, _ = await post(hub, url, json={**note, "body": "Rückruf abgesagt"})
    assert s3 == 422, error
    assert error["error"]["code"] == "idempotency_key_reused"
    assert "reused with a different request" in error["error"]["message"]
    assert error["error"]["details"] == {"entry_id": first["id"]}
    # …another customer as the target, or another field: refused too
    max_ = await customer(hub, "Max Mustermann")
    s4, error, _ = await post(hub, f"/customers/{max_}/entries", json=note)
    assert s4 == 422 and error["error"]["code"] == "idempotency_key_reused"
    s5, error, _ = await post(hub, url, json={**note, "kind": "phone_note"})
    assert s5 == 422 and error["error"]["code"] == "idempotency_key_reused"
    assert await entries_of(hub, erika) == [first["id"]]
    assert await entries_of(hub, max_) == []
    # a new key is a new entry
    s6, other, _ = await post(hub, url, key="another-key", json={**note, "body": "abgesagt"})
    assert s6 == 201 and other["id"] != first["id"]


async def test_a_multipart_upload_is_the_same_request_only_with_the_same_file(hub: Hub) -> None:
    erika = await customer(hub, "Erika Mustermann")
    url = f"/customers/{erika}/entries"

    def form(content: bytes) -> FormData:
        data = FormData()
        data.add_field("subject", "Police 2027")
        data.add_field("notify", "false")
        data.add_field("file", content, filename="Police.pdf", content_type="application/pdf")
        return data

    s1, first, _ = await post(hub, url, data=form(b"%PDF-1.4 police"))
    s2, again, replayed = await post(hub, url, data=form(b"%PDF-1.4 police"))
    assert (s1, s2, again["id"], replayed) == (201, 201, first["id"], "true")
    s3, error, _ = await post(hub, url, data=form(b"%PDF-1.4 another police"))
    assert s3 == 422 and error["error"]["code"] == "idempotency_key_reused"
    assert await entries_of(hub, erika) == [first["id"]]


async def test_the_openapi_document_names_the_422(hub: Hub) -> None:
    status, spec = await hub.anon.get("/openapi.json")
    assert status == 200
    op = spec["paths"]["/api/v1/customers/{id}/entries"]["post"]
    assert "422" in op["responses"]
    key = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
    assert "422 idempotency_key_reused" in key["description"]


async def test_racing_requests_with_one_key_write_one_entry_and_refuse_the_others(
        hub: Hub) -> None:
    erika = await customer(hub, "Erika Mustermann")
    url = f"/customers/{erika}/entries"
    bodies = [f"Rückruf um {hour} Uhr" for hour in range(9, 15)]
    answers = await asyncio.gather(*(post(hub, url, json={"kind": "note", "body": b,
                                                          "visibility": "internal"})
                                     for b in bodies))
    written = await entries_of(hub, erika)
    assert len(written) == 1, answers
    created = [a for s, a, _ in answers if s == 201]
    assert created and {a["id"] for a in created} == set(written)
    assert len({a["body"] for a in created}) == 1
    assert all(s == 422 and a["error"]["code"] == "idempotency_key_reused"
               for s, a, _ in answers if s != 201)
    assert len(created) == 1  # every other body differs from the one written
