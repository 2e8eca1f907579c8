"""The connection pool after PostgreSQL closed its connections (a restart, a failover, an
admin's ``pg_terminate_backend``): the next requests get fresh connections instead of
failing on dead ones -- without a round trip to test every connection before use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientSession

from chronik.api.base import hash_token, new_token
from chronik.settings import Settings
from tests.conftest import serving
from tests.store_contract.helpers import draft, seed
from tests.support.postgres import server_url
from timeline.errors import InvalidInput
from timeline.models import Role
from timeline.pg_migrate import asyncpg_dsn, database_url
from timeline.pg_store import PgStore
from timeline.store import TimelineQuery


async def _close_all_connections_of(url: str) -> int:
    admin = await asyncpg.connect(asyncpg_dsn(server_url()))  # another database
    try:
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", database_url(url).database)
        return killed
    finally:
        await admin.close()


async def test_reads_and_writes_after_the_server_closed_every_connection(
        store: PgStore, migrated: str) -> None:
    s = await seed(store)
    office, customer = s.office.id, s.customer.id
    # several connections in the pool, all idle
    await asyncio.gather(*(store.timeline(office, customer, TimelineQuery())
                           for _ in range(6)))
    assert await _close_all_connections_of(migrated) >= 1
    await asyncio.sleep(0.5)  # the server's closing reaches this process
    results = await asyncio.gather(*(store.timeline(office, customer, TimelineQuery())
                                     for _ in range(6)))
    assert all(page.items == [] for page in results)
    entry, created = await store.append(draft(office, customer, body="after the restart"))
    assert created
    assert (await store.timeline(office, customer, TimelineQuery())).items == [entry]


class Door:
    """A TCP door between Chronik and the PostgreSQL server: shut, it cuts the open
    connections and refuses new ones (the server is away, as in a restart or a network
    outage); opened again, connections go through to the real server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.pipes: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def shut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.pipes):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.pipes |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self.pipes.discard(dst)

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def test_the_api_and_the_pages_say_so_while_the_database_is_away(
        migrated: str, tmp_path: Path) -> None:
    """While PostgreSQL cannot be reached, requests are answered 503 with a clear reason
    (JSON for the API, a page for the browser) and ``Retry-After`` -- not a 500 "bug" --
    and everything works again once it is back, without restarting Chronik."""
    url = database_url(migrated)
    door = Door(url.host or "127.0.0.1", url.port or 5432)
    await door.open()
    proxied = url.set(host="127.0.0.1", port=door.port).render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path / "data", http_port=0, database_url=proxied)
    async with serving(settings, workers=False) as (state, base):
        office = await state.store.create_office("Büro", "DE")
        token = new_token()
        await state.store.create_agent(office.id, "Anna", Role.ADMIN, hash_token(token))
        lookup = base + "/lookup?phone=0171%201234567"
        console = base.removesuffix("/api/v1") + "/"
        auth = {"Authorization": f"Bearer {token}"}
        async with ClientSession() as http:
            async with http.get(lookup, headers=auth) as resp:
                assert resp.status == 200
            await door.shut()
            async with http.get(lookup, headers=auth) as resp:
                assert resp.status == 503, await resp.text()
                assert resp.headers["Retry-After"].isdigit()
                body = await resp.json()
                assert body["error"]["code"] == "store_unavailable"
                assert "database" in body["error"]["message"]
            async with http.get(console, cookies={"chronik_session": "s" * 40},
                                headers={"Accept-Language": "en"},
                                allow_redirects=False) as resp:
                assert resp.status == 503
                assert resp.content_type == "text/html"
                assert "cannot be reached" in await resp.text()
            await door.open()
            async with http.get(lookup, headers=auth) as resp:
                assert resp.status == 200
                assert (await resp.json())["matches"] == []
    await door.shut()


async def test_text_postgresql_cannot_hold_is_invalid_input_not_a_bug(store: PgStore) -> None:
    """U+0000 fits SQLite's text but not PostgreSQL's: a read or write with it is the
    caller's ``InvalidInput`` (400 for the API, quarantine for intake), not a raw driver
    error that surfaces as a 500."""
    office = await store.create_office("A", "DE")
    with pytest.raises(InvalidInput):
        await store.create_customer(office.id, "Erika\x00 Muster", [])
    with pytest.raises(InvalidInput):
        await store.get_customer(office.id, "\x00abc")
    customer = await store.create_customer(office.id, "Erika Muster", [])
    assert await store.get_customer(office.id, customer.id) == customer
