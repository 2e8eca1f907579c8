"""The dependency rule of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

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
