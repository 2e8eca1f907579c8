"""Probes and metrics for whoever runs Chronik: ``/healthz``, ``/readyz``, ``/metrics``.

They sit outside ``/api/v1`` (and outside the OpenAPI document): they are for a container
runtime, a load balancer and Prometheus, not for integrators.

- ``GET /healthz`` — liveness: the process answers HTTP. No checks, no auth, no secrets.
- ``GET /readyz`` — readiness: the store answers a read, the search backend answers a
  query, the data folder takes a write. Every check runs at the same time and is cut off
  after :data:`CHECK_SECONDS`, so the probe answers within about that long even when
  something hangs. 200 ``{"status": "ready", "checks": …}``, else 503 in the API's error
  shape naming the failed checks. No auth; the body names checks and error kinds only (no
  addresses, paths or credentials).
- ``GET /metrics`` — Prometheus text format (``chronik/metrics.py``). Not for the internet:
  with ``CHRONIK_METRICS_TOKEN`` set it needs ``Authorization: Bearer <token>``; unset, it
  answers only a loopback peer whose request carries no proxy header (``Forwarded``,
  ``X-Forwarded-For``, ``X-Real-IP``: a reverse proxy on the same machine must not make
  the internet look local).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from chronik.api.base import error_response
from chronik.metrics import METRICS, Metrics, metrics_middleware
from chronik.state import STATE, AppState
from search.backend import SearchUnavailable
from search.query import SearchFilters, SearchRequest, parse
from timeline.files import write_probe

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
"""Each readiness check gets this long; a check still running then counts as failed."""
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_PROBE_OFFICE = "readyz-probe"
"""No office has this id: the search probe exercises the backend and finds nothing."""

__all__ = ["add_routes", "metrics_middleware"]


# ---------------------------------------------------------------------- checks


async def check_database(state: AppState) -> None:
    await state.store.get_office(_PROBE_OFFICE)


async def check_search(state: AppState) -> None:
    await state.backend.search(SearchRequest(
        query=parse("readyz"), filters=SearchFilters(office_id=_PROBE_OFFICE), limit=1))


async def check_data_dir(state: AppState) -> None:
    await asyncio.to_thread(write_probe, state.settings.data_dir)


CHECKS: dict[str, Callable[[AppState], Awaitable[None]]] = {
    "database": check_database,
    "search": check_search,
    "data_dir": check_data_dir,
}
"""Readiness checks by the name ``/readyz`` reports."""


def _failure(exc: BaseException) -> str:
    """What went wrong, without anything an exception message may carry (URLs with
    credentials, file paths): the kind of error and, for OS errors, the system's text."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_SECONDS:g}s"
    if isinstance(exc, SearchUnavailable):
        return "search backend unreachable or overloaded"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


async def _run_check(name: str, check: Callable[[AppState], Awaitable[None]],
                     state: AppState) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await check(state)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return {"ok": False, "error": _failure(exc),
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


_LAST_FAILED = web.AppKey("chronik_readyz_failed", list[str])


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    results = await asyncio.gather(*(_run_check(name, check, state)
                                     for name, check in CHECKS.items()))
    checks = dict(zip(CHECKS, results, strict=True))
    failed = [name for name, result in checks.items() if not result["ok"]]
    last = request.app[_LAST_FAILED]
    if failed != last:  # log changes, not every probe
        if failed:
            log.warning("not ready: %s", ", ".join(
                f"{n} ({checks[n]['error']})" for n in failed))
        else:
            log.info("ready again")
        last[:] = failed
    if failed:
        response = error_response(503, "not_ready", f"not ready: {', '.join(failed)}",
                                  {"failed": failed, "checks": checks})
    else:
        response = web.json_response({"status": "ready", "checks": checks})
    response.headers["Cache-Control"] = "no-store"
    return response


async def healthz(request: web.Request) -> web.Response:
    response = web.json_response({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------- metrics
def _loopback(peer: str | None) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def metrics_access(request: web.Request, token: str | None) -> web.Response | None:
    """None when the caller may read the metrics, else the answer to give."""
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode("utf-8"), token.encode("utf-8")):
            return None
        response = error_response(401, "unauthorized",
                                  "GET /metrics needs the metrics bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="chronik-metrics"'
        return response
    if _loopback(request.remote) and not any(h in request.headers for h in PROXY_HEADERS):
        return None
    return error_response(403, "forbidden", "GET /metrics answers only this machine unless "
                                            "CHRONIK_METRICS_TOKEN is set")


async def metrics(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    secret = state.settings.metrics_token
    refused = metrics_access(request, secret.get_secret_value() if secret else None)
    if refused is not None:
        return refused
    instruments = request.app[METRICS]
    await instruments.refresh()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(instruments.registry),
                        headers={"Content-Type": content_type, "Cache-Control": "no-store"})


# ---------------------------------------------------------------------- wiring
async def _attach(app: web.Application) -> AsyncIterator[None]:
    """After the state is open (runs after the app's own lifecycle): feed the metrics."""
    state = app[STATE]
    instruments = app[METRICS]
    await instruments.attach(state.store, state.indexer)
    state.timeline.subscribe(instruments.entry_stored)
    try:
        yield
    finally:
        instruments.detach()


def add_routes(app: web.Application) -> None:
    """``/healthz``, ``/readyz``, ``/metrics`` and the metrics that feed the last one (call
    after the app's lifecycle is registered; add :func:`metrics_middleware` first in the
    middleware list)."""
    app[METRICS] = Metrics()
    app[_LAST_FAILED] = []
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.cleanup_ctx.append(_attach)

