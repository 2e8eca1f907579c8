"""The app factory: builds the store, search and services, wires routes and lifecycles."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError

from chronik import ops
from chronik import web as pages
from chronik.api import OPERATIONS
from chronik.api.base import (
    API_PREFIX,
    ApiError,
    Operation,
    authenticate,
    domain_status,
    error_response,
)
from chronik.api.events import add_shutdown
from chronik.api.render import etag_of
from chronik.components import (
    Supervisor,
    describe_error,
    reporting,
    task_stack,
)
from chronik.glue import notify_pages
from chronik.logs import install as install_log_privacy
from chronik.logs import redact_path
from chronik.metrics import CountingIndexer
from chronik.registry import build_components
from chronik.settings import Settings
from chronik.state import STATE, AppState
from chronik.web.render import security_headers
from search.attachments import AttachmentTexts
from search.backend import SearchBackend, SearchUnavailable
from search.fts import FtsBackend
from search.phones import PhoneForms
from search.service import SearchService
from timeline.blobs import Blobs, BlobStore
from timeline.errors import DomainError, StoreUnavailable, causes
from timeline.events import EventBus, EventFollower
from timeline.ingest import IngestService
from timeline.service import TimelineService
from timeline.sqlite_store import SqliteStore
from timeline.store import Store

if TYPE_CHECKING:
    from timeline.pg_events import PgEventFollower
    from timeline.pg_leader import LeaderLock

log = logging.getLogger("chronik")

SETTINGS = web.AppKey("chronik_settings", Settings)
WORKERS = web.AppKey("chronik_workers", bool)
"""Whether this process runs the background work (connectors, notifier, indexer, retention):
true for ``chronik serve`` and process 0 of ``--processes N``, false for the other
processes and with ``--no-workers`` (``chronik worker --all`` runs it then)."""

FORGET_ANSWERS_EVERY = 5.0
"""Seconds between two checks for kept lookup answers of a changed store."""

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
               507: "storage_full"}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX + "/"):
        return await _page_errors(request, handler)
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        if exc.status == 401:  # RFC 9110 11.6.1 / RFC 6750 3: say how to authenticate
            response.headers["WWW-Authenticate"] = bearer_challenge(request)
        return response
    except StoreUnavailable as exc:
        _log_unreachable(request, exc)
        response = error_response(503, exc.code, exc.message)
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
        return response
    except DomainError as exc:
        return error_response(domain_status(exc), exc.code, exc.message, exc.details)
    except SearchUnavailable as exc:
        log.warning("search unavailable: %s", exc)
        response = error_response(503, "search_unavailable",
                                  "search is temporarily unavailable; try again shortly")
        if exc.retry_after:
            response.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 405 and request.method == "OPTIONS" and "Allow" in exc.headers:
            # RFC 9110 9.3.7: what this resource allows, not "method not allowed"
            allow = ",".join(sorted({*exc.headers["Allow"].split(","), "OPTIONS"}))
            return web.Response(status=204, headers={"Allow": allow})
        message = exc.reason
        if exc.status == 413:
            message = "the request body is too large"
        response = error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"),
                                  message)
        _keep_allow(exc, response)
        return response
    except (RequestPayloadError, HttpProcessingError) as exc:
        return error_response(400, "bad_request", unreadable_body(exc))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if storage_full(exc):
            log.critical("storage full: %s %s was not stored", request.method,
                         redact_path(request.path))
            return error_response(507, "storage_full", STORAGE_FULL)
        log.exception("bug: unhandled error in %s %s", request.method,
                      redact_path(request.path))
        return error_response(500, "internal", "internal error (this is a bug; it was logged)")


def bearer_challenge(request: web.Request) -> str:
    """The ``WWW-Authenticate`` of a 401 (RFC 6750): ``invalid_token`` when a bearer token
    was sent but is not (or no longer) valid, so a client can tell "send one" from "get a
    new one"."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return 'Bearer realm="chronik", error="invalid_token"'
    return 'Bearer realm="chronik"'


def unreadable_body(exc: Exception) -> str:
    """What a client is told when its body cannot be read: a ``Content-Encoding`` the bytes
    do not match (``gzip`` on plain JSON), or fewer bytes than ``Content-Length`` said."""
    cause = exc.__cause__ if isinstance(exc, RequestPayloadError) and exc.__cause__ else exc
    detail = getattr(cause, "message", None) or str(cause) or type(cause).__name__
    return f"the request body could not be read: {str(detail).strip()[:200]}"


STORAGE_FULL = ("the server's storage is full, so this was not stored; try again once an "
                "administrator has freed space (GET /api/v1/ready reports it)")
_SQLITE_FULL = 13
_PG_FULL = "53100"
"""PostgreSQL's ``disk_full`` (SQLSTATE)."""


STORE_RETRY_AFTER = 5
"""Seconds a client is asked to wait while the database cannot be reached."""


def _log_unreachable(request: web.Request, exc: StoreUnavailable) -> None:
    log.error("database unreachable: %s %s failed (%s)", request.method,
              redact_path(request.path), describe_error(exc.__cause__ or exc))


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk: SQLite's ``SQLITE_FULL``,
    PostgreSQL's ``disk_full`` (SQLSTATE 53100; asyncpg's error, wrapped by SQLAlchemy) or
    an ``OSError`` with ``ENOSPC`` / ``EDQUOT``."""
    for cause in causes(exc):
        if isinstance(cause, sqlite3.Error) and (
                getattr(cause, "sqlite_errorcode", None) == _SQLITE_FULL
                or "database or disk is full" in str(cause)):
            return True
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(cause, "sqlstate", None) == _PG_FULL:
            return True
    return False


async def _page_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Pages answer with pages: a readable HTML error, never JSON or a traceback."""
    from chronik.web.pages import error_language, error_page

    try:
        return await handler(request)
    except StoreUnavailable as exc:
        _log_unreachable(request, exc)
        # (the browser's language: the store cannot say which one was chosen)
        page = error_page(request, 503, "error.store_unavailable",
                          back=request.path_qs if request.method == "GET" else "/")
        page.headers["Retry-After"] = str(STORE_RETRY_AFTER)
        return page
    except DomainError as exc:
        status = domain_status(exc)
        lang = await error_language(request)
        if status == 404:  # never say more about what is not there
            return error_page(request, 404, "error.not_found", lang)
        return error_page(request, status, "error.bad_request", lang, detail=exc.message,
                          back=_same_origin_referer(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        key = {404: "error.not_found", 405: "error.bad_request",
               413: "error.too_large"}.get(exc.status, "error.bad_request")
        page = error_page(request, exc.status, key, await error_language(request))
        _keep_allow(exc, page)
        return page
    except (RequestPayloadError, HttpProcessingError):
        return error_page(request, 400, "error.bad_request", await error_language(request))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("bug: unhandled error in %s %s", request.method,
                      redact_path(request.path))
        return error_page(request, 500, "error.internal", await error_language(request))


def _keep_allow(exc: web.HTTPException, response: web.StreamResponse) -> None:
    """A 405 names the methods that are allowed (RFC 9110), also when re-rendered."""
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]


def _same_origin_referer(request: web.Request) -> str:
    """Where the failed form came from (a local path), for the error page's back link."""
    from urllib.parse import urlsplit

    parts = urlsplit(request.headers.get("Referer", ""))
    if parts.netloc == request.host and parts.path.startswith("/"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


def _bind(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @functools.wraps(op.handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        if "%00" in request.raw_path:  # path and query: no id, word or filter holds one
            raise ApiError(400, "invalid_input", "the URL contains a NUL character (%00)")
        if op.auth == "public":
            response = await op.handler(request, state)  # type: ignore[call-arg]
        else:
            caller = await authenticate(request, state, op.auth)
            refuse_unknown_query(request, op)
            response = await op.handler(request, state, caller)  # type: ignore[call-arg]
        return conditional(request, response, private=op.auth != "public")
    return handle


def refuse_unknown_query(request: web.Request, op: Operation) -> None:
    """A query parameter a list does not take is ``400 unknown_parameter`` (as Stripe
    answers), not silently dropped: ``GET /customers?email=…`` listed every customer, and
    a sync that took the first one as "the customer with that address" took anyone. Only
    lists (operations with ``limit``) are checked: elsewhere an extra parameter changes
    nothing (a PBX's lookup template adds its own, ``&call_id=…``). Names starting with
    ``_`` (cache busters such as jQuery's ``_=…``) pass; webhooks and the portal
    (``auth="public"``) are not checked."""
    allowed = {p.name for p in op.params if p.where == "query"}
    if "limit" not in allowed:
        return
    unknown = sorted({name for name in request.query
                      if name not in allowed and not name.startswith("_")})
    if unknown:
        takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
        raise ApiError(400, "unknown_parameter",
                       f"unknown query parameter {unknown[0]!r}; this operation takes {takes}",
                       {"unknown": unknown, "allowed": sorted(allowed)})


def conditional(request: web.Request, response: web.StreamResponse, *, private: bool
                ) -> web.StreamResponse:
    """Caching headers of an API answer, as GitHub's API sends them: a read gets an
    ``ETag`` (of its body) and ``Cache-Control: private, no-cache`` (a shared cache or
    proxy keeps no customer data; a client may keep it but asks again), and a request
    with a matching ``If-None-Match`` is answered ``304 Not Modified`` without the body
    -- a poller (a BI export, a CRM sync) learns "nothing new" for a few bytes. A write's
    answer is ``no-store``."""
    if response.prepared or not isinstance(response, web.Response):
        return response  # a stream (SSE) or a file: sent as it is
    if request.method not in ("GET", "HEAD"):
        response.headers.setdefault("Cache-Control", "no-store")
        return response
    body = response.body
    if response.status != 200 or not isinstance(body, bytes):
        return response
    etag = response.headers.get("ETag") or etag_of(body)
    headers = {"ETag": etag, "Cache-Control": response.headers.get(
        "Cache-Control", "private, no-cache" if private else "no-cache")}
    if private:
        headers["Vary"] = "Authorization, Cookie"
    if _matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response


def _matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` by weak comparison (RFC 9110 13.1.2): ``*`` or any listed tag."""
    opaque = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == opaque
               for tag in (t.strip() for t in if_none_match.split(",")) if tag)


def make_backend(settings: Settings) -> SearchBackend:
    url = settings.engine_url
    if url is not None:  # OpenSearch or Elasticsearch (search/engine.py)
        from search.engine import EngineBackend

        return EngineBackend(url, settings.engine_index, engine=settings.search_engine)
    return FtsBackend(settings.search_path, readers=settings.sqlite_readers)


def make_store(settings: Settings) -> Store:
    """PostgreSQL when ``database_url`` is set, else the embedded SQLite store."""
    url = settings.store_url
    if url is not None:
        from timeline.pg_store import PgStore

        return PgStore(url)
    return SqliteStore(settings.store_path, readers=settings.sqlite_readers)


def make_blobs(settings: Settings, store: Store) -> Blobs:
    """Attachments: in PostgreSQL with the PostgreSQL store (every machine serving the
    office sees the same bytes), else content-addressed files in the data folder."""
    if settings.store_url is not None:
        from timeline.pg_blobs import PgBlobStore
        from timeline.pg_store import PgStore

        assert isinstance(store, PgStore)
        return PgBlobStore(store.db)
    return BlobStore(settings.blob_dir)


def attachment_texts(settings: Settings, blobs: Blobs) -> AttachmentTexts | None:
    """Attachments' contents in search (``CHRONIK_SEARCH_ATTACHMENTS``), or names only."""
    if not settings.search_attachments:
        return None
    return AttachmentTexts(blobs, max_bytes=settings.search_attachment_max_bytes)


async def open_state(settings: Settings) -> AppState:
    """Open store and search (used by the server and by CLI commands)."""
    install_log_privacy()
    store = make_store(settings)
    await store.open()
    backend = make_backend(settings)
    try:
        await backend.open()
    except BaseException:
        await store.close()
        raise
    blobs = make_blobs(settings, store)
    events = EventBus()
    timeline = TimelineService(store, blobs, events)
    texts = attachment_texts(settings, blobs)
    async def region_of(office_id: str) -> str | None:
        office = await store.get_office(office_id)
        return office.region if office is not None else None
    phones = PhoneForms(region_of)
    indexer = CountingIndexer(store, backend, texts=texts, phones=phones)  # GET /metrics counts
    timeline.subscribe(indexer.wake)
    state = AppState(settings=settings, store=store, blobs=blobs, timeline=timeline,
                     backend=backend,
                     search=SearchService(store, backend, texts=texts, phones=phones),
                     indexer=indexer,
                     ingest=IngestService(timeline, settings.unknown_sender), events=events)
    from chronik.privacy import install as install_privacy

    await install_privacy(state)  # the erased-sender check needs the secret key
    return state


async def close_state(state: AppState) -> None:
    if state.indexer.texts is not None:
        state.indexer.texts.close()
    await state.backend.close()
    await state.store.close()


@contextlib.asynccontextmanager
async def follow_events(state: AppState) -> AsyncIterator[EventFollower | PgEventFollower]:
    """Publish the store's live events (from every process writing to it) on this
    process's ``state.events`` while the block runs (``timeline/events.py``)."""
    from chronik.glue.phone import cti_service

    cti_service(state)  # registers how call.* events are loaded
    follower: EventFollower | PgEventFollower
    if isinstance(state.store, SqliteStore):
        follower = EventFollower(state.store, state.events,
                                 on_entries=state.timeline.notify_reindex)
    else:
        from timeline.pg_events import PgEventFollower

        url = state.settings.store_url
        assert url is not None
        follower = PgEventFollower(url, state.events,
                                   on_entries=state.timeline.notify_reindex)
    await follower.start()
    task = asyncio.create_task(follower.run(), name="chronik-events")
    try:
        yield follower
    finally:
        await _cancel(task)


@contextlib.asynccontextmanager
async def forget_stale_answers(state: AppState) -> AsyncIterator[None]:
    """Every ``FORGET_ANSWERS_EVERY`` seconds, drop the kept lookup answers
    (``chronik.answers``) if the store changed since: they are never served then anyway,
    and an erased person's must not stay in a process's memory until its next lookup."""
    async def forget() -> None:
        while True:
            await asyncio.sleep(FORGET_ANSWERS_EVERY)
            if len(state.lookups):
                state.lookups.hold(state.store.change_token())

    task = asyncio.create_task(forget(), name="chronik-forget-answers")
    try:
        yield
    finally:
        await _cancel(task)


@contextlib.asynccontextmanager
async def run_background(state: AppState) -> AsyncIterator[None]:
    """The background work of a data folder or database (must run in exactly one process):
    the indexer and the components (connectors, notifier, retention).

    SQLite: the data folder's lock file (``chronik/processes.py``) has made sure this is the
    only such process. PostgreSQL: a lock in the database decides (``timeline/pg_leader.py``):
    the first process runs the work; any other **stands by** (its HTTP side serves as usual)
    and takes over at once when the running one stops or loses its connection. The
    components are built here either way: their HTTP side serves in every process."""
    state.components = build_components(state)
    url = state.settings.store_url
    if url is None:
        async with _background_work(state):
            yield
        return
    from timeline.pg_leader import LeaderLock

    lock = LeaderLock(url)
    try:
        first = await lock.try_take()
    except BaseException:
        await lock.release()
        raise
    lead = asyncio.create_task(_lead(state, lock, first), name="chronik-background-lead")
    try:
        if first:  # as on SQLite: the work runs when the block starts
            started = asyncio.create_task(state.background_started.wait())
            await asyncio.wait([started, lead], return_when=asyncio.FIRST_COMPLETED)
            started.cancel()
            if lead.done():
                lead.result()  # what made it end (it ends no other way)
        yield
    finally:
        await _cancel(lead, grace_seconds=25.0)
        await lock.release()


async def _lead(state: AppState, lock: LeaderLock, holding: bool) -> None:
    """Run the background work whenever this process holds ``lock``; stand by otherwise."""
    while True:
        if not holding:
            holder = await lock.holder()
            log.warning("the background work (indexer, connectors, notifier, retention) of this "
                        "database runs in %s; this process stands by and takes over when it "
                        "stops", holder)
            if state.settings.engine_url is None:
                log.warning("search here answers from the embedded index in this data folder, "
                            "which only background work running on this machine keeps up to "
                            "date: with Chronik on several machines, set CHRONIK_SEARCH_URL "
                            "(a search engine all of them share)")
            await lock.take()
            log.warning("this process (%s) now runs the background work", lock.name)
        try:
            async with _background_work(state):
                await lock.lost()
            log.error("lost the database connection that holds the background work's lock: "
                      "the background work stopped here (another process may take it over)")
        except Exception:  # a bug must not leave the work stopped for good
            log.exception("the background work failed; standing by to start it again")
            await asyncio.sleep(1.0)
        await lock.release()
        holding = False


@contextlib.asynccontextmanager
async def _background_work(state: AppState) -> AsyncIterator[None]:
    """The indexer and ``state.components`` under a supervisor, while the block runs."""
    indexer = asyncio.create_task(state.indexer.run(), name="chronik-indexer")
    state.supervisor = supervisor = Supervisor(state.components)
    supervisor.start()
    try:
        async with reporting(supervisor, state.store):
            state.background_started.set()
            try:
                yield
            finally:
                await supervisor.stop()
    finally:
        state.background_started.clear()
        await _cancel(indexer)


async def _cancel(task: asyncio.Task[None], grace_seconds: float = 10.0) -> None:
    """Cancel a background task and wait for it, but never forever (as the supervisor does
    for components): one that hangs is logged with where it hangs and left behind."""
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=grace_seconds)
    if not done:
        log.error("%s did not stop within %.0fs; it hangs at:\n%s", task.get_name(),
                  grace_seconds, task_stack(task))


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = await open_state(app[SETTINGS])
    app[STATE] = state
    try:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(follow_events(state))
            await stack.enter_async_context(forget_stale_answers(state))
            if app.get(WORKERS, True):
                await stack.enter_async_context(run_background(state))
            else:  # built, not run: what they register (portal settings, quarantine
                # reprocessors) and their HTTP side are needed by every process
                state.components = build_components(state)
            yield
    finally:
        await close_state(state)


def freeze_after_startup(app: web.Application) -> None:
    """For a serving process: once the app has started, move everything alive then
    (modules, SQLAlchemy's tables and caches, the settings, the stores) out of the garbage
    collector's sight (``gc.freeze``). A full collection then walks only what requests
    created: on PostgreSQL it had walked the whole startup heap, a pause that was the
    timeline's p99 (68 ms against a p50 of 11; 14 ms after; bench/RESULTS.md, "Garbage
    collector pauses"). Not for tests, which make many apps in one process."""
    async def freeze(_app: web.Application) -> None:
        gc.collect()
        gc.freeze()
    app.on_startup.append(freeze)


def create_app(settings: Settings, *, workers: bool = True) -> web.Application:
    install_log_privacy()  # no personal data in this process's logs (chronik/logs.py)
    middlewares: list[Middleware] = [ops.metrics_middleware, security_headers,
                                     errors_middleware]
    if settings.cors_origin_set:  # other origins' pages may call the API (chronik/api/cors.py)
        from chronik.api.cors import cors_middleware

        middlewares.insert(0, cors_middleware(settings.cors_origin_set))
    app = web.Application(middlewares=middlewares,
                          client_max_size=settings.max_upload_bytes + 1024 * 1024)
    app[SETTINGS] = settings
    app[WORKERS] = workers
    for op in OPERATIONS:
        app.router.add_route(op.method, API_PREFIX + op.path, _bind(op), name=op.operation_id)
        if op.method == "GET" and op.response_content != "text/event-stream":
            # HEAD answers like GET without the body (RFC 9110 9.3.2): monitors, curl -I,
            # link checkers and caches ask with HEAD; a stream has no end to answer with
            app.router.add_route("HEAD", API_PREFIX + op.path, _bind(op))
    app.cleanup_ctx.append(_lifecycle)
    ops.add_routes(app)  # /healthz, /readyz, /metrics (after _lifecycle: needs the state)
    add_shutdown(app)  # open event streams end when the server stops
    notify_pages.add_routes(app)  # /unsubscribe/{token}, outside /api/v1
    pages.add_routes(app)  # the console (/), its admin pages, the portal (/portal/)
    return app
