"""Shared fixtures: a real server on a loopback port with a fresh data dir per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from chronik.api.base import hash_token, new_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE, AppState
from chronik.web import auth
from timeline.models import Office, Role

STORE = os.environ.get("CHRONIK_TEST_STORE", "sqlite")
"""Which store the app-level tests run on: ``sqlite`` (default) or ``postgresql`` (a
database on the test server, emptied before each test; CI runs the API, notification and
privacy suites a second time this way)."""


FAST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Argon2id as the product uses it, at the lowest cost: the product's hasher
(``m=65536,t=3,p=4``) takes ~0.2-0.5 s per hash or sign-in on a 2-core machine, and the
suite hashes and signs in thousands of times. ``tests/web/test_password_hashing.py`` checks
the product's own cost with ``real_password_hashing``."""


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """In-process Chronik hashes and checks passwords with ``FAST_PASSWORD_HASHER`` (the
    same algorithm and code paths; the stand-in hash for unknown addresses is just as
    cheap, so both answers still cost the same)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_HASHER", FAST_PASSWORD_HASHER)
        patch.setattr(auth, "_DUMMY", FAST_PASSWORD_HASHER.hash("not-a-real-password-0"))
        yield


@pytest.fixture
def real_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test hashes passwords at the product's real cost."""
    monkeypatch.setattr(auth, "_HASHER", REAL_PASSWORD_HASHER)
    monkeypatch.setattr(auth, "_DUMMY", REAL_DUMMY_HASH)


REAL_PASSWORD_HASHER, REAL_DUMMY_HASH = auth._HASHER, auth._DUMMY


@pytest.fixture(scope="session")
def app_database() -> Iterator[str | None]:
    if STORE != "postgresql":
        yield None
        return
    from tests.support.postgres import fresh_database_sync

    with fresh_database_sync() as url:
        os.environ["CHRONIK_DATABASE_URL"] = url  # CLI calls in-process use it too
        try:
            yield url
        finally:
            del os.environ["CHRONIK_DATABASE_URL"]


@pytest.fixture(autouse=True)
def _empty_app_database(app_database: str | None) -> None:
    """With the app on PostgreSQL, every test starts from an empty database, whichever
    fixture builds its settings (they read ``CHRONIK_DATABASE_URL``)."""
    if app_database is not None:
        from tests.support.postgres import empty_all_tables_sync

        empty_all_tables_sync(app_database)


@pytest.fixture
def settings(tmp_path: Path, app_database: str | None) -> Settings:
    extra: dict[str, Any] = {}
    if app_database is not None:
        extra["database_url"] = app_database
    return Settings(data_dir=tmp_path / "data", http_port=0, max_upload_bytes=64 * 1024,
                    **extra)


@dataclass
class Api:
    """An HTTP client for one agent against the real running server."""

    session: ClientSession
    base: str
    token: str | None

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    async def call(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                   **kw: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path,
                                        headers=self._headers(headers), **kw) as resp:
            return resp.status, await _body(resp)

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, **kw)

    def as_(self, token: str | None) -> Api:
        return Api(self.session, self.base, token)


async def _body(resp: ClientResponse) -> Any:
    if resp.content_type == "application/json":
        return await resp.json()
    return await resp.read()


@dataclass
class Hub:
    """A running Chronik with one office, an admin and an agent."""

    server: TestServer
    state: AppState
    office: Office
    admin: Api
    agent: Api
    anon: Api

    async def new_office(self, name: str = "Other office", region: str = "DE") -> tuple[
            Office, Api]:
        office = await self.state.store.create_office(name, region)
        token = new_token()
        await self.state.store.create_agent(office.id, "Other admin", Role.ADMIN,
                                            hash_token(token))
        return office, self.admin.as_(token)

    async def indexed(self) -> None:
        await self.state.indexer.drain()


@asynccontextmanager
async def serving(settings: Settings, *, workers: bool = True
                  ) -> AsyncIterator[tuple[AppState, str]]:
    """Another running Chronik (state, API base URL) on ``settings``: with ``workers=False``
    one that does not run the background work, like ``serve --no-workers`` or the
    processes beyond 0 of ``serve --processes N``."""
    app = create_app(settings, workers=workers)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield app[STATE], str(server.make_url("/api/v1"))
    finally:
        await server.close()


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state = app[STATE]
    office = await state.store.create_office("Büro Test", "DE")
    admin_token, agent_token = new_token(), new_token()
    await state.store.create_agent(office.id, "Anna Admin", Role.ADMIN, hash_token(admin_token))
    await state.store.create_agent(office.id, "Tom Agent", Role.AGENT, hash_token(agent_token))
    async with ClientSession() as session:
        base = str(server.make_url("/api/v1"))
        yield Hub(server=server, state=state, office=office,
                  admin=Api(session, base, admin_token), agent=Api(session, base, agent_token),
                  anon=Api(session, base, None))
    await server.close()
