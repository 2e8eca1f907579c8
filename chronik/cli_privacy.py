"""``chronik export``, ``erase``, ``retention`` and ``retention-rule``: data protection from
the command line (the same service as the admin API, ``timeline/privacy.py``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chronik.cli import CliError, _run_in, load_settings
from timeline.errors import DomainError
from timeline.models import Office
from timeline.privacy import CLI_AGENT
from timeline.privacy_models import AccessAction

if TYPE_CHECKING:
    from chronik.state import AppState


async def _find(state: AppState, customer_id: str, office_id: str | None) -> Office:
    """The office of the customer (``--office`` or the one that has them)."""
    offices = await state.store.list_offices()
    if office_id is not None:
        offices = [o for o in offices if o.id == office_id]
        if not offices:
            raise CliError(f"no office with id {office_id!r} (see: chronik office list)")
    for office in offices:
        if await state.store.get_customer(office.id, customer_id) is not None:
            return office
    raise CliError(f"no customer with id {customer_id!r}")


def _run(args: argparse.Namespace, fn: Any) -> int:
    async def run(state: AppState) -> int:
        try:
            code: int = await fn(state)
        except DomainError as exc:
            raise CliError(exc.message) from None
        return code
    return _run_in(load_settings(args.data_dir), run)


def cmd_export(args: argparse.Namespace) -> int:
    from chronik.progress import Bar

    async def run(state: AppState) -> int:
        from chronik import privacy  # (the web app's texts: not for every command)

        office = await _find(state, args.customer, args.office)
        service = await privacy.service(state)
        out = Path(args.out or f"chronik-export-{args.customer}.zip")
        with Bar("exporting", total=100, unit="%") as bar:
            async def step(percent: int) -> None:
                bar.reach(percent)
            counts = await service.export_to(office, args.customer, out, progress=step)
        await service.record_access(office, CLI_AGENT, AccessAction.EXPORT, args.customer)
        await service.record_answer(office, args.customer, None)
        await state.indexer.drain()
        print(f"exported {counts['entries']} entries, {counts['attachments']} attachments "
              f"to {out}")
        return 0
    return _run(args, run)


def _print_counts(counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        if n:
            print(f"  {kind}\t{n}")


def cmd_erase(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        from chronik import privacy  # (the web app's texts: not for every command)

        office = await _find(state, args.customer, args.office)
        service = await privacy.service(state)
        preview = await service.preview(office, args.customer)
        print(f"customer {args.customer} in office {office.id}: would erase"
              if args.dry_run else f"customer {args.customer} in office {office.id}:")
        _print_counts(preview["counts"])
        for item in preview["retained"]:
            print(f"  kept by law: {item['kind']} {item['entry_id']} until "
                  f"{item['until'][:10]} ({item['reason']})")
        if args.dry_run:
            return 0
        if not args.yes:
            if sys.stdin is None or not sys.stdin.isatty():
                raise CliError("erasure cannot be undone: add --yes (or --dry-run to look)")
            answer = (await asyncio.to_thread(
                input, "Type the customer id to erase everything above: ")).strip()
            if answer != args.customer:
                raise CliError("not confirmed; nothing was erased")
        receipt = await service.erase(office, args.customer, CLI_AGENT, preview["confirm"])
        await privacy.scrub_after_erasure(state)
        print(f"erased; receipt {receipt['receipt_id']}")
        return 0
    return _run(args, run)


def cmd_retention(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        from chronik import privacy  # (the web app's texts: not for every command)

        service = await privacy.service(state)
        offices = await state.store.list_offices()
        if args.office:
            offices = [o for o in offices if o.id == args.office]
            if not offices:
                raise CliError(f"no office with id {args.office!r} (see: chronik office list)")
        total = 0
        for office in offices:
            for item in await service.retention(office, dry_run=args.dry_run):
                total += 1
                print(f"{office.id}\t{item['entry_id']}\t{item['kind']}\t"
                      f"{item['occurred_at'][:10]}\t{item['rule']}")
        if args.dry_run:
            print(f"would delete {total} entries")
            return 0
        expired = await service.purge_expired_exports()
        pruned = await service.prune_access_log()
        calls = await service.prune_call_states()
        if total or expired or calls:
            await privacy.scrub_after_erasure(state)
        print(f"deleted {total} entries, {expired} expired exports, {pruned} expired "
              f"access-record rows, {calls} call states older than 7 days")
        return 0
    return _run(args, run)


def cmd_rule(args: argparse.Namespace) -> int:
    async def run(state: AppState) -> int:
        from chronik import privacy  # (the web app's texts: not for every command)

        office = await state.store.get_office(args.office)
        if office is None:
            raise CliError(f"no office with id {args.office!r} (see: chronik office list)")
        if args.rule_command == "set":
            await (await privacy.service(state)).set_rule(office, args.kind, args.action,
                                                          args.years)
        elif args.rule_command == "remove" and not await state.store.remove_retention_rule(
                office.id, args.kind):
            raise CliError(f"no retention rule for kind {args.kind!r}")
        for rule in await state.store.retention_rules(office.id):
            print(f"{rule.kind}\t{rule.action.value}\t{rule.years}")
        return 0
    return _run(args, run)


def add_parsers(sub: Any) -> None:
    ex = sub.add_parser("export", help="export everything stored about a customer (a zip)")
    ex.add_argument("--customer", required=True, metavar="ID")
    ex.add_argument("--office", metavar="ID")
    ex.add_argument("--out", metavar="FILE", help="default: chronik-export-<ID>.zip")
    ex.set_defaults(func=cmd_export)
    er = sub.add_parser("erase", help="erase a customer (shows what goes first)")
    er.add_argument("--customer", required=True, metavar="ID")
    er.add_argument("--office", metavar="ID")
    er.add_argument("--dry-run", action="store_true", help="only show what would go")
    er.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    er.set_defaults(func=cmd_erase)
    rt = sub.add_parser("retention", help="apply the retention rules (delete old entries)")
    rt.add_argument("--office", metavar="ID")
    rt.add_argument("--dry-run", action="store_true", help="only list what would go")
    rt.set_defaults(func=cmd_retention)
    rr = sub.add_parser("retention-rule", help="manage an office's retention rules"
                        ).add_subparsers(dest="rule_command", required=True, metavar="ACTION")
    rs = rr.add_parser("set", help="keep KIND YEARS by law, or delete it after YEARS")
    rs.add_argument("--office", required=True, metavar="ID")
    rs.add_argument("kind")
    rs.add_argument("action", choices=["keep", "delete"])
    rs.add_argument("years", type=int)
    rl = rr.add_parser("list", help="list the rules")
    rl.add_argument("--office", required=True, metavar="ID")
    rm = rr.add_parser("remove", help="remove the rule of KIND")
    rm.add_argument("--office", required=True, metavar="ID")
    rm.add_argument("kind")
    for p in (rs, rl, rm):
        p.set_defaults(func=cmd_rule)
