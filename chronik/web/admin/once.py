"""Showing a secret (a new API token) once, across the redirect of POST-redirect-GET.

The POST that made the secret answers ``303`` to the page that shows it. The secret is
split in two halves that are worthless alone: a random one-time pad, in a short-lived
``HttpOnly`` cookie scoped to that page's path, and the secret XOR the pad, in the redirect
URL (``?once=<id>.<sealed>``). The GET that follows joins them and deletes the cookie, so
a reload of the page (or going back to it) cannot show the secret again and creates
nothing. Nothing is kept on the server, so it works whichever process of
``serve --processes N`` answers the GET; neither the URL (history, logs, ``Referer``) nor
the cookie jar ever holds the secret in clear.

The page still checks what it joined (an API token must be one of the agent's, by its id)
before showing it."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlencode

from aiohttp import web

from chronik.web.auth import is_secure
from chronik.web.pages import AgentView

PARAM = "once"
COOKIE_PREFIX = "chronik_once_"
LIFETIME_SECONDS = 120
"""How long the cookie half lives when the browser never follows the redirect."""
_MAX_SECRET = 200


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def see_other_once(view: AgentView, path: str, secret: str, flash: str) -> NoReturn:
    """Redirect (303) to ``path`` (a page that calls :func:`take`), handing ``secret`` over
    for one look; ``flash`` is the notice the page shows (``?msg=``)."""
    data = secret.encode("utf-8")
    if not data or len(data) > _MAX_SECRET:
        raise ValueError("a secret to show once has 1 to 200 bytes")
    ident = secrets.token_hex(8)
    pad = secrets.token_bytes(len(data))
    sealed = bytes(a ^ b for a, b in zip(data, pad, strict=True))
    redirect = web.HTTPSeeOther(path + "?" + urlencode(
        {"msg": flash, PARAM: f"{ident}.{_b64(sealed)}"}))
    redirect.set_cookie(COOKIE_PREFIX + ident, _b64(pad), path=path,
                        max_age=LIFETIME_SECONDS, httponly=True, samesite="Strict",
                        secure=is_secure(view.request, view.state))
    raise redirect


@dataclass(frozen=True)
class Taken:
    """What a page found of a secret handed over by :func:`see_other_once`."""

    secret: str | None
    """The secret, on the first look only (else ``None``)."""
    asked: bool
    """The URL names a handed-over secret (``True`` also when it can no longer be shown)."""
    cookie: str | None
    """The cookie half to delete with the answer (:meth:`forget`)."""

    def forget(self, response: web.StreamResponse, path: str) -> None:
        """Delete the cookie half: the next look (a reload) finds nothing."""
        if self.cookie is not None:
            response.del_cookie(self.cookie, path=path)


def take(view: AgentView) -> Taken:
    """The secret the redirect to this page handed over, if the cookie half is still
    there. Call :meth:`Taken.forget` on the answer."""
    ident, _, sealed_text = view.request.query.get(PARAM, "").partition(".")
    if not ident:
        return Taken(secret=None, asked=False, cookie=None)
    if len(ident) != 16 or any(c not in "0123456789abcdef" for c in ident):
        return Taken(secret=None, asked=True, cookie=None)
    name = COOKIE_PREFIX + ident
    pad_text = view.request.cookies.get(name)
    if pad_text is None:
        return Taken(secret=None, asked=True, cookie=None)
    return Taken(secret=_join(pad_text, sealed_text), asked=True, cookie=name)


def _join(pad_text: str, sealed_text: str) -> str | None:
    """The secret from its two halves; ``None`` when they do not belong together."""
    try:
        pad, sealed = _unb64(pad_text), _unb64(sealed_text)
    except (ValueError, binascii.Error):
        return None
    if len(pad) != len(sealed) or not 0 < len(pad) <= _MAX_SECRET:
        return None
    try:
        return bytes(a ^ b for a, b in zip(sealed, pad, strict=True)).decode("utf-8")
    except UnicodeDecodeError:
        return None
