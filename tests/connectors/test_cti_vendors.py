"""The CTI webhook with what PBXs really send: a lost ``+``, ISO-8859-1 bytes, millisecond
timestamps, Placetel's, Twilio's and Asterisk's words, a withheld caller as ``null`` or a
SIP URI, a transfer between agents, a chunked body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.connectors.test_cti import (
    CUSTOMER,
    OFFICE_LINE,
    answer,
    at,
    calls_of,
    cti_path,
    hangup,
    new_call,
    send,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


async def post_raw(hub: Hub, path: str, body: bytes, headers: dict[str, str]
                   ) -> tuple[int, Any]:
    return await hub.anon.post(path, data=body, headers=headers)


async def erika_and_a_stranger(hub: Hub) -> tuple[dict, dict]:
    erika = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    stranger = await make_customer(hub, "Ostfriesland", phones=["04917 11234567"])
    return erika, stranger


# ------------------------------------------------------------------ numbers (fault 1)
async def test_a_caller_with_blanks_in_the_country_code_is_filed_on_the_caller(
        hub: Hub) -> None:
    erika, stranger = await erika_and_a_stranger(hub)
    path = await cti_path(hub)
    done = await send(hub, path, new_call("b1", frm="49 171 1234567"))
    assert done["customer_id"] == erika["id"]
    status, body = await post_raw(hub, path, b"event=newCall&from=+49 171 1234567&to="
                                  + OFFICE_LINE.encode() + b"&direction=in&callId=b2", FORM)
    assert status == 200 and body["customer_id"] == erika["id"], body
    assert {c["source_id"] for c in await calls_of(hub, erika["id"])} == {"cti:b1", "cti:b2"}
    assert await calls_of(hub, stranger["id"]) == []


async def test_a_nul_byte_after_the_number_makes_no_phantom_customer(hub: Hub) -> None:
    path = await cti_path(hub)
    status, body = await post_raw(hub, path, b"event=newCall&from=4915123456789%00&to="
                                  + OFFICE_LINE.encode() + b"&direction=in&callId=n1", FORM)
    assert status == 400 and body["error"]["details"]["invalid"] == [
        {"field": "from", "problem": "control characters"}]
    _, customers = await hub.agent.get("/customers")
    assert customers["items"] == []


async def test_the_answering_number_is_stored_in_e164(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    await send(hub, path, answer(answeringNumber="0211 12345671"))
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["answering_number"] == "+4921112345671"


# ------------------------------------------------------------------ bodies (faults 2, 12)
async def test_a_form_with_a_raw_iso_8859_1_byte_is_read_not_a_500(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    status, body = await post_raw(hub, path, b"event=newCall&from=491711234567&to="
                                  + OFFICE_LINE.encode()
                                  + b"&direction=in&callId=l1&user=J\xfcrgen", FORM)
    assert status == 200, body
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["users"] == ["Jürgen"]


async def test_a_form_in_its_declared_charset_and_percent_encoded_utf8(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    status, _ = await post_raw(hub, path, b"event=newCall&from=491711234567&to=4921112345670"
                               b"&direction=in&callId=l2&user=J%FCrgen&user=G%FCnther",
                               {**FORM, "Content-Type": FORM["Content-Type"]
                                + "; charset=iso-8859-1"})
    assert status == 200
    status, _ = await post_raw(hub, path, b"event=answer&callId=l2&user=J%C3%BCrgen", FORM)
    assert status == 200
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["users"] == ["Jürgen", "Günther"]
    assert call["meta"]["answered_by"] == "Jürgen"


async def test_json_in_its_declared_charset_is_read(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    status, body = await post_raw(
        hub, path, b'{"event":"newCall","from":"491711234567","to":"4921112345670",'
                   b'"direction":"in","callId":"j1","user":"J\xfcrgen"}',
        {"Content-Type": "application/json; charset=iso-8859-1"})
    assert status == 200, body
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["users"] == ["Jürgen"]


async def test_a_chunked_form_body_over_the_limit_is_413(hub: Hub) -> None:
    path = await cti_path(hub)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"event=newCall&callId=big&direction=in&to=4921112345670&from="
        for _ in range(20):
            yield b"1" * 8192

    status, body = await hub.anon.post(path, data=chunks(), headers=FORM)
    assert status == 413 and body["error"]["code"] == "too_large"


# ------------------------------------------------------------------ timestamps (fault 3)
async def test_a_millisecond_unix_timestamp_is_the_events_time(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    millis = str(int(datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp() * 1000))
    await send(hub, path, new_call(timestamp=millis))
    (call,) = await calls_of(hub, c["id"])
    assert datetime.fromisoformat(call["occurred_at"]) == datetime(2026, 3, 2, 9, 30,
                                                                   tzinfo=UTC)
    assert "original_date" not in call["meta"]


async def test_an_unreadable_numeric_timestamp_is_kept_and_the_call_is_not_lost(
        hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call(timestamp="99999999999999999999"))
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["original_date"] == {"newCall": "99999999999999999999"}


# ------------------------------------------------------------------ vocabulary (fault 4)
async def test_placetel_call_accepted_names_the_agent_in_peer(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, {"event": "IncomingCall", "call_id": "pt", "from": "+491711234567",
                           "to": "+4921112345670", "timestamp": at(0)})
    await send(hub, path, {"event": "CallAccepted", "call_id": "pt",
                           "peer": "anna@sip.example", "timestamp": at(5)})
    done = await send(hub, path, {"event": "HungUp", "call_id": "pt", "type": "accepted",
                                  "timestamp": at(65)})
    assert done["outcome"] == "answered"
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["answered_by"] == "anna@sip.example"


@pytest.mark.parametrize(("cause", "expected"), [
    ({"type": "blocked"}, "rejected"), ({"type": "unavailable"}, "congestion"),
    ({"cause": "16"}, "normalClearing"), ({"cause": "17"}, "busy"),
    ({"cause": "19"}, "noAnswer"), ({"cause": "21"}, "rejected"),
    ({"cause": "CALL_REJECTED"}, "rejected"), ({"cause": "CHANUNAVAIL"}, "congestion"),
    ({"dialstatus": "ANSWER"}, "normalClearing"), ({"DIALSTATUS": "NOANSWER"}, "noAnswer"),
], ids=lambda v: "-".join(v.values()) if isinstance(v, dict) else v)
async def test_placetel_and_asterisk_causes_end_the_call(hub: Hub, cause: dict[str, str],
                                                         expected: str) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    done = await send(hub, path, {"event": "hangup", "callId": "c1", **cause})
    assert done["status"] == "ended"
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["cause"] == expected
    raw = next(iter(cause.values()))
    assert call["meta"]["cause_raw"] == (None if raw == expected else raw)


async def test_an_unknown_cause_still_ends_the_call_and_is_kept(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    done = await send(hub, path, hangup(cause="aliens"))
    assert done["status"] == "ended" and done["outcome"] == "missed"
    (call,) = await calls_of(hub, c["id"])
    assert (call["meta"]["cause"], call["meta"]["cause_raw"]) == ("other", "aliens")
    assert "Ended: other (aliens)." in call["body"]
    assert call["subject"] == f"Missed call from {CUSTOMER}"


async def test_twilio_names_the_event_call_status(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    numbers = {"From": "+491711234567", "To": "+4921112345670", "Direction": "inbound"}
    await send(hub, path, {"CallSid": "CA1", "CallStatus": "ringing", **numbers})
    await send(hub, path, {"CallSid": "CA1", "CallStatus": "in-progress", **numbers,
                           "answeringNumber": "+4921112345671"})
    done = await send(hub, path, {"CallSid": "CA1", "CallStatus": "completed", **numbers})
    assert done["outcome"] == "answered"
    await send(hub, path, {"CallSid": "CA2", "CallStatus": "ringing", **numbers})
    done = await send(hub, path, {"CallSid": "CA2", "CallStatus": "no-answer", **numbers})
    assert done["outcome"] == "missed"
    calls = {c["source_id"]: c["meta"] for c in await calls_of(hub, c["id"])}
    assert calls["cti:CA1"]["cause"] == "normalClearing"
    assert calls["cti:CA2"]["cause"] == "noAnswer" and calls["cti:CA2"]["missed"] is True


async def test_completed_without_a_cause_is_a_normal_end(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    done = await send(hub, path, {"event": "completed", "CallSid": "c1"})
    assert done["status"] == "ended" and done["outcome"] == "answered"
    (call,) = await calls_of(hub, c["id"])
    assert call["meta"]["cause"] == "normalClearing"


# ------------------------------------------------------------------ withheld (fault 5)
@pytest.mark.parametrize("event", [
    {"event": "newCall", "callId": "w", "from": None, "to": OFFICE_LINE, "direction": "in"},
    {"event": "newCall", "callId": "w", "to": OFFICE_LINE, "direction": "in"},
    new_call("w", frm="sip:anonymous@anonymous.invalid"),
    new_call("w", frm='"Anonymous" <sip:anonymous@anonymous.invalid>'),
    new_call("w", frm="anonymous"),
], ids=["json-null", "no-from", "sip-uri", "sip-name-addr", "anonymous"])
async def test_a_withheld_caller_is_kept_and_named_so(hub: Hub, event: dict[str, Any]) -> None:
    path = await cti_path(hub)
    first = await send(hub, path, event)
    assert first["quarantined"] is True
    _, page = await hub.admin.get("/quarantine")
    (item,) = page["items"]
    assert item["reason"].startswith("unattributable sender: withheld number"), item["reason"]
    assert "letters" not in item["reason"]
    c = await make_customer(hub, "Anonyme Anruferin")
    await send(hub, path, hangup("w", cause="cancel"))
    status, _ = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                     json={"customer_id": c["id"]})
    assert status == 200
    (call,) = await calls_of(hub, c["id"])
    assert call["subject"] == "Missed call from a withheld number"
    assert call["meta"]["number"] == "anonymous"


# ------------------------------------------------------------------ transfer (fault 7)
async def test_a_second_answer_by_another_agent_is_a_transfer(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    await send(hub, path, answer(user="Anna", t=5))
    moved = await send(hub, path, answer(user="Tom", t=20))
    assert moved["duplicate"] is False
    again = await send(hub, path, answer(user="Tom", t=25))
    assert again["duplicate"] is True
    await send(hub, path, hangup(t=65))
    (call,) = await calls_of(hub, c["id"])
    meta = call["meta"]
    assert meta["answered_by"] == "Anna" and meta["transferred_to"] == ["Tom"]
    assert meta["duration_seconds"] == 60
    assert "Answered by Anna, transferred to Tom." in call["body"]


async def test_a_transfer_arriving_before_the_first_answer_keeps_the_order(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call())
    await send(hub, path, answer(user="Tom", t=20))
    await send(hub, path, answer(user="Anna", t=5))
    (call,) = await calls_of(hub, c["id"])
    assert (call["meta"]["answered_by"], call["meta"]["transferred_to"]) == ("Anna", ["Tom"])
