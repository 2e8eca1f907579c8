"""``GET /api/v1/waiting``: customers waiting for a reply, through the HTTP API (both
stores: the PostgreSQL pass runs this folder again)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.models import Channel, Direction, EntryDraft, Visibility, utcnow


async def message(hub: Hub, customer: dict[str, Any], ago: timedelta, subject: str,
                  channel: Channel = Channel.EMAIL, kind: str = "email") -> None:
    await hub.state.timeline.append(EntryDraft(
        office_id=hub.office.id, customer_id=customer["id"], channel=channel,
        direction=Direction.INBOUND, kind=kind, visibility=Visibility.PUBLISHED,
        notify=False, occurred_at=utcnow() - ago, subject=subject, body="…"))


async def test_waiting_lists_the_unanswered_longest_waiting_first(hub: Hub) -> None:
    erika = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    karl = await make_customer(hub, "Karl Kunde", phones=["0171 7654321"])
    old = await make_customer(hub, "Olga Alt", phones=["0171 5555555"])
    await message(hub, karl, timedelta(hours=2), "Telegram-Frage", Channel.CHAT, "message")
    await message(hub, erika, timedelta(hours=5), "Frage zur Police")
    await message(hub, old, timedelta(days=45), "Alte Frage")
    status, body = await hub.agent.get("/waiting")
    assert status == 200
    assert (body["days"], body["total"]) == (30, 2)
    assert [(i["customer"]["name"], i["message"]["subject"]) for i in body["items"]] == [
        ("Erika Mustermann", "Frage zur Police"), ("Karl Kunde", "Telegram-Frage")]
    assert body["items"][0]["customer"]["identities"][0]["value"] == "+491711234567"
    _, wide = await hub.agent.get("/waiting", params={"days": "90", "limit": "1"})
    assert (wide["total"], [i["customer"]["name"] for i in wide["items"]]) == (3, ["Olga Alt"])
    # a published note answers Erika, at once
    status, _ = await hub.agent.post(f"/customers/{erika['id']}/entries", json={
        "kind": "note", "body": "Police ist unterwegs.", "visibility": "published",
        "notify": False})
    assert status == 201
    _, body = await hub.agent.get("/waiting")
    assert [i["customer"]["name"] for i in body["items"]] == ["Karl Kunde"]
    # an internal note does not answer Karl; a new message from Erika puts her back
    await hub.agent.post(f"/customers/{karl['id']}/entries", json={
        "kind": "note", "body": "Rückruf morgen", "visibility": "internal"})
    await message(hub, erika, timedelta(0), "Danke, noch eine Frage")
    _, body = await hub.agent.get("/waiting")
    assert [i["message"]["subject"] for i in body["items"]] == [
        "Telegram-Frage", "Danke, noch eine Frage"]
    # another office sees none of it
    _, other = await hub.new_office()
    status, theirs = await other.get("/waiting")
    assert (status, theirs["items"], theirs["total"]) == (200, [], 0)


@pytest.mark.parametrize("params", [{"days": "0"}, {"days": "366"}, {"days": "x"},
                                    {"limit": "0"}, {"limit": "501"}])
async def test_waiting_refuses_bad_parameters(hub: Hub, params: dict[str, str]) -> None:
    status, body = await hub.agent.get("/waiting", params=params)
    assert status == 400 and body["error"]["code"] == "invalid_input"
    status, _ = await hub.anon.get("/waiting")
    assert status == 401
