"""``Chronik serving on …`` is printed once the server listens, never before a start that
fails: a script or an administrator reading it must be able to trust it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, seed

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("flags", [(), ("--processes", "2")], ids=["one", "two-processes"])
def test_no_serving_banner_when_the_port_is_taken(tmp_path: Path,
                                                  flags: tuple[str, ...]) -> None:
    seed(tmp_path / "data", base_env())
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "chronik.cli", "--data-dir", str(tmp_path / "data"),
             "serve", "--host", HOST, "--port", str(port), *flags],
            capture_output=True, text=True, env=base_env(), cwd=ROOT, timeout=90,
            stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on {HOST}:{port}" in done.stderr
    assert "serving" not in done.stdout
    assert "Traceback" not in done.stderr


def test_no_serving_banner_for_a_host_that_does_not_resolve(tmp_path: Path) -> None:
    seed(tmp_path / "data", base_env())
    done = subprocess.run(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(tmp_path / "data"),
         "serve", "--host", "no-such-host.invalid", "--port", "0"],
        capture_output=True, text=True, env=base_env(), cwd=ROOT, timeout=90,
        stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "cannot listen on no-such-host.invalid" in done.stderr
    assert "serving" not in done.stdout
