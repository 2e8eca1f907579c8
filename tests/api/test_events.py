"""Live events for agents (SSE ``GET /api/v1/events``): a ringing phone shows the caller."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientResponse

from chronik.api import events as events_api
from chronik.api.base import hash_token, new_token
from chronik.web.admin.accounts import revoke_token
from tests.api.test_customers_entries import make_customer
from tests.conftest import Api, Hub
from tests.connectors.test_cti import answer, cti_path, hangup, new_call, send
from timeline.errors import StoreUnavailable
from timeline.models import Role


class Stream:
    """One SSE connection: ``next()`` returns the next ``(event, data)``."""

    def __init__(self, resp: ClientResponse) -> None:
        self.resp = resp

    async def next(self, wait: float = 2.0) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self._read(), wait)

    async def _read(self) -> tuple[str, dict[str, Any]]:
        event, data = "", ""
        while True:
            line = (await self.resp.content.readline()).decode()
            if not line:
                raise EOFError("stream closed")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and event:
                return event, json.loads(data)

    async def until(self, kind: str, wait: float = 2.0) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            event, data = await self.next(max(0.01, deadline - time.monotonic()))
            if event == kind:
                return data

    async def nothing_within(self, seconds: float) -> None:
        try:
            event, data = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {event}: {data}")


@asynccontextmanager
async def stream(hub: Hub, api: Api, office_id: str) -> AsyncIterator[Stream]:
    before = hub.state.events.subscriber_count(office_id)
    resp = await api.session.get(api.base + "/events",
                                 headers={"Authorization": f"Bearer {api.token}"})
    try:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for _ in range(200):
            if hub.state.events.subscriber_count(office_id) > before:
                break
            await asyncio.sleep(0.01)
        yield Stream(resp)
    finally:
        resp.close()


async def test_ringing_phone_pushes_the_caller_and_history(hub: Hub) -> None:
    c = await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    _, note = await hub.agent.post(f"/customers/{c['id']}/entries", json={
        "kind": "note", "body": "Wants the new tariff", "visibility": "internal"})
    path = await cti_path(hub)
    async with stream(hub, hub.agent, hub.office.id) as live:
        started = time.monotonic()
        await send(hub, path, new_call())
        ringing = await live.until("call.ringing", wait=1.0)
        assert time.monotonic() - started < 1.0
        assert ringing["call_id"] == "c1" and ringing["direction"] == "in"
        assert ringing["normalised"] == "+491711234567"
        assert ringing["users"] == ["Anna Admin", "Tom Agent"]
        (match,) = ringing["matches"]
        assert match["customer"]["id"] == c["id"]
        assert match["customer"]["name"] == "Erika Mustermann"
        assert [e["id"] for e in match["recent"]] == [note["id"]]
        assert match["recent"][0]["body"] == "Wants the new tariff"
        assert ringing["entry_id"] and ringing["customer_id"] == c["id"]

        await send(hub, path, answer())
        answered = await live.until("call.answered")
        assert answered["answered_by"] == "Tom Agent"
        await send(hub, path, hangup())
        ended = await live.until("call.ended")
        assert (ended["outcome"], ended["duration_seconds"], ended["missed"]) == (
            "answered", 60, False)

        _, phone_note = await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": "phone_note", "body": "Sent the offer", "visibility": "internal",
            "call_entry_id": ringing["entry_id"]})
        created = await live.until("entry.created")
        assert created["id"] == phone_note["id"] and created["kind"] == "phone_note"
        assert created["customer_id"] == c["id"]


async def test_call_creates_entry_created_and_unknown_callers_ring_without_match(
        hub: Hub) -> None:
    path = await cti_path(hub)
    async with stream(hub, hub.agent, hub.office.id) as live:
        await send(hub, path, new_call("u1", frm="4915112345678"))
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 2:
            event, data = await live.next(1.0)
            seen[event] = data
        assert seen["call.ringing"]["matches"] == []
        assert seen["entry.created"]["kind"] == "call"
        assert seen["entry.created"]["id"] == seen["call.ringing"]["entry_id"]


async def test_missed_call_ends_as_missed_and_duplicates_stay_silent(hub: Hub) -> None:
    await make_customer(hub, phones=["0171 1234567"])
    path = await cti_path(hub)
    async with stream(hub, hub.agent, hub.office.id) as live:
        await send(hub, path, new_call())
        await live.until("call.ringing")
        await send(hub, path, hangup(cause="noAnswer"))
        ended = await live.until("call.ended")
        assert ended["missed"] is True and ended["outcome"] == "missed"
        for event in (new_call(), hangup(cause="noAnswer")):
            await send(hub, path, event)
        await live.nothing_within(0.3)


async def test_another_offices_stream_receives_nothing(hub: Hub) -> None:
    c = await make_customer(hub, phones=["0171 1234567"])
    other_office, other_admin = await hub.new_office()
    path = await cti_path(hub)
    async with stream(hub, other_admin, other_office.id) as theirs, \
            stream(hub, hub.agent, hub.office.id) as mine:
        await send(hub, path, new_call())
        await send(hub, path, hangup())
        await hub.agent.post(f"/customers/{c['id']}/entries", json={
            "kind": "note", "body": "internal", "visibility": "internal"})
        kinds = set()
        while "call.ended" not in kinds or "entry.created" not in kinds:
            kinds.add((await mine.next())[0])
        await theirs.nothing_within(0.5)


async def test_events_need_an_agent_token(hub: Hub) -> None:
    status, body = await hub.anon.get("/events")
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_a_stream_ends_when_its_sign_in_does(hub: Hub, monkeypatch: Any) -> None:
    """A token revoked (or a console session ended) while its event stream is open: the
    next call does not reach that screen; the stream says ``session.ended`` and closes."""
    monkeypatch.setattr(events_api, "RECHECK_SECONDS", 0.0)
    token = new_token()
    await hub.state.store.create_agent(hub.office.id, "Eva Aushilfe", Role.AGENT,
                                       hash_token(token))
    temp = hub.agent.as_(token)
    await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    async with stream(hub, temp, hub.office.id) as live:
        await send(hub, path, new_call())
        assert (await live.until("call.ringing"))["call_id"] == "c1"
        await revoke_token(hub.state, hub.office.id, hash_token(token)[:12])
        await send(hub, path, new_call("c2"))
        event, _ = await live.next()
        assert event == "session.ended"
        with pytest.raises(EOFError):
            await live.next()


async def test_a_stream_that_cannot_check_its_sign_in_ends_without_saying_signed_out(
        hub: Hub, monkeypatch: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The store unreachable when the stream re-checks: the stream ends (the browser
    reconnects and authenticates anew) — it neither goes on unchecked nor claims a sign-out."""
    monkeypatch.setattr(events_api, "RECHECK_SECONDS", 0.0)
    await make_customer(hub, "Erika Mustermann", phones=["0171 1234567"])
    path = await cti_path(hub)
    async with stream(hub, hub.agent, hub.office.id) as live:
        async def unreachable(token_hash: str) -> None:
            raise StoreUnavailable("the database does not answer")
        monkeypatch.setattr(hub.state.store, "agent_for_token", unreachable)
        await send(hub, path, new_call())
        with pytest.raises(EOFError):
            await live.next()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
