"""The pages people use, served by the same aiohttp process as the API: the agent console
(``/``), its admin pages (``/admin``) and the customer portal (``/portal/``). Rendered on the
server from the same services the API uses, with a few hand-written ES modules; nothing is
loaded from another host."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chronik.state import STATE
from chronik.web import signin
from chronik.web.outbox import OUTBOX, attach_telegram, build_outbox
from chronik.web.render import STATIC_DIR

AREAS: list[str] = ["chronik.web.console", "chronik.web.admin", "chronik.web.portal"]
"""Modules with an ``add_routes(app)``; each area of the pages is one module (or package)."""


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    outbox = build_outbox(state.settings.dev_print_signin)
    await attach_telegram(outbox, state)
    app[OUTBOX] = outbox
    try:
        yield
    finally:
        await outbox.close()


def add_routes(app: web.Application) -> None:
    import importlib

    signin.add_routes(app)
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # an area not built yet
        register = getattr(module, "add_routes", None)
        if register is not None:
            register(app)
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    app.cleanup_ctx.append(_outbox)
