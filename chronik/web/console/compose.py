"""Compose without JavaScript: the form posts here (multipart, CSRF token in the action
URL). With JavaScript the same form goes to ``POST /api/v1/customers/{id}/entries`` and the
warnings appear inline; both end in ``TimelineService.record``."""

from __future__ import annotations

import re
from dataclasses import replace

from aiohttp import web

from chronik.api.base import read_form, refuse_declared_oversize
from chronik.glue.phone import link_note, linked_call
from chronik.web.console.customer import Filters, customer_context
from chronik.web.pages import AgentView, agent_page
from timeline.errors import InvalidInput, ToneWarning
from timeline.models import Visibility
from timeline.service import EntryRequest, UploadedFile

_TRUE = {"true", "1", "on", "yes"}


@agent_page
async def create_entry(view: AgentView) -> web.StreamResponse:
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    if not view.request.content_type.startswith("multipart/"):
        raise InvalidInput("the compose form is sent as multipart/form-data")
    limit = view.state.settings.max_upload_bytes
    refuse_declared_oversize(view.request, limit)
    raw_fields, raw_files = await read_form(view.request, limit)
    fields = dict(raw_fields)
    files = tuple(UploadedFile(f.name, f.content_type, f.data) for f in raw_files
                  if f.name and f.data)
    kind = fields.get("kind", "note")
    if kind == "reply" and fields.get("visibility") == "internal":
        # (without JavaScript the visibility stays on offer for a reply): a reply goes to
        # the customer, so "internal" here means the agent wants something else -- asked,
        # not sent
        ctx = await customer_context(view, customer, Filters((), (), None), draft=fields,
                                     form_error=view.t("compose.reply_not_internal"))
        return view.render("console/customer.html", status=400, **ctx)
    visibility = None
    notify = None
    if kind != "reply":  # the form shows the preset; what is sent is the agent's choice
        visibility = (Visibility.INTERNAL if fields.get("visibility") == "internal"
                      else Visibility.PUBLISHED)
        notify = visibility is Visibility.PUBLISHED and fields.get("notify") in _TRUE
    tags = tuple(t for t in ("complaint",) if fields.get("complaint") in _TRUE)
    request = EntryRequest(
        kind=kind, subject=fields.get("subject", ""), body=fields.get("body", ""),
        visibility=visibility, notify=notify, confirm=fields.get("confirm") in _TRUE,
        tags=tags, files=files,
        # the form always sends its "reply via" choice; it only means something for a reply
        reply_via=(fields.get("reply_via") or None) if kind == "reply" else None,
        in_reply_to=fields.get("in_reply_to") or None,
        # one entry per rendered form: Back and submitting it again shows the first
        source_id=_form_source(view, fields.get("form_id", "")))
    call = None
    try:
        call = await linked_call(view.state, view.caller.office, customer.id, kind,
                                 fields.get("call_entry_id") or None)
        if call is not None:
            request = replace(request, meta={"call_entry_id": call.id})
        recorded = await view.state.timeline.record(view.caller.agent, view.caller.office,
                                                    customer.id, request)
        if call is not None:
            await link_note(view.state, view.caller.office, call, recorded.entry)
    except ToneWarning as warning:
        # shown again as sent: the same thread and call (the URL no longer names them)
        parent = (await view.state.store.get_entry(view.caller.office.id, request.in_reply_to)
                  if request.in_reply_to else None)
        ctx = await customer_context(view, customer, Filters((), (), None),
                                     warning=warning, draft=fields, reply_to=parent, call=call)
        return view.render("console/customer.html", status=409, **ctx)
    return web.HTTPSeeOther(f"/customers/{customer.id}#e-{recorded.entry.id}")


def _form_source(view: AgentView, form_id: str) -> str | None:
    """The entry's ``source_id`` for one rendered form (``form_id``: random per page)."""
    if not FORM_ID.fullmatch(form_id):
        return None
    return f"console-form:{view.caller.agent.id}:{form_id}"


FORM_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@agent_page
async def to_customer(view: AgentView) -> web.StreamResponse:
    """The form's own address asked for as a page (the language switch on a page the form
    answered, a bookmark): the customer's page."""
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    return web.HTTPSeeOther(f"/customers/{customer.id}")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/customers/{id}/entries", create_entry)
    app.router.add_get("/customers/{id}/entries", to_customer)
