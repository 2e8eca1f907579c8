"""Agents sign in with a password (argon2id) or a one-time link sent by mail; sign out;
choose their language. API tokens stay for integrations (``Authorization: Bearer``)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from aiohttp import web

from chronik.state import STATE, AppState
from chronik.web.attempts import attempt_key, over, take
from chronik.web.auth import current_agent, end_session, start_session, verify_password
from chronik.web.i18n import LANGUAGES, gettext
from chronik.web.outbox import OUTBOX, Outbox
from chronik.web.pages import (
    AgentView,
    agent_page,
    cookies_refused,
    error_page,
    form_str,
    pre_csrf_ok,
    pre_csrf_token,
    safe_next,
    set_pre_csrf,
)
from chronik.web.render import page, request_language
from timeline.accounts import LoginCode
from timeline.errors import InvalidInput
from timeline.identity import normalise_email
from timeline.ids import new_ulid
from timeline.models import Agent, utcnow

LINK_VALID = timedelta(minutes=15)
MAX_LINKS = 5
"""Sign-in links per agent and per quarter of an hour."""
MAX_FAILURES = 10
"""Wrong passwords per address typed and ``FAILURE_WINDOW``, counted in the store (every
server process shares the count, ``chronik.web.attempts``)."""
FAILURE_WINDOW = timedelta(minutes=15)
PASSWORD_SCOPE = "agent.password"  # noqa: S105 -- a name, not a password


def code_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def send_signin_link(state: AppState, outbox: Outbox, agent: Agent, email: str,
                           lang: str, next_path: str = "/") -> str:
    """Issue a one-time sign-in link for ``agent`` and mail it to ``email`` (the sign-in
    form, the admin pages and ``chronik agent create --send-link`` all come here). Returns
    ``sent``, ``rate_limited`` (``MAX_LINKS`` in the last quarter of an hour) or ``failed``
    (no mail transport, or it refused)."""
    since = utcnow() - LINK_VALID
    if await state.store.count_login_codes("agent", [agent.id], since) >= MAX_LINKS:
        return "rate_limited"
    secret = secrets.token_urlsafe(24)
    code = LoginCode(id=new_ulid(), audience="agent", office_id=agent.office_id,
                     subject_id=agent.id, next_path=next_path,
                     expires_at=utcnow() + LINK_VALID)
    await state.store.add_login_code(code, code_hash(secret), utcnow())
    office = await state.store.get_office(agent.office_id)
    url = f"{state.settings.base_url}/signin/link/{code.id}.{secret}"
    sent = await outbox.send(
        "email", email, agent.name, office.name if office else "Chronik",
        gettext(lang, "signin.mail_subject"),
        gettext(lang, "signin.mail_text", name=agent.name, url=url,
                minutes=int(LINK_VALID.total_seconds() // 60)),
        agent.office_id, agent.id)
    return "sent" if sent else "failed"


def _signin_page(request: web.Request, lang: str, *, message: str = "", kind: str = "info",
                 email: str = "", status: int = 200, nxt: str | None = None,
                 carry_on: str = "", focus: str = "") -> web.Response:
    token = pre_csrf_token(request)
    response = page("signin.html", lang, {"carry_on": carry_on, "focus": focus,
        "csrf": token, "next": safe_next(nxt or request.query.get("next")), "message": message,
        "message_kind": kind, "email": email, "timezone": None}, status)
    set_pre_csrf(request, response)
    return response


async def signin_form(request: web.Request) -> web.StreamResponse:
    # a bookmarked sign-in page, or Back to it, while signed in: it says so and leads on
    # (the form stays, for signing in as someone else)
    found = await current_agent(request, request.app[STATE])
    if found is None:
        return _signin_page(request, request_language(request))
    session, signed_in = found
    lang = request_language(request, session.record.language or (
        signed_in.login.language if signed_in.login else None))
    return _signin_page(request, lang, message=gettext(lang, "signin.already",
                                                       name=signed_in.agent.name),
                        carry_on=safe_next(request.query.get("next")))


async def signin(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    lang = request_language(request)
    form = await request.post()
    nxt = safe_next(form_str(form, "next"))
    raw_email = form_str(form, "email").strip()
    if not pre_csrf_ok(request, form_str(form, "csrf")):
        if cookies_refused(request):
            return _signin_page(request, lang, message=gettext(lang, "signin.cookies"),
                                kind="error", email=raw_email, status=403, nxt=nxt)
        return error_page(request, 403, "error.csrf", lang, back="/signin")
    try:
        email = normalise_email(raw_email)
    except InvalidInput:
        return _signin_page(request, lang, message=gettext(lang, "signin.failed"), kind="error",
                            email=raw_email, status=400, nxt=nxt)
    found = await state.store.agent_by_email(email)
    if form_str(form, "method") == "link":
        if found is not None:
            agent, login = found
            await send_signin_link(state, request.app[OUTBOX], agent, email,
                                   login.language or lang, nxt)
        # the same answer whether or not the address is known (no enumeration)
        return _signin_page(request, lang, message=gettext(lang, "signin.link_sent"), nxt=nxt)
    key = await attempt_key(state, PASSWORD_SCOPE, email)
    password = form_str(form, "password")
    if password:  # counted before it is checked, and forgotten when it was right: guesses
        # sent at once, to one process or to several, never pass the limit together
        limited = not await take(state, PASSWORD_SCOPE, key, FAILURE_WINDOW, MAX_FAILURES)
    else:
        limited = await over(state, PASSWORD_SCOPE, key, FAILURE_WINDOW, MAX_FAILURES)
    if limited:
        return _signin_page(request, lang, message=gettext(lang, "signin.rate_limited"),
                            kind="error", email=raw_email, status=429, nxt=nxt)
    if not password:  # Enter in the address field of someone who signs in by link
        return _signin_page(request, lang, message=gettext(lang, "signin.password_missing"),
                            kind="error", email=raw_email, status=400, nxt=nxt,
                            focus="password")
    ok = await verify_password(found[1].password_hash if found else None, password)
    if not ok or found is None:
        return _signin_page(request, lang, message=gettext(lang, "signin.failed"),
                            kind="error", email=raw_email, status=400, nxt=nxt,
                            focus="password")  # (the address is there: type it again)
    await state.store.forget_attempts(PASSWORD_SCOPE, [key])
    agent, login = found
    response = web.HTTPSeeOther(nxt)
    await start_session(request, response, state, "agent", agent.office_id, agent.id,
                        login.language)
    return response


async def link_form(request: web.Request) -> web.StreamResponse:
    """A link opened from the mail shows a button: mail scanners that fetch links do not
    spend it."""
    lang = request_language(request)
    token = pre_csrf_token(request)
    response = page("signin_link.html", lang, {"csrf": token, "timezone": None,
                                               "action": request.path}, 200)
    set_pre_csrf(request, response)
    return response


async def link_use(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    lang = request_language(request)
    form = await request.post()
    if not pre_csrf_ok(request, form_str(form, "csrf")):
        if cookies_refused(request):
            return _signin_page(request, lang, message=gettext(lang, "signin.cookies"),
                                kind="error", status=403)
        return error_page(request, 403, "error.csrf", lang, back=request.path)
    code_id, _, secret = request.match_info["token"].partition(".")
    code = None
    if code_id and secret and len(secret) < 100:
        code = await state.store.use_login_code(code_id, code_hash(secret), utcnow(), 5)
    if code is None or code.audience != "agent":
        return _signin_page(request, lang, message=gettext(lang, "signin.link_invalid"),
                            kind="error", status=400)
    login = await state.store.agent_login(code.subject_id)
    response = web.HTTPSeeOther(safe_next(code.next_path))
    await start_session(request, response, state, "agent", code.office_id, code.subject_id,
                        login.language if login else None)
    return response


@agent_page
async def signout(view: AgentView) -> web.StreamResponse:
    response = web.HTTPSeeOther("/signin")
    await end_session(view.request, response, view.state, "agent")
    return response


@agent_page
async def set_language(view: AgentView) -> web.StreamResponse:
    form = await view.request.post()
    language = form_str(form, "language")
    if language in LANGUAGES:
        await view.state.store.set_agent_login(view.caller.agent.id, language=language)
        await view.state.store.set_web_session_language(view.session.record.id_hash, language)
    return web.HTTPSeeOther(safe_next(form_str(form, "next")))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/signin", signin_form)
    app.router.add_post("/signin", signin)
    app.router.add_get("/signin/link/{token}", link_form)
    app.router.add_post("/signin/link/{token}", link_use)
    app.router.add_post("/signout", signout)
    app.router.add_post("/settings/language", set_language)
