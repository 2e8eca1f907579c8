"""The customer profile's actions: identities, name and status, merge (with a preview of
what moves) and undo."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from chronik.api.base import ApiError
from chronik.api.telegram import create_link
from chronik.preferences import DEFAULT_DIGEST_AT, PreferenceChange, apply_preferences, clock
from chronik.web.console.customer import Filters, customer_context
from chronik.web.i18n import catalog
from chronik.web.pages import AgentView, agent_page, form_str
from notify.evaluate import CHANNELS, consent_state
from timeline.errors import Conflict, InvalidInput
from timeline.models import Customer, CustomerStatus, DailyDigest, IdentityKind, QuietHours
from timeline.store import CustomerListQuery, TimelineQuery

PREVIEW_LIMIT = 200


def _kind(raw: str) -> IdentityKind:
    try:
        return IdentityKind(raw)
    except ValueError:
        raise InvalidInput("unknown identity kind") from None


async def _change_identity(view: AgentView, remove: bool) -> web.StreamResponse:
    form = await view.request.post()
    customer_id = view.request.match_info["id"]
    timeline = view.state.timeline
    kind, value = _kind(form_str(form, "kind")), form_str(form, "value")
    if remove:
        await timeline.remove_identity(view.caller.office, customer_id, kind, value)
        return web.HTTPSeeOther(f"/customers/{customer_id}#profile")
    try:
        await timeline.add_identity(view.caller.office, customer_id, kind, value)
    except (InvalidInput, Conflict) as exc:
        customer = await timeline.customer(view.caller.office, customer_id)
        other = exc.details.get("customer_id") if isinstance(exc, Conflict) else None
        message = (view.t("profile.identity_taken", value=value.strip(),
                          name=exc.details.get("name", ""))
                   if other else view.t("profile.identity_invalid_telegram", value=value.strip())
                   if kind is IdentityKind.TELEGRAM
                   else view.t("profile.identity_invalid", value=value.strip(),
                               kind=view.t("identity." + kind.value)))
        return await _profile_again(view, customer, message, status=409 if other else 400,
                                    other=other, kind=kind.value, value=value,
                                    name=exc.details.get("name", "") if other else "")
    return web.HTTPSeeOther(f"/customers/{customer_id}?added=1#profile")


async def _profile_again(view: AgentView, customer: Customer, message: str, *,
                         status: int = 400, **typed: Any) -> web.Response:
    """The customer's page again with the profile open, saying what was wrong (and what was
    typed: ``kind``/``value`` of an identity, the ``name``, ``other`` customer's id)."""
    ctx = await customer_context(view, customer, Filters((), (), None),
                                 profile_error={"message": message, "other": None, "kind": "",
                                                "value": "", "name": "", **typed})
    return view.render("console/customer.html", status=status, **ctx)


@agent_page
async def add_identity(view: AgentView) -> web.StreamResponse:
    return await _change_identity(view, remove=False)


@agent_page
async def remove_identity(view: AgentView) -> web.StreamResponse:
    return await _change_identity(view, remove=True)


@agent_page
async def update_customer(view: AgentView) -> web.StreamResponse:
    """Rename; confirm an automatically created (unverified) customer."""
    form = await view.request.post()
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    name = form_str(form, "name").strip()
    status = CustomerStatus.ACTIVE if form_str(form, "verify") else None
    if form_str(form, "name", "-") != "-" and not name:
        return await _profile_again(view, customer, view.t("profile.name_empty"))
    await view.state.store.update_customer(view.caller.office.id, customer.id,
                                           name=name or None, status=status)
    return web.HTTPSeeOther(f"/customers/{customer.id}#profile")


async def other_customers(view: AgentView, but: str) -> tuple[str, list[Customer]]:
    """The page's ``q`` and up to 20 of the office's customers by that name, other than
    ``but`` and none merged away (the pickers of merge and move)."""
    q = view.request.query.get("q", "").strip()[:200]
    if not q:
        return q, []
    page = await view.state.store.list_customers(view.caller.office.id,
                                                 CustomerListQuery(limit=20, name=q))
    return q, [c for c in page.items if c.id != but and c.status is not CustomerStatus.MERGED]


@agent_page
async def merge_preview(view: AgentView) -> web.StreamResponse:
    """Pick the customer to merge into, and see what moves before it happens."""
    office = view.caller.office
    source = await view.state.timeline.customer(office, view.request.match_info["id"])
    q, candidates = await other_customers(view, source.id)
    target = None
    if view.request.query.get("into"):
        target = await view.state.timeline.customer(office, view.request.query["into"])
    moved = await view.state.store.timeline(office.id, source.id,
                                            TimelineQuery(limit=PREVIEW_LIMIT))
    return view.render("console/merge.html", source=source, target=target, q=q,
                       candidates=candidates, entry_count=len(moved.items),
                       more=moved.next_cursor is not None)


@agent_page
async def merge(view: AgentView) -> web.StreamResponse:
    form = await view.request.post()
    result = await view.state.ingest.merge(view.caller.office, view.caller.agent,
                                           view.request.match_info["id"],
                                           form_str(form, "into"))
    return web.HTTPSeeOther(f"/customers/{result.target_id}?merged={result.id}")


@agent_page
async def undo_merge(view: AgentView) -> web.StreamResponse:
    result = await view.state.ingest.undo_merge(view.caller.office, view.caller.agent,
                                                view.request.match_info["merge_id"])
    return web.HTTPSeeOther(f"/customers/{result.source_id}")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/customers/{id}/identities", add_identity)
    app.router.add_post("/customers/{id}/identities/remove", remove_identity)
    app.router.add_post("/customers/{id}/update", update_customer)
    app.router.add_get("/customers/{id}/merge", merge_preview)
    app.router.add_post("/customers/{id}/merge", merge)
    app.router.add_post("/merges/{merge_id}/undo", undo_merge)
    add_preference_routes(app)


# ------------------------------------------------------------------ preferences, Telegram
@agent_page
async def save_preferences(view: AgentView) -> web.StreamResponse:
    """The agent changes a customer's preferences (on the customer's word): one use case,
    the same as ``PUT /api/v1/customers/{id}/preferences``."""
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    form = await view.request.post()
    order = [form_str(form, f"channel{i}") for i in range(3)]
    channels = [c for c in dict.fromkeys(order) if c]
    typed = form_str(form, "quiet_start").strip(), form_str(form, "quiet_end").strip()
    start, end = clock(typed[0]), clock(typed[1])
    quiet: QuietHours | None = None
    if start and end:
        quiet = QuietHours(start=start, end=end,
                           timezone=form_str(form, "quiet_tz") or "Europe/Berlin")
    elif any(typed):  # half a time span, or a time that is none: said, not dropped
        return await _profile_again(view, customer, view.t(
            "prefs.quiet_incomplete", start=typed[0] or "–", end=typed[1] or "–"))
    current = await view.state.store.consents(customer.office_id, customer.id)
    consents = {}
    for channel in CHANNELS:
        wanted = form_str(form, f"consent_{channel}") == "on"
        if wanted != consent_state(customer, current, channel)[0]:
            consents[channel] = wanted
    digest: DailyDigest | None = None
    if form_str(form, "digest") == "on":
        digest = DailyDigest(at=clock(form_str(form, "digest_at")) or DEFAULT_DIGEST_AT,
                             timezone=form_str(form, "digest_tz") or "Europe/Berlin")
    change = PreferenceChange(
        channels=channels, automatic_notifications=form_str(form, "no_auto") != "on",
        quiet_hours=quiet, language=form_str(form, "language") or None, consents=consents,
        daily_digest=digest)
    try:
        await apply_preferences(view.state, customer, change, actor=view.caller.agent.id,
                                route="agent", who=f"by {view.caller.agent.name}",
                                author=view.caller.agent.id)
    except InvalidInput as exc:  # (a time zone that is none, …)
        return await _profile_again(view, customer, exc.message)
    return web.HTTPSeeOther(f"/customers/{customer.id}?added=1#profile")


@agent_page
async def telegram_link(view: AgentView) -> web.StreamResponse:
    """A one-time Telegram deep link for the customer, with its QR code (inline SVG)."""
    customer = await view.state.timeline.customer(view.caller.office,
                                                  view.request.match_info["id"])
    try:
        link = await create_link(view.state, customer, timedelta(days=7))
    except ApiError as exc:  # (the API's English is for integrators: said in the agent's)
        key = f"prefs.telegram_{exc.code}"
        return view.render("console/telegram_link.html", customer=customer, link=None,
                           qr=None, problem=view.t(key) if key in catalog() else exc.message,
                           status=exc.status)
    qr = await asyncio.to_thread(_qr_svg, link.url)
    return view.render("console/telegram_link.html", customer=customer, link=link,
                       qr=Markup(qr), problem=None)  # noqa: S704 (segno's own SVG markup)


def _qr_svg(url: str) -> str:
    return str(segno.make(url, error="m").svg_inline(scale=5, border=2, title="Telegram"))


def add_preference_routes(app: web.Application) -> None:
    app.router.add_post("/customers/{id}/preferences", save_preferences)
    app.router.add_post("/customers/{id}/telegram-link", telegram_link)
