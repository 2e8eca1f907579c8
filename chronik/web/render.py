"""Rendering pages: one Jinja2 environment (autoescaped), the language of the request, and
the security headers every page carries (a Content-Security-Policy without inline scripts,
no framing, no referrer beyond our origin, no caching of personal pages)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from chronik.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, browser_language, gettext
from chronik.web.system_texts import entry_text, quarantine_reason, stored_why

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; frame-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
MAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            "frame-ancestors 'self'; form-action 'none'")
"""For sanitised e-mail HTML shown in a sandboxed frame: no script, no remote image, no
form; inline styles are the mail's own look."""

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    enable_async=False,
)


def _tojson(value: Any) -> Markup:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e")  # noqa: S704
                  .replace("&", "\\u0026").replace("'", "\\u0027"))


_ENV.filters["tojson"] = _tojson


def request_language(request: web.Request, preferred: str | None = None) -> str:
    """The agent's or customer's stored choice, else the language of ours the browser asks
    for most (``browser_language``), else German."""
    if preferred in LANGUAGES:
        return preferred
    return browser_language(request.headers.get("Accept-Language", "")) or DEFAULT_LANGUAGE


def format_time(value: datetime | None, tz: str | None, lang: str) -> str:
    if value is None:
        return ""
    try:
        zone = ZoneInfo(tz or "Europe/Berlin")
    except (KeyError, ValueError):
        zone = ZoneInfo("Europe/Berlin")
    local = value.astimezone(zone)
    return local.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")


def file_size(n: int, lang: str) -> str:
    """A file's size as people read it in their language: ``512 B``, ``1,5 MB`` (German
    decimal comma), ``1.5 MB``."""
    value: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            text = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
            return f"{text.replace('.', ',') if lang == 'de' else text} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def format_waited(value: datetime, lang: str, now: datetime | None = None) -> str:
    """How long ago ``value`` was, roughly ("3 Std.", "2 days"): minutes within the first
    hour, hours within two days, then days."""
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return gettext(lang, "waited.minutes", n=minutes)
    if minutes < 48 * 60:
        return gettext(lang, "waited.hours", n=minutes // 60)
    return gettext(lang, "waited.days", n=minutes // (24 * 60))


def _delivery_note(reason: object, lang: str) -> str:
    from chronik.web.console.items import delivery_note  # (the console imports this module)
    return delivery_note(reason, lang)


def render(template: str, lang: str, context: Mapping[str, Any]) -> str:
    def t(key: str, **kwargs: Any) -> str:
        return gettext(lang, key, **kwargs)
    tz = context.get("timezone")
    return _ENV.get_template(template).render(
        {"size": lambda n: file_size(n, lang), **context, "_": t, "lang": lang,
         "when": lambda v: format_time(v, tz, lang),
         "waited": lambda v: format_waited(v, lang),
         # what the system wrote (stored in English), in the reader's language
         "entry_text": lambda entry: entry_text(entry, lang),
         "quarantine_reason": lambda reason: quarantine_reason(reason, lang),
         "stored_why": lambda value: stored_why(value, lang),
         "delivery_note": lambda value: _delivery_note(value, lang),
         # a rendered form's own id (a form sent twice writes once: see console/compose)
         "form_id": lambda: secrets.token_urlsafe(18)})


def page(template: str, lang: str, context: Mapping[str, Any], status: int = 200
         ) -> web.Response:
    return web.Response(text=render(template, lang, context), status=status,
                        content_type="text/html", charset="utf-8")


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    headers = response.headers
    if not response.prepared:  # streams (SSE) have sent their headers already
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cache-Control", "no-store")
    if isinstance(response, web.HTTPException):
        raise response  # a redirect a handler returned (to set cookies on it); aiohttp
        # deprecates returning exceptions, raising sends the same response
    return response
