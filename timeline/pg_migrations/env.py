"""Alembic environment of the PostgreSQL store: an async engine (asyncpg), the URL from
``config.attributes["url"]`` (``timeline.pg_migrate.alembic_config``), every pending revision
in one transaction under an advisory lock, so concurrent upgrades run one after the other."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from timeline.pg_migrate import MIGRATION_LOCK
from timeline.sql_tables import metadata

config = context.config


def _url() -> sa.URL:
    url = config.attributes.get("url")
    if not isinstance(url, sa.URL):
        raise TypeError("run migrations through timeline.pg_migrate (no database URL given)")
    return url


def _configure(**kw: Any) -> None:
    context.configure(target_metadata=metadata, compare_server_default=True, **kw)


def run_offline() -> None:
    """``--sql``: print the DDL instead of running it."""
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:a, :b)"),
                           {"a": MIGRATION_LOCK[0], "b": MIGRATION_LOCK[1]})
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(_url(), poolclass=sa.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
