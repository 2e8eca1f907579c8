"""``/readyz`` and ``/metrics`` on the PostgreSQL profile follow the database: not ready
(503, ``database`` named, within the probe's bound) while it cannot be reached, ready again
when it is back, without a restart; ``/healthz`` stays 200 (the process is alive)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiohttp import ClientSession

from chronik.settings import Settings
from tests.conftest import serving
from tests.postgres.test_pg_connections import Door
from tests.support.postgres import pg_url
from timeline.pg_migrate import database_url, upgrade

__all__ = ["pg_url"]

pytestmark = pytest.mark.timeout(120)


async def test_readyz_follows_a_postgresql_that_goes_away_and_comes_back(
        pg_url: str, tmp_path: Path) -> None:
    await upgrade(pg_url)
    url = database_url(pg_url)
    door = Door(url.host or "127.0.0.1", url.port or 5432)
    await door.open()
    proxied = url.set(host="127.0.0.1", port=door.port).render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path / "data", http_port=0, database_url=proxied)
    async with serving(settings, workers=False) as (_state, base):
        root = base.removesuffix("/api/v1")
        async with ClientSession() as http:
            async with http.get(root + "/readyz") as resp:
                assert resp.status == 200, await resp.text()
            await door.shut()
            started = time.monotonic()
            async with http.get(root + "/readyz") as resp:
                body = await resp.json()
                assert resp.status == 503, body
            assert time.monotonic() - started < 5
            assert body["error"]["code"] == "not_ready"
            assert "database" in body["error"]["details"]["failed"]
            assert "chronik-test" not in str(body) and str(door.port) not in str(body)
            async with http.get(root + "/healthz") as resp:
                assert resp.status == 200
            async with http.get(root + "/metrics") as resp:
                text = await resp.text()
                assert resp.status == 200
                assert "chronik_store_scrape_ok 0.0" in text
            await door.open()
            async with http.get(root + "/readyz") as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(root + "/metrics") as resp:
                assert "chronik_store_scrape_ok 1.0" in await resp.text()
    await door.shut()
