"""The store contract's backends: every module here runs once per entry of ``BACKENDS``.

A backend is one factory: given the test's own folder, it prepares an empty database and
yields a function that makes a new, unopened store on it. Called twice, that function gives
two handles on the same data (two processes sharing one database), which the concurrency
tests use. A PostgreSQL backend plugs in as one more factory (a fresh database per test,
dropped afterwards) registered under ``"postgresql"``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from timeline.sqlite_store import SqliteStore
from timeline.store import Store

NewStore = Callable[[], Store]
Backend = Callable[[Path], AbstractAsyncContextManager[NewStore]]


@asynccontextmanager
async def sqlite_backend(folder: Path) -> AsyncIterator[NewStore]:
    path = folder / "store.sqlite3"
    yield lambda: SqliteStore(path)


BACKENDS: dict[str, Backend] = {"sqlite": sqlite_backend}


@pytest.fixture(params=sorted(BACKENDS), ids=sorted(BACKENDS))
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NewStore]:
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
