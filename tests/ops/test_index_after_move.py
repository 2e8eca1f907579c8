"""An office that grows -- ``migrate-store`` to PostgreSQL, then a search engine or a second
machine's data folder -- finds its history from the first search on, without anyone
knowing to run ``chronik reindex``: a process that opens an index that was not there while
the store holds entries rebuilds it before it serves (or works, for ``worker --all``)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.cluster import base_env, pg_database, serve, worker
from tests.search.conftest import engine_url
from tests.support.live_server import ROOT, ChronikServer, seed, wait_until

__all__ = ["pg_database"]

pytestmark = pytest.mark.timeout(240)


def chronik(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, stdin=subprocess.DEVNULL)


def embedded_office(tmp_path: Path) -> tuple[Path, tuple[str, str, str], str]:
    """A data folder on the embedded store with a customer and notes (indexed in FTS5)."""
    data = tmp_path / "data"
    seeded = seed(data, base_env())
    server = serve(tmp_path, data, base_env(), seeded, "embedded")
    try:
        customer = server.api("POST", "/customers", {"name": "Erika Mustermann"})
        for i in range(5):
            server.api("POST", f"/customers/{customer['id']}/entries",
                       {"body": f"Schadensmeldung Wasserrohrbruch Nummer {i}", "kind": "note",
                        "visibility": "internal"})
        wait_until(lambda: len(found(server, "Wasserrohrbruch")) == 5 or None,
                   what="the notes indexed")
    finally:
        server.stop()
    return data, seeded, customer["id"]


def found(server: ChronikServer, words: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = server.api(
        "GET", "/search?q=" + urllib.parse.quote(words))["items"]
    return items


@pytest.fixture
def engine_alias() -> Iterator[tuple[str, str]]:
    url, alias = engine_url(), f"chronik-test-move-{uuid.uuid4().hex[:10]}"
    yield url, alias
    for pattern in (f"{alias}-*",):
        req = urllib.request.Request(f"{url}/{pattern}", method="DELETE")
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except OSError:
            pass


def test_moving_to_postgresql_and_a_search_engine_keeps_search_whole(
        tmp_path: Path, pg_database: str, engine_alias: tuple[str, str]) -> None:
    data, seeded, customer_id = embedded_office(tmp_path)
    moved = chronik(base_env(), data, "migrate-store", "--to", pg_database)
    assert moved.returncode == 0, moved.stderr

    url, alias = engine_alias
    env = base_env({"CHRONIK_DATABASE_URL": pg_database, "CHRONIK_SEARCH_URL": url,
                    "CHRONIK_SEARCH_INDEX": alias})
    server = serve(tmp_path, data, env, seeded, "engine")
    try:
        hits = found(server, "Wasserrohrbruch")
        assert len(hits) == 5
        assert {h["entry"]["customer_id"] for h in hits} == {customer_id}  # type: ignore[index]
        assert f"the search engine has no index '{alias}'" in server.stderr()
        assert "reindexed" in server.stderr()
    finally:
        server.stop()

    # the next start finds the index there: nothing is rebuilt again
    again = serve(tmp_path, data, env, seeded, "engine-again")
    try:
        assert len(found(again, "Wasserrohrbruch")) == 5
        assert "rebuilding" not in again.stderr()
    finally:
        again.stop()
    with urllib.request.urlopen(f"{url}/_alias/{alias}", timeout=10) as resp:
        assert len(json.load(resp)) == 1  # one index under the alias, not one per start


def test_a_second_machine_on_postgresql_builds_its_own_embedded_index(
        tmp_path: Path, pg_database: str) -> None:
    data, seeded, _ = embedded_office(tmp_path)
    moved = chronik(base_env(), data, "migrate-store", "--to", pg_database)
    assert moved.returncode == 0, moved.stderr
    # another machine: same database and secret key, a data folder of its own
    second = tmp_path / "second"
    second.mkdir()
    env = base_env({"CHRONIK_DATABASE_URL": pg_database,
                    "CHRONIK_SECRET_KEY": (data / "secret_key").read_text().strip()})
    running = worker(tmp_path, second, env, "--all")
    try:
        assert "the search index is missing" in running.stderr_path.read_text()
    finally:
        running.stop()
    server = serve(tmp_path, second, env, seeded, "second")
    try:
        assert len(found(server, "Wasserrohrbruch")) == 5
        assert "rebuilding" not in server.stderr()  # the worker built it already
    finally:
        server.stop()
