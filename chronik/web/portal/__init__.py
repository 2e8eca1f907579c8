"""The customer portal (``/portal/``): sign-in with a one-time code or link (``signin``), and
the signed-in pages (``views``): messages, one item and its files, preferences, a copy of
one's data; writing a message (``write``).

Everything the customer sees of the timeline comes through ``chronik.portal_service`` (the
one customer-facing read: published entries of their own timeline, customer-safe fields
only). Nothing here stores or logs an IP address or a user agent; no script, style or font
comes from another host (one small script of our own, ``/static/portal.js``, on the write
page and where a draft ends; everything works without it)."""

from __future__ import annotations

from aiohttp import web

from chronik.web.portal.signin import add_routes as add_signin_routes
from chronik.web.portal.views import add_routes as add_page_routes
from chronik.web.portal.write import add_routes as add_write_routes


def add_routes(app: web.Application) -> None:
    add_signin_routes(app)
    add_page_routes(app)
    add_write_routes(app)
