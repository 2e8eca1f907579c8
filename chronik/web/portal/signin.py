"""Customers sign in without a password: they type their e-mail address (or a phone number
of theirs: customers we reach on Telegram only have no address) and get a one-time code (6
digits) and a one-click link to it -- the same code record -- over their preferred channel
(e-mail or Telegram; never to a number typed: there is no SMS).

* A code is valid for ``CODE_VALID``, once; after ``MAX_GUESSES`` wrong guesses it is dead.
  Only an HMAC of it (keyed with the server's secret key and the code's id) is stored.
* Rate limits, all counted in the store (every server process shares them):
  ``MAX_PER_ADDRESS`` requests per address typed and quarter of an hour, ``MAX_CODES``
  codes per customer within ``CODE_VALID``, ``MAX_CODES_PER_DAY`` codes per customer a day.
* No enumeration: the answer, and how long it takes, is the same whether or not the address
  is known -- the customers are looked up and the codes sent after the answer, in the
  background. The code form carries only the request's random id.
* An address can belong to customers of several offices: each of them (at most
  ``MAX_MATCHES``) gets its own code, in its office's name; the code typed signs in to the
  customer it was sent for. Merged customers and undeliverable addresses get nothing.
* The link opens a page with a button (mail scanners that fetch links do not spend it).
* Asked again before the first message arrived: the code of any of the browser's last
  ``MAX_PENDING`` requests (``PENDING_COOKIE``) works on the code page; a wrong guess
  counts against each of them.
* Every form answers with a redirect (Post/Redirect/Get), a wrong code too: the page that
  says so is a GET, so the browser's Back never asks to send a form again. The address
  typed into a refused request comes back through a short-lived cookie, not the URL.
* The portal's language is decided at sign-in and kept with the session
  (``chronik.web.portal.language``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote, urlencode

from aiohttp import web

from chronik.state import STATE, AppState
from chronik.web.attempts import attempt_key, server_key, take
from chronik.web.auth import (
    COOKIES,
    Session,
    current_session,
    end_session,
    start_session,
)
from chronik.web.i18n import gettext
from chronik.web.outbox import OUTBOX, Outbox
from chronik.web.pages import (
    CustomerView,
    cookies_refused,
    error_page,
    form_str,
    pre_csrf_ok,
    pre_csrf_token,
    safe_next,
    set_pre_csrf,
    visible,
    without_dial_scheme,
)
from chronik.web.portal.language import chosen_language
from chronik.web.render import page, request_language
from notify.evaluate import channel_order, consent_state
from timeline.accounts import CUSTOMER_CODES, LoginCode
from timeline.errors import InvalidInput
from timeline.identity import normalise_email, normalise_phone
from timeline.ids import new_ulid
from timeline.models import (
    Consent,
    Customer,
    CustomerStatus,
    Identity,
    IdentityKind,
    Preferences,
    utcnow,
)

log = logging.getLogger(__name__)

CODE_VALID = timedelta(minutes=10)
MAX_GUESSES = 5
"""Wrong guesses after which a code is dead."""
MAX_CODES = 5
"""Codes per customer within ``CODE_VALID``."""
MAX_CODES_PER_DAY = 10
"""Codes per customer within ``DAY`` (``timeline.accounts.CUSTOMER_CODES``): with
``MAX_GUESSES`` each, at most 50 guesses a day at a customer's codes (the limits above alone
let a stranger asking in a loop make some 2,400 -- and fill the customer's mailbox with 480
codes)."""
DAY = timedelta(days=1)
MAX_PER_ADDRESS = 5
"""Code requests per address typed within ``ADDRESS_WINDOW``."""
ADDRESS_WINDOW = timedelta(minutes=15)
REQUEST_SCOPE = "portal.request"
MAX_MATCHES = 3
"""Customers (of different offices) one request sends codes to."""
HOME = "/portal/"
_CHALLENGE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_CODE = re.compile(r"^[0-9]{6}$")
_PHONE = re.compile(r"^\+?[\d\s()./\-\u2010-\u2015]{5,40}$")
_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015.]")
TYPED_COOKIE = "chronik_portal_typed"
"""The address typed into a refused sign-in request, for the page the redirect leads to."""
TYPED_SECONDS = 300
PENDING_COOKIE = "chronik_portal_codes"
"""The ids of the codes this browser asked for lately (newest first, at most
``MAX_PENDING``): a code typed on the page of a later request still counts -- the mail of
the first request often arrives after the customer asked again."""
MAX_PENDING = 3
TELEGRAM_COOKIE = "chronik_portal_telegram"
"""The Telegram link just made on the preferences page (shown after its redirect)."""
_SIGNIN_ERRORS = {"bad_email": "portal.signin.bad_email", "rate_limited": "signin.rate_limited",
                  "link_invalid": "portal.signin.link_invalid"}
_CODE_ERRORS = {"format": "portal.signin.code_format", "wrong": "portal.signin.code_wrong"}


def typed_code(raw: str) -> str:
    """The code as people type or paste it: ``123 456``, ``123-456``, the digits of a
    phone's other keyboards (full-width, Arabic-Indic, …) — as six ASCII digits."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch
                   for ch in _CODE_SEPARATORS.sub("", raw))


@dataclass
class SigninState:
    """Per app: the code sends still running."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)


SIGNIN = web.AppKey("chronik_portal_signin", SigninState)


def portal_next(value: str | None) -> str:
    """A local path inside the portal, else the portal's start page."""
    path = safe_next(value, HOME)
    if path == "/portal" or path.startswith(("/portal/", "/portal?")):
        return path
    return HOME


def code_id(challenge: str, n: int) -> str:
    return challenge if n == 0 else f"{challenge}-{n}"


def code_hash(key: bytes, code_id: str, code: str) -> str:
    return hmac.new(key, f"portal:{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _lang(request: web.Request, form_lang: str = "") -> str:
    return request_language(request, form_lang or request.query.get("lang"))


def _lang_url(request: web.Request, lang: str) -> str:
    other = "en" if lang == "de" else "de"
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = other
    return f"{request.path}?{urlencode(query)}"


def _public_page(request: web.Request, template: str, lang: str, status: int = 200,
                 **context: Any) -> web.Response:
    token = pre_csrf_token(request)
    response = page(template, lang, {"csrf": token, "timezone": None, "form_lang": lang,
                                     "lang_url": _lang_url(request, lang), **context}, status)
    set_pre_csrf(request, response)
    return response


def _signin_page(request: web.Request, lang: str, *, message: str = "", kind: str = "info",
                 email: str = "", status: int = 200, nxt: str | None = None,
                 signed_out: bool = False) -> web.Response:
    return _public_page(request, "portal/signin.html", lang, status, message=message,
                        message_kind=kind, email=email, signed_out=signed_out,
                        next=portal_next(nxt or request.query.get("next")))


async def signin_form(request: web.Request) -> web.StreamResponse:
    nxt = portal_next(request.query.get("next"))
    if await current_session(request, request.app[STATE], "portal") is not None:
        raise web.HTTPSeeOther(nxt)
    lang = _lang(request)
    signed_out = "signedout" in request.query
    error = _SIGNIN_ERRORS.get(request.query.get("error", ""))
    if error is not None:
        typed = unquote(request.cookies.get(TYPED_COOKIE, ""))[:320]
        response = _signin_page(request, lang, message=gettext(lang, error), kind="error",
                                email=typed)
        if TYPED_COOKIE in request.cookies:
            response.del_cookie(TYPED_COOKIE, path="/portal/signin")
        return response
    if signed_out:
        return _signin_page(request, lang, message=gettext(lang, "portal.signin.signed_out"),
                            kind="ok", signed_out=True)
    # the browser still holds a session that ran out (or was ended elsewhere): say so, once,
    # instead of a bare sign-in page the customer did not ask for
    stale = COOKIES["portal"][0] in request.cookies
    response = _signin_page(request, lang, message=gettext(lang, "signin.expired")
                            if stale else "", kind="info")
    if stale:
        response.del_cookie(COOKIES["portal"][0], path=COOKIES["portal"][1])
    return response


def _back_to_signin(request: web.Request, error: str, lang: str, nxt: str, typed: str = ""
                    ) -> web.HTTPSeeOther:
    """Post/Redirect/Get for a refused request: the sign-in page saying why, with the
    address typed (in a cookie for a few minutes: an address does not belong in a URL)."""
    response = web.HTTPSeeOther("/portal/signin?" + urlencode(
        {"next": nxt, "lang": lang, "error": error}))
    if typed:
        response.set_cookie(TYPED_COOKIE, quote(typed[:320], safe="@"), path="/portal/signin",
                            max_age=TYPED_SECONDS, httponly=True, samesite="Strict",
                            secure=request.secure)
    return response


async def request_code(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    lang = _lang(request, form_str(form, "lang"))
    nxt = portal_next(form_str(form, "next"))
    raw = visible(form_str(form, "email"))  # (pasted from the phone's contacts: marks)
    if "@" not in raw:
        raw = without_dial_scheme(raw)
    if not pre_csrf_ok(request, form_str(form, "csrf")):
        if cookies_refused(request):  # (a redirect could not keep the address either)
            return _signin_page(request, lang, message=gettext(lang, "signin.cookies"),
                                kind="error", email=raw[:320], status=403, nxt=nxt)
        return error_page(request, 403, "error.csrf", lang, back="/portal/signin")
    typed = _typed(raw) if len(raw) <= 320 else None
    if typed is None:
        raise _back_to_signin(request, "bad_email", lang, nxt, raw)
    kind, value = typed
    state = request.app[STATE]
    counted = value if kind is IdentityKind.EMAIL else "tel:" + re.sub(r"[^\d+]", "", value)
    key = await attempt_key(state, REQUEST_SCOPE, counted)
    if not await take(state, REQUEST_SCOPE, key, ADDRESS_WINDOW, MAX_PER_ADDRESS):
        raise _back_to_signin(request, "rate_limited", lang, nxt, raw)  # known or not
    challenge = new_ulid()
    _spawn(request.app, _send_codes(request.app, kind, value, challenge, nxt, lang))
    response = web.HTTPSeeOther("/portal/signin/code?" + urlencode(
        {"challenge": challenge, "next": nxt, "lang": lang}))
    pending = [challenge, *(c for c in _pending(request) if c != challenge)]
    response.set_cookie(PENDING_COOKIE, ".".join(pending[:MAX_PENDING]),
                        path="/portal/signin", max_age=int(CODE_VALID.total_seconds()),
                        httponly=True, samesite="Strict", secure=request.secure)
    raise response


def _typed(raw: str) -> tuple[IdentityKind, str] | None:
    """What the customer typed: an e-mail address (normalised), or a phone number (as typed:
    each office reads it in its own region) -- the way in for a customer we reach on
    Telegram only, whose notifications link here too."""
    if "@" in raw:
        with contextlib.suppress(InvalidInput):
            return IdentityKind.EMAIL, normalise_email(raw)
        return None
    if _PHONE.match(raw) and sum(ch.isdigit() for ch in raw) >= 6:
        return IdentityKind.PHONE, raw
    return None


def _pending(request: web.Request) -> list[str]:
    """The challenges of this browser's recent code requests (``PENDING_COOKIE``)."""
    raw = request.cookies.get(PENDING_COOKIE, "")[:200]
    return [c for c in raw.split(".") if _CHALLENGE.match(c)][:MAX_PENDING]


def _spawn(app: web.Application, work: Coroutine[Any, Any, None]) -> None:
    tasks = app[SIGNIN].tasks
    task = asyncio.create_task(work, name="chronik-portal-code")
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _matches(state: AppState, kind: IdentityKind, typed: str
                   ) -> list[tuple[Customer, Identity]]:
    """Customers (not merged) with this e-mail address or phone number, in every office;
    the best first (active before unverified, then the most recently changed)."""
    found: list[tuple[Customer, Identity]] = []
    for office in await state.store.list_offices():
        value = typed
        if kind is IdentityKind.PHONE:
            try:
                value = normalise_phone(typed, office.region)
            except InvalidInput:
                continue
        for customer in await state.store.find_customers(office.id, kind, value):
            if customer.status is CustomerStatus.MERGED:
                continue
            ident = next((i for i in customer.identities
                          if i.kind is kind and i.value == value), None)
            if ident is not None:
                found.append((customer, ident))
    found.sort(key=lambda m: (m[0].status is not CustomerStatus.ACTIVE,
                              -m[0].updated_at.timestamp()))
    return found[:MAX_MATCHES]


def _route(customer: Customer, prefs: Preferences, consents: dict[str, Consent],
           typed: Identity, outbox: Outbox) -> tuple[str, str] | None:
    """(channel, address) for the code: the customer's preferred channel among e-mail and
    Telegram with consent, an address that is not undeliverable and a transport; else the
    address just typed (the customer asked for the code there, right now). A phone number
    typed receives nothing itself (no SMS): its customer's Telegram chat or e-mail address
    does."""
    email = (typed if typed.kind is IdentityKind.EMAIL
             else next((i for i in customer.identities
                        if i.kind is IdentityKind.EMAIL and not i.undeliverable), None))
    for channel in channel_order(customer, prefs):
        if channel not in ("email", "telegram") or not outbox.can_send(channel):
            continue
        if not consent_state(customer, consents, channel)[0]:
            continue
        if channel == "email" and email is not None and not email.undeliverable:
            return "email", email.value
        if channel == "telegram":
            chat = next((i.value for i in customer.identities
                         if i.kind is IdentityKind.TELEGRAM and not i.undeliverable), None)
            if chat is not None:
                return "telegram", chat
    if email is not None and not email.undeliverable and outbox.can_send("email"):
        return "email", email.value
    return None


async def _send_codes(app: web.Application, kind: IdentityKind, typed: str, challenge: str,
                      nxt: str, page_lang: str) -> None:
    """Each matching customer's code, in the language the portal will speak to them: the
    one they chose, else the one the sign-in page was shown in (not the stored default:
    an English page announcing a code that then arrives in German)."""
    state = app[STATE]
    outbox = app[OUTBOX]
    try:
        matches = await _matches(state, kind, typed)
        if not matches:
            return
        since = utcnow() - CODE_VALID
        if await state.store.count_login_codes("portal", [c.id for c, _ in matches],
                                               since) >= MAX_CODES:
            log.info("portal sign-in code not sent: too many codes for this customer")
            return
        key = await server_key(state)
        for n, (customer, ident) in enumerate(matches):
            prefs = await state.store.get_preferences(customer.office_id, customer.id)
            consents = await state.store.consents(customer.office_id, customer.id)
            route = _route(customer, prefs, consents, ident, outbox)
            if route is None:
                continue
            if not await take(state, CUSTOMER_CODES, customer.id, DAY, MAX_CODES_PER_DAY):
                log.info("portal sign-in code not sent: the customer's codes for today "
                         "are used up")
                continue
            channel, address = route
            cid = code_id(challenge, n)
            code = f"{secrets.randbelow(1_000_000):06d}"
            now = utcnow()
            await state.store.add_login_code(
                LoginCode(id=cid, audience="portal", office_id=customer.office_id,
                          subject_id=customer.id, next_path=nxt, expires_at=now + CODE_VALID),
                code_hash(key, cid, code), now)
            office = await state.store.get_office(customer.office_id)
            office_name = office.name if office else "Chronik"
            lang = await chosen_language(state, customer) or page_lang
            url = f"{state.settings.base_url}/portal/signin/link/{cid}.{code}?lang={lang}"
            minutes = int(CODE_VALID.total_seconds() // 60)
            await outbox.send(
                channel, address, customer.name, office_name,
                gettext(lang, "portal.code.mail_subject", office=office_name),
                gettext(lang, "portal.code.mail_text", name=customer.name, office=office_name,
                        code=code, url=url, minutes=minutes),
                customer.office_id, customer.id)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("bug: portal sign-in code could not be sent")


async def sign_in_link(state: AppState, customer: Customer, chat_lang: str
                       ) -> tuple[str, int] | None:
    """A one-time sign-in link for ``customer``, asked for from a chat already theirs (the
    Telegram bot's ``/portal``): (URL, minutes valid), in the language the customer chose
    (else the chat's); ``None`` when ``MAX_CODES`` are out already. The same code record as
    a mailed code's link, so it signs in once, for ``CODE_VALID``."""
    if customer.status is CustomerStatus.MERGED:
        return None
    since = utcnow() - CODE_VALID
    if await state.store.count_login_codes("portal", [customer.id], since) >= MAX_CODES:
        return None
    cid = new_ulid()
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = utcnow()
    await state.store.add_login_code(
        LoginCode(id=cid, audience="portal", office_id=customer.office_id,
                  subject_id=customer.id, next_path=HOME, expires_at=now + CODE_VALID),
        code_hash(await server_key(state), cid, code), now)
    lang = await chosen_language(state, customer) or chat_lang
    minutes = int(CODE_VALID.total_seconds() // 60)
    return f"{state.settings.base_url}/portal/signin/link/{cid}.{code}?lang={lang}", minutes


async def _drain(app: web.Application) -> None:
    """On shutdown: let code sends in flight finish (briefly) before the transports close."""
    tasks = set(app[SIGNIN].tasks)
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=10)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _code_page(request: web.Request, lang: str, challenge: str, nxt: str, *,
               message: str = "", kind: str = "info", status: int = 200) -> web.Response:
    return _public_page(request, "portal/code.html", lang, status, challenge=challenge,
                        next=nxt, message=message, message_kind=kind,
                        minutes=int(CODE_VALID.total_seconds() // 60))


async def code_form(request: web.Request) -> web.StreamResponse:
    lang = _lang(request)
    challenge = request.query.get("challenge", "")
    nxt = portal_next(request.query.get("next"))
    if not _CHALLENGE.match(challenge):
        raise web.HTTPSeeOther("/portal/signin?" + urlencode({"next": nxt}))
    if await current_session(request, request.app[STATE], "portal") is not None:
        raise web.HTTPSeeOther(nxt)  # Back to the code form after signing in
    error = _CODE_ERRORS.get(request.query.get("error", ""))
    if error is not None:
        return _code_page(request, lang, challenge, nxt, kind="error",
                          message=gettext(lang, error, tries=MAX_GUESSES))
    return _code_page(request, lang, challenge, nxt,
                      message=gettext(lang, "portal.signin.code_sent",
                                      minutes=int(CODE_VALID.total_seconds() // 60)))


def _back_to_code(challenge: str, nxt: str, lang: str, error: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/portal/signin/code?" + urlencode(
        {"challenge": challenge, "next": nxt, "lang": lang, "error": error}))


async def _signed_in(request: web.Request, state: AppState, code: LoginCode | None,
                     lang: str) -> web.StreamResponse | None:
    """The session for a code that was right; ``lang`` is the language the sign-in pages
    were shown in (the portal keeps it unless the customer chose one)."""
    if code is None or code.audience != "portal":
        return None
    customer = await state.store.get_customer(code.office_id, code.subject_id)
    if customer is None or customer.status is CustomerStatus.MERGED:
        return None
    language = await chosen_language(state, customer) or lang
    response = web.HTTPSeeOther(portal_next(code.next_path))
    await start_session(request, response, state, "portal", code.office_id, code.subject_id,
                        language=language)
    return response


async def use_code(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    lang = _lang(request, form_str(form, "lang"))
    challenge = form_str(form, "challenge")
    nxt = portal_next(form_str(form, "next"))
    if not pre_csrf_ok(request, form_str(form, "csrf")):
        if cookies_refused(request) and _CHALLENGE.match(challenge):
            return _code_page(request, lang, challenge, nxt, kind="error", status=403,
                              message=gettext(lang, "signin.cookies"))
        return error_page(request, 403, "error.csrf", lang, back="/portal/signin")
    if not _CHALLENGE.match(challenge):
        raise web.HTTPSeeOther("/portal/signin?" + urlencode({"next": nxt}))
    code = typed_code(form_str(form, "code"))
    if not _CODE.match(code):
        raise _back_to_code(challenge, nxt, lang, "format")
    key = await server_key(state)
    now = utcnow()
    # the code of this page's request, or of another one this browser made lately (the
    # customer asked again, then the first message arrived and they typed its code)
    for asked in [challenge, *(c for c in _pending(request) if c != challenge)]:
        for n in range(MAX_MATCHES):
            cid = code_id(asked, n)
            used = await state.store.use_login_code(cid, code_hash(key, cid, code), now,
                                                    MAX_GUESSES)
            response = await _signed_in(request, state, used, lang)
            if response is not None:
                if PENDING_COOKIE in request.cookies:
                    response.del_cookie(PENDING_COOKIE, path="/portal/signin")
                return response
    raise _back_to_code(challenge, nxt, lang, "wrong")


def _split(token: str) -> tuple[str, str] | None:
    cid, _, code = token.rpartition(".")
    challenge = cid.split("-")[0]
    if not _CHALLENGE.match(challenge) or len(cid) > 40 or not _CODE.match(code):
        return None
    return cid, code


async def link_form(request: web.Request) -> web.StreamResponse:
    lang = _lang(request)
    if _split(request.match_info["token"]) is None:
        return _signin_page(request, lang, message=gettext(lang, "portal.signin.link_invalid"),
                            kind="error", status=400)
    return _public_page(request, "portal/link.html", lang, action=request.path, message="")


async def link_use(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    lang = _lang(request, form_str(form, "lang"))
    if not pre_csrf_ok(request, form_str(form, "csrf")):
        if cookies_refused(request):  # the link is not spent: once cookies are allowed
            return _public_page(request, "portal/link.html", lang, 403, action=request.path,
                                message=gettext(lang, "signin.cookies"))
        return error_page(request, 403, "error.csrf", lang, back=request.path)
    parts = _split(request.match_info["token"])
    if parts is not None:
        cid, code = parts
        key = await server_key(state)
        used = await state.store.use_login_code(cid, code_hash(key, cid, code), utcnow(),
                                                MAX_GUESSES)
        response = await _signed_in(request, state, used, lang)
        if response is not None:
            return response
    raise _back_to_signin(request, "link_invalid", lang, HOME)


async def signout(request: web.Request) -> web.StreamResponse:
    """*Abmelden* always ends up signed out: a session that already ran out (or ended in
    another tab) just leads to the "signed out" page. A form from a page older than the
    session (the customer signed in again meanwhile, in another tab) carries a stale CSRF
    token: it ends nothing, but asks once more with the session's own form -- never an error
    that leaves the customer signed in while they think they left."""
    state = request.app[STATE]
    session = await current_session(request, state, "portal")
    if session is not None:
        form = await request.post()
        sent = form_str(form, "csrf") or request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            customer = await state.store.get_customer(session.record.office_id,
                                                      session.record.subject_id)
            if customer is not None and customer.status is not CustomerStatus.MERGED:
                return await _confirm_signout(request, state, session, customer)
    form = await request.post()
    nxt = portal_next(form_str(form, "next"))  # (signing in as someone else: there again)
    response = web.HTTPSeeOther("/portal/signin?signedout=1" + (
        "&" + urlencode({"next": nxt}) if nxt != HOME else ""))
    await end_session(request, response, state, "portal")
    response.del_cookie(TELEGRAM_COOKIE, path="/portal/preferences")  # (not sent here)
    return response


async def _confirm_signout(request: web.Request, state: AppState, session: Session,
                           customer: Customer) -> web.Response:
    prefs = await state.store.get_preferences(customer.office_id, customer.id)
    lang = request_language(request, session.record.language or prefs.language)
    office = await state.store.get_office(customer.office_id)
    view = CustomerView(request=request, state=state, customer=customer, session=session,
                        lang=lang)
    return view.render("portal/signout.html", office_name=office.name if office else "")


def add_routes(app: web.Application) -> None:
    app[SIGNIN] = SigninState()
    app.on_shutdown.append(_drain)
    app.router.add_get("/portal/signin", signin_form)
    app.router.add_post("/portal/signin", request_code)
    app.router.add_get("/portal/signin/code", code_form)
    app.router.add_post("/portal/signin/code", use_code)
    app.router.add_get("/portal/signin/link/{token}", link_form)
    app.router.add_post("/portal/signin/link/{token}", link_use)
    app.router.add_post("/portal/signout", signout)
