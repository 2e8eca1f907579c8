"""The event loop Chronik's commands run on: uvloop when it is installed (Linux and macOS;
a dependency there), else asyncio's own. uvloop serves the same HTTP requests with about a
tenth less CPU (bench/RESULTS.md, "uvloop"); ``CHRONIK_EVENT_LOOP=asyncio`` turns it off,
e.g. to rule it out while diagnosing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
LoopKind = Literal["auto", "uvloop", "asyncio"]


class LoopUnavailable(Exception):
    """``CHRONIK_EVENT_LOOP=uvloop`` where uvloop is not installed."""


def loop_factory(kind: LoopKind) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise LoopUnavailable(
                "CHRONIK_EVENT_LOOP=uvloop, but uvloop is not installed "
                "(pip install uvloop, or set CHRONIK_EVENT_LOOP=asyncio)") from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def new_loop(kind: LoopKind) -> asyncio.AbstractEventLoop:
    return loop_factory(kind)()


def run(main: Coroutine[Any, Any, T], kind: LoopKind) -> T:
    """``asyncio.run`` on the configured loop."""
    try:
        factory = loop_factory(kind)
    except LoopUnavailable:
        main.close()  # never started: no "never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
