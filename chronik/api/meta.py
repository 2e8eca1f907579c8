"""Health, who-am-I, office, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import Caller, Operation, json_model
from chronik.api.schemas import HealthOut, MeOut, OfficeOut
from chronik.state import AppState


async def health(request: web.Request, state: AppState) -> web.StreamResponse:
    return json_model(HealthOut(status="ok", search_backend=state.backend.name))


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
    Operation("GET", "/me", me, "me", "The calling agent and their office", "meta",
              response=MeOut),
    Operation("GET", "/openapi.json", openapi, "openapi", "This OpenAPI 3.1 document", "meta",
              auth="public"),
]
