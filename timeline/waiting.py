"""Waiting for an ``asyncio.Event`` with a timeout, without losing a cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), t)`` returns normally when the task is
cancelled at the moment the event is set (CPython gh-86296): a loop around it then goes
on as if nothing happened, and whoever cancelled it (a shutdown, a test's teardown) waits
forever. ``asyncio.timeout`` counts cancellations and always lets an outside one through:
use it (or ``wait_set``) instead of ``wait_for`` wherever a task may be cancelled.
"""

from __future__ import annotations

import asyncio


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set, at most ``seconds``: whether it was set.
    A cancellation of the waiting task always propagates."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
