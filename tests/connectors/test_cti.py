"""The CTI webhook end to end: PBX events over HTTP -> one call entry per call."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.ingest import UnknownSenderPolicy

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CUSTOMER = "+491711234567"
OFFICE_LINE = "4921112345670"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def new_call(call_id: str = "c1", *, frm: str = "491711234567", to: str = OFFICE_LINE,
             direction: str = "in", t: float = 0, **kw: Any) -> dict[str, Any]:
    return {"event": "newCall", "callId": call_id, "from": frm, "to": to,
            "direction": direction, "user": ["Anna Admin", "Tom Agent"], "timestamp": at(t),
            **kw}


def answer(call_id: str = "c1", *, t: float = 5, **kw: Any) -> dict[str, Any]:
    return {"event": "answer", "callId": call_id, "user": "Tom Agent",
            "answeringNumber": "4921112345671", "timestamp": at(t), **kw}


def hangup(call_id: str = "c1", *, cause: str = "normalClearing", t: float = 65,
           **kw: Any) -> dict[str, Any]:
    return {"event": "hangup", "callId": call_id, "cause": cause, "timestamp": at(t), **kw}


async def cti_path(hub: Hub) -> str:
    status, office = await hub.admin.get("/office")
    assert status == 200
    path: str = office["cti_url_path"]
    assert path.startswith("/api/v1/cti/cti_")
    return path.removeprefix("/api/v1")


async def send(hub: Hub, path: str, event: dict[str, Any], status: int = 200) -> Any:
    got, body = await hub.anon.post(path, json=event)
    assert got == status, body
    return body


async def calls_of(hub: Hub, customer_id: str, query: str = "kind=call") -> list[dict]:
    status, page = await hub.agent.get(f"/customers/{customer_id}/timeline?{query}")
    assert status == 200
    return list(page["items"])


async def test_new_call_answer_hangup_gives_one_complete_call_entry(hub: Hub) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    ringing = await send(hub, path, new_call())
    assert ringing["status"] == "ringing" and ringing["customer_id"] == c["id"]
    (entry,) = await calls_of(hub, c["id"])
    assert entry["subject"] == f"Call from {CUSTOMER} (ringing)"
    assert entry["meta"]["outcome"] is None
    await send(hub, path, answer())
    done = await send(hub, path, hangup())
    assert done["outcome"] == "answered" and done["entry_id"] == entry["id"]
    (call,) = await calls_of(hub, c["id"])
    assert call["id"] == entry["id"]
    assert call["channel"] == "phone" and call["direction"] == "inbound"
    assert call["visibility"] == "internal" and call["source_id"] == "cti:c1"
    assert datetime.fromisoformat(call["occurred_at"]) == T0
    meta = call["meta"]
    assert meta["number"] == CUSTOMER and meta["call_direction"] == "in"
    assert meta["answered_by"] == "Tom Agent" and meta["duration_seconds"] == 60
    assert meta["outcome"] == "answered" and meta["missed"] is False
    assert meta["started_at"] == T0.isoformat() and meta["ended_at"] == at(65)
    assert call["tags"] == []
    assert call["subject"] == f"Call from {CUSTOMER}"
    assert "Answered by Tom Agent" in call["body"] and "1:00" in call["body"]


async def test_every_event_twice_changes_nothing(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    for event in (new_call(), answer(), hangup()):
        first = await send(hub, path, event)
        assert first["duplicate"] is False
        (before,) = await calls_of(hub, c["id"])
        again = await send(hub, path, {**event, "timestamp": at(500)})
        assert again["duplicate"] is True
        (after,) = await calls_of(hub, c["id"])
        assert after == before
    late = await send(hub, path, hangup(cause="busy", t=900))
    assert late["duplicate"] is True and late["outcome"] == "answered"
    (call,) = await calls_of(hub, c["id"], "channel=phone")
    assert call["meta"]["duration_seconds"] == 60 and call["meta"]["cause"] == "normalClearing"


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))),
                         ids=lambda o: "-".join(("new", "answer", "hangup")[i] for i in o))
async def test_any_order_gives_the_same_call(hub: Hub, order: tuple[int, ...]) -> None:
    """answer and hangup carry the numbers here (as sipgate-style PBXs send them)."""
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    numbers = {"from": "491711234567", "to": OFFICE_LINE, "direction": "in"}
    events = [new_call(), answer(**numbers), hangup(**numbers)]
    for i in order:
        await send(hub, path, events[i])
    (call,) = await calls_of(hub, c["id"])
    meta = call["meta"]
    assert (meta["outcome"], meta["answered_by"], meta["duration_seconds"]) == (
        "answered", "Tom Agent", 60)
    assert meta["started_at"] == T0.isoformat() and meta["status"] == "ended"
    assert sorted(meta["cti_events"]) == ["answer", "hangup", "newCall"]


async def test_hangup_and_answer_before_new_call_without_numbers_are_kept(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    early = await send(hub, path, {"event": "hangup", "callId": "c9", "cause": "normalClearing",
                                   "timestamp": at(65)})
    assert early["entry_id"] is None and early["status"] == "ended"
    early = await send(hub, path, {"event": "answer", "callId": "c9", "user": "Tom Agent",
                                   "timestamp": at(5)})
    assert early["entry_id"] is None
    assert await calls_of(hub, c["id"]) == []
    done = await send(hub, path, new_call("c9"))
    assert done["entry_id"] and done["outcome"] == "answered"
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["duration_seconds"] == 60 and call["meta"]["answered_by"] == "Tom Agent"
    assert datetime.fromisoformat(call["occurred_at"]) == T0


@pytest.mark.parametrize("cause", ["noAnswer", "cancel", "busy", "congestion", "notFound"])
async def test_unanswered_inbound_calls_are_missed(hub: Hub, cause: str) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    done = await send(hub, path, hangup(cause=cause, t=30))
    assert done["outcome"] == "missed"
    await make_customer(hub, "Someone else")
    await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "unrelated", "visibility": "internal"})
    (call,) = await calls_of(hub, c["id"])
    assert call["tags"] == ["missed"] and call["meta"]["missed"] is True
    assert call["subject"] == f"Missed call from {CUSTOMER}"
    assert call["meta"]["duration_seconds"] is None and f"Ended: {cause}." in call["body"]


async def test_forwarded_call_is_not_missed(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    assert (await send(hub, path, hangup(cause="forwarded")))["outcome"] == "forwarded"
    (call,) = await calls_of(hub, c["id"])
    assert call["tags"] == [] and call["meta"]["missed"] is False
    assert call["subject"].endswith("(forwarded)")


async def test_missed_calls_are_found_by_search(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call("a"))
    await send(hub, path, hangup("a", cause="noAnswer"))
    await send(hub, path, new_call("b", t=100))
    await send(hub, path, answer("b", t=105))
    await send(hub, path, hangup("b", t=200))
    await hub.indexed()
    status, found = await hub.agent.get(f"/search?q=missed&customer={c['id']}&kind=call")
    assert status == 200
    assert [i["entry"]["source_id"] for i in found["items"]] == ["cti:a"]


async def test_a_late_answer_turns_a_missed_call_into_an_answered_one(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    await send(hub, path, hangup(cause="cancel"))
    (call,) = await calls_of(hub, c["id"])
    assert call["tags"] == ["missed"]
    await send(hub, path, answer())
    (call,) = await calls_of(hub, c["id"])
    assert call["tags"] == [] and call["meta"]["outcome"] == "answered"


async def test_outbound_call_lands_on_the_callees_timeline(hub: Hub) -> None:
    callee = await make_customer(hub, "Callee", phones=["+49 171 1234567"])
    caller_like = await make_customer(hub, "Office number owner", phones=["0211 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call("o1", frm="492111234567", to="01711234567",
                                   direction="out"))
    await send(hub, path, hangup("o1", cause="noAnswer"))
    (call,) = await calls_of(hub, callee["id"])
    assert call["direction"] == "outbound" and call["meta"]["call_direction"] == "out"
    assert call["meta"]["outcome"] == "not_reached" and call["tags"] == []
    assert call["subject"] == f"Call to {CUSTOMER} (not reached)"
    assert await calls_of(hub, caller_like["id"]) == []


async def test_unknown_caller_becomes_an_unverified_customer(hub: Hub) -> None:
    path = await cti_path(hub)
    first = await send(hub, path, new_call("u1", frm="4915112345678"))
    await send(hub, path, hangup("u1", cause="noAnswer"))
    status, lookup = await hub.agent.get("/lookup?phone=015112345678")
    assert status == 200
    (match,) = lookup["matches"]
    assert match["customer"]["status"] == "unverified"
    assert match["customer"]["id"] == first["customer_id"]
    assert [e["meta"]["outcome"] for e in match["recent"]] == ["missed"]


async def test_unknown_caller_waits_in_the_quarantine_when_unassigned(hub: Hub) -> None:
    hub.state.ingest.unknown_sender = UnknownSenderPolicy.UNASSIGNED
    path = await cti_path(hub)
    first = await send(hub, path, new_call("u2", frm="4915112345678"))
    assert first["quarantined"] is True and first["entry_id"] is None
    await send(hub, path, answer("u2"))
    await send(hub, path, hangup("u2"))
    _, page = await hub.admin.get("/quarantine")
    (item,) = page["items"]
    assert item["reason"].startswith("unknown_sender") and item["channel"] == "cti"
    c = await make_customer(hub, "Neue Kundin")
    status, done = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                        json={"customer_id": c["id"]})
    assert status == 200 and done["status"] == "processed"
    (call,) = await calls_of(hub, c["id"])
    assert call["id"] == done["entry_id"]
    assert call["meta"]["outcome"] == "answered" and call["meta"]["duration_seconds"] == 60
    late = await send(hub, path, hangup("u2"))
    assert late["duplicate"] is True and late["entry_id"] == call["id"]


@pytest.mark.parametrize("withheld", ["anonymous", "", "Unbekannt", "unavailable", "CLIR"])
async def test_withheld_number_is_quarantined_and_can_be_assigned(hub: Hub,
                                                                 withheld: str) -> None:
    """However the PBX names a withheld number (an empty field included): the call is
    kept, waiting for an agent to assign it."""
    path = await cti_path(hub)
    first = await send(hub, path, new_call("w1", frm=withheld))
    assert first["quarantined"] is True
    _, page = await hub.admin.get("/quarantine")
    (item,) = page["items"]
    assert item["reason"].startswith("unattributable sender")
    c = await make_customer(hub, "Anonyme Anruferin")
    await send(hub, path, hangup("w1", cause="cancel"))
    status, done = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                        json={"customer_id": c["id"]})
    assert status == 200 and done["status"] == "processed"
    (call,) = await calls_of(hub, c["id"])
    assert call["subject"] == "Missed call from a withheld number"


@pytest.mark.parametrize("event,missing,invalid", [
    # no "from": a withheld caller (see test_withheld_number_...), not a missing field
    ({"event": "newCall", "callId": "x"}, ["to", "direction"], []),
    ({"event": "newCall", "from": "4930123456", "to": "4930654321", "direction": "in"},
     ["callId"], []),
    ({"event": "hangup", "callId": "x"}, ["cause"], []),
    ({"event": "hangup", "callId": "x", "cause": "busy", "from": "0171\x001234567"}, [],
     ["from"]),
    ({"event": "answer", "callId": "x"}, ["user"], []),
    ({"callId": "x", "from": "1"}, ["event"], []),
    ({"event": "dtmf", "callId": "x"}, [], ["event"]),
    ({"event": "newCall", "callId": "x", "from": "1", "to": "2", "direction": "sideways"},
     [], ["direction"]),
    ({"event": "hangup", "callId": "x", "cause": "busy", "timestamp": "tomorrow"}, [],
     ["timestamp"]),
    ({"event": "newCall", "callId": "x" * 500, "from": "1", "to": "2", "direction": "in"},
     [], ["callId"]),
], ids=["newcall-numbers", "no-callid", "no-cause", "control-character", "answer-no-user",
        "no-event", "unknown-event", "bad-direction", "bad-timestamp", "long-callid"])
async def test_bad_events_are_400_naming_the_fields_and_store_nothing(
        hub: Hub, event: dict[str, Any], missing: list[str], invalid: list[str]) -> None:
    path = await cti_path(hub)
    status, body = await hub.anon.post(path, json=event)
    assert status == 400
    assert body["error"]["code"] == "invalid_input"
    details = body["error"]["details"]
    assert details["missing"] == missing
    assert [p["field"] for p in details["invalid"]] == invalid
    for name in missing + invalid:
        assert name in body["error"]["message"]
    status, form_body = await hub.anon.post(path, data={k: v for k, v in event.items()})
    assert status == 400 and form_body["error"]["details"] == details
    assert await hub.state.store.call_state(hub.office.id, "x") is None
    _, customers = await hub.agent.get("/customers")
    assert customers["items"] == []
    _, page = await hub.admin.get("/quarantine?status=all")
    assert page["items"] == []


@pytest.mark.parametrize("data,content_type", [
    (b"{not json", "application/json"), (b"[1, 2]", "application/json"),
    (b'{"event": {"nested": 1}, "callId": "x"}', "application/json"),
    (b"event=newCall", "text/plain"), (b"", "application/json"),
], ids=["broken-json", "array", "nested", "text", "empty"])
async def test_malformed_bodies_are_clear_4xx(hub: Hub, data: bytes, content_type: str) -> None:
    path = await cti_path(hub)
    status, body = await hub.anon.post(path, data=data, headers={"Content-Type": content_type})
    assert status in (400, 415)
    assert set(body["error"]) >= {"code", "message"}


async def test_unknown_token_is_404_and_stores_nothing(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    status, body = await hub.anon.post("/cti/cti_not-a-token", json=new_call())
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await hub.anon.post("/cti/", json=new_call())
    assert status == 404
    assert await calls_of(hub, c["id"]) == []


async def test_form_encoded_sipgate_style_events(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    form = [("event", "newCall"), ("callId", "f1"), ("from", "491711234567"),
            ("to", OFFICE_LINE), ("direction", "in"), ("user[]", "Anna Admin"),
            ("user[]", "Tom Agent"), ("timestamp", str(T0.timestamp()))]
    async with hub.anon.session.post(hub.anon.base + path, data=form) as resp:
        assert resp.status == 200 and resp.content_type == "application/xml"
        xml = await resp.text()
    url = hub.state.settings.base_url + "/api/v1" + path
    assert f'onAnswer="{url}"' in xml and f'onHangup="{url}"' in xml
    status, body = await hub.anon.post(path, data={
        "event": "answer", "callId": "f1", "user": "Anna Admin",
        "timestamp": str(T0.timestamp() + 10)})
    assert status == 200 and body["status"] == "answered"
    status, body = await hub.anon.post(path, data={
        "event": "hangup", "callId": "f1", "cause": "normalClearing",
        "timestamp": str(T0.timestamp() + 100)})
    assert status == 200 and body["outcome"] == "answered"
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["users"] == ["Anna Admin", "Tom Agent"]
    assert call["meta"]["answered_by"] == "Anna Admin" and call["meta"]["duration_seconds"] == 90


async def test_calls_stay_in_their_office(hub: Hub) -> None:
    mine = await make_customer(hub, phones=["0171 1234567"])
    other_office, other_admin = await hub.new_office()
    status, theirs = await other_admin.post("/customers", json={
        "name": "Their Erika", "phones": ["0171 1234567"]})
    assert status == 201
    _, office = await other_admin.get("/office")
    their_path = office["cti_url_path"].removeprefix("/api/v1")
    assert their_path != await cti_path(hub)
    await send(hub, their_path, new_call("same-id"))
    await send(hub, await cti_path(hub), new_call("same-id"))
    (mine_call,) = await calls_of(hub, mine["id"])
    _, their_page = await other_admin.get(f"/customers/{theirs['id']}/timeline")
    (their_call,) = their_page["items"]
    assert mine_call["id"] != their_call["id"]
    assert other_office.id != hub.office.id


@pytest.mark.parametrize("events", [
    # Placetel: IncomingCall (direction implied), CallAccepted, HungUp with a type
    [{"event": "IncomingCall", "call_id": "p1", "from": "01711234567",
      "to": OFFICE_LINE, "timestamp": at(0)},
     {"event": "CallAccepted", "call_id": "p1", "user": "Tom Agent", "timestamp": at(5)},
     {"event": "HungUp", "call_id": "p1", "type": "accepted",
      "timestamp": at(65)}],
    # Twilio-like status names, snake case, inbound, Unix seconds
    [{"event": "ringing", "CallSid": "p1", "caller": "+49 171 1234567", "called": OFFICE_LINE,
      "direction": "inbound", "time": str(T0.timestamp())},
     {"event": "in-progress", "CallSid": "p1", "answering_number": "4921112345671",
      "time": str(T0.timestamp() + 5)},
     {"event": "completed", "CallSid": "p1", "hangup_cause": "NORMAL_CLEARING",
      "time": str(T0.timestamp() + 65)}],
    # the same names in other cases and separators
    [{"Event": "NEW_CALL", "Call-ID": "p1", "From": "491711234567", "To": OFFICE_LINE,
      "Direction": "INCOMING", "Timestamp": at(0)},
     {"Event": "Answered", "Call-ID": "p1", "User": "Tom Agent", "Timestamp": at(5)},
     {"Event": "Hangup", "Call-ID": "p1", "Cause": "Normal", "Timestamp": at(65)}],
], ids=["placetel", "twilio-like", "other-cases"])
async def test_other_pbx_phrasings_give_the_same_call(hub: Hub,
                                                      events: list[dict[str, Any]]) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    for event in events:
        await send(hub, path, event)
    (call,) = await calls_of(hub, c["id"])
    meta = call["meta"]
    assert call["direction"] == "inbound" and meta["call_direction"] == "in"
    assert meta["outcome"] == "answered" and meta["duration_seconds"] == 60
    assert datetime.fromisoformat(call["occurred_at"]) == T0


@pytest.mark.parametrize(("cause", "outcome"), [
    ("no_answer", "missed"), ("NOANSWER", "missed"), ("voicemail", "missed"),
    ("user-busy", "missed"), ("cancelled", "missed"), ("transferred", "forwarded")])
async def test_hangup_causes_in_other_words(hub: Hub, cause: str, outcome: str) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    done = await send(hub, path, hangup(cause=cause))
    assert done["outcome"] == outcome
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["outcome"] == outcome


async def test_a_timestamp_without_zone_is_kept_and_the_call_is_not_lost(hub: Hub) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call(timestamp="2026-03-02 10:30:00"))
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["original_date"] == {"newCall": "2026-03-02 10:30:00"}
