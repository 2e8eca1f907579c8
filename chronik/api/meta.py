"""Health, readiness, who-am-I, office, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import shutil

from aiohttp import web
from pydantic import BaseModel

from chronik.api.base import Caller, Operation, error_response, json_model
from chronik.api.reference import docs
from chronik.api.schemas import HealthOut, MeOut, OfficeOut
from chronik.state import AppState
from timeline.files import write_probe

READY_MIN_FREE_BYTES = 64 * 1024 * 1024
"""Below this much free space in the data folder the hub reports itself not ready."""


class ReadyCheck(BaseModel):
    name: str
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    status: str
    free_bytes: int | None
    checks: list[ReadyCheck]


async def health(request: web.Request, state: AppState) -> web.StreamResponse:
    return json_model(HealthOut(status="ok", search_backend=state.backend.name))




async def ready(request: web.Request, state: AppState) -> web.StreamResponse:
    """Readiness (for a load balancer or monitoring): 200 when the data folder has at least
    ``READY_MIN_FREE_BYTES`` free and can be written, else 503 naming what failed."""
    folder = state.settings.data_dir
    checks: list[ReadyCheck] = []
    free: int | None = None
    try:
        free = (await asyncio.to_thread(shutil.disk_usage, folder)).free
        checks.append(ReadyCheck(name="disk_space", ok=free >= READY_MIN_FREE_BYTES,
                                 detail=f"{free} bytes free (need {READY_MIN_FREE_BYTES})"))
    except OSError as exc:
        checks.append(ReadyCheck(name="disk_space", ok=False, detail=type(exc).__name__))
    try:
        await asyncio.to_thread(write_probe, folder)
        checks.append(ReadyCheck(name="writable", ok=True, detail="the data folder is "
                                                                   "writable"))
    except OSError as exc:
        checks.append(ReadyCheck(name="writable", ok=False,
                                 detail=f"cannot write the data folder ({exc.strerror})"))
    out = ReadyOut(status="ready" if all(c.ok for c in checks) else "not_ready",
                   free_bytes=free, checks=checks)
    if out.status == "ready":
        return json_model(out)
    failed = ", ".join(c.name for c in checks if not c.ok)
    return error_response(503, "not_ready", f"not ready: {failed}",
                          out.model_dump(mode="json"))


async def me(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    o = caller.office
    return json_model(MeOut(agent_id=caller.agent.id, name=caller.agent.name,
                            role=caller.agent.role.value,
                            office=OfficeOut(id=o.id, name=o.name, region=o.region,
                                             created_at=o.created_at)))


async def openapi(request: web.Request, state: AppState) -> web.StreamResponse:
    from chronik.api.openapi import document
    return web.json_response(document())


OPERATIONS = [
    Operation("GET", "/health", health, "health", "Liveness and the search backend in use",
              "meta", auth="public", response=HealthOut),
    Operation("GET", "/ready", ready, "ready",
              "Readiness: 200 when the data folder has enough free space and can be written; "
              "503 (not_ready, with the failed checks) otherwise", "meta", auth="public",
              response=ReadyOut, errors=(503,)),
    Operation("GET", "/me", me, "me", "The calling agent and their office", "meta",
              response=MeOut),
    Operation("GET", "/openapi.json", openapi, "openapi", "This OpenAPI 3.1 document", "meta",
              auth="public"),
    Operation("GET", "/docs", docs, "docs", "This API's reference as a page (HTML, generated "
              "from the OpenAPI document)", "meta", auth="public", response_content="text/html"),
]
