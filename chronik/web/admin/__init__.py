"""The admin pages (``/admin``, office admins only): publish policy, agents, connector
health, quarantine, dead-lettered notifications, tone lexicon, inbound addresses and the CTI
webhook, open data requests. Server-rendered forms (POST-redirect-GET, no JavaScript
needed) that call the same functions as the HTTP API's admin operations."""

from __future__ import annotations

from aiohttp import web

from chronik.web.admin import agents, office, privacy, queues
from chronik.web.admin.common import SECTIONS, render
from chronik.web.pages import AgentView, admin_page
from timeline.notifications import JobStatus


@admin_page
async def overview(view: AgentView) -> web.StreamResponse:
    """Links to every admin page, with what is waiting (counted up to a limit)."""
    office_id = view.caller.office.id
    store = view.state.store
    quarantined = await store.list_quarantine(office_id, status="open", limit=100)
    dead = await store.list_notify_jobs(office_id, status=JobStatus.DEAD.value, limit=100)
    requests = await store.entries_with_tag(office_id, queues.DATA_REQUEST,
                                            without_tag=queues.DATA_REQUEST_DONE, limit=500)
    today = queues.today(view)
    overdue = sum(1 for e in requests if queues.deadline_of(e)[0] < today)
    counts = {"quarantine": len(quarantined), "dead": len(dead), "requests": len(requests)}
    return render(view, "admin/overview.html", "", counts=counts, overdue=overdue,
                  links=SECTIONS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin", overview)
    agents.add_routes(app)
    office.add_routes(app)
    queues.add_routes(app)
    privacy.add_routes(app)
