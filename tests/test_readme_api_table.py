"""The README's "HTTP API" table lists every operation of ``chronik.api.OPERATIONS``, and
nothing that does not exist.

The table writes paths relative to ``/api/v1``, may add a query string
(``GET /customers?name=&status=``), may name path parameters differently
(``/entries/{id}`` for ``/entries/{entry_id}``), may put several operations in one cell
(``GET /me``, ``GET /health``) and may share a path between methods
(``GET``/``PATCH /customers/{id}``).
"""

from __future__ import annotations

import re
from pathlib import Path

from chronik.api import OPERATIONS
from chronik.api.base import API_PREFIX

README = Path(__file__).resolve().parents[1] / "README.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_CODE = re.compile(r"`([^`]*)`")
_METHOD_ONLY = re.compile(rf"^({'|'.join(METHODS)})$")
_OPERATION = re.compile(rf"^({'|'.join(METHODS)})\s+(/\S*)$")


def normalise(path: str) -> str:
    """``/api/v1/entries/{entry_id}?x=`` -> ``/entries/{}``: no prefix, query or names."""
    path = path.split("?", 1)[0]
    if path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX):]
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def api_section(text: str) -> str:
    match = re.search(r"^## HTTP API\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "README.md has no '## HTTP API' section"
    return match.group(1)


def table_operations(section: str) -> dict[tuple[str, str], str]:
    """(method, normalised path) -> the table row it was found in."""
    found: dict[tuple[str, str], str] = {}
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 2, "the HTTP API section has no table"
    for row in rows[2:]:  # header and |---| separator
        cell = row.strip("|").split(" | ", 1)[0]
        pending: list[str] = []  # `GET`/`PATCH /x`: methods waiting for their path
        for code in _CODE.findall(cell):
            code = code.strip()
            if _METHOD_ONLY.match(code):
                pending.append(code)
                continue
            match = _OPERATION.match(code)
            if match is None:
                continue
            for method in [*pending, match.group(1)]:
                found[(method, normalise(match.group(2)))] = row
            pending = []
        assert not pending, f"methods {pending} without a path in README row: {row}"
    return found


def readme_operations() -> dict[tuple[str, str], str]:
    return table_operations(api_section(README.read_text(encoding="utf-8")))


def test_parser_understands_the_readme_shorthand() -> None:
    section = """
| method and path | what |
|---|---|
| `GET`/`PATCH /customers/{id}` | read; rename |
| `GET /lookup?phone=…` / `GET /lookup?email=…` | find |
| `GET /notifications?status=` (admin), `POST /notifications/{id}/retry` (admin) | jobs |
| `GET /me`, `GET /health` | who am I; liveness with `GET /nothing` in the description |
"""
    assert set(table_operations(section)) == {
        ("GET", "/customers/{}"), ("PATCH", "/customers/{}"), ("GET", "/lookup"),
        ("GET", "/notifications"), ("POST", "/notifications/{}/retry"),
        ("GET", "/me"), ("GET", "/health")}
    assert normalise("/api/v1/entries/{entry_id}/attachments/{index}") == \
        "/entries/{}/attachments/{}"


def test_every_operation_is_in_the_readme_table() -> None:
    documented = readme_operations()
    missing = [f"`{op.method} {op.path}` | {op.summary}" for op in OPERATIONS
               if (op.method, normalise(op.path)) not in documented]
    assert not missing, ("README.md's HTTP API table lacks these operations (method and "
                         "path relative to /api/v1):\n" + "\n".join(missing))


def test_every_readme_row_is_an_operation() -> None:
    real = {(op.method, normalise(op.path)) for op in OPERATIONS}
    stale = [f"{method} {path}  (row: {row})" for (method, path), row
             in readme_operations().items() if (method, path) not in real]
    assert not stale, "README.md's HTTP API table lists operations that do not exist:\n" + \
        "\n".join(stale)
