"""The guarantee "every method": each contract module declares the store methods it covers
(``COVERS``), each declared method is really called in that module, and together the
modules cover every public coroutine of the ``Store`` protocol and the protocols it
extends. A new store method without a contract test fails here."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import tests.store_contract as package
from timeline.events import EventFeed
from timeline.store import Store


def protocol_methods() -> set[str]:
    """``Store``'s methods and the embedded store's change feed (``EventFeed``; PostgreSQL
    has its own, tested in ``tests/postgres/test_events.py``)."""
    return {name for proto in (Store, EventFeed) for name, member in inspect.getmembers(proto)
            if not name.startswith("_") and inspect.iscoroutinefunction(member)}


def contract_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{package.__name__}.{info.name}")
            for info in pkgutil.iter_modules(package.__path__)
            if info.name.startswith("test_")]


def calls_in(source: str) -> set[str]:
    """Names called as ``something.name(...)`` anywhere in ``source``."""
    return {node.func.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


def called_methods(module: ModuleType) -> set[str]:
    assert module.__file__ is not None
    return calls_in(Path(module.__file__).read_text(encoding="utf-8"))


def declared(module: ModuleType) -> set[str]:
    covers = getattr(module, "COVERS", None)
    assert isinstance(covers, frozenset | set), f"{module.__name__} declares no COVERS set"
    return set(covers)


def test_the_protocol_is_found() -> None:
    methods = protocol_methods()
    # from Store itself, AccountStore and TelegramUpdateStore
    assert {"append", "claim_notify_jobs", "use_login_code", "add_telegram_update"} <= methods


@pytest.mark.parametrize("module", [m for m in contract_modules()
                                    if m.__name__ != __name__],
                         ids=lambda m: m.__name__.rpartition(".")[2])
def test_a_module_covers_what_it_calls(module: ModuleType) -> None:
    covers = declared(module)
    assert covers, f"{module.__name__}: COVERS is empty"
    unknown = covers - protocol_methods()
    assert not unknown, f"{module.__name__}: not store methods: {sorted(unknown)}"
    not_called = covers - called_methods(module)
    assert not not_called, f"{module.__name__}: declared but never called: {sorted(not_called)}"


def test_every_store_method_has_a_contract_test() -> None:
    covered: set[str] = set()
    for module in contract_modules():
        if module.__name__ != __name__:
            covered |= declared(module)
    missing = protocol_methods() - covered
    assert not missing, f"store methods without a contract test: {sorted(missing)}"


def test_the_checker_sees_calls_not_mentions() -> None:
    source = "async def t(store):\n    await store.append(d)\n    f = store.timeline\n"
    assert calls_in(source) == {"append"}  # a mention without a call covers nothing
    fake = ModuleType("tests.store_contract.test_fake")
    fake.COVERS = frozenset({"append", "no_such_method"})  # type: ignore[attr-defined]
    assert declared(fake) - protocol_methods() == {"no_such_method"}


def test_every_backend_has_every_store_method_so_every_module_runs_on_it() -> None:
    from tests.store_contract.conftest import IMPLEMENTS

    store_methods = {name for name, member in inspect.getmembers(Store)
                     if not name.startswith("_") and inspect.iscoroutinefunction(member)}
    for backend, impl in IMPLEMENTS.items():
        missing = {m for m in store_methods if not callable(getattr(impl, m, None))}
        assert not missing, f"{backend} lacks {sorted(missing)}"
