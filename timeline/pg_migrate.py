"""Create or bring up to date the PostgreSQL store's schema (Alembic, ``timeline/pg_migrations``).

``await upgrade(url)`` applies every revision not applied yet; on an up-to-date database it
changes nothing. Any number of processes may call it at once: the migrations run under a
transaction-scoped advisory lock, in one transaction (PostgreSQL's DDL is transactional), so
one process migrates and the others then find the schema at head. Alembic is synchronous and
its environment runs its own event loop (asyncpg through SQLAlchemy's async engine), so the
upgrade runs on a worker thread and never blocks the caller's loop.

For developers: ``python -m timeline.pg_migrate upgrade URL``, ``… current URL`` and
``… revision URL -m "what changed"`` (autogenerates a revision from ``timeline/sql_tables.py``
against a database at head).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from timeline.errors import InvalidInput

MIGRATIONS_DIR = Path(__file__).resolve().parent / "pg_migrations"
MIGRATION_LOCK = (0x43484B, 1)
"""``pg_advisory_xact_lock(int4, int4)`` key held while migrating ("CHK", 1); the two-int
key space does not overlap the one-``bigint`` keys of ``timeline.pg_seq``."""

_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}
_ALEMBIC = threading.Lock()
"""Alembic keeps its running environment in module globals: one command at a time per
process (processes exclude each other with the advisory lock)."""


def database_url(url: str | sa.URL) -> sa.URL:
    """``postgresql://user:pw@host:port/db`` (as in ``CHRONIK_DATABASE_URL``) as the
    SQLAlchemy URL of the asyncpg driver; anything else is ``InvalidInput``."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput(f"not a database URL: {exc}") from None
    if parsed.drivername not in _SCHEMES:
        raise InvalidInput(f"not a PostgreSQL URL (postgresql://user@host:port/db): scheme "
                           f"{parsed.drivername!r}")
    if not parsed.database:
        raise InvalidInput("the PostgreSQL URL names no database (…/dbname)")
    return parsed.set(drivername="postgresql+asyncpg")


def asyncpg_dsn(url: str | sa.URL) -> str:
    """The same URL as a DSN ``asyncpg.connect`` accepts."""
    return database_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def alembic_config(url: str | sa.URL) -> Config:
    """An Alembic configuration without an ini file; the URL travels as an attribute (not
    an ini option, where ``%`` in a password would be interpolated)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = database_url(url)
    return cfg


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


async def upgrade(url: str) -> None:
    """Apply every migration not applied yet (none: nothing happens)."""
    cfg = alembic_config(url)
    await asyncio.to_thread(_upgrade, cfg)


def _upgrade(cfg: Config) -> None:
    with _ALEMBIC:
        command.upgrade(cfg, "head")


async def current_revision(url: str) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    engine = create_async_engine(database_url(url), poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m timeline.pg_migrate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["upgrade", "current", "revision"])
    parser.add_argument("url", help="postgresql://user:password@host:port/database")
    parser.add_argument("-m", "--message", default="schema change",
                        help="revision: what the new revision changes")
    args = parser.parse_args(argv)
    try:
        if args.action == "upgrade":
            asyncio.run(upgrade(args.url))
            print(f"at {asyncio.run(current_revision(args.url))}")
        elif args.action == "current":
            print(asyncio.run(current_revision(args.url)) or "(empty: never migrated)")
        else:
            with _ALEMBIC:
                command.revision(alembic_config(args.url), message=args.message,
                                 autogenerate=True)
    except InvalidInput as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, sa.exc.DBAPIError) as exc:
        print(f"error: cannot migrate {database_url(args.url).render_as_string()}: {exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
