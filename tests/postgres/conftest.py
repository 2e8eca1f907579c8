"""Every test here runs against a real PostgreSQL (``tests/support/postgres.py``): a fresh
empty database per test, migrated by the ``migrated`` fixture where the test needs the
schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.postgres import pg_url
from timeline.pg_migrate import upgrade
from timeline.pg_store import PgStore

__all__ = ["migrated", "pg_url", "store"]


@pytest.fixture
async def migrated(pg_url: str) -> AsyncIterator[str]:
    """A fresh database at the newest schema revision."""
    await upgrade(pg_url)
    yield pg_url


@pytest.fixture
async def store(migrated: str) -> AsyncIterator[PgStore]:
    """The PostgreSQL store, open on a fresh migrated database."""
    impl = PgStore(migrated)
    await impl.open()
    yield impl
    await impl.close()
