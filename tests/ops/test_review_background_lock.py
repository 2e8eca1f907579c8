"""The background work of an SQLite data folder runs exactly once: a second ``chronik serve``
(or ``chronik worker --all``) on the same folder is refused with what to do instead, an
HTTP-only ``serve --no-workers`` beside it is fine, and the lock goes with its process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.cluster import base_env, serve
from tests.support.live_server import HOST, ROOT, free_port, seed

pytestmark = pytest.mark.timeout(180)


def chronik(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, env=base_env(), cwd=ROOT,
                          timeout=90, stdin=subprocess.DEVNULL)


def test_a_second_server_on_the_same_folder_is_refused_until_the_first_stops(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    seeded = seed(data, base_env())
    first = serve(tmp_path, data, base_env(), seeded, "first")
    try:
        second = chronik(data, "serve", "--host", HOST, "--port", str(free_port()))
        assert second.returncode == 2, second.stderr
        assert "already runs in pid" in second.stderr
        assert f"pid {first.process.pid}, `chronik serve`" in second.stderr
        assert "--no-workers" in second.stderr
        assert "Traceback" not in second.stderr

        worker = chronik(data, "worker", "--all")
        assert worker.returncode == 2, worker.stderr
        assert "already runs in pid" in worker.stderr
        assert "Traceback" not in worker.stderr

        processes = chronik(data, "serve", "--host", HOST, "--port", str(free_port()),
                            "--processes", "2")
        assert processes.returncode == 2, processes.stderr
        assert "already runs in pid" in processes.stderr

        http_only = serve(tmp_path, data, base_env(), seeded, "http-only", "--no-workers")
        http_only.stop()
    finally:
        first.stop()
    again = serve(tmp_path, data, base_env(), seeded, "again")  # no stale lock
    again.stop()
