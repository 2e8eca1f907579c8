"""A call whose end the phone system never reports (a lost ``hangup``, a PBX or FRITZ!Box
restarted mid-call) does not say "(ringing)" on the timeline for ever: after 12 hours
without news Chronik ends it -- missed if nobody answered, answered (duration unknown) if
someone did -- and says the end was not reported; a late ``hangup`` still corrects it."""

from __future__ import annotations

from datetime import timedelta

from chronik.glue.phone import UnendedCalls
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from tests.connectors.test_cti import CUSTOMER, answer, calls_of, cti_path, hangup, new_call, send
from timeline.models import utcnow

LATER = timedelta(hours=13)


async def test_calls_never_reported_ended_are_ended_after_half_a_day(hub: Hub) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    await send(hub, path, new_call("rang"))  # nobody answered; the hangup was lost
    await send(hub, path, new_call("talked", t=100))  # answered; the hangup was lost
    await send(hub, path, answer("talked", t=105))
    await send(hub, path, new_call("done", t=200))  # a complete call
    await send(hub, path, hangup("done", t=260, cause="noAnswer"))
    sweeper = UnendedCalls(hub.state)

    assert await sweeper.run_once() == 0  # too recent: they may still be going on
    by_call = {e["meta"]["call_id"]: e for e in await calls_of(hub, c["id"])}
    assert by_call["rang"]["subject"] == f"Call from {CUSTOMER} (ringing)"

    assert await sweeper.run_once(utcnow() + LATER) == 2
    by_call = {e["meta"]["call_id"]: e for e in await calls_of(hub, c["id"])}
    rang, talked, done = by_call["rang"], by_call["talked"], by_call["done"]
    assert rang["subject"] == f"Missed call from {CUSTOMER}"
    assert "missed" in rang["tags"] and rang["meta"]["missed"] is True
    assert "did not report the end" in rang["body"]
    assert rang["meta"]["end_reported"] is False
    assert talked["subject"] == f"Call from {CUSTOMER}"
    assert talked["meta"]["outcome"] == "answered"
    assert talked["meta"]["duration_seconds"] is None  # unknown, not zero
    assert "Answered by Tom Agent" in talked["body"]
    assert "did not report the end" in talked["body"]
    assert done["meta"]["end_reported"] is True  # reported: untouched
    assert "did not report" not in done["body"]
    assert await sweeper.run_once(utcnow() + LATER) == 0  # once

    # the hangup arrives after all: it is the call's real end
    await send(hub, path, hangup("talked", t=185))
    (talked,) = [e for e in await calls_of(hub, c["id"]) if e["meta"]["call_id"] == "talked"]
    assert talked["meta"]["duration_seconds"] == 80
    assert "did not report the end" not in talked["body"]
    assert talked["meta"]["end_reported"] is True


async def test_the_sweep_runs_with_the_background_work(hub: Hub) -> None:
    status, body = await hub.admin.get("/connectors")
    assert status == 200
    (sweep,) = [i for i in body["items"] if i["name"] == "phone-unended-calls"]
    assert sweep["state"] == "running"
    assert sweep["diagnostics"]["after_hours"] == 12
