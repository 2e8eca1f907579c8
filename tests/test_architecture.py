"""The dependency rule of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"timeline", "search", "notify", "connectors", "chronik"}
WEB = {"aiohttp"}

FORBIDDEN = {
    "timeline": OURS - {"timeline"},
    "search": {"notify", "connectors", "chronik"},
    "notify": {"connectors", "search", "chronik"},
    "connectors": {"notify", "search", "chronik"},
}
NO_WEB_FRAMEWORK = {"timeline", "search", "notify"}


def imports_of(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name.split(".")[0]) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_rule(package: str) -> None:
    bad = [f"{p.relative_to(ROOT)} imports {m}" for p, m in imports_of(package)
           if m in FORBIDDEN[package]]
    assert bad == []


@pytest.mark.parametrize("package", sorted(NO_WEB_FRAMEWORK))
def test_web_framework_stays_out(package: str) -> None:
    bad = [f"{p.relative_to(ROOT)} imports {m}" for p, m in imports_of(package) if m in WEB]
    assert bad == []


def test_the_rule_checker_sees_violations(tmp_path: Path) -> None:
    source = "from search.fts import FtsBackend\nimport notify\n"
    tree = ast.parse(source)
    mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert {m.split(".")[0] for m in mods} & FORBIDDEN["timeline"] == {"search", "notify"}


# ---------------------------------------------------------------------- the store's repositories
def test_only_the_composition_root_imports_the_composed_store() -> None:
    """``timeline.sqlite_store`` composes the repositories; nothing below the composition
    root may import it (the repositories share helpers through ``timeline.sqlite_rows``,
    so there is no import circle back into the composition)."""
    bad = []
    for package in sorted(OURS - {"chronik"}):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                bad += [f"{path.relative_to(ROOT)} imports {n}" for n in names
                        if n == "timeline.sqlite_store"]
    assert bad == []


def _repositories() -> dict[type, type]:
    from timeline.events import EventFeed
    from timeline.sqlite_accounts import SqliteAccounts
    from timeline.sqlite_calls import SqliteCalls
    from timeline.sqlite_customers import SqliteCustomers
    from timeline.sqlite_entries import SqliteEntries
    from timeline.sqlite_events import SqliteEvents
    from timeline.sqlite_inbound import SqliteInbound
    from timeline.sqlite_notify import SqliteNotify
    from timeline.sqlite_offices import SqliteOffices
    from timeline.sqlite_policy import SqlitePolicy
    from timeline.sqlite_privacy import SqlitePrivacy
    from timeline.sqlite_telegram import SqliteTelegramUpdates
    from timeline.store import (
        AccountStore,
        CallRepository,
        CustomerRepository,
        EntryRepository,
        InboundRepository,
        NotifyRepository,
        OfficeRepository,
        PolicyRepository,
        PrivacyRepository,
        TelegramUpdateStore,
    )
    return {SqliteOffices: OfficeRepository, SqliteAccounts: AccountStore,
            SqliteCustomers: CustomerRepository, SqliteEntries: EntryRepository,
            SqliteInbound: InboundRepository, SqliteCalls: CallRepository,
            SqliteTelegramUpdates: TelegramUpdateStore, SqlitePolicy: PolicyRepository,
            SqliteNotify: NotifyRepository, SqlitePrivacy: PrivacyRepository,
            SqliteEvents: EventFeed}


def test_every_store_method_belongs_to_one_repository_that_implements_it() -> None:
    from typing_extensions import get_protocol_members

    from timeline.sqlite_store import REPOSITORIES
    from timeline.store import Store

    pairs = _repositories()
    assert set(REPOSITORIES) <= set(pairs)
    missing = {cls.__name__: sorted(m for m in get_protocol_members(proto)
                                    if not callable(getattr(cls, m, None)))
               for cls, proto in pairs.items()}
    assert {k: v for k, v in missing.items() if v} == {}
    covered = set().union(*(get_protocol_members(pairs[cls]) for cls in REPOSITORIES))
    # besides the repositories: the whole database's lifecycle, and whether anything in it
    # changed (``change_token``: a count the database keeps, no one repository's)
    assert get_protocol_members(Store) - covered == {"open", "close", "change_token"}


async def test_each_repository_works_alone_over_one_database(tmp_path: Path) -> None:
    from timeline.models import IdentityKind
    from timeline.sqlite_db import SqliteDb
    from timeline.sqlite_schema import MIGRATIONS

    db = SqliteDb(tmp_path / "store.db", MIGRATIONS, readers=1, name="store")
    await db.open()
    try:
        reads: dict[str, Any] = {
            "SqliteOffices": lambda r: r.list_offices(),
            "SqliteAccounts": lambda r: r.list_agents("office"),
            "SqliteCustomers": lambda r: r.find_customers("office", IdentityKind.EMAIL, "a@b"),
            "SqliteEntries": lambda r: r.count_entries(),
            "SqliteInbound": lambda r: r.inbound_addresses(),
            "SqliteCalls": lambda r: r.call_state("office", "call"),
            "SqliteTelegramUpdates": lambda r: r.pending_telegram_updates("office", 1),
            "SqlitePolicy": lambda r: r.get_tone_words("office"),
            "SqliteNotify": lambda r: r.next_notify_due(),
            "SqlitePrivacy": lambda r: r.retention_rules("office"),
            "SqliteEvents": lambda r: r.last_event_id(),
        }
        empty = {cls.__name__: await reads[cls.__name__](cls(db)) for cls in _repositories()}
    finally:
        await db.close()
    assert all(value in ([], {}, (), None, 0) for value in empty.values()), empty
