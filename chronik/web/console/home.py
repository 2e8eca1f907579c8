"""Start page, the one search box (phone number in any format, e-mail address or name),
what to do with an unknown number, the caller banner and the office's open complaints
(full-text search: ``chronik.web.console.search``)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from chronik.awaiting import DEFAULT_DAYS, MAX_ROWS, PERIODS, waiting_lists
from chronik.web.console.customer import agent_names, profile_facts
from chronik.web.console.items import (
    COMPLAINT,
    COMPLAINT_RESOLVED,
    ItemView,
    fold_items,
    item_view,
)
from chronik.web.pages import AgentView, agent_page, form_str, visible, without_dial_scheme
from chronik.web.render import render
from connectors.phone.numbers import is_withheld
from notify.evaluate import channel_order
from timeline.errors import InvalidInput
from timeline.models import (
    Customer,
    CustomerStatus,
    IdentityKind,
)
from timeline.replies import waiting_message
from timeline.service import Match
from timeline.store import CustomerListQuery

_PHONEISH = re.compile(r"^[\d\s()+\-/.]{3,}$")


def typed(q: str) -> str:
    """The search box's text as it was meant: without the invisible marks a copy brings
    along (``visible``), and a copied ``tel:`` link's number without its scheme
    (``mailto:`` the address rules take care of)."""
    q = visible(q)
    number = without_dial_scheme(q)
    if number != q and classify(number) is IdentityKind.PHONE:
        return number
    return q


def classify(q: str) -> IdentityKind | None:
    """What the one search box was given: an e-mail address, a phone number, or a name."""
    q = q.strip()
    if "@" in q:
        return IdentityKind.EMAIL
    if _PHONEISH.match(q) and sum(ch.isdigit() for ch in q) >= 3:
        return IdentityKind.PHONE
    return None


@agent_page
async def home(view: AgentView) -> web.StreamResponse:
    complaints, customers = await open_complaints(view, limit=10)
    waiting = await awaiting(view, DEFAULT_DAYS, home=True)
    return view.render("console/home.html", nav="home", complaints=complaints,
                       customers=customers, **waiting)


HOME_WAITING = 10
"""Rows of it on the start page."""


async def awaiting(view: AgentView, days: int, *, home: bool) -> dict[str, Any]:
    """The office's customers waiting for an answer (``timeline.replies``), oldest first:
    what the list template (``console/_waiting.html``) needs, for the start page (its
    first :data:`HOME_WAITING`) or ``/waiting``."""
    shown = HOME_WAITING if home else MAX_ROWS
    office_id = view.caller.office.id
    entries = await waiting_lists(view.state).get(office_id, days)
    names = await agent_names(view.state, office_id)
    return {"waiting": [item_view(e, names) for e in entries[:shown]],
            "waiting_total": len(entries), "waiting_more": len(entries) > shown,
            "waiting_names": await names_of(view, {e.customer_id for e in entries[:shown]}),
            "waiting_days": days, "waiting_home": home}


def _waiting_days(view: AgentView) -> int:
    raw = view.request.query.get("days", "")
    return int(raw) if raw in {str(d) for d in PERIODS} else DEFAULT_DAYS


@agent_page
async def waiting_page(view: AgentView) -> web.StreamResponse:
    """Customers waiting for an answer, oldest first (the longest waiting on top)."""
    waiting = await awaiting(view, _waiting_days(view), home=False)
    return view.render("console/waiting.html", nav="waiting", day_choices=PERIODS,
                       **waiting)


@agent_page
async def waiting_list(view: AgentView) -> web.StreamResponse:
    """The list alone (the page and the start page refresh it live)."""
    waiting = await awaiting(view, _waiting_days(view),
                             home=view.request.query.get("home") == "1")
    html = render("console/_waiting.html", view.lang, view.context(**waiting))
    return web.Response(text=html, content_type="text/html")


async def names_of(view: AgentView, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    page = await view.state.store.list_customers(
        view.caller.office.id, CustomerListQuery(limit=len(ids), ids=tuple(ids)))
    return {c.id: c.name for c in page.items}


@agent_page
async def find(view: AgentView) -> web.StreamResponse:
    q = typed(view.request.query.get("q", ""))[:200]
    kind = classify(q)
    matches: list[Customer] = []
    normalised = None
    if q and kind is not None:
        normalised, found = await view.state.timeline.lookup_normalised(
            view.caller.office, kind, q, recent=3)
        matches = [m.customer for m in found]
    elif q:
        page = await view.state.store.list_customers(
            view.caller.office.id, CustomerListQuery(limit=25, name=q))
        matches = [c for c in page.items if c.status is not CustomerStatus.MERGED]
    if len(matches) == 1 and view.request.query.get("list") != "1":
        raise web.HTTPSeeOther(f"/customers/{matches[0].id}")
    attach_kind = view.request.query.get("attach_kind", "")
    attach = view.request.query.get("attach", "")[:200] if attach_kind in ("phone",
                                                                           "email") else ""
    return view.render("console/find.html", nav="", find_q=q, q=q, kind=kind.value if kind
                       else "name", normalised=normalised, matches=matches, attach=attach,
                       attach_kind=attach_kind,
                       call=view.request.query.get("call", "")[:100])  # (from the banner)


@agent_page
async def create_customer(view: AgentView) -> web.StreamResponse:
    """From an unknown number or address: a new customer with it as an identity. An
    unverified customer created automatically for the same number is merged into it, so the
    call and any messages move along."""
    form = await view.request.post()
    name = form_str(form, "name").strip()
    pairs: list[tuple[IdentityKind, str]] = []
    for kind in (IdentityKind.PHONE, IdentityKind.EMAIL):
        value = form_str(form, kind.value).strip()
        if value:
            pairs.append((kind, value))
    office, state = view.caller.office, view.state
    auto = await _auto_created(view, pairs)
    # identities checked before anything is written: a bad number creates nobody
    customer = await state.timeline.create_customer(office, name, pairs)
    for unverified in auto:
        await state.ingest.merge(office, view.caller.agent, unverified.id, customer.id)
    return web.HTTPSeeOther(await _to_customer(view, customer.id, form_str(form, "call")))


async def _to_customer(view: AgentView, customer_id: str, call: str) -> str:
    """The customer's page after naming a ringing number: with the phone note against that
    call ready (as the banner's link to a known caller opens it), once the call (moved
    from the number's automatic customer) is theirs."""
    entry = await view.state.store.get_entry(view.caller.office.id, call) if call else None
    if entry is not None and entry.customer_id == customer_id and entry.kind == "call":
        return f"/customers/{customer_id}?call={entry.id}#compose"
    return f"/customers/{customer_id}"


async def _auto_created(view: AgentView, pairs: list[tuple[IdentityKind, str]]
                        ) -> list[Customer]:
    found: list[Customer] = []
    for kind, value in pairs:
        for match in await view.state.timeline.lookup(view.caller.office, kind, value, 0):
            if match.customer.status is CustomerStatus.UNVERIFIED and \
                    match.customer not in found:
                found.append(match.customer)
    return found


@agent_page
async def attach_identity(view: AgentView) -> web.StreamResponse:
    """Attach an unknown number (or address) to an existing customer."""
    form = await view.request.post()
    target = form_str(form, "customer_id")
    office, state = view.caller.office, view.state
    customer = await state.timeline.customer(office, target)
    pairs = [(k, form_str(form, k.value).strip()) for k in (IdentityKind.PHONE,
                                                            IdentityKind.EMAIL)]
    pairs = [(k, v) for k, v in pairs if v]
    if not pairs:
        raise InvalidInput("nothing to attach")
    auto = [c for c in await _auto_created(view, pairs) if c.id != customer.id]
    for unverified in auto:  # first: their identities (and history) move to the customer
        await state.ingest.merge(office, view.caller.agent, unverified.id, customer.id)
    for kind, value in pairs:
        if not any(m.customer.id == customer.id
                   for m in await state.timeline.lookup(office, kind, value, 0)):
            await state.timeline.add_identity(office, customer.id, kind, value)
    return web.HTTPSeeOther(await _to_customer(view, customer.id, form_str(form, "call")))


BANNER_CALLERS = 3
"""Customers the banner shows for one number (a shared one: a family's landline, an office
switchboard); more are one click away."""


async def banner_view(view: AgentView, matches: list[Match], skip: str = ""
                      ) -> list[dict[str, Any]]:
    """What the banner shows of each customer with the ringing number (up to
    :data:`BANNER_CALLERS`): pinned facts, open complaints, whether they wait for an answer,
    and their own last contacts, so an agent can tell who of them is calling."""
    state, office_id = view.state, view.caller.office.id
    names = await agent_names(state, office_id)
    out = []
    for match in matches[:BANNER_CALLERS]:
        customer = match.customer
        pinned, complaints = await profile_facts(state, office_id, customer.id)
        prefs = await state.store.get_preferences(office_id, customer.id)
        out.append({
            "customer": customer, "pinned": [item_view(e, names) for e in pinned[:3]],
            "complaints": [item_view(e, names) for e in complaints[:3]],
            # the last *contacts*: no bookkeeping of preference changes
            "recent": fold_items([e for e in match.recent
                                  if e.id != skip and e.kind != "preferences"], names)[:5],
            "unanswered": waiting_message(e for e in match.recent if e.id != skip),
            "channels": channel_order(customer, prefs),
            "automatic": prefs.automatic_notifications})
    return out


@agent_page
async def call_banner(view: AgentView) -> web.StreamResponse:
    """The caller banner's content for a ringing number (fetched when ``call.ringing``
    arrives on the event stream)."""
    number = view.request.query.get("number", "")[:64]
    if is_withheld(number):  # "anonymous", "sip:anonymous@anonymous.invalid", …: no number
        number = ""
    normalised, matches = await view.state.timeline.lookup_normalised(
        view.caller.office, IdentityKind.PHONE, number, recent=10)
    known = [m for m in matches if m.customer.status is CustomerStatus.ACTIVE]
    html = render("console/_banner.html", view.lang, view.context(
        number=number, normalised=normalised,
        callers=await banner_view(view, matches, view.request.query.get("entry", "")),
        more_callers=max(0, len(matches) - BANNER_CALLERS),
        known=bool(known), call_id=view.request.query.get("call", "")[:100],
        entry_id=view.request.query.get("entry", "")[:100],
        attach_url="/find?list=1&q="))
    return web.Response(text=html, content_type="text/html")


@agent_page
async def complaints_page(view: AgentView) -> web.StreamResponse:
    """Open complaints of the office, oldest first (the longest waiting on top)."""
    items, customers = await open_complaints(view, limit=500)
    return view.render("console/complaints.html", nav="complaints", items=items,
                       customers=customers)


async def open_complaints(view: AgentView, limit: int
                          ) -> tuple[list[ItemView], dict[str, str]]:
    """The office's open complaints, oldest first, and their customers' names."""
    office_id = view.caller.office.id
    entries = await view.state.store.entries_with_tag(
        office_id, COMPLAINT, without_tag=COMPLAINT_RESOLVED, limit=limit)
    names = await agent_names(view.state, office_id)
    customers = await names_of(view, {e.customer_id for e in entries})
    return [item_view(e, names) for e in entries], customers


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/find", find)
    app.router.add_post("/customers", create_customer)
    app.router.add_post("/identities/attach", attach_identity)
    app.router.add_get("/calls/banner", call_banner)
    app.router.add_get("/complaints", complaints_page)
    app.router.add_get("/waiting", waiting_page)
    app.router.add_get("/waiting/list", waiting_list)
