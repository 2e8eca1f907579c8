"""The search API in German: word forms, "did you mean" one GET away, bookkeeping left out."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.models import Channel, Direction, EntryDraft, Visibility


async def note(hub: Hub, customer: dict, body: str, subject: str = "") -> str:
    status, entry = await hub.agent.post(f"/customers/{customer['id']}/entries", json={
        "kind": "note", "subject": subject, "body": body, "visibility": "internal"})
    assert status == 201, entry
    return str(entry["id"])


async def test_word_forms_through_the_api(hub: Hub) -> None:
    c = await make_customer(hub)
    await note(hub, c, "Die Verträge und Kündigungen liegen bei.")
    await hub.indexed()
    for q in ["Vertrag", "Kündigung", "vertraege"]:
        _, body = await hub.agent.get("/search", params={"q": q})
        assert len(body["items"]) == 1, q
    _, body = await hub.agent.get("/search", params={"q": "Vertrag"})
    assert "<mark>Verträge</mark>" in body["items"][0]["snippet"]


async def test_a_typo_answers_with_a_suggestion_one_get_away(hub: Hub) -> None:
    c = await make_customer(hub)
    entry_id = await note(hub, c, "Frau Mustermann möchte die Kündigung zum Jahresende.")
    await hub.indexed()
    status, body = await hub.agent.get("/search", params={
        "q": "Kündigng", "customer": c["id"], "order": "relevance"})
    assert status == 200 and body["items"] == []
    assert [s["q"] for s in body["suggestions"]] == ["Kündigung"]
    href = body["suggestions"][0]["href"]
    assert parse_qs(urlsplit(href).query) == {
        "q": ["Kündigung"], "customer": [c["id"]], "order": ["relevance"]}
    status, again = await hub.agent.get(href.removeprefix("/api/v1"))
    assert status == 200 and [i["entry"]["id"] for i in again["items"]] == [entry_id]
    assert again["suggestions"] == []


async def test_suggestions_come_from_the_callers_office_only(hub: Hub) -> None:
    c = await make_customer(hub)
    await note(hub, c, "Kündigung der Hausratversicherung")
    await hub.indexed()
    _, other = await hub.new_office()
    status, theirs = await other.post("/customers", json={"name": "Max Muster"})
    assert status == 201
    await other.post(f"/customers/{theirs['id']}/entries", json={
        "kind": "note", "body": "Kundennummer geändert", "visibility": "internal"})
    await hub.indexed()
    _, body = await other.get("/search", params={"q": "Kündigng"})
    assert body["items"] == [] and body["suggestions"] == []
    _, body = await hub.agent.get("/search", params={"q": "Kündigng"})
    assert [s["q"] for s in body["suggestions"]] == ["Kündigung"]


async def test_no_suggestion_that_the_filters_would_not_find(hub: Hub) -> None:
    a = await make_customer(hub, "A")
    b = await make_customer(hub, "B")
    await note(hub, a, "Kündigung")
    await hub.indexed()
    _, body = await hub.agent.get("/search", params={"q": "Kündigng", "customer": b["id"]})
    assert body["items"] == [] and body["suggestions"] == []


async def test_bookkeeping_is_left_out_unless_asked_for(hub: Hub) -> None:
    c = await make_customer(hub)
    mail_id = await note(hub, c, "Kündigung zum Jahresende", subject="Kündigung")
    sent, _ = await hub.state.timeline.append(EntryDraft(
        office_id=hub.office.id, customer_id=c["id"], channel=Channel.NOTIFICATION,
        direction=Direction.OUTBOUND, kind="notification", visibility=Visibility.INTERNAL,
        occurred_at=datetime.now(UTC), subject="Notification sent to the portal inbox",
        body="About: Kündigung"))
    await hub.indexed()

    async def ids(**params: str) -> list[str]:
        status, body = await hub.agent.get("/search", params={"q": "Kündigung", **params})
        assert status == 200, body
        return [i["entry"]["id"] for i in body["items"]]

    assert await ids() == [mail_id]
    assert await ids(order="relevance") == [mail_id]
    assert await ids(include_system="true") == [sent.id, mail_id]
    assert await ids(channel="notification") == [sent.id]
    # still on the customer's timeline
    _, timeline = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert sent.id in [e["id"] for e in timeline["items"]]


@pytest.mark.parametrize("value", ["maybe", "2", "TRUEISH"])
async def test_a_bad_include_system_is_a_400(hub: Hub, value: str) -> None:
    status, body = await hub.agent.get("/search", params={"q": "x1", "include_system": value})
    assert status == 400 and "include_system" in body["error"]["message"]


async def test_the_openapi_document_describes_suggestions(hub: Hub) -> None:
    _, spec = await hub.anon.get("/openapi.json")
    op = spec["paths"]["/api/v1/search"]["get"]
    assert "include_system" in {p["name"] for p in op["parameters"]}
    text = str(spec)
    assert "SearchSuggestion" in text and "'suggestions'" in text
