"""The notify suite's hub runs on a port known before it starts (its mails link to it);
another process taking that port first must not fail the test that wanted the hub."""

from __future__ import annotations

import gc
import socket
from pathlib import Path

from chronik.settings import Settings
from tests.notify.conftest import free_port, start_hub


async def test_a_port_taken_meanwhile_starts_the_hub_on_another_one(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=port))
        try:
            assert hub.server.port != port
            assert hub.state.settings.http_port == hub.server.port  # the links say so
            status, body = await hub.admin.get("/health")
            assert status == 200, body
        finally:
            await session.close()
            await hub.server.close()
    gc.collect()  # a socket left open by the failed try would warn here (an error)
