"""Admin pages for data protection, in the browser: a data export for a customer (from a
data request or the customer's page), handing a finished export to the customer in the
portal, and erasing a customer after a preview.

The same service as the API (``POST /api/v1/customers/{id}/export``, ``GET
/api/v1/customers/{id}/erasure``, ``DELETE /api/v1/customers/{id}``); finished exports are
listed on ``/admin/data-requests`` with a download link (``GET
/api/v1/exports/{id}/download``) so the admin can check a copy before providing it."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from chronik import privacy
from chronik.web.admin.common import form, match, render, see_other
from chronik.web.admin.queues import data_requests_page
from chronik.web.i18n import LANGUAGES, gettext
from chronik.web.pages import AgentView, admin_page
from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.models import Customer, CustomerStatus
from timeline.privacy import EXPORT_KEEP

DATA_REQUEST = "data-request"
COUNTS = ("entries", "attachments", "identities", "customers", "merges", "consents",
          "notification_jobs", "notification_attempts", "portal_inbox", "portal_sessions",
          "login_codes", "customer_tokens", "cti_calls", "quarantine", "retained")
"""The erasure preview's counts, in the order the page lists them."""
PROVIDE_ERRORS = ("running", "failed", "merged", "no_portal")
"""Why a copy cannot be provided (``admin.requests.provide_<reason>``)."""


async def _customer(view: AgentView) -> Customer:
    customer = await view.state.store.get_customer(view.caller.office.id,
                                                   match(view, "customer_id"))
    if customer is None:
        raise NotFound("no such customer")
    return customer


@admin_page
async def start_export(view: AgentView) -> web.StreamResponse:
    """From a data request: the export runs; the request stays open until the copy is
    provided in the portal or marked answered (handed over another way)."""
    office = view.caller.office
    entry = await view.state.store.get_entry(office.id, match(view, "entry_id"))
    if entry is None or DATA_REQUEST not in entry.tags:
        raise NotFound("no such data request")
    service = await privacy.service(view.state)
    await service.start_export(office, entry.customer_id, view.caller.agent.id, answer=False)
    see_other("/admin/data-requests", "export_started")


@admin_page
async def export_customer(view: AgentView) -> web.StreamResponse:
    """From the customer's page (no request needed: e.g. a request by letter)."""
    customer = await _customer(view)
    service = await privacy.service(view.state)
    await service.start_export(view.caller.office, customer.id, view.caller.agent.id,
                               answer=False)
    see_other("/admin/data-requests", "export_started")


@admin_page
async def provide_export(view: AgentView) -> web.StreamResponse:
    """The finished export goes to the customer: a portal message in their language with
    the download, notified on their channels; their open requests are answered."""
    office = view.caller.office
    service = await privacy.service(view.state)
    record = await service.current_export(office, match(view, "export_id"))
    if record is None:
        raise NotFound("no such export")
    prefs = await view.state.store.get_preferences(office.id, record.customer_id)
    lang = prefs.language if prefs.language in LANGUAGES else view.lang
    until = (record.created_at + EXPORT_KEEP).astimezone().strftime(
        "%d.%m.%Y" if lang == "de" else "%Y-%m-%d")
    try:
        await service.provide_export(
            office, view.caller.agent, record,
            subject=gettext(lang, "admin.requests.copy_subject"),
            body=gettext(lang, "admin.requests.copy_body", until=until))
    except Conflict as exc:
        reason = exc.details.get("reason")
        return await data_requests_page(view, status=409, error=view.t(
            f"admin.requests.provide_{reason}") if reason in PROVIDE_ERRORS else exc.message)
    see_other("/admin/data-requests", "provided")


def _preview_rows(view: AgentView, preview: dict[str, Any]) -> list[tuple[str, int]]:
    counts: dict[str, int] = preview["counts"]
    return [(view.t(f"admin.erase.count.{key}"), counts[key]) for key in COUNTS
            if counts.get(key)]


def _retained_rows(view: AgentView, preview: dict[str, Any]) -> list[tuple[str, int, str]]:
    """What the law keeps, per kind: (kind, how many, the last date one is kept to)."""
    kinds: dict[str, tuple[int, str]] = {}
    for item in preview["retained"]:
        count, until = kinds.get(item["kind"], (0, ""))
        kinds[item["kind"]] = (count + 1, max(until, item["until"][:10]))
    out = []
    for kind, (count, until) in sorted(kinds.items()):
        label = view.t(f"kind.{kind}")
        day = date.fromisoformat(until).strftime("%d.%m.%Y" if view.lang == "de" else "%Y-%m-%d")
        out.append((kind if label == f"kind.{kind}" else label, count, day))
    return out


async def _erase_page(view: AgentView, customer: Customer, *, status: int = 200,
                      error: str | None = None, typed: str = "") -> web.Response:
    preview = await (await privacy.service(view.state)).preview(view.caller.office,
                                                                 customer.id)
    return render(view, "admin/erase.html", "requests", status=status, error=error,
                  customer=customer, rows=_preview_rows(view, preview),
                  retained=_retained_rows(view, preview), confirm=preview["confirm"], typed=typed)


@admin_page
async def erase_form(view: AgentView) -> web.StreamResponse:
    customer = await _customer(view)
    if customer.status is CustomerStatus.MERGED:
        raise NotFound("this customer was merged into another one")
    return await _erase_page(view, customer)


@admin_page
async def erase(view: AgentView) -> web.StreamResponse:
    """Erase after the preview: the admin types the customer's name (a second look at who
    goes), and the preview's token must still fit (nothing new arrived meanwhile)."""
    customer = await _customer(view)
    if customer.status is CustomerStatus.MERGED:
        raise NotFound("this customer was merged into another one")
    values = await form(view)
    typed = values.get("name", "")
    if " ".join(typed.split()).casefold() != " ".join(customer.name.split()).casefold():
        return await _erase_page(view, customer, status=400, typed=typed,
                                 error=view.t("admin.erase.name_mismatch"))
    try:
        receipt = await privacy.erase(view.state, view.caller.office, customer.id,
                                      view.caller.agent.id, values.get("confirm", ""))
    except InvalidInput:
        return await _erase_page(view, customer, status=409, typed=typed,
                                 error=view.t("admin.erase.changed"))
    see_other("/admin/data-requests", "erased", receipt=receipt["receipt_id"])


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/data-requests/{entry_id}/export", start_export)
    app.router.add_post("/admin/customers/{customer_id}/export", export_customer)
    app.router.add_post("/admin/exports/{export_id}/provide", provide_export)
    app.router.add_get("/admin/customers/{customer_id}/erase", erase_form)
    app.router.add_post("/admin/customers/{customer_id}/erase", erase)
