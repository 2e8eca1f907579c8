"""``chronik serve --processes N``: clear errors instead of half-started servers."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, seed

pytestmark = pytest.mark.timeout(120)


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           "serve", "--host", HOST, *args], capture_output=True, text=True,
                          env=base_env(), cwd=ROOT, timeout=90)


def test_zero_processes_is_refused(tmp_path: Path) -> None:
    seed(tmp_path / "data", base_env())
    done = run(tmp_path / "data", "--processes", "0")
    assert done.returncode == 2
    assert "chronik: --processes must be at least 1" in done.stderr


def test_a_taken_port_stops_every_process_with_a_message(tmp_path: Path) -> None:
    seed(tmp_path / "data", base_env())
    with socket.socket() as taken:  # an ordinary listener, without SO_REUSEPORT
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path / "data", "--port", str(port), "--processes", "2")
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on {HOST}:{port}" in done.stderr
    assert "exited with code 2; stopped the others" in done.stderr
    assert "Traceback" not in done.stderr
