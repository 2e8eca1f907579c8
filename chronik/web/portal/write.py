"""Writing a message in the portal (``/portal/write``), with files.

* **One message per form.** ``GET /portal/write`` sends the browser on to
  ``/portal/write?key=<random>``: the key is in the page's URL, so Back, a reload or the
  browser's restored form send the same key again, and a key that made a message gives that
  message (``write_message``'s idempotency), never a second one. Opening a used key shows
  "already sent" with a link to the message, and no form for the browser to fill in again.
* **Nothing is cut off or lost.** The text fields carry no ``maxlength`` (a browser cuts a
  paste there without a word); a text over the limit is refused with its length and the
  limit, the text kept. Files over ``CHRONIK_MAX_UPLOAD_BYTES`` are refused with the write
  page again, the text kept: the body is streamed, the text fields (first in the form)
  are read before the files, and reading stops at the limit (the rest of the body is
  discarded by aiohttp). ``/static/portal.js`` checks both before sending.
* Sent after the session ended: not sent, but the text comes back on the page that says
  so (``write_or_keep``), with the way to sign in again.
* A refused form is rendered (4xx) rather than redirected: the text can only come back in
  the answer itself. Its form keeps the key, so sending it again is harmless, and the
  script turns the page's history entry into a plain GET of the form.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

from chronik.api.base import FormTooLarge, read_form
from chronik.portal_service import PortalItem, customer_entry, write_message
from chronik.state import STATE
from chronik.web.auth import current_session
from chronik.web.pages import CustomerView, form_str, portal_page
from chronik.web.portal.views import render_portal
from chronik.web.render import file_size, page, request_language
from connectors.portal import PortalFile
from connectors.portal.messages import MAX_BODY, MAX_SUBJECT
from timeline.errors import InvalidInput
from timeline.models import Channel

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CHUNK = 64 * 1024
_SLACK = 64 * 1024
"""Multipart overhead allowed on top of the limit in a declared ``Content-Length``."""


def _source_id(view: CustomerView, key: str) -> str:
    """The message's ``source_id`` for a form key (as ``portal_message`` makes it)."""
    return f"portal:{view.customer.id}:page:{key}"


def _count(n: int, lang: str) -> str:
    return f"{n:,}".replace(",", "." if lang == "de" else ",")


async def _write_page(view: CustomerView, key: str, *, subject: str = "", body: str = "",
                      error: str = "", status: int = 200, posted: bool = False,
                      answers: PortalItem | None = None) -> web.Response:
    """The form; ``posted``: the answer to a form that was sent (refused), whose history
    entry the script turns into the form's own address."""
    limit = view.state.settings.max_upload_bytes
    return await render_portal(
        view, "portal/write.html", "write", status, subject=subject, body=body,
        error=error, key=key, sent_item=None, answers=answers, max_bytes=limit,
        max_size=file_size(limit, view.lang), max_subject=MAX_SUBJECT, max_body=MAX_BODY,
        form_url="/portal/write?" + urlencode({"key": key, **({"re": answers.id} if answers
                                                              else {})}) if posted else "")


@portal_page
async def write_form(view: CustomerView) -> web.StreamResponse:
    """``?re=<entry id>``: an answer to one of the customer's own published items."""
    query = view.request.query
    about = query.get("re", "")[:100]
    key = query.get("key", "")
    if not _KEY.match(key):
        fresh = {**({"re": about} if about else {}), "key": secrets.token_urlsafe(18)}
        raise web.HTTPSeeOther("/portal/write?" + urlencode(fresh))
    store = view.state.store
    sent = await store.find_entry_by_source(view.customer.office_id, _source_id(view, key),
                                            Channel.PORTAL)
    item = await customer_entry(store, view.customer, sent.id) if sent else None
    if item is not None:  # Back to a form that was sent: no form to send again
        return await render_portal(view, "portal/write.html", "write", sent_item=item)
    subject = ""
    answered = await customer_entry(store, view.customer, about) if about else None
    if answered is not None and answered.subject:
        subject = answered.subject if answered.subject.lower().startswith("re:") \
            else f"Re: {answered.subject}"
    return await _write_page(view, key, subject=subject, answers=answered)


@dataclass
class _Posted:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[PortalFile] = field(default_factory=list)
    too_large: bool = False


async def _read(request: web.Request, limit: int) -> _Posted:
    """The form as it streams in: text fields and files, until more than ``limit`` bytes
    (then ``too_large``, with what came before: the text fields). Malformed multipart is
    ``InvalidInput``."""
    posted = _Posted()
    if not request.content_type.startswith("multipart/"):
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            posted.too_large = True
            return posted
        posted.fields = {name: form_str(form, name)
                         for name in ("subject", "body", "key", "re")}
        return posted
    try:
        fields, files = await read_form(request, limit)
    except FormTooLarge as exc:  # the text fields came first: they are kept
        posted.fields = dict(exc.fields)
        posted.too_large = True
        return posted
    posted.fields = dict(fields)
    posted.files = [PortalFile(name=f.name, content_type=f.content_type, data=f.data)
                    for f in files if f.name or f.data]  # (an empty file field: no file)
    return posted


def _text(value: str) -> str:
    """A form's text as typed: browsers send a line break as CRLF; it is one character."""
    return value.replace("\r\n", "\n")


@portal_page
async def write(view: CustomerView) -> web.StreamResponse:
    limit = view.state.settings.max_upload_bytes
    try:
        posted = await _read(view.request, limit)
    except InvalidInput:
        return await _write_page(view, secrets.token_urlsafe(18), status=400, posted=True,
                                 error=view.t("portal.write.invalid"))
    fields = posted.fields
    subject, body = _text(fields.get("subject", "")), _text(fields.get("body", ""))
    key = fields.get("key", "")
    if not _KEY.match(key):
        key = secrets.token_urlsafe(18)
    about = fields.get("re", "")[:100]
    answers = (await customer_entry(view.state.store, view.customer, about) if about
               else None)

    async def again(status: int, error: str) -> web.StreamResponse:
        return await _write_page(view, key, subject=subject, body=body, error=error,
                                 status=status, posted=True, answers=answers)

    lang = view.lang
    if posted.too_large:
        return await again(413, view.t("portal.write.too_large",
                                       size=file_size(limit, lang)))
    for text, most, message in ((subject, MAX_SUBJECT, "portal.write.subject_too_long"),
                                (body, MAX_BODY, "portal.write.body_too_long")):
        length = len(text.strip())
        if length > most:
            return await again(400, view.t(message, n=_count(length, lang),
                                           max=_count(most, lang),
                                           over=_count(length - most, lang)))
    if not (subject.strip() or body.strip() or posted.files):
        return await again(400, view.t("portal.write.empty"))
    try:
        entry, _ = await write_message(view.state, view.customer, subject, body,
                                       posted.files, f"page:{key}",
                                       in_reply_to=answers.id if answers else None)
    except InvalidInput:
        return await again(400, view.t("portal.write.invalid"))
    raise web.HTTPSeeOther(f"/portal/entries/{entry.id}?sent=1")


KEEP_LIMIT = 1024 * 1024
"""Bytes read of a form sent without a session (its text fields come first)."""


async def write_or_keep(request: web.Request) -> web.StreamResponse:
    """A message sent after the session ran out (or ended in another tab) is not sent; its
    text used to be gone with the 401 page. The page now gives it back to copy, with the
    way to sign in again (``/static/portal.js`` also keeps it in the tab for *Write*)."""
    if await current_session(request, request.app[STATE], "portal") is not None:
        return await write(request)
    subject = body = ""
    with contextlib.suppress(InvalidInput):
        posted = await _read(request, KEEP_LIMIT)
        subject = _text(posted.fields.get("subject", ""))
        body = _text(posted.fields.get("body", ""))
    lang = request_language(request)
    return page("portal/write_expired.html", lang, {
        "timezone": None, "subject": subject, "body": body,
        "signin": "/portal/signin?" + urlencode({"next": "/portal/write", "lang": lang}),
        "lang_url": None}, 401)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/portal/write", write_form)
    app.router.add_post("/portal/write", write_or_keep)
