"""A data folder whose store cannot be used (its disk is full, the file is damaged) is a
message naming the folder and what to check, exit code 1 — not a Python traceback."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, free_port, seed

pytestmark = pytest.mark.timeout(120)


def chronik(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, env=base_env(), cwd=ROOT,
                          timeout=90, stdin=subprocess.DEVNULL)


COMMANDS = [("office", "list"), ("reindex",),
            ("serve", "--host", HOST, "--port", "0", "--no-workers")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_a_damaged_store_is_a_message_not_a_traceback(tmp_path: Path,
                                                      command: tuple[str, ...]) -> None:
    data = tmp_path / "data"
    seed(data, base_env())
    for suffix in ("-wal", "-shm"):
        (data / f"chronik.sqlite3{suffix}").unlink(missing_ok=True)
    (data / "chronik.sqlite3").write_bytes(b"this is not a database " * 300)
    done = chronik(data, *command)
    assert done.returncode == 1, done.stderr
    assert f"chronik: cannot use the store in {data}" in done.stderr
    assert "disk has room" in done.stderr
    assert "Traceback" not in done.stderr


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[None]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(path)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    with small_disk(disk):
        seed(disk / "data", base_env())
        (disk / "data" / "background.lock").touch()
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 65536)
        finally:
            os.close(fd)
        for command in (("office", "list"),
                        ("serve", "--host", HOST, "--port", str(free_port()))):
            done = chronik(disk / "data", *command)
            assert done.returncode in (1, 2), done.stderr
            assert "Traceback" not in done.stderr
            assert f"{disk / 'data'}" in done.stderr
