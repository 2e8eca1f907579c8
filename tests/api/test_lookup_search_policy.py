"""Caller lookup, search, publish policy and tone guard through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.models import Channel, Direction, EntryDraft, Visibility


@pytest.mark.parametrize("number", [
    "0171 1234567", "+49 171 1234567", "0049-171/1234567", "(0171) 123 45 67", "+491711234567",
    "491711234567", "00491711234567",
], ids=lambda n: n)
async def test_lookup_by_phone_in_any_format(hub: Hub, number: str) -> None:
    c = await make_customer(hub, phones=["0171/123 45 67"])
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "phone_note", "body": "Rückruf erbeten", "visibility": "internal"})
    status, body = await hub.agent.get("/lookup", params={"phone": number})
    assert status == 200
    assert body["normalised"] == "+491711234567"
    (match,) = body["matches"]
    assert match["customer"]["name"] == "Erika Mustermann"
    assert [e["body"] for e in match["recent"]] == ["Rückruf erbeten"]


@pytest.mark.parametrize(("written", "ringing"), [
    ("0171 1234567 (mobil)", "sip:01711234567@pbx.example.com;user=phone"),
    ("Mobil: 0171 123 45 67, nur abends", "<sip:+491711234567@10.0.0.1>"),
    ("+49 171 1234567 privat", "tel:+49-171-1234567;phone-context=+49"),
    ("0171 1234567 (WhatsApp)", "sips:491711234567@pbx"),
], ids=["parenthesised-word", "label-and-note", "trailing-word", "whatsapp"])
async def test_a_number_noted_with_words_finds_the_caller(hub: Hub, written: str,
                                                          ringing: str) -> None:
    """Words around a number are not keypad letters (``privat`` would have made the number
    +49171123456777…), and a PBX's SIP or tel URI names the same number."""
    c = await make_customer(hub, phones=[written])
    assert [i["value"] for i in c["identities"] if i["kind"] == "phone"] == ["+491711234567"]
    status, body = await hub.agent.get("/lookup", params={"phone": ringing})
    assert status == 200 and body["normalised"] == "+491711234567"
    assert [m["customer"]["id"] for m in body["matches"]] == [c["id"]]


async def test_an_address_copied_from_a_mail_program_finds_the_customer(hub: Hub) -> None:
    c = await make_customer(hub, emails=["Erika Mustermann <Erika@Example.DE>"])
    assert [i["value"] for i in c["identities"] if i["kind"] == "email"] == [
        "erika@example.de"]
    _, body = await hub.agent.get("/lookup", params={"email": "mailto:erika@example.de"})
    assert [m["customer"]["id"] for m in body["matches"]] == [c["id"]]


async def test_a_typo_with_letters_is_no_keypad_number(hub: Hub) -> None:
    """``0171 abc`` was stored as +49171222 (the letters read as keypad digits); a vanity
    number in capitals still is one."""
    status, body = await hub.agent.post("/customers", json={
        "name": "Erika Mustermann", "phones": ["0171 abc"]})
    assert status == 400 and "letters in a phone number" in body["error"]["message"]
    c = await make_customer(hub, phones=["0800 FLOWERS"])
    assert [i["value"] for i in c["identities"]] == ["+498003569377"]


async def test_two_numbers_in_one_field_are_refused(hub: Hub) -> None:
    status, body = await hub.agent.post("/customers", json={
        "name": "Erika Mustermann", "phones": ["030 1234567 / 0171 2345678"]})
    assert status == 400 and "more than one phone number" in body["error"]["message"]


async def test_lookup_recent_is_newest_ten(hub: Hub) -> None:
    c = await make_customer(hub, phones=["030 555 0101"])
    for i in range(12):
        await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": "note", "body": f"n{i}", "visibility": "internal",
            "occurred_at": f"2026-01-01T10:{i:02d}:00+00:00"})
    _, body = await hub.agent.get("/lookup", params={"phone": "+49 30 5550101"})
    assert [e["body"] for e in body["matches"][0]["recent"]] == [
        f"n{i}" for i in reversed(range(2, 12))]


async def test_lookup_recent_is_the_conversation_not_bookkeeping(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 2223334"])
    for i in range(6):
        _, note = await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": "note", "body": f"Gespräch {i}", "visibility": "internal",
            "occurred_at": f"2026-01-01T10:{i:02d}:00+00:00"})
        await hub.state.timeline.append(EntryDraft(
            office_id=hub.office.id, customer_id=c["id"], channel=Channel.NOTIFICATION,
            direction=Direction.OUTBOUND, kind="notification", visibility=Visibility.INTERNAL,
            notify=False, occurred_at=datetime(2026, 1, 1, 10, i, 30, tzinfo=UTC),
            subject="Notification sent to the portal inbox", body=f"About: {note['id']}"))
    _, body = await hub.agent.get("/lookup", params={"phone": "491712223334"})
    assert [e["body"] for e in body["matches"][0]["recent"]] == [
        f"Gespräch {i}" for i in reversed(range(6))]
    _, page = await hub.agent.get(f"/customers/{c['id']}/timeline",
                                  params={"channel": "notification"})
    assert len(page["items"]) == 6  # still on the timeline, behind a filter


async def test_lookup_unknown_and_several_matches(hub: Hub) -> None:
    status, body = await hub.agent.get("/lookup", params={"phone": "0176 9999999"})
    assert (status, body["matches"]) == (200, [])
    status, body = await hub.agent.get("/lookup", params={"phone": "hello"})
    assert (status, body["error"]["code"]) == (400, "invalid_input")  # no number at all
    quiet = await make_customer(hub, "Hans Becker", phones=["089 123456"])
    busy = await make_customer(hub, "Greta Becker", phones=["+49 89 123456"])
    await hub.agent.post(f"/customers/{busy['id']}/entries", json={
        "kind": "note", "body": "x", "visibility": "internal"})
    _, body = await hub.agent.get("/lookup", params={"phone": "089/123456"})
    assert [m["customer"]["id"] for m in body["matches"]] == [busy["id"], quiet["id"]]


async def test_lookup_by_email_and_bad_requests(hub: Hub) -> None:
    c = await make_customer(hub, emails=["Max.Mueller@Example.com"])
    _, body = await hub.agent.get("/lookup", params={"email": "max.mueller@EXAMPLE.com"})
    assert [m["customer"]["id"] for m in body["matches"]] == [c["id"]]
    status, body = await hub.agent.get("/lookup")
    assert status == 400 and body["error"]["code"] == "invalid_input"
    status, _ = await hub.agent.get("/lookup", params={"phone": "1", "email": "a@b.de"})
    assert status == 400


async def test_lookup_never_crosses_offices(hub: Hub) -> None:
    await make_customer(hub, phones=["0171 1234567"])
    _, other = await hub.new_office()
    _, body = await other.get("/lookup", params={"phone": "0171 1234567"})
    assert body["matches"] == []


async def test_search_finds_umlaut_variants_with_snippet(hub: Hub) -> None:
    c = await make_customer(hub)
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "subject": "Kündigung", "visibility": "internal",
        "body": "Frau Müller möchte die Kündigung zum Jahresende <sofort> bestätigt haben."})
    await hub.indexed()
    for q in ["kuendigung", "kundigung", "Mueller", "muller jahresende", '"kündigung zum"',
              "kündig*"]:
        status, body = await hub.agent.get("/search", params={"q": q})
        assert status == 200, (q, body)
        assert len(body["items"]) == 1, q
    _, body = await hub.agent.get("/search", params={"q": "mueller"})
    snippet = body["items"][0]["snippet"]
    assert "<mark>Müller</mark>" in snippet and "&lt;sofort&gt;" in snippet


async def test_search_filters_order_and_pages(hub: Hub) -> None:
    a = await make_customer(hub, "A")
    b = await make_customer(hub, "B")
    for i in range(7):
        await hub.agent.post(f"/customers/{a['id']}/entries", json={
            "kind": "note", "body": f"Angebot Nummer {i}", "visibility": "internal",
            "occurred_at": f"2026-02-0{i + 1}T10:00:00+00:00"})
    await hub.agent.post(f"/customers/{b['id']}/entries", json={
        "kind": "phone_note", "body": "Angebot Angebot Angebot", "visibility": "internal",
        "occurred_at": "2025-12-01T10:00:00+00:00"})
    await hub.indexed()
    _, body = await hub.agent.get("/search", params={"q": "angebot", "customer": b["id"]})
    assert [i["entry"]["customer_id"] for i in body["items"]] == [b["id"]]
    _, body = await hub.agent.get("/search", params={"q": "angebot", "channel": "phone"})
    assert len(body["items"]) == 1
    _, body = await hub.agent.get("/search", params={"q": "angebot", "order": "relevance"})
    assert body["items"][0]["entry"]["customer_id"] == b["id"]
    seen, cursor = [], None
    while True:
        params = {"q": "angebot", "limit": "3", **({"cursor": cursor} if cursor else {})}
        _, body = await hub.agent.get("/search", params=params)
        seen += [i["entry"]["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 8
    _, body = await hub.agent.get("/search", params={"q": "angebot", "since": "2026-02-05"})
    assert len(body["items"]) == 3


@pytest.mark.parametrize("q", ['"unclosed', "OR", "x*", "", "   ", "a" * 600])
async def test_bad_search_syntax_is_400_json(hub: Hub, q: str) -> None:
    status, body = await hub.agent.get("/search", params={"q": q})
    assert status == 400 and body["error"]["code"] == "bad_query" and body["error"]["message"]


@pytest.mark.parametrize("q", ["NEAR(a b)", "body:x", "a AND", "{scope}:x", "x'); --", "^a"])
async def test_fts_syntax_in_queries_is_just_text(hub: Hub, q: str) -> None:
    status, body = await hub.agent.get("/search", params={"q": q})
    assert status == 200 and body["items"] == []


async def test_search_is_scoped_to_office(hub: Hub) -> None:
    c = await make_customer(hub)
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "Geheimsache", "visibility": "internal"})
    await hub.indexed()
    _, other = await hub.new_office()
    _, body = await other.get("/search", params={"q": "geheimsache"})
    assert body["items"] == []
    _, body = await hub.agent.get("/search", params={"q": "geheimsache"})
    assert len(body["items"]) == 1


async def test_new_entries_become_searchable_without_manual_indexing(hub: Hub) -> None:
    import asyncio

    c = await make_customer(hub)
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "Blitzableiter", "visibility": "internal"})
    for _ in range(50):
        _, body = await hub.agent.get("/search", params={"q": "blitzableiter"})
        if body["items"]:
            break
        await asyncio.sleep(0.02)
    assert len(body["items"]) == 1


async def test_policy_office_and_agent_defaults(hub: Hub) -> None:
    status, pol = await hub.agent.get("/policy")
    assert pol["effective"]["document"] == {"visibility": "published", "notify": True,
                                            "source": {"visibility": "system",
                                                       "notify": "system"}}
    status, body = await hub.agent.put("/policy/office", json={"document": {"notify": False}})
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, pol = await hub.admin.put("/policy/office", json={"document": {"notify": False}})
    assert status == 200 and pol["office"]["document"]["notify"] is False
    c = await make_customer(hub)
    form_data = {"kind": "document", "subject": "Police"}
    from aiohttp import FormData

    form = FormData(form_data)
    form.add_field("file", b"pdf", filename="p.pdf", content_type="application/pdf")
    _, e = await hub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert (e["notify"], e["preset_source"]["notify"]) == (False, "office")
    status, pol = await hub.agent.put("/policy/agent", json={
        "document": {"notify": True}, "note": {"visibility": "internal"}})
    assert pol["effective"]["document"]["source"]["notify"] == "agent"
    _, e = await hub.agent.post(f"/customers/{c['id']}/entries", json={"kind": "note",
                                                                        "body": "x"})
    assert (e["visibility"], e["notify"], e["preset_source"]["visibility"]) == (
        "internal", False, "agent")
    # the admin is not affected by the agent's personal default
    _, e = await hub.admin.post(f"/customers/{c['id']}/entries", json={"kind": "note",
                                                                        "body": "y"})
    assert (e["visibility"], e["notify"]) == ("published", True)
    status, pol = await hub.agent.put("/policy/agent", json={"note": None})
    assert "note" not in pol["agent"]
    status, body = await hub.admin.put("/policy/office", json={"fax": {"notify": True}})
    assert status == 400 and "fax" in body["error"]["message"]
    status, body = await hub.admin.put("/policy/office", json={"note": {"notify": "maybe"}})
    assert status == 400


async def test_tone_guard_blocks_published_until_confirmed(hub: Hub) -> None:
    c = await make_customer(hub)
    url = f"/customers/{c['id']}/entries"
    text = "Herr Müller ist ein typischer Zeitungsleser und Besserwisser."
    status, body = await hub.agent.post(url, json={"kind": "note", "body": text})
    assert status == 409
    assert body["error"]["code"] == "tone_warning"
    assert [h["text"] for h in body["error"]["details"]["hits"]] == [
        "typischer Zeitungsleser", "Besserwisser"]
    assert body["error"]["details"]["hint"]
    _, tl = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert tl["items"] == []  # nothing was stored
    status, e = await hub.agent.post(url, json={"kind": "note", "body": text,
                                                "visibility": "internal"})
    assert status == 201  # internal notes are not blocked
    status, e = await hub.agent.post(url, json={"kind": "note", "body": text, "confirm": True})
    assert status == 201 and e["tone_confirmed"] == ["typischer Zeitungsleser", "Besserwisser"]


async def test_office_tone_words(hub: Hub) -> None:
    c = await make_customer(hub)
    status, _ = await hub.agent.put("/tone", json={"words": ["Blubberkopp*"]})
    assert status == 403
    status, body = await hub.admin.put("/tone", json={"words": ["Blubberkopp*"]})
    assert status == 200 and body["office"] == ["Blubberkopp*"]
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "Ein echter Blubberkopp."})
    assert status == 409
    _, check = await hub.agent.post("/tone/check", json={"text": "so ein Blubberkopp"})
    assert [h["text"] for h in check["hits"]] == ["Blubberkopp"]
    _, other = await hub.new_office()
    _, check = await other.post("/tone/check", json={"text": "so ein Blubberkopp"})
    assert check["hits"] == []


@pytest.mark.parametrize("broad", ["*", "* *", "a*", "ab *"])
async def test_a_tone_pattern_matching_nearly_everything_is_refused(hub: Hub,
                                                                    broad: str) -> None:
    """As on the admin page: every published entry would warn, agents would learn to
    confirm every warning. Nothing is saved."""
    status, body = await hub.admin.put("/tone", json={"words": ["Blubberkopp*", broad]})
    assert status == 400 and body["error"]["details"]["too_broad"] == [broad]
    assert (await hub.admin.get("/tone"))[1]["office"] == []
