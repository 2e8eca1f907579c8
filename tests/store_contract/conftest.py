"""The store contract's backends: every module here runs once per entry of ``BACKENDS``.

A backend is one factory: given the test's own folder, it prepares an empty database and
yields a function that makes a new, unopened store on it. Called twice, that function gives
two handles on the same data (two processes sharing one database), which the concurrency
tests use. A PostgreSQL backend plugs in as one more factory (a fresh database per test,
dropped afterwards) registered under ``"postgresql"``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from tests.support.postgres import empty_all_tables, fresh_database_sync
from timeline.pg_migrate import upgrade
from timeline.pg_store import PgStore
from timeline.sqlite_store import SqliteStore
from timeline.store import Store

NewStore = Callable[[], Store]
Backend = Callable[[Path], AbstractAsyncContextManager[NewStore]]


@asynccontextmanager
async def sqlite_backend(folder: Path) -> AsyncIterator[NewStore]:
    path = folder / "store.sqlite3"
    yield lambda: SqliteStore(path)


_PG_SESSION: list[str] = []


@pytest.fixture(scope="session")
def pg_session_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the session's contract tests (created on first
    use, dropped at the end); each test starts from it emptied (``empty_all_tables``)."""
    with fresh_database_sync() as url:
        with ThreadPoolExecutor(1) as pool:  # a loop of its own: this may run inside one
            pool.submit(asyncio.run, upgrade(url)).result(timeout=120)
        _PG_SESSION.append(url)
        try:
            yield url
        finally:
            _PG_SESSION.remove(url)


@asynccontextmanager
async def postgresql_backend(_folder: Path) -> AsyncIterator[NewStore]:
    """The session's database, emptied: as a fresh database, in milliseconds."""
    url = _PG_SESSION[-1]
    await empty_all_tables(url)
    yield lambda: PgStore(url)


BACKENDS: dict[str, Backend] = {"sqlite": sqlite_backend, "postgresql": postgresql_backend}
IMPLEMENTS: dict[str, type] = {"sqlite": SqliteStore, "postgresql": PgStore}


def backends_for(covers: frozenset[str]) -> list[str]:
    """The backends whose store has every method a contract module covers. All of them
    once the PostgreSQL store is complete (``test_every_method`` says which methods are
    still missing there); until then a module runs on PostgreSQL from the moment the
    repositories it covers are there."""
    return [name for name in sorted(BACKENDS)
            if all(callable(getattr(IMPLEMENTS[name], m, None)) for m in covers)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "new_store" in metafunc.fixturenames:
        names = backends_for(frozenset(getattr(metafunc.module, "COVERS", ())))
        metafunc.parametrize("new_store", names, ids=names, indirect=True)


@pytest.fixture
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NewStore]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_session_database")
    async with BACKENDS[request.param](tmp_path) as make:
        yield make


@asynccontextmanager
async def opened(new_store: NewStore) -> AsyncIterator[Store]:
    impl = new_store()
    await impl.open()
    try:
        yield impl
    finally:
        await impl.close()


@pytest.fixture
async def store(new_store: NewStore) -> AsyncIterator[Store]:
    async with opened(new_store) as impl:
        yield impl


@pytest.fixture
async def second_store(new_store: NewStore, store: Store) -> AsyncIterator[Store]:
    """Another handle on the data of ``store`` (another process on the same database)."""
    async with opened(new_store) as impl:
        yield impl
