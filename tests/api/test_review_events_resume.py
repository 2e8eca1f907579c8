"""The SSE stream as a PBX or CRM integration follows it: every event has an id, and a
client that reconnects with ``Last-Event-ID`` (EventSource does by itself) gets what it
missed meanwhile -- its own office's only, each once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientResponse

from tests.api.test_customers_entries import make_customer
from tests.conftest import Api, Hub

Frame = tuple[str | None, str, dict[str, Any]]


async def _frame(resp: ClientResponse) -> Frame:
    event_id: str | None = None
    event, data = "", ""
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            raise EOFError("stream closed")
        line = line.rstrip("\n")
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and event:
            return event_id, event, json.loads(data)


class Frames:
    """What one agent's streams receive, read up to a marker: a note written now, after
    everything the test did. The stream sends in feed order (replay first, then live,
    a row sent twice would come before it too), so every event that is due -- and any
    that should not come -- arrives before the marker: no waiting for the stream to be
    quiet. Markers are left out of what is returned, also when a later stream replays
    them."""

    def __init__(self, hub: Hub, api: Api, customer_id: str) -> None:
        self.hub, self.api, self.customer_id = hub, api, customer_id
        self.markers: set[str] = set()

    async def __call__(self, resp: ClientResponse) -> list[Frame]:
        marker = await note(self.hub, self.api, self.customer_id, "marker")
        self.markers.add(marker)
        out: list[Frame] = []
        async with asyncio.timeout(10):
            while True:
                frame = await _frame(resp)
                if frame[1] == "entry.created" and frame[2].get("id") == marker:
                    return out
                if not (frame[1] == "entry.created" and frame[2].get("id") in self.markers):
                    out.append(frame)


@asynccontextmanager
async def stream(hub: Hub, api: Api, office_id: str, last_event_id: str | None = None,
                 *, in_query: bool = False) -> AsyncIterator[ClientResponse]:
    before = hub.state.events.subscriber_count(office_id)
    headers = {"Authorization": f"Bearer {api.token}"}
    params = {}
    if last_event_id is not None and in_query:  # as EventSource polyfills send it
        params["lastEventId"] = last_event_id
    elif last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    resp = await api.session.get(api.base + "/events", headers=headers, params=params)
    try:
        assert resp.status == 200
        for _ in range(200):
            if hub.state.events.subscriber_count(office_id) > before:
                break
            await asyncio.sleep(0.01)
        yield resp
    finally:
        resp.close()
        for _ in range(200):  # the server lets go of it (the next stream counts from there)
            if hub.state.events.subscriber_count(office_id) <= before:
                break
            await asyncio.sleep(0.01)


async def note(hub: Hub, api: Api, customer_id: str, body: str) -> str:
    status, entry = await api.post(f"/customers/{customer_id}/entries", json={
        "kind": "note", "body": body, "visibility": "internal"})
    assert status == 201, entry
    return str(entry["id"])


def created(got: list[Frame]) -> list[str]:
    return [data["id"] for _, kind, data in got if kind == "entry.created"]


async def test_reconnect_with_last_event_id_gets_what_was_missed(hub: Hub) -> None:
    c = await make_customer(hub)
    frames = Frames(hub, hub.agent, c["id"])
    other_office, other = await hub.new_office()
    _, other_c = await other.post("/customers", json={"name": "Fremd"})
    async with stream(hub, hub.agent, hub.office.id) as resp:
        first = await note(hub, hub.agent, c["id"], "before the outage")
        got = await frames(resp)
    ids = [i for i, kind, _ in got if kind == "entry.created"]
    assert created(got) == [first]
    assert ids[0] is not None and ids[0].isdigit()  # every event names its id

    # the connection drops; meanwhile two notes here, one in another office
    missed = [await note(hub, hub.agent, c["id"], "while away 1"),
              await note(hub, hub.agent, c["id"], "while away 2")]
    await note(hub, other, other_c["id"], "not ours")
    async with stream(hub, hub.agent, hub.office.id, last_event_id=ids[0]) as resp:
        got = await frames(resp)
        assert created(got) == missed  # in order, each once, none of the other office
        replay_ids = [int(i) for i, kind, _ in got if i is not None]
        assert replay_ids == sorted(replay_ids) and min(replay_ids) > int(ids[0])
        live = await note(hub, hub.agent, c["id"], "after the reconnect")
        got = await frames(resp)
        assert created(got) == [live]  # the stream goes on live after the replay


async def test_without_or_with_a_foreign_last_event_id_the_stream_starts_now(hub: Hub
                                                                         ) -> None:
    c = await make_customer(hub)
    frames = Frames(hub, hub.agent, c["id"])
    async with stream(hub, hub.agent, hub.office.id) as resp:  # delivered: it is old news
        old = await note(hub, hub.agent, c["id"], "old news")
        assert created(await frames(resp)) == [old]
    for last in (None, "abc", "-1", "99999999999999999999999"):
        async with stream(hub, hub.agent, hub.office.id, last_event_id=last) as resp:
            assert await frames(resp) == [], last
            fresh = await note(hub, hub.agent, c["id"], f"fresh {last}")
            assert created(await frames(resp)) == [fresh]


async def test_a_polyfill_sends_the_last_id_in_the_query(hub: Hub) -> None:
    c = await make_customer(hub)
    frames = Frames(hub, hub.agent, c["id"])
    async with stream(hub, hub.agent, hub.office.id) as resp:
        await note(hub, hub.agent, c["id"], "seen")
        got = await frames(resp)
    last = [i for i, kind, _ in got if kind == "entry.created"][-1]
    assert last is not None
    missed = await note(hub, hub.agent, c["id"], "while away")
    async with stream(hub, hub.agent, hub.office.id, last, in_query=True) as resp:
        assert created(await frames(resp)) == [missed]
