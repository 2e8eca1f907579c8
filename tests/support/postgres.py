"""The PostgreSQL server the tests use, and a fresh empty database per test.

The server is Debian's PostgreSQL, set up by ``deploy/ci/postgres.sh`` (cluster
``chronik-test`` on 127.0.0.1:5433, role ``chronik`` with CREATEDB). Tests find it at
``CHRONIK_TEST_POSTGRES_URL`` (default ``DEFAULT_URL``; keep in sync with the script).

``fresh_database()`` creates a database of its own (``CREATE DATABASE … TEMPLATE template0``,
a unique name holding its creation time) and drops it afterwards (``WITH (FORCE)``:
connections a test left open do not keep it); databases of killed runs are dropped after
``STALE_SECONDS``. When no server answers, the test skips with the reason, unless
``CHRONIK_TEST_REQUIRE_POSTGRES=1`` (CI) or ``CHRONIK_TEST_POSTGRES_URL`` is set explicitly:
then it fails, so a CI run can never pass with the PostgreSQL tests silently skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import asyncpg
import pytest
import sqlalchemy as sa

T = TypeVar("T")

SETUP_SCRIPT = "deploy/ci/postgres.sh"
DEFAULT_URL = "postgresql://chronik:chronik-test@127.0.0.1:5433/chronik_test"
PREFIX = "chronik_t_"
STALE_SECONDS = 6 * 3600

log = logging.getLogger(__name__)
_problems: dict[str, str | None] = {}
_stale_checked: list[bool] = []


def server_url() -> str:
    return os.environ.get("CHRONIK_TEST_POSTGRES_URL") or DEFAULT_URL


def _dsn(url: str | sa.URL) -> str:
    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def _probe(url: str) -> str | None:
    """None when the server lets the test role in and it may create databases."""
    if url not in _problems:
        try:
            conn = await asyncpg.connect(_dsn(url), timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _problems[url] = f"{type(exc).__name__}: {exc}"
        else:
            try:
                may = await conn.fetchval(
                    "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")
                _problems[url] = None if may else "the role lacks CREATEDB"
            finally:
                await conn.close()
    return _problems[url]


async def require_server() -> str:
    """The server's URL, or skip/fail (see the module docstring)."""
    url = server_url()
    problem = await _probe(url)
    if problem is None:
        return url
    shown = sa.make_url(url).render_as_string(hide_password=True)
    message = (f"PostgreSQL at {shown} does not answer ({problem}): run {SETUP_SCRIPT} "
               "(or set CHRONIK_TEST_POSTGRES_URL)")
    if (os.environ.get("CHRONIK_TEST_POSTGRES_URL")
            or os.environ.get("CHRONIK_TEST_REQUIRE_POSTGRES") == "1"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def _drop_stale(admin: asyncpg.Connection) -> None:
    """Drop databases that killed test runs left behind (older than ``STALE_SECONDS``,
    by the creation time in their name), once per session."""
    if _stale_checked:
        return
    _stale_checked.append(True)
    names = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                              PREFIX.replace("_", r"\_") + "%")
    for (name,) in names:
        created = name[len(PREFIX):].partition("_")[0]
        if created.isdigit() and int(created) < time.time() - STALE_SECONDS:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the test server, dropped on exit."""
    url = await require_server()
    name = f"{PREFIX}{int(time.time())}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        await _drop_stale(admin)
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    finally:
        await admin.close()
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            await asyncio.wait_for(_drop(url, name), DROP_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            # Never hang or fail a test's teardown over clean-up: the stale-database sweep
            # of a later session drops what is left.
            log.warning("test database %s not dropped: %r", name, exc)


DROP_SECONDS = 60.0
"""At most this long to drop a test database (it normally takes milliseconds)."""


async def _drop(url: str, name: str) -> None:
    """Drop the database; a session of another role on it (someone inspecting it as
    ``postgres``) cannot be ended by the test role, nor can ``FORCE`` end a backend that
    does not exit in time: then retry for a while and leave it to the stale-database
    sweep. Every statement is bounded, so a teardown cannot hang."""
    admin = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        for _ in range(10):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                                    timeout=15)
                return
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError,
                    TimeoutError):
                await asyncio.sleep(0.5)
    finally:
        admin.terminate()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh empty database per test (see ``fresh_database``)."""
    async with fresh_database() as url:
        yield url


@contextmanager
def fresh_database_sync() -> Iterator[str]:
    """``fresh_database`` for synchronous code (session fixtures, tests that start
    processes): its async context driven by one event loop in a thread of its own (a loop
    per step would close the context's generator, dropping the database early)."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True, name="pg-fixture")
    runner.start()
    manager = fresh_database()

    def step(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)
    try:
        url = step(manager.__aenter__())
        try:
            yield url
        finally:
            step(manager.__aexit__(None, None, None))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=10)
        loop.close()


USED_SEQUENCES = "SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL"
"""The identity and serial sequences that have handed out a number."""


async def empty_all_tables(url: str) -> None:
    """Every table of a migrated test database emptied, identities restarted (what a fresh
    database looks like, in milliseconds instead of a second). The tables holding a row are
    emptied with ``DELETE`` (children first) and the used sequences restarted, in one round
    trip: ``TRUNCATE`` costs ~10 ms per table (it makes new files), and ``CASCADE`` from
    ``offices`` reaches nearly all ~30 tables, while a test fills a few."""
    from timeline.sql_tables import metadata

    names = [t.name for t in metadata.sorted_tables]
    holding = " UNION ALL ".join(
        f"SELECT '{name}' WHERE EXISTS (SELECT FROM \"{name}\")" for name in names)
    conn = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        filled = {row[0] for row in await conn.fetch(holding)}
        used = await conn.fetch(USED_SEQUENCES)
        statements = [f'DELETE FROM "{name}"' for name in reversed(names) if name in filled]
        statements += [f'ALTER SEQUENCE "{schema}"."{name}" RESTART' for schema, name in used]
        if statements:
            await conn.execute(";\n".join(["BEGIN", *statements, "COMMIT"]))
    finally:
        await conn.close()


_migrated: set[str] = set()


def empty_all_tables_sync(url: str) -> None:
    """``empty_all_tables`` from synchronous code (a fixture that may run inside a loop):
    migrates first when the database is new."""
    from timeline.pg_migrate import upgrade

    async def run() -> None:
        if url not in _migrated:
            await upgrade(url)
            _migrated.add(url)
        await empty_all_tables(url)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=120)
