"""Admin pages for agents: the list, a new agent (its API token shown once), the sign-in
address, API tokens, browser sessions and sign-in links. A new token is shown on the GET
after the redirect, once (``once``): reloading that page neither shows it again nor makes
another one. Revoking a token and ending sessions ask first."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import hash_token
from chronik.web.admin import accounts, once
from chronik.web.admin.common import ask_first, confirmed, form, match, render, see_other
from chronik.web.outbox import OUTBOX
from chronik.web.pages import AgentView, admin_page
from timeline.errors import Conflict, InvalidInput
from timeline.models import Role
from timeline.policy import ENTRY_KINDS, preset

ROLES = [r.value for r in Role]


async def _list(view: AgentView, *, status: int = 200, error: str | None = None,
                values: dict[str, str] | None = None) -> web.Response:
    agents = await view.state.store.list_agents(view.caller.office.id)
    return render(view, "admin/agents.html", "agents", status=status, error=error,
                  agents=agents, roles=ROLES, values=values or {"role": "agent"})


async def _detail(view: AgentView, agent_id: str, *, status: int = 200,
                  error: str | None = None, taken: once.Taken | None = None
                  ) -> web.Response:
    """The agent's page; ``taken``: a new API token handed over by the redirect, shown if
    it is one of the agent's (else the page says it cannot be shown again)."""
    account = await accounts.agent_account(view.state, view.caller.office.id, agent_id)
    office_policy = await view.state.store.get_policy(view.caller.office.id, None)
    personal = await view.state.store.get_policy(view.caller.office.id, agent_id)
    defaults = [(kind, personal[kind], preset(kind, personal, office_policy))
                for kind in ENTRY_KINDS if kind in personal]
    token = taken.secret if taken else None
    if token is not None and hash_token(token)[:12] not in account.tokens:
        token = None
    return render(view, "admin/agent.html", "agents", status=status, error=error,
                  account=account, new_token=token, defaults=defaults,
                  token_gone=taken is not None and taken.asked and token is None,
                  can_mail=view.request.app[OUTBOX].can_send("email"),
                  is_self=account.agent.id == view.caller.agent.id)


def _email_error(view: AgentView, exc: InvalidInput | Conflict) -> str:
    return view.t("admin.agents.email_taken" if isinstance(exc, Conflict)
                  else "admin.agents.email_invalid")


@admin_page
async def agents_page(view: AgentView) -> web.StreamResponse:
    return await _list(view)


@admin_page
async def create_agent(view: AgentView) -> web.StreamResponse:
    values = await form(view)
    role = values.get("role", "agent")
    if role not in ROLES:
        return await _list(view, status=400, error=view.t("admin.agents.role_invalid"),
                           values=values)
    if not values.get("name", "").strip():
        return await _list(view, status=400, error=view.t("admin.agents.name_missing"),
                           values=values)
    if len(values["name"].strip()) > accounts.MAX_NAME:  # (said here, not as the e-mail's)
        return await _list(view, status=400, values=values, error=view.t(
            "admin.agents.name_too_long", count=accounts.MAX_NAME))
    try:
        made = await accounts.create_agent(view.state, view.caller.office.id,
                                           values.get("name", ""), Role(role),
                                           email=values.get("email") or None)
    except (InvalidInput, Conflict) as exc:
        return await _list(view, status=409 if isinstance(exc, Conflict) else 400,
                           error=_email_error(view, exc) if values.get("email") else
                           exc.message, values=values)
    # Only its SHA-256 is stored; the page after the redirect shows it once.
    once.see_other_once(view, f"/admin/agents/{made.agent.id}", made.token, "agent_created")


@admin_page
async def agent_page(view: AgentView) -> web.StreamResponse:
    agent_id = match(view, "agent_id")
    taken = once.take(view)
    response = await _detail(view, agent_id, taken=taken)
    taken.forget(response, view.request.path)
    return response


@admin_page
async def set_email(view: AgentView) -> web.StreamResponse:
    agent_id = match(view, "agent_id")
    values = await form(view)
    try:
        await accounts.set_email(view.state, view.caller.office.id, agent_id,
                                 values.get("email", ""))
    except (InvalidInput, Conflict) as exc:
        return await _detail(view, agent_id, status=409 if isinstance(exc, Conflict) else 400,
                             error=_email_error(view, exc))
    see_other(f"/admin/agents/{agent_id}", "agent_email")


@admin_page
async def new_token(view: AgentView) -> web.StreamResponse:
    agent_id = match(view, "agent_id")
    token, _ = await accounts.new_api_token(view.state, view.caller.office.id, agent_id)
    once.see_other_once(view, f"/admin/agents/{agent_id}", token, "token_created")


@admin_page
async def revoke_token(view: AgentView) -> web.StreamResponse:
    agent_id = match(view, "agent_id")
    values = await form(view)
    token_id = values.get("token_id", "").strip().lower()
    account = await accounts.agent_account(view.state, view.caller.office.id, agent_id)
    if token_id not in account.tokens:
        raise web.HTTPNotFound()
    if not confirmed(values):
        return ask_first(view, "agents", title=view.t("admin.agents.revoke_title"),
                         question=view.t("admin.agents.revoke_question",
                                         token=token_id, name=account.agent.name),
                         submit=view.t("admin.agents.revoke"), back=f"/admin/agents/{agent_id}",
                         fields={"token_id": token_id})
    await accounts.revoke_token(view.state, view.caller.office.id, token_id)
    see_other(f"/admin/agents/{agent_id}", "token_revoked")


@admin_page
async def end_sessions(view: AgentView) -> web.StreamResponse:
    agent_id = match(view, "agent_id")
    account = await accounts.agent_account(view.state, view.caller.office.id, agent_id)
    if not confirmed(await form(view)):
        key = ("admin.agents.end_question_self" if account.agent.id == view.caller.agent.id
               else "admin.agents.end_question")
        return ask_first(view, "agents", title=view.t("admin.agents.end_sessions"),
                         question=view.t(key, name=account.agent.name,
                                         count=account.sessions),
                         submit=view.t("admin.agents.end_sessions"),
                         back=f"/admin/agents/{agent_id}")
    await accounts.end_sessions(view.state, view.caller.office.id, agent_id)
    see_other(f"/admin/agents/{agent_id}", "sessions_ended")


@admin_page
async def send_link(view: AgentView) -> web.StreamResponse:
    agent_id = match(view, "agent_id")
    try:
        outcome = await accounts.send_link(view.state, view.request.app[OUTBOX],
                                           view.caller.office.id, agent_id, view.lang)
    except InvalidInput:
        return await _detail(view, agent_id, status=400,
                             error=view.t("admin.agents.link_impossible"))
    see_other(f"/admin/agents/{agent_id}",
              {"sent": "link_sent", "rate_limited": "link_rate_limited"}.get(outcome,
                                                                              "link_failed"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/agents", agents_page)
    app.router.add_post("/admin/agents", create_agent)
    app.router.add_get("/admin/agents/{agent_id}", agent_page)
    app.router.add_post("/admin/agents/{agent_id}/email", set_email)
    app.router.add_post("/admin/agents/{agent_id}/token", new_token)
    app.router.add_post("/admin/agents/{agent_id}/tokens/revoke", revoke_token)
    app.router.add_post("/admin/agents/{agent_id}/sessions/end", end_sessions)
    app.router.add_post("/admin/agents/{agent_id}/signin-link", send_link)
