"""Long-running parts of the server (connectors, workers) under one supervisor.

A component is one small object with ``run()`` (runs until cancelled; raising means
"failed") and ``diagnostics()`` (redacted). The supervisor restarts a failed component with
exponential backoff, reports its state at ``GET /api/v1/connectors``, and never lets one
component take the server down. Built-in components register the way a third party would:
a factory in ``COMPONENT_FACTORIES`` (see ``chronik/registry.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from timeline.models import utcnow
from timeline.repositories import ComponentReports

log = logging.getLogger(__name__)

REPORT_SECONDS = 5.0
"""How often the process running the components stores their states for the others."""
STALE_AFTER = timedelta(seconds=3 * REPORT_SECONDS)
"""A stored state older than this (its process stopped reporting: killed, hanging) is shown
as ``unknown``."""


class Component(Protocol):
    name: str
    kind: str
    """``connector`` or ``worker``."""

    async def run(self) -> None: ...
    def diagnostics(self) -> dict[str, Any]: ...


@dataclass
class ComponentStatus:
    name: str
    kind: str
    state: str = "starting"
    """``starting``, ``running``, ``backoff``, ``stopped``."""
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    next_attempt_in: float | None = None
    since: float = field(default_factory=time.time)


def describe_error(exc: BaseException) -> str:
    """Type and message, cut short; never a traceback, never more than the message says."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


class Supervisor:
    def __init__(self, components: Sequence[Component], *, base_delay: float = 1.0,
                 max_delay: float = 60.0, healthy_after: float = 30.0) -> None:
        self.components = list(components)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.healthy_after = healthy_after
        self.status = {c.name: ComponentStatus(c.name, c.kind) for c in self.components}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for component in self.components:
            self._tasks.append(asyncio.create_task(self._supervise(component),
                                                   name=f"component-{component.name}"))

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Cancel every component and wait for it, but never forever: a component still
        running after the grace period is logged with where it hangs, cancelled once more,
        and left behind so that shutdown completes."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in pending:
                log.error("%s did not stop within %.0fs; it hangs at:\n%s", task.get_name(),
                          grace_seconds, task_stack(task))
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace_seconds / 2)
            for task in self._tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("%s ended with %s", task.get_name(),
                              describe_error(task.exception() or Exception()))
        for status in self.status.values():
            status.state = "stopped"

    async def _supervise(self, component: Component) -> None:
        status = self.status[component.name]
        failures = 0
        while True:
            status.state, status.since, status.next_attempt_in = "running", time.time(), None
            started = time.monotonic()
            try:
                await component.run()
                status.state = "stopped"
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() - started > self.healthy_after:
                    failures = 0
                failures += 1
                status.restarts += 1
                status.last_error = describe_error(exc)
                status.last_error_at = time.time()
                delay = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
                delay *= 0.8 + 0.4 * random.random()  # noqa: S311  (jitter, not crypto)
                status.state, status.next_attempt_in = "backoff", round(delay, 2)
                log.warning("%s failed (%s); retrying in %.1fs", component.name,
                            status.last_error, delay)
                await asyncio.sleep(delay)

    def report(self) -> list[dict[str, Any]]:
        out = []
        for component in self.components:
            s = self.status[component.name]
            try:
                diag = component.diagnostics()
            except Exception as exc:
                diag = {"error": describe_error(exc)}
            out.append({"name": s.name, "kind": s.kind, "state": s.state,
                        "restarts": s.restarts, "last_error": s.last_error,
                        "last_error_at": s.last_error_at, "next_attempt_in": s.next_attempt_in,
                        "diagnostics": diag})
        return out


def task_stack(task: asyncio.Task[None]) -> str:
    buffer = io.StringIO()
    task.print_stack(file=buffer)
    return buffer.getvalue()


class Misconfigured:
    """Stands in for a component whose settings are invalid: it fails (and is retried and
    reported at ``GET /api/v1/connectors``) instead of stopping the server from starting."""

    def __init__(self, name: str, problem: str, kind: str = "connector") -> None:
        self.name = name
        self.kind = kind
        self.problem = problem

    async def run(self) -> None:
        raise ValueError(self.problem)

    def diagnostics(self) -> dict[str, Any]:
        return {"problem": self.problem}


ComponentFactory = Callable[[Any], Sequence[Component]]
"""Gets the running ``AppState``; returns the components its settings enable (maybe none)."""

REDACTED = "***"


def redact(values: dict[str, Any], secret_keys: Sequence[str] = (
        "password", "token", "secret", "key", "authorization")) -> dict[str, Any]:
    """Diagnostics never show secrets: any key that looks like one is masked."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out[key] = redact(value, secret_keys)
        elif any(s in key.lower() for s in secret_keys) and value not in (None, ""):
            out[key] = REDACTED
        else:
            out[key] = value
    return out


def process_label() -> str:
    """``host:pid``: which process runs the components."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def store_states(supervisor: Supervisor, store: ComponentReports,
                       give_up_after: float | None = None) -> None:
    """Store the supervisor's report now; a store that is away for a moment (or longer
    than ``give_up_after`` seconds) is logged, not raised: the next round tries again."""
    try:
        async with asyncio.timeout(give_up_after):
            await store.replace_component_reports(process_label(), supervisor.report(),
                                                  utcnow())
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("storing the connectors' states failed: %s", describe_error(exc))


async def report_states(supervisor: Supervisor, store: ComponentReports,
                        every: float = REPORT_SECONDS) -> None:
    """Store the supervisor's report every ``every`` seconds (until cancelled), so that
    processes not running the components show them too (``component_states``)."""
    while True:
        await asyncio.sleep(every)
        await store_states(supervisor, store)


@contextlib.asynccontextmanager
async def reporting(supervisor: Supervisor, store: ComponentReports,
                    every: float = REPORT_SECONDS) -> AsyncIterator[None]:
    """Store the supervisor's states when the block starts (a process that says it is
    running is shown at once), every ``every`` seconds while it runs, and once more after it
    (the others show ``stopped``, not ``unknown`` after a while). The block is expected to
    stop the supervisor before it ends."""
    await asyncio.sleep(0)  # the components just started take their first step ("running")
    await store_states(supervisor, store)
    reporter = asyncio.create_task(report_states(supervisor, store, every),
                                   name="chronik-component-states")
    try:
        yield
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await store_states(supervisor, store, give_up_after=5)


async def component_states(supervisor: Supervisor | None, store: ComponentReports
                           ) -> list[dict[str, Any]]:
    """What ``GET /api/v1/connectors`` shows, by name: the live states of the components
    this process runs, and what every other process running some last stored (``unknown``
    once older than ``STALE_AFTER``: that process was killed or hangs), each with
    ``reported_by`` and ``reported_at``. A component's clean stop is left out where another
    process runs the same component (a restarted or a second notification worker)."""
    now = utcnow()
    label = process_label()
    out: list[dict[str, Any]] = []
    if supervisor is not None:
        out = [{**r, "reported_by": label, "reported_at": now} for r in supervisor.report()]
    for stored in await store.component_reports():
        if supervisor is not None and stored.process == label:
            continue  # its live states are above
        report = dict(stored.report)
        if now - stored.reported_at > STALE_AFTER and report.get("state") != "stopped":
            report["state"] = "unknown"
            report["next_attempt_in"] = None
        out.append({**report, "reported_by": stored.process,
                    "reported_at": stored.reported_at})
    elsewhere = {i["name"] for i in out if i.get("state") != "stopped"}
    return sorted((i for i in out if i.get("state") != "stopped" or i["name"] not in elsewhere),
                  key=lambda i: (i["name"], i["reported_by"]))
