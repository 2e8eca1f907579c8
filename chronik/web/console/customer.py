"""The customer page: profile (identities, preferences, pinned facts, open complaints),
the timeline (newest first, more on scroll, filters, live) and compose beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from chronik.state import AppState
from chronik.web.console.items import (
    COMPLAINT,
    COMPLAINT_RESOLVED,
    PINNED,
    ItemView,
    album_key,
    fold_items,
    item_view,
    system_parent,
)
from chronik.web.outbox import OUTBOX
from chronik.web.pages import AgentView, agent_page, form_str, safe_next
from chronik.web.render import MAIL_CSP, format_time, render
from chronik.web.system_texts import why_nobody
from notify.evaluate import (
    CHANNELS,
    HOLD_DIGEST,
    HOLD_QUIET,
    Plan,
    channel_order,
    consent_state,
    evaluate,
)
from timeline import policy as publish_policy
from timeline.errors import InvalidInput, NotFound
from timeline.ids import parse_seq
from timeline.models import (
    Channel,
    Customer,
    CustomerStatus,
    Entry,
    IdentityKind,
    Preferences,
    Visibility,
    utcnow,
)
from timeline.replies import NO_REPLY, is_message, waiting_message
from timeline.store import TimelineQuery

PAGE_SIZE = 30
HOLD_TEXTS = {HOLD_QUIET: "compose.waits_quiet", HOLD_DIGEST: "compose.waits_digest"}
"""What the recipients line adds when the notifier would hold a notification back."""
FILTER_CHANNELS = [c.value for c in Channel]
FILTER_KINDS = ["email", "message", "call", "note", "phone_note", "document", "reply",
                "notification", "preferences", "data_request", "data_copy"]
COMPOSE_KINDS = ("phone_note", "note", "document", "reply")


@dataclass(frozen=True)
class Filters:
    channels: tuple[Channel, ...]
    kinds: tuple[str, ...]
    visibility: Visibility | None

    @classmethod
    def of(cls, query: Any) -> Filters:
        try:
            channels = tuple(Channel(c) for c in query.getall("channel", []) if c)
            vis = query.get("visibility") or None
            visibility = Visibility(vis) if vis else None
        except ValueError:
            raise InvalidInput("unknown channel or visibility") from None
        kinds = tuple(k for k in query.getall("kind", []) if k in FILTER_KINDS)
        return cls(channels, kinds, visibility)

    def query(self, limit: int, before: int | None) -> TimelineQuery:
        return TimelineQuery(limit=limit, before_seq=before, channels=self.channels,
                             kinds=self.kinds, visibility=self.visibility)

    def params(self) -> str:
        pairs = [("channel", c.value) for c in self.channels]
        pairs += [("kind", k) for k in self.kinds]
        if self.visibility:
            pairs.append(("visibility", self.visibility.value))
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        return bool(self.channels or self.kinds or self.visibility)


def _cursor(raw: str | None) -> int | None:
    return parse_seq(raw) if raw else None


async def agent_names(state: AppState, office_id: str) -> dict[str, str]:
    return {a.agent.id: a.agent.name for a in await state.store.list_agents(office_id)}


async def available_channels(view: AgentView) -> list[str]:
    outbox = view.request.app[OUTBOX]
    return ["portal", *(c for c in ("email", "telegram") if c in outbox.transports)]


def reply_channels(customer: Customer) -> list[str]:
    """The channels a reply can be addressed to: where the customer can be reached (an
    e-mail address or a linked Telegram chat that is not undeliverable); the portal always.
    (Whether a channel is set up here, the recipients line says: a reply is recorded on its
    channel and falls back as any notification does.)"""
    have = {i.kind for i in customer.identities if not i.undeliverable}
    return [c for c in ("email", "telegram", "portal")
            if c == "portal" or IdentityKind(c) in have]


async def recipients(view: AgentView, customer: Customer, prefs: Preferences,
                     reply_via: str | None = None) -> dict[str, Any]:
    """Who would receive a published entry now, on which channel (preferences applied)."""
    consents = await view.state.store.consents(customer.office_id, customer.id)
    plan = evaluate(customer, prefs, consents, available=await available_channels(view),
                    now=utcnow(), reply_via=reply_via)
    # the portal inbox alone reaches nobody who cannot sign in (the sign-in code goes to an
    # e-mail address or a Telegram chat)
    signs_in = any(i.kind in (IdentityKind.EMAIL, IdentityKind.TELEGRAM) and not i.undeliverable
                   for i in customer.identities)
    return {"routes": [{"channel": r.channel, "address": r.address if r.channel != "portal"
                        else ""} for r in plan.routes],
            "skipped": list(plan.skipped),
            "suppressed": _why_nobody(view, plan),
            "wait_until": plan.wait_until,
            # held, not sent now: the customer's quiet hours or their daily digest
            "waits": view.t(HOLD_TEXTS[plan.hold], when=format_time(
                plan.wait_until, view.timezone, view.lang))
            if plan.routes and plan.wait_until and plan.hold in HOLD_TEXTS else "",
            "unread": bool(plan.routes) and not signs_in
            and all(r.channel == "portal" for r in plan.routes)}


def _why_nobody(view: AgentView, plan: Plan) -> str | None:
    """Why nobody would be notified, in the agent's language, from the notifier's reason
    codes (its English reasons are for logs and the API: ``skipped``)."""
    if plan.suppressed is None:
        return None
    return why_nobody(plan.opted_out, ((s.code, s.channel) for s in plan.skips), view.lang)


async def timeline_page(view: AgentView, customer_id: str, filters: Filters,
                        cursor: int | None, limit: int = PAGE_SIZE
                        ) -> tuple[list[ItemView], str | None]:
    page = await view.state.store.timeline(view.caller.office.id, customer_id,
                                           filters.query(limit, cursor))
    names = await agent_names(view.state, view.caller.office.id)
    items = fold_items(page.items, names)
    await mark_undone_merges(view.state, view.caller.office.id, items)
    return items, page.next_cursor


async def mark_undone_merges(state: AppState, office_id: str, items: list[ItemView]) -> None:
    """Merge entries (and the notes of their undoing) whose merge is undone offer no undo."""
    for item in items:
        merge_id = item.entry.meta.get("merge_id") if item.entry.kind == "merge" else None
        if isinstance(merge_id, str):
            merge = await state.store.get_merge(office_id, merge_id)
            item.merge_undone = merge is None or merge.undone_at is not None


async def _merged_into(state: AppState, customer: Customer, newest: list[Entry]
                       ) -> Customer | None:
    """The customer a merged-away customer now lives in (from its newest merge entry)."""
    if customer.status is not CustomerStatus.MERGED:
        return None
    for entry in newest:
        target = entry.meta.get("target_id") if entry.kind == "merge" else None
        if isinstance(target, str):
            found = await state.store.get_customer(customer.office_id, target)
            return found if found is not None and found.status is not CustomerStatus.MERGED \
                else None
    return None


async def _focused(view: AgentView, customer: Customer, shown: list[ItemView]
                   ) -> Entry | None:
    """The entry ``?focus=`` names (a search hit) when the page would not show it."""
    focus = view.request.query.get("focus")
    if not focus or any(focus in (i.entry.id, *i.album, *(f.id for f in i.folded))
                        for i in shown):
        return None
    entry = await view.state.store.get_entry(view.caller.office.id, focus)
    return entry if entry is not None and entry.customer_id == customer.id else None


async def profile_facts(state: AppState, office_id: str, customer_id: str
                        ) -> tuple[list[Entry], list[Entry]]:
    """Pinned internal notes and open complaints of one customer."""
    pinned = await state.store.entries_with_tag(office_id, PINNED, customer_id=customer_id,
                                                limit=20)
    complaints = await state.store.entries_with_tag(
        office_id, COMPLAINT, without_tag=COMPLAINT_RESOLVED, customer_id=customer_id,
        limit=20)
    return pinned, complaints


async def compose_presets(view: AgentView, customer_id: str) -> dict[str, dict[str, Any]]:
    context = await view.state.store.entry_context(view.caller.office.id,
                                                   view.caller.agent.id, customer_id)
    if context is None:
        raise NotFound("no such customer")
    out: dict[str, dict[str, Any]] = {}
    for kind in publish_policy.ENTRY_KINDS:
        d = publish_policy.preset(kind, context.agent_policy, context.office_policy)
        out[kind] = {"visibility": d.visibility.value, "notify": d.notify,
                     "visibility_source": d.visibility_source.value,
                     "notify_source": d.notify_source.value}
    out["reply"] = {"visibility": "published", "notify": True, "visibility_source": "request",
                    "notify_source": "request"}
    return out


async def customer_context(view: AgentView, customer: Customer, filters: Filters,
                           **extra: Any) -> dict[str, Any]:
    state, office_id = view.state, view.caller.office.id
    cursor = _cursor(view.request.query.get("cursor"))
    items, next_cursor = await timeline_page(  # ?cursor=: the "more" link without JS
        view, customer.id, filters, cursor)
    focused = await _focused(view, customer, items) if cursor is None else None
    if focused is not None:  # a search hit further back: the history from there on
        items, next_cursor = await timeline_page(view, customer.id, filters, focused.seq + 1)
    newest = await state.store.timeline(office_id, customer.id, TimelineQuery(limit=20))
    prefs = await state.store.get_preferences(office_id, customer.id)
    consents = await state.store.consents(office_id, customer.id)
    pinned, complaints = await profile_facts(state, office_id, customer.id)
    names = await agent_names(state, office_id)
    reply_to = view.request.query.get("reply_to")
    reply_entry = await state.store.get_entry(office_id, reply_to) if reply_to else None
    if reply_entry is not None and reply_entry.customer_id != customer.id:
        reply_entry = None
    call_id = view.request.query.get("call")
    call = await state.store.get_entry(office_id, call_id) if call_id else None
    if call is not None and (call.customer_id != customer.id or call.kind != "call"):
        call = None
    return {
        "customer": customer, "items": items, "next_cursor": next_cursor,
        "filters": filters, "filter_params": filters.params(),
        "channels": FILTER_CHANNELS, "kinds": FILTER_KINDS,
        "prefs": prefs, "effective_channels": channel_order(customer, prefs),
        "consents": {c: consent_state(customer, consents, c)[0] for c in CHANNELS},
        "pinned": [item_view(e, names) for e in pinned],
        "complaints": [item_view(e, names) for e in complaints],
        "unanswered": waiting_message(newest.items),
        "newest": fold_items(newest.items[:5], names),
        "presets": await compose_presets(view, customer.id),
        "recipients": await recipients(view, customer, prefs),
        "reply_channels": reply_channels(customer),
        "reply_to": reply_entry, "call": call, "agent_names": names, "focused": focused,
        "max_upload_bytes": state.settings.max_upload_bytes,
        "paged": cursor is not None,
        "merged_into": await _merged_into(state, customer, newest.items),
        "consent_history": await state.store.consent_history(office_id, customer.id),
        **extra,
    }


@agent_page
async def customer_page(view: AgentView) -> web.StreamResponse:
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    filters = Filters.of(view.request.query)
    ctx = await customer_context(view, customer, filters)
    return view.render("console/customer.html", nav="", **ctx)


@agent_page
async def items_fragment(view: AgentView) -> web.StreamResponse:
    """More of the timeline (scrolling), as HTML; the next cursor in ``X-Next-Cursor``."""
    customer_id = view.request.match_info["id"]
    await view.state.timeline.customer(view.caller.office, customer_id)
    filters = Filters.of(view.request.query)
    items, next_cursor = await timeline_page(view, customer_id, filters,
                                             _cursor(view.request.query.get("cursor")))
    html = render("console/_items.html", view.lang, view.context(items=items))
    return web.Response(text=html, content_type="text/html",
                        headers={"X-Next-Cursor": next_cursor or ""})


@agent_page
async def item_fragment(view: AgentView) -> web.StreamResponse:
    """One item (live updates). A system entry answers with the item it belongs to."""
    office_id = view.caller.office.id
    entry = await view.state.store.get_entry(office_id, view.request.match_info["entry_id"])
    if entry is None:
        raise NotFound("no such entry")
    parent_id = system_parent(entry)
    folded: list[Entry] = []
    if parent_id is not None:
        parent = await view.state.store.get_entry(office_id, parent_id)
        if parent is not None:
            folded, entry = [entry], parent
    names = await agent_names(view.state, office_id)
    if album_key(entry) is not None:
        item = await _album_item(view, entry, names)
    else:
        item = item_view(entry, names)
        item.folded = folded
    await mark_undone_merges(view.state, office_id, [item])
    html = render("console/_items.html", view.lang, view.context(items=[item]))
    return web.Response(text=html, content_type="text/html", headers={
        "X-Entry-Id": item.entry.id, "X-Customer-Id": entry.customer_id,
        "X-Album": " ".join(item.album)})


ALBUM_WINDOW = timedelta(minutes=10)
"""How far apart in time the messages of one Telegram album are looked for (Telegram sends
them within seconds)."""


async def _album_item(view: AgentView, entry: Entry, names: dict[str, str]) -> ItemView:
    """The item of the album ``entry`` belongs to, as the timeline shows it, so a live view
    that received its messages one by one shows them as one item (``X-Album``: the ids
    the item stands for besides its own)."""
    near = await view.state.store.timeline(view.caller.office.id, entry.customer_id,
                                           TimelineQuery(limit=100,
                                                         since=entry.occurred_at - ALBUM_WINDOW,
                                                         until=entry.occurred_at + ALBUM_WINDOW))
    for item in fold_items(near.items, names):
        if item.entry.id == entry.id or entry.id in item.album:
            return item
    return item_view(entry, names)  # (erased meanwhile, or too far apart: alone)


@agent_page
async def mail_frame(view: AgentView) -> web.StreamResponse:
    """An e-mail's sanitised HTML for a sandboxed frame: no script runs (sandbox and CSP),
    no remote resource loads (CSP ``img-src data:``), forms and ``javascript:`` are dead."""
    entry = await view.state.store.get_entry(view.caller.office.id,
                                             view.request.match_info["entry_id"])
    if entry is None or not entry.html:
        raise NotFound("no such entry")
    doc = ("<!doctype html><html><head><meta charset='utf-8'>"
           "<base target='_blank'></head><body>" + entry.html + "</body></html>")
    return web.Response(text=doc, content_type="text/html", headers={
        "Content-Security-Policy": MAIL_CSP + "; sandbox allow-popups "
                                   "allow-popups-to-escape-sandbox",
        "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"})  # personal, like pages


@agent_page
async def recipients_json(view: AgentView) -> web.StreamResponse:
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    prefs = await view.state.store.get_preferences(customer.office_id, customer.id)
    via = view.request.query.get("reply_via") or None
    found = await recipients(view, customer, prefs, via if via in CHANNELS else None)
    found["wait_until"] = found["wait_until"].isoformat() if found["wait_until"] else None
    return web.json_response(found)


# ------------------------------------------------------------------ tags: complaints, pins
async def _entry_of(view: AgentView) -> Entry:
    entry = await view.state.store.get_entry(view.caller.office.id,
                                             view.request.match_info["entry_id"])
    if entry is None:
        raise NotFound("no such entry")
    return entry


def _back(view: AgentView, entry: Entry, form: Any) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(safe_next(form_str(form, "next"),
                                      f"/customers/{entry.customer_id}?focus={entry.id}"
                                      f"#e-{entry.id}"))


@agent_page
async def complaint(view: AgentView) -> web.StreamResponse:
    """Mark an entry as a complaint, or resolve it (who, when, how)."""
    entry = await _entry_of(view)
    form = await view.request.post()
    action = form_str(form, "action")
    office_id = view.caller.office.id
    if action == "open":
        await view.state.store.retag_entry(office_id, entry.id, add=[COMPLAINT],
                                           remove=[COMPLAINT_RESOLVED])
    elif action == "resolve":
        how = form_str(form, "how").strip()[:2000]
        if not how:
            raise InvalidInput("say how the complaint was resolved")
        await view.state.store.retag_entry(office_id, entry.id, add=[COMPLAINT_RESOLVED])
        await view.state.timeline.revise(office_id, entry.id, meta={
            **entry.meta, "complaint_resolution": {
                "by": view.caller.agent.name, "agent_id": view.caller.agent.id,
                "at": utcnow().isoformat(), "how": how}}, keep_history=False)
    else:
        raise InvalidInput("action must be open or resolve")
    return _back(view, entry, form)


@agent_page
async def no_reply(view: AgentView) -> web.StreamResponse:
    """Mark a customer's message as needing no answer (it leaves the office's list of
    customers waiting, ``/waiting``), with who and when; or take that back."""
    entry = await _entry_of(view)
    form = await view.request.post()
    office_id = view.caller.office.id
    if form_str(form, "action") == "unset":
        await view.state.store.retag_entry(office_id, entry.id, remove=[NO_REPLY])
        await view.state.timeline.revise(office_id, entry.id, meta={
            k: v for k, v in entry.meta.items() if k != "no_reply"}, keep_history=False)
    else:
        if not is_message(entry):
            raise InvalidInput("only a customer's message or missed call can be marked "
                               "as needing no reply")
        await view.state.store.retag_entry(office_id, entry.id, add=[NO_REPLY])
        await view.state.timeline.revise(office_id, entry.id, meta={
            **entry.meta, "no_reply": {"by": view.caller.agent.name,
                                       "agent_id": view.caller.agent.id,
                                       "at": utcnow().isoformat()}}, keep_history=False)
    return _back(view, entry, form)


@agent_page
async def pin(view: AgentView) -> web.StreamResponse:
    """Pin an internal note to the profile (soft facts), or unpin it."""
    entry = await _entry_of(view)
    form = await view.request.post()
    if form_str(form, "action") == "unpin":
        await view.state.store.retag_entry(view.caller.office.id, entry.id, remove=[PINNED])
    else:
        if entry.visibility is not Visibility.INTERNAL or entry.kind not in (
                "note", "phone_note"):
            raise InvalidInput("only internal notes can be pinned")
        await view.state.store.retag_entry(view.caller.office.id, entry.id, add=[PINNED])
    return _back(view, entry, form)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/customers/{id}", customer_page)
    app.router.add_get("/customers/{id}/items", items_fragment)
    app.router.add_get("/customers/{id}/recipients", recipients_json)
    app.router.add_get("/entries/{entry_id}/item", item_fragment)
    app.router.add_get("/entries/{entry_id}/mail", mail_frame)
    app.router.add_post("/entries/{entry_id}/complaint", complaint)
    app.router.add_post("/entries/{entry_id}/pin", pin)
    app.router.add_post("/entries/{entry_id}/no-reply", no_reply)
