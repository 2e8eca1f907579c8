"""Admin pages for what waits for someone: the quarantine (with what each message says,
``preview``; discarding asks first), dead-lettered notifications and open data requests (a
person asked what is stored about them; the answer is due within four weeks)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from chronik.api.notifications import retry_job
from chronik.web.admin.common import ask_first, confirmed, form, match, render, see_other
from chronik.web.admin.preview import quarantine_preview
from chronik.web.pages import AgentView, admin_page
from chronik.web.system_texts import quarantine_reason
from timeline.errors import Conflict, NotFound
from timeline.models import Customer, Entry, QuarantineItem
from timeline.notifications import JobStatus
from timeline.privacy import DATA_COPY_TAG
from timeline.store import CustomerListQuery

PAGE = 50
DATA_REQUEST = "data-request"
DATA_REQUEST_DONE = "data-request:done"
ANSWER_WITHIN = timedelta(days=28)
"""When a data request carries no ``meta.deadline``: four weeks after it came in."""
DUE_SOON_DAYS = 7
QUARANTINE_CHANNELS = ("cti", "email", "inbound-json", "telegram-update")
"""Channels of quarantined messages named in the admin's language
(``admin.quarantine.channel_<channel>``)."""
DEAD_STATUSES = (JobStatus.DEAD.value, JobStatus.FAILED.value, JobStatus.UNKNOWN.value)
ATTEMPT_OUTCOMES = ("sending", "sent", "transient", "permanent", "bug", "unknown",
                    "interrupted")
"""A delivery attempt's outcomes (``timeline.notifications.DeliveryAttempt``), each named
in the admin's language (``admin.dead.outcome_<outcome>``)."""


async def _customers(view: AgentView, ids: set[str]) -> dict[str, Customer]:
    out = {}
    for cid in sorted(ids):
        customer = await view.state.store.get_customer(view.caller.office.id, cid)
        if customer is not None:
            out[cid] = customer
    return out


# ---------------------------------------------------------------- quarantine
@admin_page
async def quarantine_page(view: AgentView) -> web.StreamResponse:
    cursor = view.request.query.get("cursor") or None
    items = await view.state.store.list_quarantine(view.caller.office.id, status="open",
                                                   limit=PAGE + 1, after_id=cursor)
    page = items[:PAGE]
    return render(view, "admin/quarantine.html", "quarantine", items=page,
                  next_cursor=page[-1].id if len(items) > PAGE else None)


async def _item(view: AgentView, item_id: str) -> QuarantineItem:
    item = await view.state.store.get_quarantine(view.caller.office.id, item_id)
    if item is None:
        raise NotFound("no such quarantined message")
    return item


async def _quarantine_item(view: AgentView, item_id: str, *, status: int = 200,
                           error: str | None = None) -> web.Response:
    item = await _item(view, item_id)
    name = view.request.query.get("name", "").strip()
    found: list[Customer] = []
    if name:
        result = await view.state.store.list_customers(
            view.caller.office.id, CustomerListQuery(name=name[:200], limit=20))
        found = list(result.items)
    return render(view, "admin/quarantine_item.html", "quarantine", status=status,
                  error=error, item=item, name=name, found=found,
                  channel_names=QUARANTINE_CHANNELS,
                  preview=await quarantine_preview(view.state, item))


@admin_page
async def quarantine_item(view: AgentView) -> web.StreamResponse:
    return await _quarantine_item(view, match(view, "item_id"))


@admin_page
async def reprocess(view: AgentView) -> web.StreamResponse:
    item_id = match(view, "item_id")
    customer_id = (await form(view)).get("customer_id", "").strip() or None
    try:
        item = await view.state.ingest.reprocess(view.caller.office, item_id, customer_id)
    except Conflict as exc:
        return await _quarantine_item(view, item_id, status=409,
                                      error=view.t("admin.quarantine.cannot", reason=exc.message))
    if item.status == "processed":
        see_other("/admin/quarantine", "reprocessed")
    see_other(f"/admin/quarantine/{item_id}", "still_open")


@admin_page
async def discard(view: AgentView) -> web.StreamResponse:
    """Give up on a message, after a confirmation step (it is not processed again)."""
    item = await _item(view, match(view, "item_id"))
    if item.status != "open":
        return await _quarantine_item(view, item.id, status=409,
                                      error=view.t("admin.quarantine.not_open"))
    if not confirmed(await form(view)):
        preview = await quarantine_preview(view.state, item)
        reason = quarantine_reason(item.reason, view.lang)
        said = " – ".join(p for p in (reason.label, reason.detail) if p) or item.reason
        details = [(view.t("admin.quarantine.reason"), said),
                   (view.t("admin.quarantine.origin"), item.origin)]
        if preview is not None and preview.sender:
            details.append((view.t("admin.quarantine.from"), preview.sender))
        if preview is not None and preview.subject:
            details.append((view.t("admin.quarantine.subject"), preview.subject))
        return ask_first(view, "quarantine", title=view.t("admin.quarantine.discard_title"),
                         question=view.t("admin.quarantine.discard_question"),
                         submit=view.t("admin.quarantine.discard"),
                         back=f"/admin/quarantine/{item.id}", details=details)
    await view.state.ingest.discard(view.caller.office, item.id)
    see_other("/admin/quarantine", "discarded")


# ---------------------------------------------------------------- dead letters
def _status_filter(value: str | None) -> str:
    return value if value in DEAD_STATUSES else JobStatus.DEAD.value


async def _dead(view: AgentView, status: str, *, code: int = 200, error: str | None = None
                ) -> web.Response:
    cursor = view.request.query.get("cursor") or None
    jobs = await view.state.store.list_notify_jobs(view.caller.office.id, status=status,
                                                   limit=PAGE + 1, before_id=cursor)
    page = jobs[:PAGE]
    history = await view.state.store.notify_attempts([j.id for j in page])
    customers = await _customers(view, {j.customer_id for j in page})
    entries = {}  # what each notification was about (its subject), at most a page of reads
    for job in page:
        entry = await view.state.store.get_entry(view.caller.office.id, job.entry_id)
        if entry is not None:
            entries[job.entry_id] = entry
    return render(view, "admin/dead_letters.html", "dead", status=code, error=error,
                  status_filter=status,
                  statuses=DEAD_STATUSES, customers=customers, entries=entries,
                  outcomes=ATTEMPT_OUTCOMES,
                  jobs=[{"job": j, "history": history.get(j.id, [])} for j in page],
                  next_cursor=page[-1].id if len(jobs) > PAGE else None)


@admin_page
async def dead_letters(view: AgentView) -> web.StreamResponse:
    return await _dead(view, _status_filter(view.request.query.get("status")))


@admin_page
async def retry(view: AgentView) -> web.StreamResponse:
    """Send a notification again; one whose outcome is unknown (it may have arrived) only
    after a confirmation step, as the customer may get it twice."""
    values = await form(view)
    back = _status_filter(values.get("status"))
    job_id = match(view, "job_id")
    job = await view.state.store.get_notify_job(view.caller.office.id, job_id)
    if job is None:
        raise NotFound("no such notification")
    if job.status is JobStatus.UNKNOWN and not confirmed(values):
        entry = await view.state.store.get_entry(view.caller.office.id, job.entry_id)
        customer = await view.state.store.get_customer(view.caller.office.id,
                                                       job.customer_id)
        details = [(view.t("admin.dead.customer"), customer.name if customer else ""),
                   (view.t("admin.dead.about"), entry.subject if entry else job.entry_id)]
        if job.channel:
            details.append((view.t("admin.dead.channel"), view.t(f"via.{job.channel}")))
        return ask_first(view, "dead", title=view.t("admin.dead.retry"),
                         question=view.t("admin.dead.retry_unknown_question"),
                         submit=view.t("admin.dead.retry"),
                         back=f"/admin/dead-letters?status={back}",
                         fields={"status": back}, details=details)
    try:
        await retry_job(view.state, view.caller.office.id, job_id)
    except Conflict:
        return await _dead(view, back, code=409, error=view.t("admin.dead.not_retryable"))
    see_other("/admin/dead-letters", "retried", status=back)


# ---------------------------------------------------------------- open data requests
def deadline_of(entry: Entry) -> tuple[date, bool]:
    """(deadline, whether it was given): ``meta.deadline`` (an ISO date or date-time), or
    four weeks after the request came in."""
    raw = entry.meta.get("deadline")
    if isinstance(raw, str) and raw:
        try:
            return date.fromisoformat(raw[:10]), True
        except ValueError:
            pass
    return (entry.occurred_at + ANSWER_WITHIN).date(), False


def today(view: AgentView) -> date:
    try:
        return datetime.now(ZoneInfo(view.timezone)).date()
    except (KeyError, ValueError):
        return datetime.now(ZoneInfo("Europe/Berlin")).date()


@admin_page
async def data_requests(view: AgentView) -> web.StreamResponse:
    return await data_requests_page(view)


async def data_requests_page(view: AgentView, *, status: int = 200,
                             error: str | None = None) -> web.Response:
    """Open requests by deadline, the exports (download, provide in the portal), erasure
    receipts and the access record."""
    entries = await view.state.store.entries_with_tag(
        view.caller.office.id, DATA_REQUEST, without_tag=DATA_REQUEST_DONE, limit=500)
    customers = await _customers(view, {e.customer_id for e in entries})
    day = today(view)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        deadline, given = deadline_of(entry)
        left = (deadline - day).days
        rows.append({"entry": entry, "customer": customers.get(entry.customer_id),
                     "deadline": deadline, "deadline_given": given, "days_left": left,
                     "overdue": left < 0, "due_soon": 0 <= left <= DUE_SOON_DAYS})
    rows.sort(key=lambda r: (r["deadline"], r["entry"].seq))
    exports = await view.state.store.list_exports(view.caller.office.id, limit=100)
    names = await _customers(view, {x.customer_id for x in exports} - set(customers))
    names.update(customers)
    access = await view.state.store.access_records(view.caller.office.id, limit=50)
    provided = {str(e.meta.get("export_id")): e for e in await view.state.store.entries_with_tag(
        view.caller.office.id, DATA_COPY_TAG, limit=500)}
    return render(view, "admin/data_requests.html", "requests", status=status, error=error,
                  rows=rows, today=day, overdue=sum(1 for r in rows if r["overdue"]),
                  exports=[{"export": x, "customer": names.get(x.customer_id),
                            "provided": provided.get(x.id)} for x in exports],
                  access=access, agents=await _agent_names(view),
                  receipts=await view.state.store.erasure_receipts(view.caller.office.id,
                                                                   limit=20),
                  erased=view.request.query.get("receipt", ""))


async def _agent_names(view: AgentView) -> dict[str, str]:
    """The office's agents by id (the access record keeps only their ids)."""
    return {a.agent.id: a.agent.name
            for a in await view.state.store.list_agents(view.caller.office.id)}


@admin_page
async def answered(view: AgentView) -> web.StreamResponse:
    office_id = view.caller.office.id
    entry = await view.state.store.get_entry(office_id, match(view, "entry_id"))
    if entry is None or DATA_REQUEST not in entry.tags:
        raise NotFound("no such data request")
    await view.state.store.retag_entry(office_id, entry.id, add=[DATA_REQUEST_DONE])
    see_other("/admin/data-requests", "answered")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/quarantine", quarantine_page)
    app.router.add_get("/admin/quarantine/{item_id}", quarantine_item)
    app.router.add_post("/admin/quarantine/{item_id}/reprocess", reprocess)
    app.router.add_post("/admin/quarantine/{item_id}/discard", discard)
    app.router.add_get("/admin/dead-letters", dead_letters)
    app.router.add_post("/admin/dead-letters/{job_id}/retry", retry)
    app.router.add_get("/admin/data-requests", data_requests)
    app.router.add_post("/admin/data-requests/{entry_id}/answered", answered)
