"""What every page handler shares: the signed-in agent (or customer), the language, the
CSRF check, redirects to sign-in, and HTML error pages (pages never answer with JSON)."""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from aiohttp import web

from chronik.api.base import Caller
from chronik.state import STATE, AppState
from chronik.web.auth import CsrfError, Session, check_csrf, current_agent, current_session
from chronik.web.i18n import gettext
from chronik.web.render import page, request_language
from timeline.models import Customer, CustomerStatus, Role

log = logging.getLogger(__name__)


def page_path(request: web.Request) -> str:
    """The request's path and query for links back to it (the language switch's and the
    sign-in's ``next``) -- without a form's CSRF token (multipart forms carry it in their
    action URL), which would otherwise end up in the address bar and the next link."""
    if "csrf" not in request.query:
        return request.path_qs
    return str(request.rel_url.without_query_params("csrf"))


@dataclass(frozen=True)
class AgentView:
    """An agent's request: who, where, in which language and time zone."""

    request: web.Request
    state: AppState
    caller: Caller
    session: Session
    lang: str
    timezone: str

    def context(self, nav: str = "", **extra: Any) -> dict[str, Any]:
        return {"agent": self.caller.agent, "office": self.caller.office,
                "csrf": self.session.csrf, "nav": nav, "timezone": self.timezone,
                "request_path": page_path(self.request), **extra}

    def render(self, template: str, nav: str = "", status: int = 200, **extra: Any
               ) -> web.Response:
        return page(template, self.lang, self.context(nav, **extra), status)

    def t(self, key: str, **kwargs: Any) -> str:
        return gettext(self.lang, key, **kwargs)


@dataclass(frozen=True)
class CustomerView:
    """A customer's portal request."""

    request: web.Request
    state: AppState
    customer: Customer
    session: Session
    lang: str

    def context(self, nav: str = "", **extra: Any) -> dict[str, Any]:
        return {"customer": self.customer, "csrf": self.session.csrf, "nav": nav,
                "timezone": "Europe/Berlin", "request_path": page_path(self.request), **extra}

    def render(self, template: str, nav: str = "", status: int = 200, **extra: Any
               ) -> web.Response:
        return page(template, self.lang, self.context(nav, **extra), status)

    def t(self, key: str, **kwargs: Any) -> str:
        return gettext(self.lang, key, **kwargs)


AgentHandler = Callable[[AgentView], Awaitable[web.StreamResponse]]
CustomerHandler = Callable[[CustomerView], Awaitable[web.StreamResponse]]


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a local path (no scheme, no host, no ``//``) is a redirect target."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") \
            or "\\" in value or any(ch < " " or ch == "\x7f" for ch in value):
        return default  # control characters: browsers drop some of them
    return value


def error_page(request: web.Request, status: int, message_key: str, lang: str | None = None,
               back: str = "/", detail: str | None = None) -> web.Response:
    """``detail``: the reason as the service said it (shown under the translated text)."""
    lang = lang or request_language(request)
    return page("error.html", lang, {"message": gettext(lang, message_key), "back": back,
                                     "detail": detail, "timezone": None}, status)


async def error_language(request: web.Request) -> str:
    """The language of an error page: the one a signed-in agent chose (the portal's
    customer under ``/portal``), as their pages speak it; else the browser's
    (``request_language``). Looking the session up must not fail the error page: a store
    that cannot answer leaves it to the browser's language."""
    state = request.app[STATE]
    chosen: str | None = None
    try:
        if request.path == "/portal" or request.path.startswith("/portal/"):
            session = await current_session(request, state, "portal")
            if session is not None:
                prefs = await state.store.get_preferences(session.record.office_id,
                                                          session.record.subject_id)
                chosen = session.record.language or prefs.language
        else:
            found = await current_agent(request, state)
            if found is not None:
                session, signed_in = found
                chosen = session.record.language or (signed_in.login.language
                                                     if signed_in.login else None)
    except Exception as exc:  # (the error page is shown whatever the session lookup hit)
        log.info("error page without the session's language (%s)", type(exc).__name__)
    return request_language(request, chosen)


async def agent_view(request: web.Request, admin: bool = False) -> AgentView | web.Response:
    state = request.app[STATE]
    found = await current_agent(request, state)
    if found is None:
        target = "/signin?next=" + quote(page_path(request), safe="")
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(target)
        return error_page(request, 401, "signin.expired", back=target)
    session, signed_in = found
    agent, office, login = signed_in.agent, signed_in.office, signed_in.login
    lang = request_language(request, session.record.language or (login.language if login
                                                                 else None))
    try:
        await check_csrf(request, session)
    except CsrfError:
        return error_page(request, 403, "error.csrf", lang, back=request.path)
    if admin and agent.role is not Role.ADMIN:
        return error_page(request, 403, "error.admin_only", lang)
    return AgentView(request=request, state=state, caller=Caller(agent=agent, office=office),
                     session=session, lang=lang,
                     timezone=(login.timezone if login and login.timezone else "Europe/Berlin"))


V = TypeVar("V", AgentView, CustomerView)
Page = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _page(resolve: Callable[[web.Request], Awaitable[V | web.Response]],
          handler: Callable[[V], Awaitable[web.StreamResponse]]) -> Page:
    """A page handler behind its check: the view, or the answer that replaces the page
    (redirect to sign-in, 401/403 page)."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        view = await resolve(request)
        if isinstance(view, web.Response):
            return view
        return await handler(view)
    return wrapped


def agent_page(handler: AgentHandler) -> Page:
    return _page(agent_view, handler)


def admin_page(handler: AgentHandler) -> Page:
    return _page(functools.partial(agent_view, admin=True), handler)


async def customer_view(request: web.Request) -> CustomerView | web.Response:
    state = request.app[STATE]
    session = await current_session(request, state, "portal")
    customer = None
    if session is not None:
        customer = await state.store.get_customer(session.record.office_id,
                                                  session.record.subject_id)
    if session is None or customer is None or customer.status is CustomerStatus.MERGED:
        target = "/portal/signin?next=" + quote(page_path(request), safe="")
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(target)
        return error_page(request, 401, "signin.expired", back=target)
    prefs = await state.store.get_preferences(customer.office_id, customer.id)
    lang = request_language(request, session.record.language or prefs.language)
    try:
        await check_csrf(request, session)
    except CsrfError:
        return error_page(request, 403, "error.csrf", lang, back=request.path)
    return CustomerView(request=request, state=state, customer=customer, session=session,
                        lang=lang)


def portal_page(handler: CustomerHandler) -> Page:
    return _page(customer_view, handler)


# ---------------------------------------------------------------- before sign-in: CSRF
PRE_COOKIE = "chronik_csrf"
_PRE_TOKEN = web.RequestKey("pre_csrf", str)


def pre_csrf_token(request: web.Request) -> str:
    """A double-submit token for the sign-in forms (there is no session yet)."""
    token = request.cookies.get(PRE_COOKIE)
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(24)
    request[_PRE_TOKEN] = token
    return token


def set_pre_csrf(request: web.Request, response: web.StreamResponse) -> None:
    token = request.get(_PRE_TOKEN)
    if token and request.cookies.get(PRE_COOKIE) != token:
        response.set_cookie(PRE_COOKIE, token, path="/", httponly=True, samesite="Strict",
                            secure=request.secure)


def pre_csrf_ok(request: web.Request, sent: str) -> bool:
    cookie = request.cookies.get(PRE_COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie.encode(), sent.encode())


def cookies_refused(request: web.Request) -> bool:
    """A sign-in form came back without the cookie its page set: the browser blocks
    cookies for this site (or dropped it). Saying "the form expired, reload" would send the
    user round in a loop; the sign-in page says that cookies are needed instead."""
    return PRE_COOKIE not in request.cookies


_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_DIAL = re.compile(r"^(?:tel|callto):(?://)?", re.IGNORECASE)


def visible(text: str) -> str:
    """Typed or pasted text without the invisible marks a copy from a mail program, a web
    page or a phone's contacts brings along (direction marks, zero-width spaces, soft
    hyphens), trimmed."""
    return _INVISIBLE.sub("", text).strip()


def without_dial_scheme(text: str) -> str:
    """A copied ``tel:`` (``callto:``) link's number without its scheme."""
    return _DIAL.sub("", text, count=1)


def form_str(form: Any, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value if isinstance(value, str) else default
