"""The agent's own settings: language, time zone, and personal defaults for "notify
customer" per entry kind (the layer between the request and the office default)."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from aiohttp import web

from chronik.api.policy import policy_view, save_policy
from chronik.api.schemas import PresetIn
from chronik.web.i18n import LANGUAGES
from chronik.web.pages import AgentView, agent_page, form_str
from timeline.errors import InvalidInput
from timeline.models import Visibility
from timeline.policy import ENTRY_KINDS

_ZONES: list[str] = []

CHOICES: dict[str, PresetIn | None] = {
    "": None,  # as the office
    "published-notify": PresetIn(visibility=Visibility.PUBLISHED, notify=True),
    "published": PresetIn(visibility=Visibility.PUBLISHED, notify=False),
    "internal": PresetIn(visibility=Visibility.INTERNAL, notify=False),
}
"""The personal defaults the settings page offers per entry kind."""
KEEP = "keep"
"""The page's choice for a personal default that sets only visibility or only "notify"
(``PUT /api/v1/policy/agent``): saving the page (a new language, say) leaves it as it is
instead of turning it into one of ``CHOICES``."""


async def zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(await asyncio.to_thread(available_timezones)))
    return _ZONES


@agent_page
async def settings_page(view: AgentView) -> web.StreamResponse:
    policy = await policy_view(view.state, view.caller)
    login = await view.state.store.agent_login(view.caller.agent.id)
    # "change the time zone" from a browser in another zone: that zone, chosen for saving
    known = await zones()
    asked = view.request.query.get("timezone", "")
    return view.render("console/settings.html", nav="settings", policy=policy,
                       kinds=ENTRY_KINDS, zones=known,
                       chosen_zone=asked if asked in known else view.timezone,
                       login=login, saved=view.request.query.get("saved") == "1")


@agent_page
async def save_settings(view: AgentView) -> web.StreamResponse:
    form = await view.request.post()
    language = form_str(form, "language")
    timezone = form_str(form, "timezone")
    if language not in LANGUAGES:
        raise InvalidInput("unknown language")
    try:
        await asyncio.to_thread(ZoneInfo, timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("unknown time zone") from None
    await view.state.store.set_agent_login(view.caller.agent.id, language=language,
                                           timezone=timezone)
    await view.state.store.set_web_session_language(view.session.record.id_hash, language)
    body: dict[str, PresetIn | None] = {}
    for kind in ENTRY_KINDS:
        choice = form_str(form, f"policy-{kind}")
        if choice == KEEP:  # a default set through the API for one field only: as it is
            continue
        if choice not in CHOICES:
            raise InvalidInput(f"unknown default for {kind}")
        body[kind] = CHOICES[choice]
    await save_policy(view.state, view.caller, body, office=False)
    return web.HTTPSeeOther("/settings?saved=1")


@agent_page
async def session_token(view: AgentView) -> web.StreamResponse:
    """The sign-in's current CSRF token, for a page opened under an earlier sign-in (the
    agent signed in again in another tab after theirs ended): its script takes the new token
    so the form it still holds -- text, picked files -- can be sent. A page of another site
    cannot read the answer (same-origin policy); without a sign-in this redirects to it."""
    return web.json_response({"csrf": view.session.csrf},
                             headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/settings/session", session_token)
    app.router.add_get("/settings", settings_page)
    app.router.add_post("/settings", save_settings)
