"""Customer portal messages over HTTP: sessions issued by agents, messages by customers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import FormData

from tests.api.test_customers_entries import make_customer
from tests.conftest import Api, Hub
from timeline.ingest import InboundMessage
from timeline.models import Channel, IdentityKind, Visibility
from timeline.pg_db import PgDb


async def portal_for(hub: Hub, customer_id: str) -> Api:
    status, body = await hub.agent.post(f"/customers/{customer_id}/portal-token")
    assert status == 201, body
    assert body["token"].startswith("cpt_") and body["customer_id"] == customer_id
    return hub.anon.as_(body["token"])


async def entries_of(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    _, page = await hub.agent.get(f"/customers/{customer_id}/timeline")
    return list(page["items"])


async def test_a_portal_message_is_an_inbound_published_entry_with_a_copy(hub: Hub) -> None:
    c = await make_customer(hub, "Erika Mustermann", emails=["erika@example.de"])
    portal = await portal_for(hub, c["id"])
    status, sent = await portal.post("/portal/messages", json={
        "subject": "Kündigung", "body": "Bitte kündigen Sie meinen Vertrag zum 31.12."})
    assert status == 201, sent
    assert sent["subject"] == "Kündigung" and sent["attachments"] == []
    status, entry = await hub.agent.get(f"/entries/{sent['id']}")
    assert status == 200
    assert entry["customer_id"] == c["id"]
    assert (entry["channel"], entry["direction"], entry["kind"]) == (
        "portal", "inbound", "message")
    assert entry["visibility"] == "published" and entry["notify"] is True
    assert entry["body"] == "Bitte kündigen Sie meinen Vertrag zum 31.12."
    status, mine = await portal.get("/portal/messages")
    assert status == 200 and [m["id"] for m in mine["items"]] == [sent["id"]]


async def test_the_token_decides_the_customer(hub: Hub) -> None:
    erika = await make_customer(hub, "Erika")
    max_ = await make_customer(hub, "Max")
    portal = await portal_for(hub, erika["id"])
    status, body = await portal.post("/portal/messages", json={
        "body": "from Erika", "customer_id": max_["id"]})
    assert status == 400 and body["error"]["code"] == "invalid_input"
    status, sent = await portal.post("/portal/messages", json={"body": "from Erika"})
    assert status == 201
    assert [e["id"] for e in await entries_of(hub, erika["id"])] == [sent["id"]]
    assert await entries_of(hub, max_["id"]) == []
    max_portal = await portal_for(hub, max_["id"])
    status, theirs = await max_portal.get("/portal/messages")
    assert status == 200 and theirs["items"] == []


async def test_the_list_shows_only_the_customers_own_published_portal_messages(
        hub: Hub) -> None:
    c = await make_customer(hub)
    portal = await portal_for(hub, c["id"])
    _, sent = await portal.post("/portal/messages", json={"body": "mine"})
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "agent note", "visibility": "published", "notify": False})
    hidden = await hub.state.ingest.ingest(InboundMessage(
        office_id=hub.office.id, channel=Channel.PORTAL, source_id="portal:internal",
        sender_kind=IdentityKind.PORTAL, sender=c["id"], customer_id=c["id"],
        occurred_at=datetime.now(UTC), body="kept internal", visibility=Visibility.INTERNAL))
    assert hidden.entry is not None
    status, page = await portal.get("/portal/messages")
    assert status == 200 and [m["body"] for m in page["items"]] == ["mine"]
    status, _ = await portal.get(f"/portal/messages/{hidden.entry.id}/attachments/0")
    assert status == 404


@pytest.mark.parametrize("token", [None, "cpt_wrong", "chk_agent", "Basic x"],
                         ids=["none", "wrong", "agent-token", "not-bearer"])
async def test_bad_portal_tokens_are_401_and_store_nothing(hub: Hub, token: str | None
                                                          ) -> None:
    c = await make_customer(hub)
    if token == "chk_agent":
        token = hub.agent.token
    headers = {"Authorization": token} if token == "Basic x" else (
        {"Authorization": f"Bearer {token}"} if token else {})
    status, body = await hub.anon.call("POST", "/portal/messages", headers=headers,
                                       json={"body": "hi"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await hub.anon.call("GET", "/portal/messages", headers=headers)
    assert status == 401
    assert await entries_of(hub, c["id"]) == []


async def test_expired_session_is_401(hub: Hub) -> None:
    c = await make_customer(hub)
    from connectors.portal.sessions import PURPOSE, token_hash

    token = "cpt_expired-session-token"
    await hub.state.store.add_customer_token(hub.office.id, c["id"], PURPOSE,
                                             token_hash(token),
                                             datetime.now(UTC) - timedelta(seconds=1))
    status, body = await hub.anon.as_(token).post("/portal/messages", json={"body": "late"})
    assert status == 401 and "expired" in body["error"]["message"]
    assert await entries_of(hub, c["id"]) == []


async def _rows(hub: Hub, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as the store holds it (either store)."""
    db = hub.state.store.db  # type: ignore[attr-defined]
    if isinstance(db, PgDb):
        return [tuple(r) for r in await db.fetch(f"SELECT * FROM {table}")]
    return list(await db.read(lambda conn: conn.execute(f"SELECT * FROM {table}").fetchall()))


async def test_token_is_issued_by_agents_for_their_own_customers_and_stored_hashed(
        hub: Hub) -> None:
    c = await make_customer(hub)
    before = datetime.now(UTC)
    status, issued = await hub.agent.post(f"/customers/{c['id']}/portal-token")
    assert status == 201
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(days=30) <= expires - before < timedelta(days=30, minutes=1)
    stored = await _rows(hub, "customer_tokens")
    assert len(stored) == 1 and issued["token"] not in repr(stored)
    status, _ = await hub.anon.post(f"/customers/{c['id']}/portal-token")
    assert status == 401
    _, other_admin = await hub.new_office()
    status, body = await other_admin.post(f"/customers/{c['id']}/portal-token")
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.fixture
def week_long_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CHRONIK_PORTAL_SESSION_DAYS", "7")
    yield


async def test_session_validity_is_a_setting(week_long_sessions: None, hub: Hub) -> None:
    c = await make_customer(hub)
    _, issued = await hub.agent.post(f"/customers/{c['id']}/portal-token")
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)


async def test_attachments_are_stored_and_downloadable(hub: Hub) -> None:
    c = await make_customer(hub)
    portal = await portal_for(hub, c["id"])
    form = FormData()
    form.add_field("subject", "Unterlagen")
    form.add_field("body", "Anbei die Rechnung.")
    form.add_field("file", b"%PDF-1.4 rechnung", filename="Rechnung März.pdf",
                   content_type="application/pdf")
    form.add_field("file", b"photo", filename="foto.jpg", content_type="image/jpeg")
    status, sent = await portal.post("/portal/messages", data=form)
    assert status == 201, sent
    assert [(a["name"], a["size"]) for a in sent["attachments"]] == [
        ("Rechnung März.pdf", 17), ("foto.jpg", 5)]
    status, data = await portal.get(sent["attachments"][0]["url"].removeprefix("/api/v1"))
    assert status == 200 and data == b"%PDF-1.4 rechnung"
    status, entry = await hub.agent.get(f"/entries/{sent['id']}")
    assert [a["content_type"] for a in entry["attachments"]] == ["application/pdf",
                                                                  "image/jpeg"]
    status, data = await hub.agent.get(f"/entries/{sent['id']}/attachments/1")
    assert status == 200 and data == b"photo"
    other = await portal_for(hub, (await make_customer(hub, "Max"))["id"])
    status, _ = await other.get(f"/portal/messages/{sent['id']}/attachments/0")
    assert status == 404


async def test_bad_portal_messages_are_clear_errors(hub: Hub) -> None:
    c = await make_customer(hub)
    portal = await portal_for(hub, c["id"])
    too_big = FormData()
    too_big.add_field("file", b"x" * (70 * 1024), filename="big.bin")
    status, body = await portal.post("/portal/messages", data=too_big)
    assert status == 413 and body["error"]["code"] == "too_large"
    for payload in [{}, {"body": "   "}, {"subject": "x" * 1001}]:
        status, body = await portal.post("/portal/messages", json=payload)
        assert status == 400, payload
    status, body = await portal.post("/portal/messages", data=b"{broken",
                                     headers={"Content-Type": "application/json"})
    assert status == 400 and body["error"]["code"] == "invalid_json"
    odd = FormData()
    odd.add_field("customer_id", "someone-else")
    odd.add_field("file", b"x", filename="x.txt")
    status, body = await portal.post("/portal/messages", data=odd)
    assert status == 400 and "customer_id" in body["error"]["message"]
    assert await entries_of(hub, c["id"]) == []


async def test_idempotency_key_gives_one_message(hub: Hub) -> None:
    c = await make_customer(hub)
    portal = await portal_for(hub, c["id"])
    headers = {"Idempotency-Key": "form-submit-1"}
    status, first = await portal.post("/portal/messages", json={"body": "once"},
                                      headers=headers)
    assert status == 201
    status, again = await portal.post("/portal/messages", json={"body": "once"},
                                      headers=headers)
    assert status == 200 and again["id"] == first["id"]
    assert len(await entries_of(hub, c["id"])) == 1
