"""What the admin pages share: the section list, rendering with the sub-navigation, short
success notices after a redirect (POST-redirect-GET), the confirmation step of destructive
actions, and forms."""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import urlencode

from aiohttp import web

from chronik.web.pages import AgentView, form_str

SECTIONS: list[tuple[str, str]] = [
    ("policy", "/admin/policy"),
    ("agents", "/admin/agents"),
    ("connectors", "/admin/connectors"),
    ("quarantine", "/admin/quarantine"),
    ("dead", "/admin/dead-letters"),
    ("tone", "/admin/tone"),
    ("office", "/admin/office"),
    ("requests", "/admin/data-requests"),
]
"""(key, path) of every admin page, in the order of the sub-navigation and the overview;
the title is ``admin.<key>.title``, the overview's blurb ``admin.<key>.blurb``."""

FLASHES: dict[str, str] = {
    "saved": "ok", "agent_created": "ok", "token_created": "ok", "agent_email": "ok",
    "token_revoked": "ok", "sessions_ended": "ok",
    "link_sent": "ok", "link_rate_limited": "error", "link_failed": "error",
    "reprocessed": "ok", "still_open": "warn", "discarded": "ok", "retried": "ok",
    "address_added": "ok", "address_removed": "ok", "answered": "ok", "export_started": "ok",
    "provided": "ok", "erased": "ok",
}
"""Notices a redirect may ask for (``?msg=<key>``; text ``admin.flash.<key>``)."""


def see_other(path: str, flash: str | None = None, **query: str) -> NoReturn:
    params = {**query, **({"msg": flash} if flash else {})}
    raise web.HTTPSeeOther(path + ("?" + urlencode(params) if params else ""))


def render(view: AgentView, template: str, section: str, *, status: int = 200,
           error: str | None = None, **extra: Any) -> web.Response:
    """An admin page: the console layout, the admin sub-navigation, a notice (``error``, or
    the one the redirect asked for)."""
    notice = None
    if error:
        notice = {"text": error, "kind": "error"}
    else:
        key = view.request.query.get("msg", "")
        if key in FLASHES:
            notice = {"text": view.t(f"admin.flash.{key}"), "kind": FLASHES[key]}
    return view.render(template, nav="admin", status=status, sections=SECTIONS,
                       section=section, notice=notice, **extra)


def confirmed(values: dict[str, str]) -> bool:
    """Whether a destructive action's form came from its confirmation step."""
    return values.get("confirm") == "yes"


def ask_first(view: AgentView, section: str, *, title: str, question: str, submit: str,
              back: str, fields: dict[str, str] | None = None,
              details: list[tuple[str, str]] | None = None) -> web.Response:
    """The confirmation step of a destructive action, without JavaScript: the same POST
    again with ``confirm=yes`` (and ``fields``), or back to ``back``. Nothing has changed
    yet; ``details`` (label, value) say what the action is about."""
    return render(view, "admin/confirm.html", section, title=title, question=question,
                  submit=submit, back=back, action=view.request.path, fields=fields or {},
                  details=details or [], request_path=back)


async def form(view: AgentView) -> dict[str, str]:
    """The submitted form's text fields (files are ignored)."""
    data = await view.request.post()
    return {key: form_str(data, key) for key in data}


def match(view: AgentView, name: str) -> str:
    return view.request.match_info[name]
