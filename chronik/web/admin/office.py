"""Admin pages for the office's settings: publish policy, tone lexicon, inbound addresses and
the CTI webhook, and the health of connectors and workers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from chronik.api.inbound import add_office_address, office_detail, remove_office_address
from chronik.api.policy import policy_view, save_policy, save_tone_words, tone_view
from chronik.api.privacy import office_privacy, set_office_privacy
from chronik.api.schemas import PresetIn
from chronik.components import component_states
from chronik.web.admin.common import ask_first, confirmed, form, render, see_other
from chronik.web.pages import AgentView, admin_page
from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.models import Agent, Visibility
from timeline.policy import ENTRY_KINDS, PolicyMap, preset
from timeline.privacy_models import ErasedSenderPolicy
from timeline.tone import too_broad

VISIBILITY_CHOICES = ("", Visibility.PUBLISHED.value, Visibility.INTERNAL.value)
NOTIFY_CHOICES = {"": None, "yes": True, "no": False}
ERASED_LABELS = {ErasedSenderPolicy.DROP.value: "admin.office.erased_drop",
                 ErasedSenderPolicy.QUARANTINE.value: "admin.office.erased_quarantine"}
"""The erased-sender choices of the office page, with their texts' keys."""


# ---------------------------------------------------------------- publish policy
async def _policy(view: AgentView, *, status: int = 200, error: str | None = None
                  ) -> web.Response:
    out = await policy_view(view.state, view.caller)
    others = await personal_policies(view, exclude=view.caller.agent.id)
    rows = []
    for kind in out.kinds:
        office = out.office.get(kind)
        office_only = preset(kind, {}, out.office)  # an agent without personal defaults
        rows.append({
            "kind": kind, "system": out.system[kind],
            "visibility": office.visibility.value if office and office.visibility else "",
            "notify": "" if office is None or office.notify is None
            else ("yes" if office.notify else "no"),
            "effective": office_only, "mine": out.effective[kind],
            # colleagues for whom the office's default does not hold (theirs wins)
            "others": [(agent, theirs) for agent, policy in others if kind in policy
                       for theirs in [preset(kind, policy, out.office)]
                       if (theirs.visibility, theirs.notify)
                       != (office_only.visibility, office_only.notify)],
        })
    return render(view, "admin/policy.html", "policy", status=status, error=error, rows=rows,
                  visibility_choices=VISIBILITY_CHOICES, notify_choices=list(NOTIFY_CHOICES))


async def personal_policies(view: AgentView, *, exclude: str | None = None
                            ) -> list[tuple[Agent, PolicyMap]]:
    """The office's agents that have personal defaults, with them (an office has a handful
    of agents: one read each)."""
    office_id = view.caller.office.id
    found = []
    for account in await view.state.store.list_agents(office_id):
        if account.agent.id != exclude:
            policy = await view.state.store.get_policy(office_id, account.agent.id)
            if policy:
                found.append((account.agent, policy))
    return found


@admin_page
async def policy_page(view: AgentView) -> web.StreamResponse:
    return await _policy(view)


@admin_page
async def save_policy_form(view: AgentView) -> web.StreamResponse:
    """Every kind of the form is sent, like a ``PUT /api/v1/policy/office`` naming every
    kind: a field on "system default" falls through, both on it clears the kind."""
    values = await form(view)
    body: dict[str, PresetIn | None] = {}
    for kind in ENTRY_KINDS:
        vis = values.get(f"{kind}.visibility", "")
        ntf = values.get(f"{kind}.notify", "")
        if vis not in VISIBILITY_CHOICES or ntf not in NOTIFY_CHOICES:
            return await _policy(view, status=400, error=view.t("admin.policy.invalid"))
        preset_in = PresetIn(visibility=Visibility(vis) if vis else None,
                             notify=NOTIFY_CHOICES[ntf])
        body[kind] = None if preset_in.visibility is None and preset_in.notify is None \
            else preset_in
    await save_policy(view.state, view.caller, body, office=True)
    see_other("/admin/policy", "saved")


# ---------------------------------------------------------------- tone lexicon
async def _tone(view: AgentView, *, status: int = 200, error: str | None = None,
                text: str | None = None) -> web.Response:
    out = await tone_view(view.state, view.caller.office.id)
    return render(view, "admin/tone.html", "tone", status=status, error=error,
                  shipped=out.shipped, words_text="\n".join(out.office) if text is None
                  else text, hint=out.hint)


@admin_page
async def tone_page(view: AgentView) -> web.StreamResponse:
    return await _tone(view)


@admin_page
async def save_tone(view: AgentView) -> web.StreamResponse:
    text = (await form(view)).get("words", "")
    broad = [line.strip() for line in text.splitlines() if line.strip() and too_broad(line)]
    if broad:
        return await _tone(view, status=400, text=text, error=view.t(
            "admin.tone.too_broad", words=", ".join(f"„{w}“" for w in broad[:10])))
    try:
        await save_tone_words(view.state, view.caller.office.id, text.splitlines())
    except InvalidInput:
        return await _tone(view, status=400, error=view.t("admin.tone.invalid"), text=text)
    see_other("/admin/tone", "saved")


# ---------------------------------------------------------------- office: mail, CTI
async def _office(view: AgentView, *, status: int = 200, error: str | None = None,
                  address: str = "") -> web.Response:
    detail = await office_detail(view.state, view.caller)
    return render(view, "admin/office.html", "office", status=status, error=error,
                  detail=detail, cti_url=view.state.settings.base_url + detail.cti_url_path,
                  address=address, privacy=await office_privacy(view.state, view.caller),
                  erased_labels=ERASED_LABELS)


@admin_page
async def office_page(view: AgentView) -> web.StreamResponse:
    return await _office(view)


@admin_page
async def add_address(view: AgentView) -> web.StreamResponse:
    raw = (await form(view)).get("address", "").strip()
    try:
        await add_office_address(view.state, view.caller, raw)
    except InvalidInput:
        return await _office(view, status=400, error=view.t("admin.office.address_invalid"),
                             address=raw)
    except Conflict:
        return await _office(view, status=409, error=view.t("admin.office.address_taken"),
                             address=raw)
    see_other("/admin/office", "address_added")


@admin_page
async def remove_address(view: AgentView) -> web.StreamResponse:
    """Stop accepting mail for an address, after a confirmation step."""
    values = await form(view)
    address = values.get("address", "").strip().casefold()
    if address not in await view.state.store.inbound_addresses(view.caller.office.id):
        raise NotFound("no such inbound address")
    if not confirmed(values):
        return ask_first(view, "office", title=view.t("admin.office.remove_title"),
                         question=view.t("admin.office.remove_question", address=address),
                         submit=view.t("admin.office.remove"), back="/admin/office",
                         fields={"address": address})
    await remove_office_address(view.state, view.caller, address)
    see_other("/admin/office", "address_removed")


@admin_page
async def save_privacy(view: AgentView) -> web.StreamResponse:
    """The erased-sender policy of the office (``PUT /api/v1/office/privacy``): empty is
    the server's default."""
    raw = (await form(view)).get("erased_sender", "")
    if raw not in ("", *ERASED_LABELS):
        return await _office(view, status=400, error=view.t("admin.office.erased_invalid"))
    await set_office_privacy(view.state, view.caller,
                             ErasedSenderPolicy(raw) if raw else None)
    see_other("/admin/office", "saved")


# ---------------------------------------------------------------- connector health
def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _flat(values: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Diagnostics (already redacted) as readable ``key: value`` lines."""
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        elif isinstance(value, list | tuple):
            out.append((prefix + key, ", ".join(str(v) for v in value)))
        else:
            out.append((prefix + key, "" if value is None else str(value)))
    return out


@admin_page
async def connectors_page(view: AgentView) -> web.StreamResponse:
    report = await component_states(view.state.supervisor, view.state.store)
    items = [{**r, "last_error_at": _when(r.get("last_error_at")),
              "diagnostics": _flat(r.get("diagnostics") or {})} for r in report]
    return render(view, "admin/connectors.html", "connectors", items=items)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/policy", policy_page)
    app.router.add_post("/admin/policy", save_policy_form)
    app.router.add_get("/admin/tone", tone_page)
    app.router.add_post("/admin/tone", save_tone)
    app.router.add_get("/admin/office", office_page)
    app.router.add_post("/admin/office/addresses", add_address)
    app.router.add_post("/admin/office/addresses/remove", remove_address)
    app.router.add_post("/admin/office/privacy", save_privacy)
    app.router.add_get("/admin/connectors", connectors_page)
