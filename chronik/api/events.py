"""Live events for agents' screens (Server-Sent Events): ``entry.created``, ``call.ringing``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import cast

from aiohttp import web

from chronik.api.base import Caller, Operation, Param, still_signed_in
from chronik.metrics import sse_client
from chronik.state import AppState
from timeline.errors import StoreUnavailable
from timeline.events import Event, EventFeed

KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 1.0
"""How old the stream's last check of its sign-in may be when an event goes out: a
signed-out browser (the agent in another tab, an admin's "sign out everywhere", a revoked
token) gets no caller's number or entry after that."""


async def events(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    last_seen = _last_event_id(request)
    await response.prepare(request)
    await response.write(b": connected\n\n")
    closing = request.app.get(CLOSING)
    checked = time.monotonic()
    with state.events.subscribe(caller.office.id) as queue, sse_client(request.app):
        try:
            replayed = await _replay(response, state, caller, last_seen)
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
                if event.id is not None and event.id in replayed:
                    continue  # sent from the feed already (it arrived while replaying)
                await response.write(_frame(event))
            await response.write_eof()
        except ConnectionResetError:  # the browser left (page change, tab closed)
            pass
    return response


def _frame(event: Event) -> bytes:
    """One event as SSE: with the feed row's ``id`` (``Last-Event-ID`` on reconnect)."""
    payload = json.dumps(event.data, ensure_ascii=False, default=str)
    head = f"id: {event.id}\n" if event.id is not None else ""
    return f"{head}event: {event.type}\ndata: {payload}\n\n".encode()


def _last_event_id(request: web.Request) -> int | None:
    """The ``Last-Event-ID`` a reconnecting client sends (EventSource does so by itself):
    an ``id`` this stream sent. Anything else is ignored, as the SSE standard lets a
    server do (the stream starts from now)."""
    raw = (request.headers.get("Last-Event-ID")
           or request.query.get(LAST_EVENT_ID_PARAM, "")).strip()
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


LAST_EVENT_ID_PARAM = "lastEventId"
"""The query parameter EventSource polyfills (``event-source-polyfill``, which can send an
``Authorization`` header) put the last id in when they reconnect."""

REPLAY_BATCH = 500


async def _replay(response: web.StreamResponse, state: AppState, caller: Caller,
                  last_seen: int | None) -> set[int]:
    """Send the office's events after ``last_seen`` that the change feed still holds (its
    last 10 minutes): what a client missed while it reconnected. Returns their ids (the
    live queue may bring the same rows again)."""
    sent: set[int] = set()
    if last_seen is None:
        return sent
    feed = cast(EventFeed, state.store)
    position = last_seen
    while True:
        rows = await feed.events_after(position, REPLAY_BATCH)
        for row in rows:
            position = max(position, row.id)
            if row.office_id != caller.office.id:
                continue
            event = await state.events.load(row)
            if event is not None:
                sent.add(row.id)
                await response.write(_frame(event))
        if len(rows) < REPLAY_BATCH:
            return sent


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
              "call.answered, call.ended. Each event has an id; reconnecting with "
              "Last-Event-ID (header, or lastEventId in the query) first sends the events "
              "missed since (the last 10 minutes)", "events",
              params=(Param(LAST_EVENT_ID_PARAM, schema={"type": "string", "pattern": "^[0-9]+$"},
                            description="The id of the last event received, as a query "
                                        "parameter (the Last-Event-ID header wins)"),),
              response_content="text/event-stream"),
]
