"""Processes for CPU-bound work beside the event loop (the import's mail parsers, the
indexer's file reader)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

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
