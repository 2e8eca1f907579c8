"""The customer portal (``/portal/``): sign-in with a one-time code or link (``signin``), and
the signed-in pages (``views``): messages, one item and its files, writing a message,
preferences, a copy of one's data.

Everything the customer sees of the timeline comes through ``chronik.portal_service`` (the
one customer-facing read: published entries of their own timeline, customer-safe fields
only). Nothing here stores or logs an IP address or a user agent; no script, style or font
comes from another host (the portal has no script at all)."""

from __future__ import annotations

from aiohttp import web

from chronik.web.portal.signin import add_routes as add_signin_routes
from chronik.web.portal.views import add_routes as add_page_routes


def add_routes(app: web.Application) -> None:
    add_signin_routes(app)
    add_page_routes(app)
