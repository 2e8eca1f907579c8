"""Admin page actions for data requests: start a data export for the person who asked
(the same service as ``POST /api/v1/customers/{id}/export``); finished exports are listed
on ``/admin/data-requests`` with a download link (``GET /api/v1/exports/{id}/download``)."""

from __future__ import annotations

from aiohttp import web

from chronik import privacy
from chronik.web.admin.common import match, see_other
from chronik.web.pages import AgentView, admin_page
from timeline.errors import NotFound

DATA_REQUEST = "data-request"


@admin_page
async def start_export(view: AgentView) -> web.StreamResponse:
    office = view.caller.office
    entry = await view.state.store.get_entry(office.id, match(view, "entry_id"))
    if entry is None or DATA_REQUEST not in entry.tags:
        raise NotFound("no such data request")
    service = await privacy.service(view.state)
    await service.start_export(office, entry.customer_id, view.caller.agent.id)
    see_other("/admin/data-requests", "export_started")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/data-requests/{entry_id}/export", start_export)
