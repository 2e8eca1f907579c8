"""A search engine that is away is reported in a few lines, not in a traceback of 40 lines
per failed attempt (opensearch-py and the Elasticsearch client attach one to every retry)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, free_port, seed

pytestmark = pytest.mark.timeout(120)


def test_an_unreachable_search_engine_is_a_short_log_without_tracebacks(
        tmp_path: Path) -> None:
    seed(tmp_path / "data", base_env())
    closed = free_port()  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(tmp_path / "data"), "serve",
         "--host", HOST, "--port", str(free_port())],
        capture_output=True, text=True, cwd=ROOT, timeout=90, stdin=subprocess.DEVNULL,
        env=base_env({"CHRONIK_SEARCH_URL": f"http://{HOST}:{closed}",
                      "CHRONIK_SEARCH_ENGINE": "opensearch"}))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) < 12, done.stderr
    assert "chronik: search engine:" in done.stderr
    assert "WARNING opensearch:" in done.stderr  # each attempt is still one line
    assert "ConnectionRefusedError" in done.stderr or "ClientConnectorError" in done.stderr


def test_serving_on_postgresql_logs_no_alembic_plugin_lines(tmp_path: Path) -> None:
    from tests.support.postgres import fresh_database_sync

    with fresh_database_sync() as url:
        env = base_env({"CHRONIK_DATABASE_URL": url})
        made = subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir",
                               str(tmp_path / "data"), "office", "create", "Büro"],
                              capture_output=True, text=True, cwd=ROOT, timeout=90, env=env)
        assert made.returncode == 0, made.stderr
        server = subprocess.Popen(
            [sys.executable, "-m", "chronik.cli", "--data-dir", str(tmp_path / "data"),
             "serve", "--host", HOST, "--port", str(free_port())],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        try:
            assert server.stdout is not None
            assert "Chronik serving on" in server.stdout.readline()
        finally:
            server.terminate()
            _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "setup plugin" not in err
    assert "Traceback" not in err


def test_a_search_engine_that_answers_writes_no_line_per_request(tmp_path: Path) -> None:
    """opensearch-py and the Elasticsearch transport log every successful request at INFO:
    one line per search and per indexed batch, for nobody."""
    import urllib.parse
    import uuid

    from tests.live.cluster import serve
    from tests.search.conftest import engine_url

    url, alias = engine_url(), f"chronik-test-logs-{uuid.uuid4().hex[:10]}"
    env = base_env({"CHRONIK_SEARCH_URL": url, "CHRONIK_SEARCH_INDEX": alias,
                    "CHRONIK_LOG_LEVEL": "INFO"})
    data = tmp_path / "data"
    seeded = seed(data, env)
    server = serve(tmp_path, data, env, seeded, "engine")
    try:
        customer = server.api("POST", "/customers", {"name": "Erika Mustermann"})
        server.api("POST", f"/customers/{customer['id']}/entries",
                   {"body": "Rückruf wegen Zählerstand", "kind": "note", "visibility": "internal"})
        for _ in range(3):
            server.api("GET", "/search?q=" + urllib.parse.quote("Zählerstand"))
    finally:
        server.stop()
        import urllib.request
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/{alias}-*", method="DELETE"),
                                   timeout=30).close()
        except OSError:
            pass
    err = server.stderr()
    assert "Chronik serving" in server.stdout_path.read_text() or err
    assert "INFO opensearch" not in err and "INFO elastic_transport" not in err, err
