"""Live events for agents' screens (Server-Sent Events): ``entry.created``, ``call.ringing``."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from chronik.api.base import Caller, Operation, still_signed_in
from chronik.metrics import sse_client
from chronik.state import AppState
from timeline.errors import StoreUnavailable
from timeline.events import Event

KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 1.0
"""How old the stream's last check of its sign-in may be when an event goes out: a
signed-out browser (the agent in another tab, an admin's "sign out everywhere", a revoked
token) gets no caller's number or entry after that."""


async def events(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b": connected\n\n")
    closing = request.app.get(CLOSING)
    checked = time.monotonic()
    with state.events.subscribe(caller.office.id) as queue, sse_client(request.app):
        try:
            while closing is None or not closing.is_set():
                event: Event | None = None  # (none for a quiet while)
                try:
                    async with asyncio.timeout(KEEPALIVE_SECONDS):
                        event = await _next(queue, closing)
                    if event is None:  # the server is shutting down
                        break
                except TimeoutError:
                    pass
                if event is None or time.monotonic() - checked > RECHECK_SECONDS:
                    try:
                        signed_in = await still_signed_in(request, state, caller)
                    except StoreUnavailable:  # cannot tell: the stream ends, the browser
                        break                 # reconnects (and signs in again if need be)
                    if not signed_in:
                        await response.write(ENDED)
                        break
                    checked = time.monotonic()
                if event is None:
                    await response.write(b": keepalive\n\n")
                    continue
                payload = json.dumps(event.data, ensure_ascii=False, default=str)
                await response.write(f"event: {event.type}\ndata: {payload}\n\n".encode())
            await response.write_eof()
        except ConnectionResetError:  # the browser left (page change, tab closed)
            pass
    return response


async def _next(queue: asyncio.Queue[Event], closing: asyncio.Event | None) -> Event | None:
    """The next event, or None as soon as the server starts shutting down."""
    if closing is None:
        return await queue.get()
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getter, stopper):
            if not task.done():
                task.cancel()
    return getter.result() if getter in done else None


ENDED = b"event: session.ended\ndata: {}\n\n"
"""The last event of a stream whose sign-in ended: the page stops listening and says so."""


CLOSING = web.AppKey("chronik_closing", asyncio.Event)
"""Set when the server shuts down: open event streams end at once (a graceful stop does
not wait for browsers to hang up)."""


def add_shutdown(app: web.Application) -> None:
    app[CLOSING] = asyncio.Event()

    async def close_streams(app: web.Application) -> None:
        app[CLOSING].set()
    app.on_shutdown.append(close_streams)


OPERATIONS = [
    Operation("GET", "/events", events, "events",
              "Server-Sent Events for the caller's office: entry.created, call.ringing, "
              "call.answered, call.ended", "events", response_content="text/event-stream"),
]
