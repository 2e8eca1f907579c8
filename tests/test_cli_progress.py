"""Long commands show progress on a terminal and stay quiet in a pipe: ``chronik import``,
``reindex`` and ``export`` run as a user runs them, once on a pseudo-terminal, once piped."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import pty
import sqlite3
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from chronik.progress import Bar

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = 40


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return {**env, "COLUMNS": "", **extra}


def on_terminal(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                sized: bool = True) -> tuple[int, str]:
    """Run ``chronik`` with stdout and stderr on a pseudo-terminal (100 x 30 unless
    ``sized`` is false); returns the exit code and everything the terminal got."""
    master, slave = pty.openpty()
    if sized:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir), *args],
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT,
        env=env or _env())
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # EIO: the terminal's other side is closed
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = proc.wait(timeout=300)
    return code, b"".join(chunks).decode("utf-8", "replace")


def piped(data_dir: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, cwd=ROOT, env=env or _env(), timeout=300,
        check=False)


def last_line(screen: str) -> str:
    """What stays visible on the terminal's last line (bars are redrawn with CR)."""
    lines = [line.rstrip("\r").split("\r")[-1].strip() for line in screen.split("\n")]
    return [line for line in lines if line][-1]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A data folder with one office, and a folder of mail: 40 messages, one broken."""
    root = tmp_path_factory.mktemp("progress")
    mail = root / "mail"
    mail.mkdir()
    for n in range(1, MESSAGES):
        (mail / f"{n:03d}.eml").write_bytes(
            f"From: Kunde {n % 4} <k{n % 4}@example.de>\nTo: service@example.de\n"
            f"Subject: Nachricht {n}\nMessage-ID: <p-{n}@example.de>\n"
            f"Date: Wed, 04 Mar 2026 10:{n:02d}:00 +0100\n\nInhalt {n}\n".encode())
    (mail / f"{MESSAGES:03d}.eml").write_bytes(b"Subject: ohne Absender\n\nwer?\n")
    data_dir = root / "data"
    made = piped(data_dir, "office", "create", "Fortschritt")
    assert made.returncode == 0, made.stderr
    return data_dir, mail, made.stdout.strip()


def test_import_shows_progress_on_a_terminal(data: tuple[Path, Path, str]) -> None:
    data_dir, mail, office = data
    code, screen = on_terminal(data_dir, "import", str(mail), "--office", office)
    assert code == 0, screen
    assert "importing:   0%" in screen and f"0/{MESSAGES}" in screen
    assert f"{MESSAGES}/{MESSAGES}" in screen and "msg/s" in screen
    assert "quarantined 1" in screen  # quarantined so far, while it runs
    assert "indexing:" in screen  # the search index catching up at the end
    assert last_line(screen) == f"imported {MESSAGES - 1}, duplicates 0, quarantined 1"


def test_import_in_a_pipe_prints_only_the_summary(data: tuple[Path, Path, str]) -> None:
    data_dir, mail, office = data
    result = piped(data_dir, "import", str(mail), "--office", office)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"imported 0, duplicates {MESSAGES - 1}, quarantined 1\n"
    assert "importing" not in result.stderr and "\r" not in result.stderr


def test_ci_is_quiet_even_on_a_terminal(data: tuple[Path, Path, str]) -> None:
    data_dir, mail, office = data
    code, screen = on_terminal(data_dir, "import", str(mail), "--office", office,
                               env=_env(CI="true"))
    assert code == 0
    assert "importing" not in screen and "%|" not in screen
    assert last_line(screen) == f"imported 0, duplicates {MESSAGES - 1}, quarantined 1"


def test_reindex_shows_progress_on_a_terminal_only(data: tuple[Path, Path, str]) -> None:
    data_dir, _, _ = data
    code, screen = on_terminal(data_dir, "reindex", sized=False)  # size unknown: 80 x 24
    assert code == 0, screen
    assert "reindexing: 100%" in screen and f"{MESSAGES - 1}/{MESSAGES - 1}" in screen
    assert last_line(screen) == f"reindexed {MESSAGES - 1} entries into sqlite-fts5"
    result = piped(data_dir, "reindex")
    assert result.returncode == 0
    assert result.stdout == f"reindexed {MESSAGES - 1} entries into sqlite-fts5\n"
    assert "reindexing" not in result.stderr


def test_export_shows_progress_on_a_terminal_only(data: tuple[Path, Path, str],
                                                  tmp_path: Path) -> None:
    data_dir, _, _ = data
    with sqlite3.connect(data_dir / "chronik.sqlite3") as db:
        customer = db.execute("SELECT id FROM customers ORDER BY id LIMIT 1").fetchone()[0]
    out = tmp_path / "export.zip"
    code, screen = on_terminal(data_dir, "export", "--customer", customer, "--out", str(out))
    assert code == 0, screen
    assert "exporting:" in screen and "100%" in screen
    assert last_line(screen).startswith("exported ") and out.exists()
    out.unlink()
    result = piped(data_dir, "export", "--customer", customer, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("exported ") and result.stdout.count("\n") == 1
    assert "exporting" not in result.stderr and out.exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_on_a_terminal_stream_and_not_on_a_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    terminal, file = _Terminal(), io.StringIO()
    for stream in (terminal, file):
        with Bar("work", total=3, unit=" items", stream=stream) as bar:
            bar.reach(2)
            bar.note("quarantined 1")
            bar.reach(3)
    assert "work:" in terminal.getvalue() and "quarantined 1" in terminal.getvalue()
    assert file.getvalue() == ""


def test_the_bar_stays_quiet_on_a_terminal_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    terminal = _Terminal()
    with Bar("work", total=3, unit=" items", stream=terminal) as bar:
        bar.reach(3)
    assert terminal.getvalue() == ""
