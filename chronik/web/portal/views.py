"""The signed-in portal pages: the customer's messages and one item (its files downloadable),
preferences (with linking Telegram), a copy of one's data, the language switch (writing a
message is ``write``). Every page is a ``@portal_page``: not signed in -> the sign-in page,
and a POST without the session's CSRF token changes nothing (403). Every POST answers with
a redirect to a page (Post/Redirect/Get): Back never offers to send a form again."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import segno
from aiohttp import web
from markupsafe import Markup

from chronik.api.base import ApiError
from chronik.api.preferences import PreferencesOut, preferences_out
from chronik.api.telegram import connector_of, create_link
from chronik.portal_service import (
    OFFICE_ZONE,
    PortalItem,
    customer_attachment,
    customer_entry,
    customer_timeline,
    data_copies,
    data_copy_file,
    data_requests,
    request_data_copy,
    today,
    unread_news,
)
from chronik.preferences import (
    DEFAULT_DIGEST_AT,
    KEEP,
    PreferenceChange,
    apply_preferences,
    clock,
)
from chronik.web.i18n import LANGUAGES, catalog, gettext
from chronik.web.outbox import OUTBOX
from chronik.web.pages import CustomerView, form_str, page_path, portal_page
from chronik.web.portal.language import chosen_language
from chronik.web.portal.signin import TELEGRAM_COOKIE, portal_next
from chronik.web.render import file_size
from notify.compose import zone_name
from notify.evaluate import CHANNELS, notified_channels
from timeline.errors import DomainError, InvalidInput, NotFound
from timeline.models import DailyDigest, IdentityKind, QuietHours, utcnow

PAGE_SIZE = 30
TELEGRAM_LINK_VALID = timedelta(days=1)
"""A link made in the portal is used at once (scanned from the screen): one day is plenty."""
TELEGRAM_COOKIE_SECONDS = 15 * 60
"""How long the preferences page shows the link just made (after the redirect, on reload)."""
TIMEZONES = ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "Europe/London",
             "Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Istanbul",
             "America/New_York", "America/Los_Angeles", "Asia/Dubai", "Asia/Tokyo", "UTC")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TELEGRAM_LINK = re.compile(r"^https://t\.me/\w+\?start=[\w-]+$")
_PREF_ERRORS = {"invalid": "portal.prefs.error", "quiet": "portal.prefs.quiet_error",
                "digest": "portal.prefs.digest_error",
                "telegram": "portal.telegram.unavailable"}
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
WHO = "by the customer (portal)"


def _day(iso: str | None, lang: str) -> str:
    if not iso:
        return ""
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    return d.strftime("%d.%m.%Y") if lang == "de" else d.isoformat()


def _label(lang: str, group: str, value: str) -> str:
    key = f"portal.{group}.{value}"
    return gettext(lang, key if key in catalog() else f"portal.{group}.other")


async def render_portal(view: CustomerView, template: str, nav: str = "", status: int = 200,
                        **extra: Any) -> web.Response:
    office = await view.state.store.get_office(view.customer.office_id)
    prefs = await view.state.store.get_preferences(view.customer.office_id, view.customer.id)
    lang = view.lang
    # times in the customer's own zone, as their notifications give them (it was always
    # Berlin's: a mail said 03:19 and the portal 09:19 for the same letter)
    extra.setdefault("timezone", zone_name(prefs))
    # how many items are new to them, by "Nachrichten" on every page (a message centre's
    # count): the portal notifications not yet opened
    unread = await _unread(view)
    extra.setdefault("news", len(await unread_news(view.state.store, view.customer,
                                                    list(unread))))
    return view.render(template, nav, status, office_name=office.name if office else "",
                       size=lambda n: file_size(n, lang), day=lambda s: _day(s, lang),
                       channel=lambda c: _label(lang, "channel", c),
                       kind=lambda k: _label(lang, "kind", k), **extra)


async def _unread(view: CustomerView) -> dict[str, list[str]]:
    """Entry id -> ids of its unread portal inbox items (the notifications sent to the
    portal)."""
    items = await view.state.store.list_inbox(view.customer.office_id, view.customer.id,
                                              limit=500, unread_only=True)
    out: dict[str, list[str]] = {}
    for item in items:
        out.setdefault(item.entry_id, []).append(item.id)
    return out


# ------------------------------------------------------------------ messages
@portal_page
async def messages(view: CustomerView) -> web.StreamResponse:
    items, cursor = await customer_timeline(view.state.store, view.customer,
                                            before=view.request.query.get("before"),
                                            limit=PAGE_SIZE)
    unread = await _unread(view)
    # (a copy of what the customer wrote in the portal is no news to them: seen here, done)
    new = {i.id for i in items if i.id in unread and i.direction != "inbound"}
    for item in items:
        if item.direction == "inbound":
            for inbox_id in unread.get(item.id, []):
                await view.state.store.mark_inbox_read(view.customer.office_id,
                                                       view.customer.id, inbox_id)
    return await render_portal(view, "portal/messages.html", "messages", items=items,
                         next_cursor=cursor, unread=new,
                         older="before" in view.request.query)


async def _not_found(view: CustomerView) -> web.Response:
    """An item (file, copy) that is not the customer's -- or not there any more: the portal
    page says so, names who is signed in (a link from a mail to someone else in the family,
    opened where another customer is signed in) and offers to sign out and in again, back
    to the same address. It says the same whatever the id: nothing about whether it exists."""
    return await render_portal(view, "portal/not_found.html", status=404,
                               here=page_path(view.request))


@portal_page
async def entry(view: CustomerView) -> web.StreamResponse:
    item = await customer_entry(view.state.store, view.customer,
                                view.request.match_info["entry_id"])
    if item is None:
        return await _not_found(view)
    unread = await _unread(view)
    for inbox_id in unread.get(item.id, []):
        await view.state.store.mark_inbox_read(view.customer.office_id, view.customer.id,
                                               inbox_id)
    sent = (view.request.query.get("sent") == "1" and item.channel == "portal"
            and item.direction == "inbound")
    return await render_portal(view, "portal/entry.html", "messages", item=item, sent=sent,
                         unread=set())


@portal_page
async def attachment(view: CustomerView) -> web.StreamResponse:
    try:
        att, data = await customer_attachment(view.state.store, view.state.blobs,
                                              view.customer,
                                              view.request.match_info["entry_id"],
                                              view.request.match_info["index"])
    except NotFound:
        return await _not_found(view)
    media = att.content_type.split(";")[0].strip()
    if not _MEDIA_TYPE.match(media):
        media = "application/octet-stream"
    return web.Response(body=data, headers={
        "Content-Type": media,
        "Content-Disposition": "attachment; filename*=UTF-8''" + quote(att.name, safe=""),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store"})


# ------------------------------------------------------------------ preferences
def _available(view: CustomerView, telegram: bool) -> tuple[str, ...]:
    """The channels the notifier can send on for this customer's office (as it is
    configured: the same settings the sign-in messages go out with)."""
    outbox = view.request.app[OUTBOX]
    return ("portal", *(c for c in ("email", "telegram") if c in outbox.transports
                        and (c != "telegram" or telegram)))


async def _notified_by(view: CustomerView, telegram: bool) -> list[str]:
    """The channels a notification would go out on now, best first: the notifier's own
    rule (``notify.evaluate``: order, consent, addresses, what is configured), as if
    automatic notifications were on (the page says so when they are off)."""
    prefs = await view.state.store.get_preferences(view.customer.office_id, view.customer.id)
    consents = await view.state.store.consents(view.customer.office_id, view.customer.id)
    return notified_channels(view.customer, prefs, consents,
                             available=_available(view, telegram), now=utcnow())


async def _prefs_page(view: CustomerView, *, error: str = "", saved: bool = False,
                      link: str | None = None) -> web.Response:
    prefs = await preferences_out(view.state, view.customer)
    connector = connector_of(view.state)
    telegram = connector is not None and connector.office_id in (None,
                                                                 view.customer.office_id)
    chosen = await chosen_language(view.state, view.customer)
    kinds = {i.kind for i in view.customer.identities}
    qr = None
    if link:
        svg = segno.make(link, error="m").svg_inline(
            scale=5, border=3, dark="#000", light="#fff", svgclass="qr-code", lineclass=None,
            omitsize=True, title=view.t("portal.telegram.qr_title"))
        qr = Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 (segno's SVG)
    quiet = prefs.quiet_hours
    zones = list(TIMEZONES)
    for kept in (quiet.timezone if quiet else None,
                 prefs.daily_digest.timezone if prefs.daily_digest else None):
        if kept and kept not in zones:
            zones.insert(0, kept)
    return await render_portal(
        view, "portal/preferences.html", "preferences", prefs=prefs,
        channels=CHANNELS, ranks=_ranks(prefs), error=error, saved=saved,
        telegram_available=telegram, telegram_linked=IdentityKind.TELEGRAM in kinds,
        has_email=IdentityKind.EMAIL in kinds, link=link, qr=qr, zones=zones,
        languages=LANGUAGES, notified_by=await _notified_by(view, telegram),
        shown_language=prefs.language if chosen else view.lang,
        notification_language=None if chosen or prefs.language == view.lang
        else prefs.language)


def _ranks(prefs: PreferencesOut) -> list[str]:
    stored = list(prefs.channels)[:3]
    return stored + [""] * (3 - len(stored))


@portal_page
async def preferences_form(view: CustomerView) -> web.StreamResponse:
    query = view.request.query
    error = _PREF_ERRORS.get(query.get("error", ""))
    link = None
    if query.get("telegram") == "1":  # the link just made (kept in a cookie, not the URL)
        cookie = view.request.cookies.get(TELEGRAM_COOKIE, "")
        link = cookie if _TELEGRAM_LINK.match(cookie) else None
    return await _prefs_page(view, saved=query.get("saved") == "1", link=link,
                             error=view.t(error) if error else "")


def _back_to_prefs(error: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/portal/preferences?" + urlencode({"error": error}))


class _FormError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _change(form: Any, prefs: PreferencesOut, shown_language: str, chosen: bool
            ) -> PreferenceChange:
    """The form, compared with what is stored: only what differs is a change. The language
    is a change also when the stored one was never chosen and the customer picked another
    than the one the form showed (the page's)."""
    channels: list[str] = []
    for n in (1, 2, 3):
        value = form_str(form, f"channel_{n}")
        if value and value not in CHANNELS:
            raise _FormError("invalid")
        if value and value not in channels:
            channels.append(value)
    automatic = form_str(form, "no_automatic") != "1"
    quiet: QuietHours | None = None
    if form_str(form, "quiet") == "1":
        start, end = clock(form_str(form, "quiet_start")), clock(form_str(form, "quiet_end"))
        zone = form_str(form, "quiet_timezone") or "Europe/Berlin"
        if not (_HHMM.match(start) and _HHMM.match(end)) or start == end:
            raise _FormError("quiet")
        current = prefs.quiet_hours.timezone if prefs.quiet_hours else None
        if zone not in TIMEZONES and zone != current:
            raise _FormError("invalid")
        quiet = QuietHours(start=start, end=end, timezone=zone)
    language = form_str(form, "language")
    if language not in LANGUAGES:
        raise _FormError("invalid")
    consents = {}
    for channel in CHANNELS:
        granted = form_str(form, f"consent_{channel}") == "1"
        if granted != prefs.consents[channel].granted:
            consents[channel] = granted
    digest: DailyDigest | None = None
    if form_str(form, "digest") == "1":
        at = clock(form_str(form, "digest_at")) or DEFAULT_DIGEST_AT
        zone = form_str(form, "digest_timezone") or "Europe/Berlin"
        if not _HHMM.match(at):
            raise _FormError("digest")
        current = prefs.daily_digest.timezone if prefs.daily_digest else None
        if zone not in TIMEZONES and zone != current:
            raise _FormError("invalid")
        digest = DailyDigest(at=at, timezone=zone)
    old_digest = (DailyDigest(**prefs.daily_digest.model_dump()) if prefs.daily_digest
                  else None)
    old_quiet = (QuietHours(**prefs.quiet_hours.model_dump()) if prefs.quiet_hours
                 else None)
    return PreferenceChange(
        channels=channels if tuple(channels) != tuple(prefs.channels) else None,
        automatic_notifications=(automatic if automatic != prefs.automatic_notifications
                                 else None),
        quiet_hours=quiet if quiet != old_quiet else KEEP,
        language=language if language != prefs.language
        or (not chosen and language != shown_language) else None,
        daily_digest=digest if digest != old_digest else KEEP,
        consents=consents)


@portal_page
async def preferences_save(view: CustomerView) -> web.StreamResponse:
    form = await view.request.post()
    prefs = await preferences_out(view.state, view.customer)
    chosen = await chosen_language(view.state, view.customer) is not None
    try:
        change = _change(form, prefs, prefs.language if chosen else view.lang, chosen)
        await apply_preferences(view.state, view.customer, change, actor="customer",
                                route="portal", who=WHO)
    except _FormError as exc:
        raise _back_to_prefs(exc.key) from None
    except InvalidInput:
        raise _back_to_prefs("invalid") from None
    if change.language is not None:
        await _speak(view, change.language)
    raise web.HTTPSeeOther("/portal/preferences?saved=1")


@portal_page
async def automatic_switch(view: CustomerView) -> web.StreamResponse:
    """The one-click button at the top of the preferences page: automatic notifications
    off (``automatic=off``) or on again (``on``), nothing else changed."""
    form = await view.request.post()
    wanted = {"on": True, "off": False}.get(form_str(form, "automatic"))
    if wanted is None:
        raise _back_to_prefs("invalid")
    prefs = await view.state.store.get_preferences(view.customer.office_id, view.customer.id)
    if prefs.automatic_notifications != wanted:
        await apply_preferences(view.state, view.customer,
                                PreferenceChange(automatic_notifications=wanted),
                                actor="customer", route="portal", who=WHO)
    raise web.HTTPSeeOther("/portal/preferences?saved=1")


async def _speak(view: CustomerView, language: str) -> None:
    """The portal speaks ``language`` from the next page on (this session)."""
    await view.state.store.set_web_session_language(view.session.record.id_hash, language)


@portal_page
async def telegram_link(view: CustomerView) -> web.StreamResponse:
    try:
        link = await create_link(view.state, view.customer, TELEGRAM_LINK_VALID)
    except (ApiError, DomainError):
        raise _back_to_prefs("telegram") from None
    response = web.HTTPSeeOther("/portal/preferences?telegram=1#telegram-heading")
    response.set_cookie(TELEGRAM_COOKIE, link.url, path="/portal/preferences",
                        max_age=TELEGRAM_COOKIE_SECONDS, httponly=True, samesite="Lax",
                        secure=view.request.secure)
    return response


@portal_page
async def set_language(view: CustomerView) -> web.StreamResponse:
    """The switch in the header: the customer's choice, for the portal and the
    notifications (recorded also when it is the stored one: from now on it is chosen)."""
    form = await view.request.post()
    language = form_str(form, "language")
    if language in LANGUAGES:
        prefs = await view.state.store.get_preferences(view.customer.office_id,
                                                       view.customer.id)
        if prefs.language != language or await chosen_language(view.state,
                                                                view.customer) is None:
            await apply_preferences(view.state, view.customer,
                                    PreferenceChange(language=language), actor="customer",
                                    route="portal", who=WHO)
        await _speak(view, language)
    raise web.HTTPSeeOther(portal_next(form_str(form, "next")))


# ------------------------------------------------------------------ my data
def _is_today(item: PortalItem) -> bool:
    return item.occurred_at.astimezone(OFFICE_ZONE).date() == today()


@portal_page
async def data_page(view: CustomerView) -> web.StreamResponse:
    requests = await data_requests(view.state.store, view.customer)
    current = next((r for r in requests if _is_today(r)), None)
    ids = view.customer.identities
    return await render_portal(
        view, "portal/data.html", "data", requests=requests, current=current,
        just_requested=view.request.query.get("requested") == "1",
        emails=[i.value for i in ids if i.kind is IdentityKind.EMAIL],
        phones=[i.raw or i.value for i in ids if i.kind is IdentityKind.PHONE],
        telegram_linked=any(i.kind is IdentityKind.TELEGRAM for i in ids),
        copies=await data_copies(view.state, view.customer))


@portal_page
async def data_copy(view: CustomerView) -> web.StreamResponse:
    """The zip of a copy the office provided (only the customer's own, while kept)."""
    try:
        path = await data_copy_file(view.state, view.customer, view.request.match_info["copy_id"])
    except NotFound:
        return await _not_found(view)
    return web.FileResponse(path, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{view.t("portal.data.copy_file")}.zip"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store"})


@portal_page
async def data_request(view: CustomerView) -> web.StreamResponse:
    await request_data_copy(view.state, view.customer,
                            subject=view.t("portal.data.entry_subject"),
                            body=view.t("portal.data.entry_body"))
    raise web.HTTPSeeOther("/portal/data?requested=1")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/portal", messages)
    app.router.add_get("/portal/", messages)
    app.router.add_get("/portal/entries/{entry_id}", entry)
    app.router.add_get("/portal/entries/{entry_id}/attachments/{index}", attachment)
    app.router.add_get("/portal/preferences", preferences_form)
    app.router.add_post("/portal/preferences", preferences_save)
    app.router.add_post("/portal/preferences/automatic", automatic_switch)
    app.router.add_post("/portal/preferences/telegram", telegram_link)
    app.router.add_post("/portal/language", set_language)
    app.router.add_get("/portal/data", data_page)
    app.router.add_post("/portal/data", data_request)
    app.router.add_get("/portal/data/copies/{copy_id}", data_copy)
