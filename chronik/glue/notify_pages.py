"""The unsubscribe pages, outside ``/api/v1`` (linked from every notification e-mail).

``GET /unsubscribe/{token}`` shows a confirmation page with a button (German or English, as
the customer prefers); ``POST`` — the button, or a mail provider's RFC 8058 one-click
request with the body ``List-Unsubscribe=One-Click`` — withdraws e-mail consent (route
``unsubscribe_link``) and records it on the customer's timeline. A forged or garbled token
gets a 400 page and changes nothing. The page links to the portal's preferences, where the
customer can switch e-mail back on."""

from __future__ import annotations

from aiohttp import web

from chronik.glue.notify import load_settings, secret_key
from chronik.preferences import Change, record_preference_change
from chronik.state import STATE, AppState
from chronik.web.portal.language import chosen_language
from chronik.web.render import request_language
from notify.render import Renderer
from notify.tokens import UnsubscribeTarget, verify_unsubscribe
from timeline.models import Customer

_RENDERER = Renderer()
PORTAL = "/portal/"
PORTAL_PREFERENCES = "/portal/preferences"
"""Where the page sends the customer to change their mind (the portal's preferences; the
portal asks them to sign in first)."""
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
"""No script at all; the template's own inline style (operators override templates)."""


async def _page(state: AppState, office_id: str | None, lang: str, page_state: str,
                office: str, status: int) -> web.Response:
    html = await _RENDERER.render(office_id or "-", lang, "unsubscribe.html",
                                  {"state": page_state, "office": office,
                                   "portal_url": PORTAL, "preferences_url": PORTAL_PREFERENCES})
    return web.Response(text=html, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store",
                                 "Referrer-Policy": "no-referrer",
                                 "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": PAGE_CSP})


async def _resolve(request: web.Request) -> tuple[AppState, UnsubscribeTarget | None,
                                                  Customer | None, str]:
    state = request.app[STATE]
    key = await secret_key(state.settings, load_settings())
    target = verify_unsubscribe(key, request.match_info["token"])
    customer = None
    office_name = ""
    if target is not None and target.channel == "email":
        customer = await state.store.get_customer(target.office_id, target.customer_id)
        office = await state.store.get_office(target.office_id)
        office_name = office.name if office else ""
    return state, target, customer, office_name


async def _lang(state: AppState, customer: Customer | None, request: web.Request) -> str:
    """The customer's chosen language, else the browser's (as the portal decides)."""
    if customer is not None:
        chosen = await chosen_language(state, customer)
        if chosen is not None:
            return chosen
    return request_language(request)


async def unsubscribe_page(request: web.Request) -> web.StreamResponse:
    state, target, customer, office = await _resolve(request)
    lang = await _lang(state, customer, request)
    if target is None or customer is None:
        return await _page(state, None, lang, "invalid", office, 400 if target is None else 404)
    return await _page(state, customer.office_id, lang, "confirm", office, 200)


async def unsubscribe(request: web.Request) -> web.StreamResponse:
    state, target, customer, office = await _resolve(request)
    lang = await _lang(state, customer, request)
    if target is None or customer is None:
        return await _page(state, None, lang, "invalid", office, 400 if target is None else 404)
    current = await state.store.consents(customer.office_id, customer.id)
    if "email" not in current or current["email"].granted:
        await state.store.record_consent(customer.office_id, customer.id, "email", False,
                                         actor="customer", route="unsubscribe_link")
        await record_preference_change(state, customer.office_id, customer.id,
                                       "by the customer (unsubscribe link)",
                                       [Change("consent", None, False, channel="email")], None,
                                       by="unsubscribe_link")
    return await _page(state, customer.office_id, lang, "done", office, 200)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/unsubscribe/{token}", unsubscribe_page)
    app.router.add_post("/unsubscribe/{token}", unsubscribe)
