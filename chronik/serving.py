"""Serving the app until SIGTERM or SIGINT, with a shutdown that no further signal cuts short.

aiohttp's ``web.run_app`` turns each SIGTERM/SIGINT into an exception raised out of the
event loop. A second signal landing while the first shutdown runs -- Ctrl-C in a terminal
signals every process of ``serve --processes N`` and then the parent stops them with
SIGTERM; an impatient user presses Ctrl-C twice; a process whose port was taken is stopping
when the parent stops the others -- then raises inside the cleanup: the lifecycle's async
generators are abandoned half-closed (tracebacks on stderr, the store and the background
work not closed) and the process exits with status 1. Here a signal only sets an event: the
first one starts the same graceful shutdown (stop listening, end event streams, finish
requests in flight, close the lifecycle), later ones change nothing.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from chronik.loops import LoopKind, run

SHUTDOWN_TIMEOUT = 60.0
"""Seconds requests in flight get to finish once the server stops (aiohttp's default)."""
KEEPALIVE_TIMEOUT = 75.0
"""Seconds an idle keep-alive connection stays open (``web.run_app``'s default)."""


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets, on the running loop; later signals change
    nothing. The loop removes its handlers when it closes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_until_stopped(app: web.Application, host: str, port: int, *,
                              listening: Callable[[], None], reuse_port: bool = False) -> None:
    """Start ``app`` (its startup and lifecycle), listen on ``host:port``, call
    ``listening`` once the socket listens, and serve until SIGTERM/SIGINT. A signal during
    start-up lets the start-up finish and then stops without listening. A port that cannot
    be bound raises its ``OSError`` after the app has been cleaned up."""
    stop = stop_on_signals()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT,
                           keepalive_timeout=KEEPALIVE_TIMEOUT)
    try:
        await runner.setup()
        if stop.is_set():
            return
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        listening()
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(app: web.Application, host: str, port: int, *, listening: Callable[[], None],
          loop: LoopKind, reuse_port: bool = False) -> None:
    """:func:`serve_until_stopped` on a new event loop of the configured kind."""
    run(serve_until_stopped(app, host, port, listening=listening, reuse_port=reuse_port),
        loop)
