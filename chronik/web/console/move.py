"""Moving an entry to the customer it is really about (``POST /api/v1/entries/{id}/move``
in the console): pick the customer, see what happens, confirm."""

from __future__ import annotations

from aiohttp import web

from chronik.web.console.profile import other_customers
from chronik.web.pages import AgentView, agent_page, form_str
from timeline.errors import NotFound
from timeline.models import CustomerStatus, Visibility


@agent_page
async def move_preview(view: AgentView) -> web.StreamResponse:
    """Find the customer by name, see who was told about the entry, confirm."""
    office = view.caller.office
    entry = await view.state.store.get_entry(office.id, view.request.match_info["entry_id"])
    if entry is None:
        raise NotFound("no such entry")
    source = await view.state.timeline.customer(office, entry.customer_id)
    q, candidates = await other_customers(view, source.id)
    target = None
    if view.request.query.get("to"):
        target = await view.state.timeline.customer(office, view.request.query["to"])
        if target.id == source.id or target.status is CustomerStatus.MERGED:
            target = None
    return view.render("console/move.html", entry=entry, source=source, target=target,
                       q=q, candidates=candidates,
                       published=entry.visibility is Visibility.PUBLISHED)


@agent_page
async def move(view: AgentView) -> web.StreamResponse:
    form = await view.request.post()
    entry = await view.state.timeline.move(view.caller.office, view.caller.agent,
                                           view.request.match_info["entry_id"],
                                           form_str(form, "to"))
    return web.HTTPSeeOther(f"/customers/{entry.customer_id}?focus={entry.id}#e-{entry.id}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/entries/{entry_id}/move", move_preview)
    app.router.add_post("/entries/{entry_id}/move", move)
