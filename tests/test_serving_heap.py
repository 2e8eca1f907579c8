"""A serving process puts what its startup created out of the garbage collector's sight
(``chronik.app.freeze_after_startup``, used by ``chronik serve`` and every process of
``serve --processes N``), so full collections -- the PostgreSQL timeline's p99, see
bench/RESULTS.md -- walk only what requests create."""

from __future__ import annotations

import gc

from aiohttp.test_utils import TestServer

from chronik.app import create_app, freeze_after_startup
from chronik.settings import Settings


async def test_a_started_server_has_its_startup_objects_frozen(settings: Settings) -> None:
    app = create_app(settings)
    freeze_after_startup(app)
    server = TestServer(app, host="127.0.0.1")
    before = gc.get_freeze_count()
    await server.start_server()
    try:
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # this test process makes many apps: give it back to the collector
        await server.close()
