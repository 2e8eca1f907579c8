"""``chronik`` command line: serve, demo, office/agent administration, reindex.

Heavy modules (the web app, the store, search) are imported by the commands that use them,
not at the top: ``python -m chronik.cli`` is the main module, and ``chronik import``'s parser
processes import the main module again when they start."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import SecretStr, ValidationError

from chronik.cli_checks import (
    CliError as CliError,  # re-exported: chronik/cli_privacy.py raises it
)
from chronik.cli_checks import (
    CliFailure,
    background_work,
    check_config_keys,
    open_failure,
    refuse_newer_store,
)

if TYPE_CHECKING:
    from chronik.settings import Settings
    from chronik.state import AppState


def load_settings(data_dir: str | None = None, port: int | None = None,
                  host: str | None = None) -> Settings:
    from chronik.settings import Settings
    overrides: dict[str, object] = {}
    if data_dir:
        overrides["data_dir"] = Path(data_dir)
    if port is not None:
        overrides["http_port"] = port
    if host:
        overrides["http_host"] = host
    try:
        settings = Settings(**cast(dict[str, Any], overrides))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise CliError(f"bad settings: {problems}") from None
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(f"bad settings: {exc}") from None
    check_config_keys()
    from chronik.loops import LoopUnavailable, loop_factory

    try:  # a loop that cannot be had is a settings error, found before anything starts
        loop_factory(settings.event_loop)
    except LoopUnavailable as exc:
        raise CliError(str(exc)) from None
    return settings


R = TypeVar("R")


def run_async(settings: Settings, main: Coroutine[Any, Any, R]) -> R:
    """``asyncio.run`` on the configured event loop (chronik/loops.py; ``load_settings``
    checked that it can be had)."""
    from chronik.loops import run

    return run(main, settings.event_loop)


def require_data(settings: Settings) -> None:
    """Every command but ``office create`` and ``demo`` works on an existing data folder: a
    mistyped ``--data-dir`` is an error, not a new empty store. (With the PostgreSQL store
    the database says whether it is there.)"""
    if settings.store_url is None and not settings.store_path.exists():
        raise CliError(
            f"no Chronik data in {settings.data_dir.resolve()} — check --data-dir or "
            f"CHRONIK_DATA_DIR, or start a new one with: chronik office create NAME")
    if settings.store_url is None:
        refuse_newer_store(settings)


def _run_in(settings: Settings, fn: Callable[[AppState], Awaitable[R]], *,
            create: bool = False) -> R:
    """Run ``fn`` with the application state opened (and closed) around it."""
    return run_async(settings, _with_state(settings, fn, create=create))


async def _with_state(settings: Settings, fn: Callable[[AppState], Awaitable[R]], *,
                      create: bool = False) -> R:
    from chronik.app import close_state, open_state

    if not create:
        require_data(settings)
    try:
        state = await open_state(settings)
    except Exception as exc:
        failure = open_failure(settings, exc)
        if failure is None:
            raise
        raise failure from None
    try:
        return await fn(state)
    finally:
        await close_state(state)


def _run_server(settings: Settings, banner: Callable[[], None] | None = None, *,
                workers: bool = True, command: str = "serve") -> int:
    from aiohttp import web

    from chronik.app import create_app, freeze_after_startup
    from chronik.logs import setup as setup_logging
    from chronik.serving import serve

    setup_logging(settings.log_level)
    app = create_app(settings, workers=workers)
    freeze_after_startup(app)
    opened: list[bool] = []

    async def state_opened(_app: web.Application) -> None:  # after the lifecycle's start
        opened.append(True)
    app.on_startup.append(state_opened)

    def listening() -> None:
        """Called once the socket listens (``on_startup`` would be too early: a taken port
        or an unknown host fails after it)."""
        if banner:
            banner()
    try:
        with background_work(settings, command, workers):
            serve(app, settings.http_host, settings.http_port, listening=listening,
                  loop=settings.event_loop)
    except Exception as exc:
        failure = None if opened else open_failure(settings, exc)
        if failure is not None:
            raise failure from None
        if opened and isinstance(exc, OSError):
            raise CliError(f"cannot listen on {settings.http_host}:{settings.http_port}: "
                           f"{exc.strerror or exc}") from None
        raise
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.data_dir, args.port, args.host)
    require_data(settings)
    if args.processes < 1:
        raise CliError("--processes must be at least 1")
    if _index_missing(settings):
        _rebuild_missing_index(settings)
    where = f"Chronik serving on {settings.base_url} (data: {settings.data_dir.resolve()})"
    if args.processes == 1:
        return _run_server(settings, lambda: print(where, flush=True),
                           workers=not args.no_workers)
    return _serve_processes(settings, args.processes, not args.no_workers, where)


def _index_missing(settings: Settings) -> bool:
    """The search index may be gone while the store holds entries: a data folder restored
    from ``chronik backup`` (which leaves the index out), an index deleted by hand, a
    store moved to PostgreSQL by ``migrate-store`` and then served with a data folder or a
    search engine it was never indexed into. Served as it is, every search would find
    nothing, and say nothing about why. This is the cheap first look; where only the
    opened store or engine can tell, ``_rebuild_missing_index`` decides."""
    if settings.engine_url is not None:
        return True  # the engine says on opening whether its index was there
    if settings.search_path.exists():
        return False
    if settings.store_url is not None:
        return True  # PostgreSQL: whether it holds entries is asked once it is open
    try:
        conn = sqlite3.connect(settings.store_path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return conn.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # opening the store reports it


def _rebuild_missing_index(settings: Settings) -> None:
    """``chronik reindex`` before serving when the index was missing (see
    ``_index_missing``): the embedded index file is new, or the engine had no index
    under the alias and opening made an empty one -- and the store holds entries."""
    from chronik.logs import setup as setup_logging
    from search.engine import EngineBackend
    from search.indexer import reindex

    setup_logging(settings.log_level)  # what opening and rebuilding log is redacted too

    async def run(state: AppState) -> int:
        if isinstance(state.backend, EngineBackend) and not state.backend.created:
            return 0
        if await state.store.count_entries() == 0:
            return 0
        where = (f"the search engine has no index {state.backend.alias!r}"
                 if isinstance(state.backend, EngineBackend)
                 else "the search index is missing (a restored backup?)")
        print(f"chronik: {where}: rebuilding it from the store before serving",
              file=sys.stderr, flush=True)
        _, covered = await state.store.index_backlog()
        count = await reindex(state.store, state.backend, texts=state.indexer.texts,
                              phones=state.indexer.phones)
        await state.store.ack_index_through(covered)
        await state.indexer.drain()
        print(f"chronik: reindexed {count} entries into {state.backend.name}",
              file=sys.stderr, flush=True)
        return count
    _run_in(settings, run)


def _serve_processes(settings: Settings, count: int, workers: bool, where: str) -> int:
    """``serve --processes N`` (chronik/processes.py)."""
    from chronik.processes import ProcessFailed, run_processes

    async def ready(_state: AppState) -> None:
        return None  # opened once here: migrations never race between the processes
    run_async(settings, _with_state(settings, ready))
    background = ("background work in process 0" if workers else
                  "no background work here: run `chronik worker --all`")

    def banner(pids: list[int]) -> None:
        print(f"{where}: {count} processes (pids {', '.join(map(str, pids))}), "
              f"{background}", flush=True)
    try:
        with background_work(settings, f"serve --processes {count}", workers):
            return run_processes(str(settings.data_dir), settings.http_port,
                                 settings.http_host, count, workers, banner)
    except ProcessFailed as exc:
        raise CliError(str(exc)) from None


def cmd_demo(args: argparse.Namespace) -> int:
    from chronik.demo import DEMO_ADMIN_EMAIL, DEMO_AGENT_EMAIL, DEMO_PASSWORD, seed_demo

    settings = load_settings(args.data_dir or "chronik-demo", args.port, args.host)
    if "CHRONIK_DEV_PRINT_SIGNIN" not in os.environ:
        settings = settings.model_copy(update={"dev_print_signin": True})
    token = run_async(settings, _with_state(settings, seed_demo, create=True))
    info = (f"Chronik demo on {settings.base_url}\n"
            f"  data:      {settings.data_dir.resolve()}\n"
            f"  console:   {settings.base_url}/  sign in as {DEMO_ADMIN_EMAIL} (admin) or "
            f"{DEMO_AGENT_EMAIL}, password {DEMO_PASSWORD}\n"
            f"  portal:    {settings.base_url}/portal/  sign in as erika.mustermann@example.de;"
            f" the one-time code is printed here (no mail server in the demo)\n"
            f"  API token: {token}\n"
            f"  try:       curl -H 'Authorization: Bearer {token}' "
            f"'{settings.base_url}/api/v1/lookup?phone=0171%201234567'")
    return _run_server(settings, lambda: print(info, flush=True), command="demo")


def cmd_office_create(args: argparse.Namespace) -> int:
    import phonenumbers

    region = args.region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise CliError(f"unknown region {args.region!r}: use an ISO country code such as DE")
    if not args.name.strip():
        raise CliError("the office needs a name")
    from timeline.errors import InvalidInput
    from timeline.identity import normalise_email
    try:
        addresses = [normalise_email(a) for a in args.inbound_address or []]
    except InvalidInput as exc:
        raise CliError(f"--inbound-address: {exc.message}") from None

    async def run(state: AppState) -> int:
        taken = sorted(set(addresses) & set(await state.store.inbound_addresses()))
        if taken:
            raise CliError(f"inbound address already used by another office: {taken[0]}")
        office = await state.store.create_office(args.name.strip(), region)
        for address in addresses:
            await state.store.add_inbound_address(office.id, address)
        print(office.id)
        return 0
    return _run_in(load_settings(args.data_dir), run, create=True)


# ---------------------------------------------------------------------- agents
def _read_password() -> str:
    """A password from standard input: typed twice (hidden) on a terminal, else the first
    line of what is piped in."""
    import getpass

    if sys.stdin is None:
        raise CliError("no standard input to read the password from")
    if sys.stdin.isatty():
        try:
            first = getpass.getpass("Password: ")
            second = getpass.getpass("Password (again): ")
        except EOFError:
            raise CliError("no password given") from None
        if first != second:
            raise CliError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise CliError("no password on standard input")
    return password


def _agents(args: argparse.Namespace, fn: Callable[[AppState], Awaitable[int]]) -> int:
    """Run an agent command; a domain error (unknown office or agent, a taken address, …)
    is the user's mistake."""
    from timeline.errors import DomainError

    async def run(state: AppState) -> int:
        office = getattr(args, "office", None)
        if office is not None and await state.store.get_office(office) is None:
            raise CliError(f"no office with id {office!r} (see: chronik office list)")
        try:
            return await fn(state)
        except DomainError as exc:
            raise CliError(exc.message) from None
    return _run_in(load_settings(args.data_dir), run)


def cmd_agent_create(args: argparse.Namespace) -> int:
    from chronik.web.admin import accounts
    from chronik.web.outbox import build_outbox
    from timeline.models import Role

    if not args.name.strip():
        raise CliError("the agent needs a name")
    if (args.password_stdin or args.send_link) and not args.email:
        raise CliError("--password-stdin and --send-link need --email (agents sign in with "
                       "their e-mail address)")
    password = _read_password() if args.password_stdin else None  # checked before storing

    async def run(state: AppState) -> int:
        outbox = build_outbox(False) if args.send_link else None
        try:
            if outbox is not None and not outbox.can_send("email"):
                raise CliError("--send-link needs a mail server: set CHRONIK_SMTP_HOST and "
                               "CHRONIK_MAIL_FROM (see README, Settings)")
            made = await accounts.create_agent(state, args.office, args.name, Role(args.role),
                                               email=args.email, password=password)
            agent = made.agent
            print(f"agent {agent.id} ({agent.role.value}) in office {args.office}")
            code = 0
            if outbox is not None:
                outcome = await accounts.send_link(state, outbox, args.office, agent.id, "de")
                if outcome == "sent":
                    print(f"sign-in link sent to {made.login.email if made.login else ''}")
                else:
                    print("chronik: the sign-in link could not be sent (see the log); the "
                          "agent exists", file=sys.stderr)
                    code = 1
            print(made.token)
            return code
        finally:
            if outbox is not None:
                await outbox.close()
    return _agents(args, run)


def cmd_agent_list(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        print("id\trole\tname\temail\tpassword\ttokens\tsessions")
        for a in await state.store.list_agents(args.office):
            email = a.login.email if a.login and a.login.email else "-"
            password = "yes" if a.login and a.login.password_hash else "no"
            print(f"{a.agent.id}\t{a.agent.role.value}\t{a.agent.name}\t{email}\t{password}\t"
                  f"{','.join(a.tokens) or '-'}\t{a.sessions}")
        return 0
    return _agents(args, run)


def cmd_agent_set_password(args: argparse.Namespace) -> int:
    from chronik.web.admin import accounts

    password = _read_password()

    async def run(state: AppState) -> int:
        login = await accounts.set_password(state, args.agent_id, password)
        hint = "" if login.email else " (no sign-in address yet: see chronik agent list)"
        print(f"password set for agent {args.agent_id}{hint}")
        return 0
    return _agents(args, run)


def cmd_agent_revoke_token(args: argparse.Namespace) -> int:
    from chronik.web.admin import accounts

    async def run(state: AppState) -> int:
        await accounts.revoke_token(state, args.office, args.token_id)
        print(f"revoked API token {args.token_id.strip().lower()[:12]} (running servers "
              "stop accepting it within moments)")
        return 0
    return _agents(args, run)


def cmd_agent_end_sessions(args: argparse.Namespace) -> int:
    from chronik.web.admin import accounts

    async def run(state: AppState) -> int:
        ended = await accounts.end_sessions(state, args.office, args.agent_id)
        print(f"ended {ended} browser session(s) of agent {args.agent_id}")
        return 0
    return _agents(args, run)


def cmd_agent_token(args: argparse.Namespace) -> int:
    from chronik.web.admin import accounts

    async def run(state: AppState) -> int:
        token, token_id = await accounts.new_api_token(state, args.office, args.agent_id)
        print(f"API token {token_id} for agent {args.agent_id}")
        print(token)
        return 0
    return _agents(args, run)


def cmd_office_list(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        for office in await state.store.list_offices():
            print(f"{office.id}\t{office.region}\t{office.name}")
        return 0
    return _run_in(load_settings(args.data_dir), run)


def cmd_reindex(args: argparse.Namespace) -> int:
    from chronik.progress import Bar, on_terminal
    from search.backend import RebuildSuperseded
    from search.indexer import reindex

    async def run(state: AppState) -> int:
        _, covered = await state.store.index_backlog()  # written before the rebuild reads
        total = await state.store.count_entries() if on_terminal(sys.stderr) else None
        with Bar("reindexing", total=total, unit=" entries") as bar:
            try:
                count = await reindex(state.store, state.backend, progress=bar.advance,
                                      texts=state.indexer.texts, phones=state.indexer.phones)
            except RebuildSuperseded:
                raise CliFailure(
                    "another rebuild of the search index (a second `chronik reindex`) started "
                    "while this one ran and took over; that one completes the index, nothing "
                    "of this one was used") from None
        await state.store.ack_index_through(covered)  # the rebuild has them: not twice
        await state.indexer.drain()
        print(f"reindexed {count} entries into {state.backend.name}")
        return 0
    return _run_in(load_settings(args.data_dir), run)


def cmd_worker(args: argparse.Namespace) -> int:
    from chronik.app import follow_events
    from chronik.glue.notify import run_worker
    from chronik.logs import setup as setup_logging

    settings = load_settings(args.data_dir)
    setup_logging(settings.log_level)
    if args.all:
        require_data(settings)
        if _index_missing(settings):
            _rebuild_missing_index(settings)
        with background_work(settings, "worker --all"):
            return run_async(settings, _with_state(settings, _background))

    async def run(state: AppState) -> int:
        try:
            async with follow_events(state):  # wakes the worker for other processes' writes
                await run_worker(state, announce=lambda: print(
                    "Chronik notification worker running", flush=True))
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return 0
    return run_async(settings, _with_state(settings, run))


async def _background(state: AppState) -> int:
    """``chronik worker --all``: what ``serve --no-workers`` leaves out, until SIGTERM."""
    from chronik.app import follow_events, run_background
    from chronik.serving import stop_on_signals

    stop = stop_on_signals()
    async with follow_events(state), run_background(state):
        if state.background_started.is_set():
            print("Chronik background worker running (indexer, connectors, notifier, "
                  "retention)", flush=True)
        else:  # PostgreSQL: another process holds the database's lock (timeline/pg_leader.py)
            print("Chronik background worker standing by: another process runs the background "
                  "work of this database; this one takes over when it stops", flush=True)
        await stop.wait()
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from chronik.glue.email import run_import
    from chronik.progress import Bar
    from connectors.email.errors import SourceError
    from connectors.email.importer import ImportSummary
    from timeline.errors import NotFound

    async def run(state: AppState) -> int:
        bars: list[Bar] = []

        def imported(summary: ImportSummary) -> None:
            if not bars:
                bars.append(Bar("importing", total=summary.expected, unit=" msg"))
            bars[0].reach(summary.total)
            bars[0].note(f"quarantined {summary.quarantined}")

        def indexing(done: int, total: int) -> None:
            if len(bars) < 2:
                bars[0].close()
                bars.append(Bar("indexing", total=total, unit=" entries"))
            bars[1].set_total(total)
            bars[1].reach(done)
        try:
            summary = await run_import(state, Path(args.path), args.office,
                                       progress=imported, indexing=indexing)
        except NotFound:
            raise CliError(f"no office with id {args.office!r} (see: chronik office list)"
                           ) from None
        except SourceError as exc:
            raise CliError(exc.reason) from None
        except ValidationError as exc:
            raise CliError(f"bad settings: {exc.errors(include_url=False)[0]['msg']}") from None
        finally:
            for bar in bars:
                bar.close()
        print(summary.line())
        return 0
    return _run_in(load_settings(args.data_dir), run)


def cmd_migrate_store(args: argparse.Namespace) -> int:
    """Copy the data folder's embedded store (and attachments) into an empty PostgreSQL
    database, check the copy, then rebuild the search index from it."""
    import asyncpg

    from chronik.migrate_store import migrate_store
    from chronik.progress import Bar
    from search.indexer import reindex
    from timeline.errors import Conflict, InvalidInput

    settings = load_settings(args.data_dir)
    if settings.store_url is not None:
        raise CliError("CHRONIK_DATABASE_URL is set: migrate-store reads the embedded store "
                       "of --data-dir; unset it for this command")
    require_data(settings)
    with background_work(settings, "migrate-store"), Bar("copying", unit=" rows") as bar:
        try:
            report = run_async(settings, migrate_store(
                settings.store_path, settings.blob_dir, args.to, progress=bar.advance,
                total=bar.set_total))
        except InvalidInput as exc:
            raise CliError(exc.message) from None
        except Conflict as exc:
            print(f"chronik: {exc.message}", file=sys.stderr)
            return 1
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            print(f"chronik: cannot copy into PostgreSQL: {exc}", file=sys.stderr)
            return 1
    print(report.line())
    target = settings.model_copy(update={"database_url": SecretStr(args.to)})

    async def run(state: AppState) -> int:
        _, covered = await state.store.index_backlog()  # the copied queue: the rebuild has it
        with Bar("reindexing", unit=" entries") as bar:
            count = await reindex(state.store, state.backend, progress=bar.advance,
                                  texts=state.indexer.texts, phones=state.indexer.phones)
        await state.store.ack_index_through(covered)
        print(f"reindexed {count} entries into {state.backend.name}; set "
              "CHRONIK_DATABASE_URL to this URL to use the PostgreSQL store")
        return 0
    return run_async(target, _with_state(target, run))


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the (live) SQLite data folder (chronik/backup.py)."""
    from chronik.backup import BackupError, backup

    settings = load_settings(args.data_dir)
    if settings.store_url is not None:
        raise CliError("the store is in PostgreSQL (CHRONIK_DATABASE_URL): back it up with "
                       "pg_dump, see README, Operations")
    require_data(settings)
    try:
        report = backup(settings.data_dir, Path(args.dest))
    except BackupError as exc:
        raise CliError(str(exc)) from None
    print(report.line())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chronik", description="Customer-history hub.")
    parser.add_argument("--data-dir", help="data folder (default: $CHRONIK_DATA_DIR or "
                                           "./chronik-data)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--processes", type=int, default=1, metavar="N",
                       help="N API processes on one port (SO_REUSEPORT); process 0 runs the "
                            "background work (default: 1)")
    serve.add_argument("--no-workers", action="store_true",
                       help="run no background work (indexer, connectors, notifier, "
                            "retention) in this server: `chronik worker --all` runs it")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="seed demo data (./chronik-demo) and serve it")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.set_defaults(func=cmd_demo)

    office = sub.add_parser("office", help="manage offices").add_subparsers(
        dest="office_command", required=True, metavar="ACTION")
    oc = office.add_parser("create", help="create an office; prints its id")
    oc.add_argument("name")
    oc.add_argument("--region", default="DE", help="default phone region (ISO code)")
    oc.add_argument("--inbound-address", action="append", metavar="ADDR",
                    help="accept inbound mail for this address (repeatable)")
    oc.set_defaults(func=cmd_office_create)
    office.add_parser("list", help="list offices").set_defaults(func=cmd_office_list)

    agent = sub.add_parser("agent", help="manage agents").add_subparsers(
        dest="agent_command", required=True, metavar="ACTION")
    ac = agent.add_parser("create", help="create an agent; prints the API token last")
    ac.add_argument("name")
    ac.add_argument("--office", required=True, metavar="ID", help="office id")
    ac.add_argument("--role", choices=["admin", "agent"], default="agent")
    ac.add_argument("--email", metavar="ADDR", help="e-mail address to sign in with")
    ac.add_argument("--password-stdin", action="store_true",
                    help="read a password from standard input (at least 10 characters)")
    ac.add_argument("--send-link", action="store_true",
                    help="e-mail a sign-in link (needs CHRONIK_SMTP_HOST)")
    ac.set_defaults(func=cmd_agent_create)
    al = agent.add_parser("list", help="list an office's agents (tab-separated, with a header)")
    al.add_argument("--office", required=True, metavar="ID", help="office id")
    al.set_defaults(func=cmd_agent_list)
    ap = agent.add_parser("set-password", help="set an agent's password (from standard "
                                                "input, or typed twice on a terminal)")
    ap.add_argument("agent_id", metavar="AGENT_ID")
    ap.set_defaults(func=cmd_agent_set_password)
    ar = agent.add_parser("revoke-token", help="revoke one API token (id from agent list)")
    ar.add_argument("--office", required=True, metavar="ID", help="office id")
    ar.add_argument("token_id", metavar="TOKEN_ID")
    ar.set_defaults(func=cmd_agent_revoke_token)
    ae = agent.add_parser("end-sessions", help="end every browser session of an agent")
    ae.add_argument("--office", required=True, metavar="ID", help="office id")
    ae.add_argument("agent_id", metavar="AGENT_ID")
    ae.set_defaults(func=cmd_agent_end_sessions)
    at = agent.add_parser("token", help="a new API token for an agent (printed last)")
    at.add_argument("--office", required=True, metavar="ID", help="office id")
    at.add_argument("agent_id", metavar="AGENT_ID")
    at.set_defaults(func=cmd_agent_token)

    sub.add_parser("reindex", help="rebuild the search index from the store").set_defaults(
        func=cmd_reindex)
    migrate = sub.add_parser(
        "migrate-store", help="copy the data folder's store and attachments into an empty "
                              "PostgreSQL database (checked, then reindexed)")
    migrate.add_argument("--to", required=True, metavar="URL",
                         help="postgresql://user:password@host:5432/database")
    migrate.set_defaults(func=cmd_migrate_store)
    bk = sub.add_parser("backup", help="copy the data folder, also while Chronik runs, into "
                                       "a new folder (consistent; no search index)")
    bk.add_argument("dest", metavar="DEST", help="a new (or empty) folder for the backup")
    bk.set_defaults(func=cmd_backup)
    imp = sub.add_parser("import", help="import mail: an .eml file, a folder of them, an mbox "
                                        "file or a Maildir folder")
    imp.add_argument("path")
    imp.add_argument("--office", required=True, help="office id")
    imp.set_defaults(func=cmd_import)
    worker = sub.add_parser("worker", help="run only the notification worker (until SIGTERM)")
    worker.add_argument("--all", action="store_true",
                        help="run all background work (indexer, connectors, notifier, "
                             "retention): for `chronik serve --no-workers`")
    worker.set_defaults(func=cmd_worker)
    from chronik.cli_privacy import add_parsers as add_privacy_commands

    add_privacy_commands(sub)  # export, erase, retention, retention-rule
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_dir is None and getattr(args, "command", None) != "demo":
        args.data_dir = None
    from search.backend import SearchUnavailable
    from search.engine_client import EngineError
    from timeline.errors import StoreUnavailable

    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"chronik: {exc}", file=sys.stderr)
        return 2
    except CliFailure as exc:
        print(f"chronik: {exc}", file=sys.stderr)
        return 1
    except EngineError as exc:  # the search engine refused: a setting is wrong
        print(f"chronik: search engine: {exc}", file=sys.stderr)
        return 2
    except SearchUnavailable as exc:  # try again later
        print(f"chronik: search engine: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:  # try again later
        print(f"chronik: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
