"""Browser sessions for agents (console) and customers (portal), CSRF, passwords.

* A session is a random id in a cookie; only its SHA-256 is stored (``web_sessions``), with
  the audience (``agent`` or ``portal``), whose it is, a CSRF token and when it expires.
  Sessions slide: a request in the second half of the lifetime extends it.
* Cookies are ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the request came over TLS (or
  the public URL is https), and scoped: the console's to ``/``, the portal's to ``/portal``.
* CSRF: every state-changing request of a cookie session must carry the session's token, as
  the form field ``csrf`` or the header ``X-CSRF-Token`` (compared in constant time). Bearer
  tokens (integrations) need none: a browser never sends them on its own.
* Passwords: argon2id (``argon2-cffi``), hashed and verified off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chronik.state import AppState
from timeline.accounts import AgentSession, Audience, WebSession
from timeline.models import utcnow

COOKIES: dict[Audience, tuple[str, str]] = {
    "agent": ("chronik_session", "/"),
    "portal": ("chronik_portal", "/portal"),
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_HASHER = PasswordHasher()
MIN_PASSWORD = 10


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class Session:
    record: WebSession
    raw_id: str

    @property
    def csrf(self) -> str:
        return self.record.csrf


def session_hash(raw: str) -> str:
    # (a cookie's bytes that are not UTF-8 arrive as surrogates: no session, not a 500)
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()


def lifetime(state: AppState, audience: Audience) -> timedelta:
    if audience == "agent":
        return timedelta(hours=state.settings.session_hours)
    return timedelta(minutes=state.settings.portal_session_minutes)


def is_secure(request: web.Request, state: AppState) -> bool:
    public = state.settings.public_url or ""
    return request.secure or public.startswith("https://")


async def start_session(request: web.Request, response: web.StreamResponse, state: AppState,
                        audience: Audience, office_id: str, subject_id: str,
                        language: str | None = None) -> Session:
    """A new session (any old one of this browser is ended first: no session fixation)."""
    await end_session(request, response, state, audience)
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    record = WebSession(id_hash=session_hash(raw), audience=audience, office_id=office_id,
                        subject_id=subject_id, csrf=secrets.token_urlsafe(24), created_at=now,
                        expires_at=now + lifetime(state, audience), language=language)
    await state.store.create_web_session(record)
    name, path = COOKIES[audience]
    response.set_cookie(name, raw, path=path, httponly=True, samesite="Lax",
                        secure=is_secure(request, state))  # ends with the browser, or earlier
    return Session(record=record, raw_id=raw)


_SESSION_KEYS: dict[Audience, web.RequestKey[Session | None]] = {
    "agent": web.RequestKey[Session | None]("session_agent"),
    "portal": web.RequestKey[Session | None]("session_portal"),
}


async def current_session(request: web.Request, state: AppState, audience: Audience
                          ) -> Session | None:
    """The request's live session of this audience (cached on the request)."""
    key = _SESSION_KEYS[audience]
    if key in request:
        return request[key]
    raw = _session_cookie(request, audience)
    session = None
    if raw is not None:
        now = utcnow()
        record = await state.store.get_web_session(session_hash(raw), audience, now)
        if record is not None:
            await _keep_alive(state, record, now)
            session = Session(record=record, raw_id=raw)
    request[key] = session
    return session


_AGENT_KEY = web.RequestKey[tuple[Session, AgentSession] | None]("session_agent_with_agent")


async def current_agent(request: web.Request, state: AppState
                        ) -> tuple[Session, AgentSession] | None:
    """The request's live console session with its agent, office and sign-in settings: one
    store read for what every console page and console API call needs (cached on the
    request; extended like any session). ``None`` also when the agent or office is gone."""
    if _AGENT_KEY in request:
        return request[_AGENT_KEY]
    raw = _session_cookie(request, "agent")
    found = None
    if raw is not None:
        now = utcnow()
        signed_in = await state.store.agent_session(session_hash(raw), now)
        if signed_in is not None:
            await _keep_alive(state, signed_in.record, now)
            found = (Session(record=signed_in.record, raw_id=raw), signed_in)
    request[_AGENT_KEY] = found
    return found


def _session_cookie(request: web.Request, audience: Audience) -> str | None:
    """The audience's session cookie, when its value can be a session id."""
    raw = request.cookies.get(COOKIES[audience][0], "")
    return raw if raw and len(raw) < 200 else None


async def _keep_alive(state: AppState, record: WebSession, now: datetime) -> None:
    """A session in the second half of its lifetime is extended to a full one."""
    span = lifetime(state, record.audience)
    if record.expires_at - now < span / 2:
        await state.store.extend_web_session(record.id_hash, now + span)


async def end_session(request: web.Request, response: web.StreamResponse, state: AppState,
                      audience: Audience) -> None:
    name, path = COOKIES[audience]
    raw = _session_cookie(request, audience)
    if raw is not None:
        await state.store.delete_web_session(session_hash(raw))
    if name in request.cookies:
        response.del_cookie(name, path=path)


async def check_csrf(request: web.Request, session: Session) -> None:
    """Raise ``CsrfError`` unless a state-changing request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded",
                                             "multipart/form-data"):
        sent = await _form_token(request)
    if not sent or not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"),
                                           session.csrf.encode()):
        raise CsrfError("missing or wrong CSRF token")


async def _form_token(request: web.Request) -> str:
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        value = form.get("csrf", "")
        return value if isinstance(value, str) else ""
    # multipart (file uploads): the body is streamed by the handler, so the form carries the
    # token in its action URL (``?csrf=…``); same origin only (Referrer-Policy same-origin).
    return request.query.get("csrf", "")


async def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not the agent has a password (no user enumeration)."""
    if _DUMMY is None:  # made on the first check, whichever answer it gets, not at import
        await asyncio.to_thread(_dummy_hash)
    if not stored:
        await asyncio.to_thread(_dummy_verify, password)
        return False
    try:
        return await asyncio.to_thread(_HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: str | None = None
"""The hash an address without a password is checked against: made once, on the first
check (hashing at import cost every ``chronik`` command and process start 0.2-0.5 s)."""


def _dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _HASHER.hash("not-a-real-password-0")
    return _DUMMY


def _dummy_verify(password: str) -> None:
    try:
        _HASHER.verify(_dummy_hash(), password)
    except VerificationError:
        pass
