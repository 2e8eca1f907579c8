"""Live events for agents' screens (Server-Sent Events): ``entry.created``, ``call.ringing``."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from chronik.api.base import Caller, Operation
from chronik.state import AppState

KEEPALIVE_SECONDS = 15.0


async def events(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b": connected\n\n")
    with state.events.subscribe(caller.office.id) as queue:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            payload = json.dumps(event.data, ensure_ascii=False, default=str)
            await response.write(f"event: {event.type}\ndata: {payload}\n\n".encode())


OPERATIONS = [
    Operation("GET", "/events", events, "events",
              "Server-Sent Events for the caller's office: entry.created, call.ringing, "
              "call.answered, call.ended", "events", response_content="text/event-stream"),
]
