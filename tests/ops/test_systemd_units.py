"""``deploy/systemd/``: the units pass ``systemd-analyze verify`` without a warning, score as
hardened in ``systemd-analyze security --offline``, and run what they say; the sysusers file
creates the user. systemd need not be running (this machine has none): both commands read
unit files offline. ``/opt/chronik`` is not installed here, so the units are checked with
their ``ExecStart`` program pointed at a stand-in script (verify insists that it exists)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from chronik.cli import build_parser

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
PROGRAM = "/opt/chronik/bin/chronik"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SYSUSERS = shutil.which("systemd-sysusers")
MAX_EXPOSURE = 20
"""``--threshold`` is on the 0–100 scale behind the 0–10 "exposure level": 20 = 2.0, "OK"."""

needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                   reason="systemd-analyze is not installed (apt-get install "
                                          "systemd)")
UNIT_NAMES = ["chronik.service", "chronik-worker.service"]


def staged(unit: str, tmp_path: Path, text: str | None = None) -> Path:
    """The unit as it would be installed, with ``ExecStart`` pointing at an executable."""
    program = tmp_path / "bin" / "chronik"
    program.parent.mkdir(exist_ok=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    body = (text if text is not None else (UNITS / unit).read_text("utf-8"))
    target = tmp_path / unit
    target.write_text(body.replace(PROGRAM, str(program)))
    return target


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, text=True,
                          timeout=60, check=False)


def unit_config(unit: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / unit).read_text("utf-8"))
    return parser


@needs_analyze
@pytest.mark.parametrize("unit", UNIT_NAMES)
def test_unit_verifies_cleanly(unit: str, tmp_path: Path) -> None:
    result = analyze("verify", str(staged(unit, tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings


@needs_analyze
def test_verify_catches_a_mistake(tmp_path: Path) -> None:
    text = (UNITS / "chronik.service").read_text("utf-8")
    broken = text.replace("ProtectSystem=strict", "ProtectSytem=strict")
    assert broken != text
    result = analyze("verify", str(staged("chronik.service", tmp_path, broken)))
    assert "Unknown key" in result.stderr


@needs_analyze
@pytest.mark.parametrize("unit", UNIT_NAMES)
def test_unit_is_hardened(unit: str, tmp_path: Path) -> None:
    result = analyze("security", "--offline=yes", f"--threshold={MAX_EXPOSURE}",
                     str(staged(unit, tmp_path)))
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Overall exposure level" in result.stdout


@pytest.mark.parametrize("unit,command", [("chronik.service", "serve"),
                                          ("chronik-worker.service", "worker")])
def test_unit_runs_chronik_as_its_own_user_in_its_state_directory(unit: str,
                                                                  command: str) -> None:
    service = unit_config(unit)["Service"]
    program, *args = service["ExecStart"].split()
    assert program == PROGRAM and args == [command]
    assert build_parser().parse_args(args).command == command
    assert service["User"] == "chronik" and service["StateDirectory"] == "chronik"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["UMask"] == "0077"
    text = (UNITS / unit).read_text("utf-8")
    assert "Environment=CHRONIK_DATA_DIR=%S/chronik" in text
    assert "EnvironmentFile=-/etc/chronik/chronik.env" in text  # secrets stay out of units


@pytest.mark.skipif(SYSUSERS is None, reason="systemd-sysusers is not installed")
def test_sysusers_file_creates_the_user(tmp_path: Path) -> None:
    assert SYSUSERS is not None
    (tmp_path / "etc").mkdir()
    result = subprocess.run([SYSUSERS, "--dry-run", f"--root={tmp_path}",
                             str(UNITS / "chronik.sysusers.conf")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Creating user 'chronik'" in result.stderr + result.stdout
