"""Prometheus metrics of one running server, served at ``GET /metrics`` (``chronik/ops.py``).

Two kinds of numbers:

- **counted in this process** (``prometheus_client`` instruments in a registry per app):
  request latency and responses by *route template* (``/api/v1/customers/{id}``, never the
  raw path: a label per customer id would grow without bound), entries stored by channel,
  index tasks applied, open live-event streams;
- **read from the store at scrape time** (:class:`StoreCollector`): queue depths and
  delivery outcomes. ``chronik worker`` may run in another process that serves no HTTP, so
  what it did is counted where every process writes it down: in the store.

Label values are always from small fixed sets (methods, route templates, status codes,
channels, job states, attempt outcomes); no office, customer or path ever becomes a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter as Counter_
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from search.indexer import Indexer
from timeline.models import Entry, utcnow
from timeline.sqlite_store import SqliteStore

if TYPE_CHECKING:
    import sqlalchemy as sa

    from timeline.pg_store import PgStore
from timeline.store import Store

log = logging.getLogger(__name__)

disable_created_metrics()  # type: ignore[no-untyped-call]  # no "_created" twins (process-wide)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds; the caller-lookup goal ("well under 100 ms") falls between two buckets."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of requests no route matched (404s, scanners): one series for all."""
STORE_SCRAPE_SECONDS = 5.0
"""The store queries of one scrape give up after this long (``chronik_store_scrape_ok 0``)."""
OPEN_JOB_STATES = ("pending", "dead", "unknown")
"""Job states someone acts on (the queue; an admin's retry). Finished jobs are not counted:
they only grow, and counting them would cost a scan per scrape."""
ATTEMPTS_PER_SCRAPE = 50_000
IN_FLIGHT_LIMIT = 10_000

Attempt = tuple[int, str, str]
"""(row id, channel, outcome) of one delivery attempt."""


@dataclass
class StoreSnapshot:
    """What the store says at scrape time. Every number is an index lookup whose cost grows
    with the backlog, never with the history (``bench/bench_metrics.py``)."""

    index_queue: int = 0
    notify_due: int = 0
    jobs: dict[str, int] = field(default_factory=dict)
    """Notification jobs in the :data:`OPEN_JOB_STATES`."""
    quarantine_open: int = 0


class StoreReader(Protocol):
    """The queries behind the store-derived metrics (one implementation per store)."""

    async def snapshot(self) -> StoreSnapshot: ...
    async def last_attempt_id(self) -> int: ...
    async def attempts_after(self, after_id: int, limit: int) -> list[Attempt]: ...
    async def attempts_by_id(self, ids: Sequence[int]) -> list[Attempt]: ...


class SqliteStoreReader:
    def __init__(self, store: SqliteStore) -> None:
        self.db = store.db

    async def snapshot(self) -> StoreSnapshot:
        now = utcnow().isoformat()

        def run(conn: sqlite3.Connection) -> StoreSnapshot:
            def one(sql: str, *args: str) -> int:
                row = conn.execute(sql, args).fetchone()
                return int(row[0]) if row else 0
            return StoreSnapshot(
                index_queue=one("SELECT count(*) FROM index_outbox"),
                notify_due=one("SELECT count(*) FROM notify_jobs WHERE status='pending' "
                               "AND next_at <= ?", now),
                jobs={s: one("SELECT count(*) FROM notify_jobs WHERE status=?", s)
                      for s in OPEN_JOB_STATES},
                quarantine_open=one("SELECT count(*) FROM quarantine WHERE office_id IN "
                                    "(SELECT id FROM offices) AND status='open'"))
        return await self.db.read(run)

    async def last_attempt_id(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT max(id) FROM notify_attempts").fetchone()
            return int(row[0] or 0)
        return await self.db.read(run)

    async def attempts_after(self, after_id: int, limit: int) -> list[Attempt]:
        return await self.db.read(lambda conn: [
            (int(i), str(c), str(o)) for i, c, o in conn.execute(
                "SELECT id, channel, outcome FROM notify_attempts WHERE id > ? ORDER BY id "
                "LIMIT ?", (after_id, limit))])

    async def attempts_by_id(self, ids: Sequence[int]) -> list[Attempt]:
        def run(conn: sqlite3.Connection) -> list[Attempt]:
            out: list[Attempt] = []
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                out += [(int(i), str(c), str(o)) for i, c, o in conn.execute(
                    f"SELECT id, channel, outcome FROM notify_attempts WHERE id IN ({marks})",  # noqa: S608
                    chunk)]
            return out
        return await self.db.read(run)


class PgStoreReader:
    """The same numbers from PostgreSQL (``timeline/sql_tables.py``). Attempts are read
    by id as on SQLite: an attempt whose transaction commits after a later id was read is
    counted late or not at all -- a metric, never a decision."""

    def __init__(self, store: PgStore) -> None:
        self.db = store.db

    async def snapshot(self) -> StoreSnapshot:
        import sqlalchemy as sa

        from timeline import sql_tables as t

        def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
            return sa.select(sa.func.count()).select_from(table).where(*where).scalar_subquery()
        jobs = t.notify_jobs.c
        query = sa.select(
            count(t.index_outbox),
            count(t.notify_jobs, jobs.status == "pending", jobs.next_at <= sa.func.now()),
            *(count(t.notify_jobs, jobs.status == s) for s in OPEN_JOB_STATES),
            count(t.quarantine, t.quarantine.c.status == "open",
                  t.quarantine.c.office_id.in_(sa.select(t.offices.c.id))))
        async with self.db.connect() as conn:
            row = (await conn.execute(query)).one()
        return StoreSnapshot(
            index_queue=int(row[0]), notify_due=int(row[1]),
            jobs={s: int(row[2 + i]) for i, s in enumerate(OPEN_JOB_STATES)},
            quarantine_open=int(row[2 + len(OPEN_JOB_STATES)]))

    async def last_attempt_id(self) -> int:
        import sqlalchemy as sa

        from timeline.sql_tables import notify_attempts

        async with self.db.connect() as conn:
            found = await conn.scalar(sa.select(sa.func.max(notify_attempts.c.id)))
        return int(found or 0)

    async def attempts_after(self, after_id: int, limit: int) -> list[Attempt]:
        import sqlalchemy as sa

        from timeline.sql_tables import notify_attempts as a

        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(a.c.id, a.c.channel, a.c.outcome).where(a.c.id > after_id)
                .order_by(a.c.id).limit(limit))).all()
        return [(int(i), str(c), str(o)) for i, c, o in rows]

    async def attempts_by_id(self, ids: Sequence[int]) -> list[Attempt]:
        import sqlalchemy as sa

        from timeline.sql_tables import notify_attempts as a

        if not ids:
            return []
        async with self.db.connect() as conn:
            rows = (await conn.execute(
                sa.select(a.c.id, a.c.channel, a.c.outcome)
                .where(a.c.id == sa.func.any(sa.literal(list(ids), sa.ARRAY(sa.BigInteger))))
            )).all()
        return [(int(i), str(c), str(o)) for i, c, o in rows]


def store_reader(store: Store) -> StoreReader | None:
    """The reader for ``store``, or None for a store that has none (its metrics are then
    left out, and ``chronik_store_scrape_ok`` says 0)."""
    if isinstance(store, SqliteStore):
        return SqliteStoreReader(store)
    from timeline.pg_store import PgStore

    if isinstance(store, PgStore):
        return PgStoreReader(store)
    return None


class DeliveryTally:
    """Delivery attempts that finished since this process started watching, by (channel,
    outcome). Read from the store, so attempts of a separate ``chronik worker`` count too;
    read incrementally: each scrape looks only at rows added since the last one and at the
    few that were still being sent then (outcome ``sending``)."""

    def __init__(self) -> None:
        self.after: int | None = None
        self.in_flight: dict[int, str] = {}
        self.totals: Counter_[tuple[str, str]] = Counter_()

    async def update(self, reader: StoreReader) -> None:
        if self.after is None:  # start from now: a counter starts at 0 with its process
            self.after = await reader.last_attempt_id()
            return
        rechecked = await reader.attempts_by_id(list(self.in_flight)) if self.in_flight else []
        fresh = await reader.attempts_after(self.after, ATTEMPTS_PER_SCRAPE)
        gone = set(self.in_flight) - {row[0] for row in rechecked}  # erased meanwhile
        for attempt_id in gone:
            del self.in_flight[attempt_id]
        for attempt_id, channel, outcome in [*rechecked, *fresh]:
            if outcome == "sending":
                self.in_flight[attempt_id] = channel
            else:
                self.in_flight.pop(attempt_id, None)
                self.totals[(channel, outcome)] += 1
        if fresh:
            self.after = fresh[-1][0]
        while len(self.in_flight) > IN_FLIGHT_LIMIT:  # stuck sends: stop watching the oldest
            del self.in_flight[min(self.in_flight)]


class StoreCollector(Collector):
    """Yields what :meth:`Metrics.refresh` last read from the store."""

    def __init__(self) -> None:
        self.snapshot: StoreSnapshot | None = None
        self.tally = DeliveryTally()
        self.indexer: CountingIndexer | None = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("chronik_store_scrape_ok",
                               "1 when the store answered this scrape's queries in time")
        up.add_metric([], 0 if self.snapshot is None else 1)
        yield up
        if self.indexer is not None:
            yield CounterMetricFamily(
                "chronik_index_tasks", "Index tasks (documents written or deleted) this "
                "process's indexer applied to the search backend", value=self.indexer.applied)
        attempts = CounterMetricFamily(
            "chronik_delivery_attempts", "Delivery attempts finished since this server "
            "started, by channel and outcome (sent, transient, permanent, …), whichever "
            "process sent them", labels=["channel", "outcome"])
        for (channel, outcome), n in sorted(self.tally.totals.items()):
            attempts.add_metric([channel, outcome], n)
        yield attempts
        snap = self.snapshot
        if snap is None:
            return
        yield GaugeMetricFamily("chronik_index_queue",
                                "Entries waiting in the index outbox for the search backend",
                                value=snap.index_queue)
        yield GaugeMetricFamily("chronik_notify_due_jobs",
                                "Pending notification jobs whose time has come (worker backlog)",
                                value=snap.notify_due)
        jobs = GaugeMetricFamily("chronik_notify_jobs", "Notification jobs that are pending "
                                 "or wait for an admin (dead, unknown), by status",
                                 labels=["status"])
        for status, n in sorted(snap.jobs.items()):
            jobs.add_metric([status], n)
        yield jobs
        yield GaugeMetricFamily("chronik_quarantine_open",
                                "Inbound messages in the quarantine waiting for an admin",
                                value=snap.quarantine_open)


class CountingIndexer(Indexer):
    """The indexer, counting the tasks it applied (``chronik_index_tasks_total``)."""

    applied: int = 0

    async def drain_once(self) -> int:
        n = await super().drain_once()
        self.applied += n
        return n


class Metrics:
    """The instruments of one app, in a registry of its own (several apps in one process,
    as in the tests, never share numbers)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "chronik_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template (live event "
            "streams are left out: they last as long as the browser stays)",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.responses = Counter(
            "chronik_http_responses", "HTTP responses by method, route template and status",
            ["method", "route", "status"], registry=self.registry)
        self.entries = Counter(
            "chronik_entries_stored", "Entries newly stored through this process's timeline "
            "service, by channel (ingest: e-mail, chat, phone, portal, notes, documents)",
            ["channel"],
            registry=self.registry)
        self.sse_clients = Gauge(
            "chronik_sse_clients", "Open live-event streams (Server-Sent Events)",
            registry=self.registry)
        self.store = StoreCollector()
        self.registry.register(self.store)
        self._reader: StoreReader | None = None
        self._refreshing = asyncio.Lock()
        # labelled children by their labels: ``labels()`` costs more than the observation
        # itself on every request; routes, methods and statuses are few (bounded)
        self._counted: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

    async def attach(self, store: Store, indexer: Indexer) -> None:
        """Called once the store is open: where the scrape-time numbers come from (delivery
        outcomes are counted from now on)."""
        self._reader = store_reader(store)
        self.store.indexer = indexer if isinstance(indexer, CountingIndexer) else None
        await self.refresh()

    def detach(self) -> None:
        self._reader = None
        self.store.indexer = None
        self.store.snapshot = None

    def entry_stored(self, entry: Entry | None) -> None:
        """A timeline listener (``None`` means "bulk change, reindex": nothing new)."""
        if entry is not None:
            self.entries.labels(entry.channel.value).inc()

    async def refresh(self) -> None:
        """Read the store's numbers for this scrape (time-bound, one at a time, never
        raises)."""
        async with self._refreshing:
            reader, snapshot = self._reader, None
            if reader is not None:
                try:
                    async with asyncio.timeout(STORE_SCRAPE_SECONDS):
                        await self.store.tally.update(reader)
                        snapshot = await reader.snapshot()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("metrics: the store did not answer (%s)", type(exc).__name__)
            self.store.snapshot = snapshot

    @contextlib.contextmanager
    def sse_client(self) -> Iterator[None]:
        self.sse_clients.inc()
        try:
            yield
        finally:
            self.sse_clients.dec()

    def observe(self, method: str, route: str, status: int, seconds: float | None) -> None:
        method = method if method in METHODS else "OTHER"
        counter = self._counted.get((method, route, status))
        if counter is None:
            counter = self._counted[method, route, status] = self.responses.labels(
                method, route, str(status))
        counter.inc()
        if seconds is not None:
            timer = self._timed.get((method, route))
            if timer is None:
                timer = self._timed[method, route] = self.latency.labels(method, route)
            timer.observe(seconds)


METRICS = web.AppKey("chronik_metrics", Metrics)


def route_label(request: web.Request) -> str:
    """The route template that matched (``/api/v1/customers/{id}``), never the raw path."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None:
        return UNMATCHED
    return resource.canonical


def sse_client(app: web.Application) -> contextlib.AbstractContextManager[None]:
    """Counts an open live-event stream while the ``with`` block runs."""
    metrics = app.get(METRICS)
    return metrics.sse_client() if metrics is not None else contextlib.nullcontext()


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    started = time.perf_counter()
    status, streamed = 500, False
    try:
        response = await handler(request)
        status = response.status
        streamed = response.content_type == "text/event-stream"
        return response
    except web.HTTPException as exc:  # redirects and the like, raised rather than returned
        status = exc.status
        raise
    except asyncio.CancelledError:  # the client went away (or a live stream ended): no
        status, streamed = 499, True  # latency to speak of
        raise
    finally:
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.observe(request.method, route_label(request), status,
                            None if streamed else time.perf_counter() - started)
