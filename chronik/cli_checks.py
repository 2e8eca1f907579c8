"""What the CLI checks before and around opening a data folder, and how it reports what
went wrong: a user's mistake (``CliError``, exit code 2) or a failure around the command
(``CliFailure``, exit code 1) — never a traceback. Split from ``chronik/cli.py``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chronik.settings import Settings


class CliError(Exception):
    """A user mistake: printed as ``chronik: <message>``, exit code 2."""


class CliFailure(Exception):
    """Something around the command failed (the data folder's disk is full, read-only or
    broken): printed as ``chronik: <message>``, exit code 1."""


def open_failure(settings: Settings, exc: BaseException) -> CliError | CliFailure | None:
    """What to tell the user when opening the store failed with ``exc``; None: not a
    failure of the store (let it through)."""
    if isinstance(exc, sqlite3.Error):
        return store_failure(settings, exc)
    if settings.store_url is None:
        return None
    from timeline.errors import InvalidInput, StoreUnavailable

    if isinstance(exc, InvalidInput):
        return CliError(f"bad settings: CHRONIK_DATABASE_URL: {exc.message}")
    import asyncpg

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, asyncpg.PostgresError):
        cause = cause.__cause__ or cause.__context__
    refused = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError,
               asyncpg.InvalidCatalogNameError)
    if isinstance(cause, refused):  # a setting is wrong: waiting does not help
        return CliError(f"bad settings: the PostgreSQL store (CHRONIK_DATABASE_URL) refused "
                        f"the connection: {cause}")
    if isinstance(exc, (TimeoutError, OSError, StoreUnavailable)) or cause is not None:
        what = cause if cause is not None else exc
        return CliFailure(f"cannot reach the PostgreSQL store (CHRONIK_DATABASE_URL): "
                          f"{what or type(what).__name__}; try again once it runs")
    return None


def store_failure(settings: Settings, exc: BaseException) -> CliFailure:
    """The embedded store could not be opened or written: what to look at, not a
    traceback."""
    return CliFailure(f"cannot use the store in {settings.data_dir.resolve()}: {exc} — check "
                      "that its disk has room and the folder is writable (df -h, ls -l)")


def check_config_keys() -> None:
    """A key of the ``CHRONIK_CONFIG`` file that no setting has is an error: a typo
    (``smtp_hots``) would otherwise leave that setting at its default in silence."""
    from chronik.settings import unknown_config_keys
    from timeline.config import CONFIG_ENV

    path = os.environ.get(CONFIG_ENV)
    if not path:
        return
    unknown = unknown_config_keys(Path(path))  # read (and checked) by Settings() already
    if unknown:
        key, near = unknown[0]
        hint = f" (did you mean {near!r}?)" if near else ""
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise CliError(f"bad settings: {CONFIG_ENV}={path}: unknown setting {key!r}{hint}"
                       f"{more}; the keys are the variable names of README, Settings, in "
                       "lower case without CHRONIK_")


def refuse_newer_store(settings: Settings) -> None:
    """A store a newer Chronik has migrated is refused: this version would run on tables
    it does not know (and write rows the newer one reads wrongly) — after a rollback of the
    program, restore the backup taken before the upgrade instead."""
    from timeline.sqlite_schema import MIGRATIONS

    try:
        conn = sqlite3.connect(settings.store_path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return  # from before the table: this version migrates it
        raise store_failure(settings, exc) from None
    except sqlite3.Error as exc:
        raise store_failure(settings, exc) from None
    newer = applied - {version for version, _ in MIGRATIONS}
    if newer:
        raise CliError(
            f"the store in {settings.data_dir.resolve()} was upgraded by a newer Chronik "
            f"(schema {max(newer)}; this one knows up to {max(v for v, _ in MIGRATIONS)}): "
            "run that version, or restore the backup taken before the upgrade "
            "(see chronik backup)")


@contextlib.contextmanager
def background_work(settings: Settings, command: str, workers: bool = True
                     ) -> Iterator[None]:
    """While the block runs, this process is the one running the data folder's background
    work (chronik/processes.py, ``background_lock``); a second one is refused with what to
    do instead. (The PostgreSQL profile's data folders are per machine: not checked.)"""
    if not workers or settings.store_url is not None:
        yield
        return
    from chronik.processes import BackgroundBusy, background_lock

    where = settings.data_dir.resolve()
    held = contextlib.ExitStack()
    try:
        held.enter_context(background_lock(settings.data_dir, command))
    except BackgroundBusy as exc:
        if command == "migrate-store":
            advice = ("stop Chronik first: what it writes after the copy would not reach "
                      "PostgreSQL")
        elif command.startswith("worker"):
            advice = "stop it first"
        else:
            advice = ("start this server with --no-workers to add HTTP processes beside "
                      "it, or stop the other one first")
        raise CliError(f"the background work of {where} (indexer, connectors, notifier, "
                       f"retention) already runs in {exc}: {advice}") from None
    except OSError as exc:
        raise CliError(f"cannot write to the data folder {where}: "
                       f"{exc.strerror or exc}") from None
    with held:
        yield
