"""Processes for CPU-bound work beside the event loop (the import's mail parsers, the
indexer's file reader), and the garbage collector's pace for bulk work."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections.abc import Iterator
from multiprocessing.context import BaseContext

BULK_COLLECT_AFTER = 50_000
"""Objects allocated (net) between two collections of the youngest generation during bulk
work (Python's default: 700)."""

_preload: set[str] = set()


def process_context(*preload: str) -> BaseContext:
    """A fork server where the platform has one (children start from a clean process, not
    from a copy of this one's threads and heap), with ``preload`` imported once in it for
    every child; else ``spawn``. The fork server is one per process, so its preload list is
    the union of what every caller asked for (effective until it first starts)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        _preload.update(preload)
        context.set_forkserver_preload(sorted(_preload))
        return context
    return multiprocessing.get_context("spawn")


def collect_less() -> None:
    """For a process that does bulk work from now on (a parser process of ``chronik
    import``): what exists now (imported modules) is frozen out of the cyclic garbage
    collector's sight, and it runs at :data:`BULK_COLLECT_AFTER` allocations, not 700.
    Nearly everything such work allocates is freed by reference counting at once; the
    collector only looks for cycles, and with the default pace it walked the whole heap
    (and the caches an import fills) dozens of times: a tenth of the storing process's
    time."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(BULK_COLLECT_AFTER, middle, oldest)


@contextlib.contextmanager
def collecting_less() -> Iterator[None]:
    """:func:`collect_less` for the duration of a bulk job in a process that goes on
    afterwards (``chronik import`` in the storing process); then as before (for a process
    that had frozen nothing itself: a serving process freezes its startup heap once,
    ``chronik.app.freeze_after_startup``, and runs no import)."""
    before = gc.get_threshold()
    collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
