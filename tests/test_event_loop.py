"""CHRONIK_EVENT_LOOP: commands run on uvloop by default (when installed), on asyncio's own
loop when asked, and refuse clearly when uvloop is demanded but missing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chronik import cli
from chronik.loops import LoopUnavailable, run

ROOT = Path(__file__).resolve().parents[1]


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_runs_on_uvloop_and_asyncio_on_request() -> None:
    pytest.importorskip("uvloop", reason="uvloop is a dependency on Linux and macOS only")
    assert run(loop_module(), "auto").startswith("uvloop")
    assert run(loop_module(), "uvloop").startswith("uvloop")
    assert run(loop_module(), "asyncio").startswith("asyncio")


def test_auto_falls_back_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert run(loop_module(), "auto").startswith("asyncio")
    with pytest.raises(LoopUnavailable, match="uvloop is not installed"):
        run(loop_module(), "uvloop")


def test_a_command_demanding_a_missing_uvloop_exits_with_a_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setenv("CHRONIK_EVENT_LOOP", "uvloop")
    code = cli.main(["--data-dir", str(tmp_path), "office", "create", "Büro"])
    assert code == 2
    err = capsys.readouterr().err
    assert "CHRONIK_EVENT_LOOP=uvloop, but uvloop is not installed" in err
    assert "Traceback" not in err
    assert not (tmp_path / "chronik.sqlite3").exists()  # nothing was started


@pytest.mark.parametrize("kind", ["asyncio", "auto"])
def test_commands_work_on_either_loop(tmp_path: Path, kind: str) -> None:
    env = {**os.environ, "CHRONIK_EVENT_LOOP": kind}

    def chronik(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir",
                               str(tmp_path), *args], capture_output=True, text=True,
                              timeout=60, env=env, cwd=ROOT, check=False)

    made = chronik("office", "create", "Büro Süd")
    assert made.returncode == 0, made.stderr
    listed = chronik("office", "list")
    assert listed.returncode == 0 and made.stdout.strip() in listed.stdout


def test_a_wrong_loop_name_is_a_settings_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(tmp_path),
                           "office", "list"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CHRONIK_EVENT_LOOP": "trio"},
                          cwd=ROOT, check=False)
    assert done.returncode == 2
    assert "bad settings" in done.stderr and "event_loop" in done.stderr
