"""The signed-in portal pages: the customer's messages and one item (its files downloadable),
writing a message (with files), preferences (with linking Telegram), a copy of one's data,
the language switch. Every page is a ``@portal_page``: not signed in -> the sign-in page,
and a POST without the session's CSRF token changes nothing (403)."""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import segno
from aiohttp import web
from markupsafe import Markup

from chronik.api.base import ApiError, read_form, refuse_declared_oversize
from chronik.api.preferences import PreferencesOut, preferences_out
from chronik.api.telegram import connector_of, create_link
from chronik.portal_service import (
    OFFICE_ZONE,
    PortalItem,
    customer_attachment,
    customer_entry,
    customer_timeline,
    data_requests,
    request_data_copy,
    today,
    write_message,
)
from chronik.preferences import (
    DEFAULT_DIGEST_AT,
    KEEP,
    PreferenceChange,
    apply_preferences,
    clock,
)
from chronik.web.i18n import LANGUAGES, catalog, gettext
from chronik.web.pages import CustomerView, error_page, form_str, portal_page
from chronik.web.portal.signin import portal_next
from connectors.portal import PortalFile
from notify.evaluate import CHANNELS
from timeline.errors import DomainError, InvalidInput, NotFound
from timeline.models import DailyDigest, IdentityKind, QuietHours

PAGE_SIZE = 30
TELEGRAM_LINK_VALID = timedelta(days=1)
"""A link made in the portal is used at once (scanned from the screen): one day is plenty."""
TIMEZONES = ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "Europe/London",
             "Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Istanbul",
             "America/New_York", "America/Los_Angeles", "Asia/Dubai", "Asia/Tokyo", "UTC")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
WHO = "by the customer (portal)"


def _size(n: int, lang: str) -> str:
    value: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            text = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
            return f"{text.replace('.', ',') if lang == 'de' else text} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


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


async def _render(view: CustomerView, template: str, nav: str = "", status: int = 200,
                  **extra: Any) -> web.Response:
    office = await view.state.store.get_office(view.customer.office_id)
    lang = view.lang
    return view.render(template, nav, status, office_name=office.name if office else "",
                       size=lambda n: _size(n, lang), day=lambda s: _day(s, lang),
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
    return await _render(view, "portal/messages.html", "messages", items=items,
                         next_cursor=cursor, unread=set(unread),
                         older="before" in view.request.query)


def _not_found(view: CustomerView) -> web.Response:
    return error_page(view.request, 404, "error.not_found", view.lang, back="/portal/")


@portal_page
async def entry(view: CustomerView) -> web.StreamResponse:
    item = await customer_entry(view.state.store, view.customer,
                                view.request.match_info["entry_id"])
    if item is None:
        return _not_found(view)
    unread = await _unread(view)
    for inbox_id in unread.get(item.id, []):
        await view.state.store.mark_inbox_read(view.customer.office_id, view.customer.id,
                                               inbox_id)
    sent = (view.request.query.get("sent") == "1" and item.channel == "portal"
            and item.direction == "inbound")
    return await _render(view, "portal/entry.html", "messages", item=item, sent=sent,
                         unread=set())


@portal_page
async def attachment(view: CustomerView) -> web.StreamResponse:
    try:
        att, data = await customer_attachment(view.state.store, view.state.blobs,
                                              view.customer,
                                              view.request.match_info["entry_id"],
                                              view.request.match_info["index"])
    except NotFound:
        return _not_found(view)
    media = att.content_type.split(";")[0].strip()
    if not _MEDIA_TYPE.match(media):
        media = "application/octet-stream"
    return web.Response(body=data, headers={
        "Content-Type": media,
        "Content-Disposition": "attachment; filename*=UTF-8''" + quote(att.name, safe=""),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store"})


# ------------------------------------------------------------------ writing
async def _write_page(view: CustomerView, *, subject: str = "", body: str = "",
                      error: str = "", status: int = 200) -> web.Response:
    return await _render(view, "portal/write.html", "write", status, subject=subject,
                         body=body, error=error, key=secrets.token_urlsafe(18),
                         max_size=_size(view.state.settings.max_upload_bytes, view.lang))


@portal_page
async def write_form(view: CustomerView) -> web.StreamResponse:
    """``?re=<entry id>``: an answer to one of the customer's own published items."""
    subject = ""
    about = view.request.query.get("re", "")[:100]
    if about:
        item = await customer_entry(view.state.store, view.customer, about)
        if item is not None and item.subject:
            subject = item.subject if item.subject.lower().startswith("re:") \
                else f"Re: {item.subject}"
    return await _write_page(view, subject=subject)


@portal_page
async def write(view: CustomerView) -> web.StreamResponse:
    request = view.request
    limit = view.state.settings.max_upload_bytes
    refuse_declared_oversize(request, limit)
    fields: dict[str, str] = {}
    files: list[PortalFile] = []
    if request.content_type.startswith("multipart/"):
        raw_fields, raw_files = await read_form(request, limit)
        fields = {name: value for name, value in raw_fields}
        files = [PortalFile(name=f.name, content_type=f.content_type, data=f.data)
                 for f in raw_files if f.name or f.data]
    else:
        form = await request.post()
        fields = {name: form_str(form, name) for name in ("subject", "body", "key")}
    subject, body = fields.get("subject", ""), fields.get("body", "")
    key = fields.get("key", "")[:100] or None
    try:
        entry, _ = await write_message(view.state, view.customer, subject, body, files,
                                       f"page:{key}" if key else None)
    except InvalidInput:
        message = view.t("portal.write.empty") if not (subject.strip() or body.strip()
                                                       or files) \
            else view.t("portal.write.invalid")
        return await _write_page(view, subject=subject, body=body, error=message, status=400)
    raise web.HTTPSeeOther(f"/portal/entries/{entry.id}?sent=1")


# ------------------------------------------------------------------ preferences
async def _prefs_page(view: CustomerView, *, status: int = 200, error: str = "",
                      saved: bool = False, link: str | None = None) -> web.Response:
    prefs = await preferences_out(view.state, view.customer)
    connector = connector_of(view.state)
    telegram = connector is not None and connector.office_id in (None,
                                                                 view.customer.office_id)
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
    return await _render(
        view, "portal/preferences.html", "preferences", status, prefs=prefs,
        channels=CHANNELS, ranks=_ranks(prefs), error=error, saved=saved,
        telegram_available=telegram, telegram_linked=IdentityKind.TELEGRAM in kinds,
        has_email=IdentityKind.EMAIL in kinds, link=link, qr=qr, zones=zones,
        languages=LANGUAGES)


def _ranks(prefs: PreferencesOut) -> list[str]:
    stored = list(prefs.channels)[:3]
    return stored + [""] * (3 - len(stored))


@portal_page
async def preferences_form(view: CustomerView) -> web.StreamResponse:
    return await _prefs_page(view, saved=view.request.query.get("saved") == "1")


class _FormError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _change(form: Any, prefs: PreferencesOut) -> PreferenceChange:
    """The form, compared with what is stored: only what differs is a change."""
    channels: list[str] = []
    for n in (1, 2, 3):
        value = form_str(form, f"channel_{n}")
        if value and value not in CHANNELS:
            raise _FormError("portal.prefs.error")
        if value and value not in channels:
            channels.append(value)
    automatic = form_str(form, "no_automatic") != "1"
    quiet: QuietHours | None = None
    if form_str(form, "quiet") == "1":
        start, end = clock(form_str(form, "quiet_start")), clock(form_str(form, "quiet_end"))
        zone = form_str(form, "quiet_timezone") or "Europe/Berlin"
        if not (_HHMM.match(start) and _HHMM.match(end)) or start == end:
            raise _FormError("portal.prefs.quiet_error")
        current = prefs.quiet_hours.timezone if prefs.quiet_hours else None
        if zone not in TIMEZONES and zone != current:
            raise _FormError("portal.prefs.error")
        quiet = QuietHours(start=start, end=end, timezone=zone)
    language = form_str(form, "language")
    if language not in LANGUAGES:
        raise _FormError("portal.prefs.error")
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
            raise _FormError("portal.prefs.digest_error")
        current = prefs.daily_digest.timezone if prefs.daily_digest else None
        if zone not in TIMEZONES and zone != current:
            raise _FormError("portal.prefs.error")
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
        language=language if language != prefs.language else None,
        daily_digest=digest if digest != old_digest else KEEP,
        consents=consents)


@portal_page
async def preferences_save(view: CustomerView) -> web.StreamResponse:
    form = await view.request.post()
    prefs = await preferences_out(view.state, view.customer)
    try:
        change = _change(form, prefs)
        await apply_preferences(view.state, view.customer, change, actor="customer",
                                route="portal", who=WHO)
    except _FormError as exc:
        return await _prefs_page(view, status=400, error=view.t(exc.key))
    except InvalidInput:
        return await _prefs_page(view, status=400, error=view.t("portal.prefs.error"))
    raise web.HTTPSeeOther("/portal/preferences?saved=1")


@portal_page
async def telegram_link(view: CustomerView) -> web.StreamResponse:
    try:
        link = await create_link(view.state, view.customer, TELEGRAM_LINK_VALID)
    except (ApiError, DomainError):
        return await _prefs_page(view, status=409,
                                 error=view.t("portal.telegram.unavailable"))
    return await _prefs_page(view, link=link.url)


@portal_page
async def set_language(view: CustomerView) -> web.StreamResponse:
    form = await view.request.post()
    language = form_str(form, "language")
    if language in LANGUAGES:
        prefs = await view.state.store.get_preferences(view.customer.office_id,
                                                       view.customer.id)
        if prefs.language != language:
            await apply_preferences(view.state, view.customer,
                                    PreferenceChange(language=language), actor="customer",
                                    route="portal", who=WHO)
    raise web.HTTPSeeOther(portal_next(form_str(form, "next")))


# ------------------------------------------------------------------ my data
def _is_today(item: PortalItem) -> bool:
    return item.occurred_at.astimezone(OFFICE_ZONE).date() == today()


@portal_page
async def data_page(view: CustomerView) -> web.StreamResponse:
    requests = await data_requests(view.state.store, view.customer)
    current = next((r for r in requests if _is_today(r)), None)
    ids = view.customer.identities
    return await _render(
        view, "portal/data.html", "data", requests=requests, current=current,
        just_requested=view.request.query.get("requested") == "1",
        emails=[i.value for i in ids if i.kind is IdentityKind.EMAIL],
        phones=[i.raw or i.value for i in ids if i.kind is IdentityKind.PHONE],
        telegram_linked=any(i.kind is IdentityKind.TELEGRAM for i in ids))


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
    app.router.add_get("/portal/write", write_form)
    app.router.add_post("/portal/write", write)
    app.router.add_get("/portal/preferences", preferences_form)
    app.router.add_post("/portal/preferences", preferences_save)
    app.router.add_post("/portal/preferences/telegram", telegram_link)
    app.router.add_post("/portal/language", set_language)
    app.router.add_get("/portal/data", data_page)
    app.router.add_post("/portal/data", data_request)
