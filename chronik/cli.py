"""``chronik`` command line: serve, demo, office/agent administration, reindex."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from aiohttp import web
from pydantic import ValidationError

from chronik.api.base import hash_token, new_token
from chronik.app import close_state, create_app, open_state
from chronik.settings import Settings
from chronik.state import AppState
from search.indexer import reindex
from timeline.models import Role


class CliError(Exception):
    """A user mistake: printed as ``chronik: <message>``, exit code 2."""


def load_settings(data_dir: str | None = None, port: int | None = None,
                  host: str | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir:
        overrides["data_dir"] = Path(data_dir)
    if port is not None:
        overrides["http_port"] = port
    if host:
        overrides["http_host"] = host
    try:
        return Settings(**cast(dict[str, Any], overrides))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise CliError(f"bad settings: {problems}") from None
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(f"bad settings: {exc}") from None


R = TypeVar("R")


async def _with_state(settings: Settings, fn: Callable[[AppState], Awaitable[R]]) -> R:
    state = await open_state(settings)
    try:
        return await fn(state)
    finally:
        await close_state(state)


def _run_server(settings: Settings, banner: Callable[[], None] | None = None) -> int:
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    if banner:
        async def show(_app: web.Application) -> None:
            banner()
        app.on_startup.append(show)
    try:
        web.run_app(app, host=settings.http_host, port=settings.http_port, print=None,
                    access_log=None)
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.http_host}:{settings.http_port}: "
                       f"{exc.strerror or exc}") from None
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.data_dir, args.port, args.host)
    return _run_server(settings, lambda: print(f"Chronik serving on {settings.base_url}",
                                               flush=True))


def cmd_demo(args: argparse.Namespace) -> int:
    from chronik.demo import seed_demo

    settings = load_settings(args.data_dir or "chronik-demo", args.port, args.host)
    token = asyncio.run(_with_state(settings, seed_demo))
    info = (f"Chronik demo on {settings.base_url}\n"
            f"  data:      {settings.data_dir.resolve()}\n"
            f"  API token: {token}\n"
            f"  try:       curl -H 'Authorization: Bearer {token}' "
            f"'{settings.base_url}/api/v1/lookup?phone=0171%201234567'")
    return _run_server(settings, lambda: print(info, flush=True))


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
    return asyncio.run(_with_state(load_settings(args.data_dir), run))


def cmd_agent_create(args: argparse.Namespace) -> int:
    if not args.name.strip():
        raise CliError("the agent needs a name")

    async def run(state: AppState) -> int:
        if await state.store.get_office(args.office) is None:
            raise CliError(f"no office with id {args.office!r} (see: chronik office list)")
        token = new_token()
        agent = await state.store.create_agent(args.office, args.name.strip(), Role(args.role),
                                               hash_token(token))
        print(f"agent {agent.id} ({agent.role.value}) in office {args.office}")
        print(token)
        return 0
    return asyncio.run(_with_state(load_settings(args.data_dir), run))


def cmd_office_list(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        for office in await state.store.list_offices():
            print(f"{office.id}\t{office.region}\t{office.name}")
        return 0
    return asyncio.run(_with_state(load_settings(args.data_dir), run))


def cmd_reindex(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        count = await reindex(state.store, state.backend)
        await state.indexer.drain()
        print(f"reindexed {count} entries into {state.backend.name}")
        return 0
    return asyncio.run(_with_state(load_settings(args.data_dir), run))


def cmd_worker(args: argparse.Namespace) -> int:
    from chronik.glue.notify import run_worker

    settings = load_settings(args.data_dir)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run(state: AppState) -> int:
        try:
            await run_worker(state, announce=lambda: print(
                "Chronik notification worker running", flush=True))
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return 0
    return asyncio.run(_with_state(settings, run))


def cmd_import(args: argparse.Namespace) -> int:
    from chronik.glue.email import run_import
    from connectors.email.errors import SourceError

    async def run(state: AppState) -> int:
        try:
            summary = await run_import(state, Path(args.path), args.office)
        except LookupError:
            raise CliError(f"no office with id {args.office!r} (see: chronik office list)"
                           ) from None
        except SourceError as exc:
            raise CliError(exc.reason) from None
        except ValidationError as exc:
            raise CliError(f"bad settings: {exc.errors(include_url=False)[0]['msg']}") from None
        print(summary.line())
        return 0
    return asyncio.run(_with_state(load_settings(args.data_dir), run))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chronik", description="Customer-history hub.")
    parser.add_argument("--data-dir", help="data folder (default: $CHRONIK_DATA_DIR or "
                                           "./chronik-data)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
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
    ac.add_argument("--office", required=True, help="office id")
    ac.add_argument("--role", choices=["admin", "agent"], default="agent")
    ac.set_defaults(func=cmd_agent_create)

    sub.add_parser("reindex", help="rebuild the search index from the store").set_defaults(
        func=cmd_reindex)
    imp = sub.add_parser("import", help="import mail: an .eml file, a folder of them, an mbox "
                                        "file or a Maildir folder")
    imp.add_argument("path")
    imp.add_argument("--office", required=True, help="office id")
    imp.set_defaults(func=cmd_import)
    sub.add_parser("worker", help="run only the notification worker (until SIGTERM)"
                   ).set_defaults(func=cmd_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_dir is None and getattr(args, "command", None) != "demo":
        args.data_dir = None
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"chronik: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
