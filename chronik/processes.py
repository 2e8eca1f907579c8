"""``chronik serve --processes N``: N API processes on one port, and who runs what.

Each process is a fresh interpreter (``multiprocessing`` spawn) serving the whole app on
the same host and port with ``SO_REUSEPORT`` (the kernel spreads new connections over
them). Process 0 also runs the background work of the data folder (indexer, connectors,
notifier, retention) unless ``--no-workers`` says a separate ``chronik worker --all`` runs
it; the other processes only answer HTTP. Every process follows the store's live-event feed
(``timeline/events.py``), so an agent's event stream shows every process's writes.

The parent opens the data folder once first (migrations, keys), starts the processes, prints
the banner when all of them listen, forwards SIGTERM/SIGINT to them and exits when they have
stopped; if one of them fails, it stops the others and reports which one failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from types import FrameType

from chronik.serving import SHUTDOWN_TIMEOUT

START_TIMEOUT = 60.0
STOP_TIMEOUT = SHUTDOWN_TIMEOUT + 15.0
"""Seconds a stopped process gets before it is killed: the requests in flight get their
time to finish (``chronik/serving.py``), closing the store and the background work more."""


class ProcessFailed(Exception):
    """One server process ended on its own (it printed why on stderr)."""


BACKGROUND_LOCK = "background.lock"
"""In the data folder: held (``flock``) by the one process running its background work."""


class BackgroundBusy(Exception):
    """Another process already runs the background work of this data folder."""


@contextlib.contextmanager
def background_lock(data_dir: Path, command: str) -> Iterator[None]:
    """Hold the data folder's background-work lock while the block runs, or raise
    :class:`BackgroundBusy` naming the process that holds it. The background work (indexer,
    connectors, notifier, retention) must run exactly once per data folder: two of them
    would poll the same Telegram bot (the Bot API refuses the second, 409), read one IMAP
    mailbox twice and race over the index outbox. The kernel drops the lock when its
    process ends, however it ends, so a crash never leaves a stale lock behind."""
    fd = os.open(data_dir / BACKGROUND_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise BackgroundBusy(holder or "another process") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, `chronik {command}`\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def serve_one(data_dir: str, port: int, host: str, index: int, workers: bool,
              ready: Queue[int]) -> None:
    """One server process (the spawn target)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # still ignored: the
    # parent stops this process with SIGTERM (``_born_deaf_to_ctrl_c``)
    from chronik.app import create_app, freeze_after_startup
    from chronik.cli import load_settings
    from chronik.logs import setup as setup_logging
    from chronik.serving import serve

    settings = load_settings(data_dir, port, host)
    setup_logging(settings.log_level)
    app = create_app(settings, workers=workers)
    freeze_after_startup(app)
    try:
        serve(app, settings.http_host, settings.http_port, listening=lambda: ready.put(index),
              loop=settings.event_loop, reuse_port=True)
    except OSError as exc:
        print(f"chronik: process {index} cannot listen on {host}:{port}: "
              f"{exc.strerror or exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def run_processes(data_dir: str, port: int, host: str, count: int, workers: bool,
                  banner: Callable[[list[int]], None]) -> int:
    """Run ``count`` server processes until SIGTERM/SIGINT; their exit status."""
    ctx = multiprocessing.get_context("spawn")
    ready: Queue[int] = ctx.Queue()
    procs: list[BaseProcess] = [
        ctx.Process(target=serve_one, name=f"chronik-serve-{i}",
                    args=(data_dir, port, host, i, workers and i == 0, ready))
        for i in range(count)]
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _born_deaf_to_ctrl_c():
            for proc in procs:
                proc.start()
        failed = _wait_started(procs, ready, lambda: stopping)
        if failed is None and not stopping:
            banner([p.pid or 0 for p in procs])
        while failed is None and not stopping:
            failed = next((i for i, p in enumerate(procs) if not p.is_alive()), None)
            time.sleep(0.2)
    finally:
        _stop(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed is not None and not stopping:
        raise ProcessFailed(f"server process {failed} exited with code "
                            f"{procs[failed].exitcode}; stopped the others")
    return 0 if all(p.exitcode in (0, -signal.SIGTERM) for p in procs) else 1


@contextlib.contextmanager
def _born_deaf_to_ctrl_c() -> Iterator[None]:
    """Processes started in this block ignore SIGINT from birth: Ctrl-C in a terminal
    signals the whole process group, and a server process still importing its modules has
    no handler yet (``KeyboardInterrupt`` mid-import, a traceback, exit 1). The parent
    takes the Ctrl-C and stops them with SIGTERM, which they handle once they run (and
    which simply ends one that does not run yet). An ignored signal stays ignored across
    ``exec``; meanwhile SIGINT is blocked here, so a Ctrl-C in this moment waits for the
    parent's own handler instead of being lost (Linux keeps a blocked signal pending even
    while it is ignored). The children start with SIGINT blocked and unblock it first
    thing (``serve_one``)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _wait_started(procs: list[BaseProcess], ready: Queue[int],
                  stopping: Callable[[], bool]) -> int | None:
    """Wait until every process listens; the index of one that died first, else None."""
    seen: set[int] = set()
    deadline = time.monotonic() + START_TIMEOUT
    while len(seen) < len(procs) and not stopping():
        dead = next((i for i, p in enumerate(procs) if not p.is_alive() and i not in seen),
                    None)
        if dead is not None:
            return dead
        if time.monotonic() > deadline:
            raise ProcessFailed(f"the server processes did not start within "
                                f"{START_TIMEOUT:g}s")
        with contextlib.suppress(queue.Empty):
            seen.add(ready.get(timeout=0.1))
    return None


def _stop(procs: list[BaseProcess]) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            proc.terminate()  # SIGTERM: aiohttp's graceful shutdown
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in procs:
        if proc.pid is None:
            continue
        proc.join(max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
