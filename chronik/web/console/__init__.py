"""The agent console: start page and search box, caller banner, customer page with timeline
and compose, full-text search, open complaints."""

from __future__ import annotations

from aiohttp import web

from chronik.web.console import compose, customer, home, move, profile, search, settings


def add_routes(app: web.Application) -> None:
    home.add_routes(app)
    search.add_routes(app)
    customer.add_routes(app)
    compose.add_routes(app)
    profile.add_routes(app)
    move.add_routes(app)
    settings.add_routes(app)
