"""The CLI as a user runs it (a real subprocess), and settings documentation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chronik.settings import SETTINGS_MODELS, Settings, env_names
from timeline.config import CONFIG_ENV

ROOT = Path(__file__).resolve().parents[1]


def chronik(*args: str, data_dir: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           *args], capture_output=True, text=True, timeout=60, env=full_env,
                          cwd=ROOT, check=False)


def test_office_agent_reindex_roundtrip(tmp_path: Path) -> None:
    made = chronik("office", "create", "Büro Nord", "--region", "at", data_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    office_id = made.stdout.strip()
    assert len(office_id) == 26
    agent = chronik("agent", "create", "Anna", "--office", office_id, "--role", "admin",
                    data_dir=tmp_path)
    assert agent.returncode == 0, agent.stderr
    token = agent.stdout.strip().splitlines()[-1]
    assert token.startswith("chk_")
    listed = chronik("office", "list", data_dir=tmp_path)
    assert office_id in listed.stdout and "AT" in listed.stdout
    re = chronik("reindex", data_dir=tmp_path)
    assert re.returncode == 0 and "reindexed 0 entries" in re.stdout


@pytest.mark.parametrize("args,needle", [
    (["office", "create", "X", "--region", "XX"], "unknown region"),
    (["agent", "create", "Anna", "--office", "nope"], "no Chronik data"),
    (["agent", "create", "Anna"], "--office"),
    (["agent", "create", "Anna", "--office", "x", "--role", "boss"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
], ids=["region", "office", "missing-office", "role", "command", "nothing"])
def test_bad_arguments_exit_nonzero_with_a_message(tmp_path: Path, args: list[str],
                                                   needle: str) -> None:
    result = chronik(*args, data_dir=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_a_mistyped_data_dir_is_an_error_not_a_new_store(tmp_path: Path) -> None:
    made = chronik("office", "create", "Büro", data_dir=tmp_path / "data")
    assert made.returncode == 0, made.stderr
    for args in (["office", "list"], ["serve", "--port", "0"], ["reindex"],
                 ["agent", "list", "--office", made.stdout.strip()]):
        result = chronik(*args, data_dir=tmp_path / "dta")
        assert result.returncode == 2, (args, result.stderr)
        assert "no Chronik data in" in result.stderr and "office create" in result.stderr
        assert not (tmp_path / "dta").exists()
    unknown = chronik("agent", "create", "Anna", "--office", "nope", data_dir=tmp_path / "data")
    assert unknown.returncode == 2 and "no office" in unknown.stderr


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    result = chronik("office", "list", data_dir=tmp_path, env={"CHRONIK_HTTP_PORT": "eighty"})
    assert result.returncode == 2 and "http_port" in result.stderr
    missing = chronik("office", "list", data_dir=tmp_path, env={CONFIG_ENV: "/nope.toml"})
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_toml_config_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    config = tmp_path / "chronik.toml"
    config.write_text('http_port = 9091\nlog_level = "DEBUG"\n')
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("CHRONIK_LOG_LEVEL", "WARNING")
    s = Settings()
    assert s.http_port == 9091 and s.log_level == "WARNING"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = [name for model in SETTINGS_MODELS for name in env_names(model)
               if f"`{name}`" not in readme]
    assert missing == []
    assert f"`{CONFIG_ENV}`" in readme


def test_defaults() -> None:
    s = Settings()
    assert s.http_port == 8080 and s.search_backend == "sqlite"


def test_one_toml_file_configures_every_component(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.email.settings import EmailSettings
    from connectors.portal.settings import PortalSettings
    from connectors.telegram.settings import TelegramSettings

    config = tmp_path / "chronik.toml"
    config.write_text('http_port = 9092\nemail_imap_host = "imap.example"\n'
                      'telegram_mode = "webhook"\nportal_session_days = 7\n')
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("CHRONIK_PORTAL_SESSION_DAYS", "9")
    assert Settings().http_port == 9092
    assert EmailSettings().imap_host == "imap.example"
    assert TelegramSettings().mode == "webhook"
    assert PortalSettings().session_days == 9  # the environment wins


def test_a_reindex_overtaken_by_another_says_so_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two ``chronik reindex`` at once on FTS5: the later one takes the rebuild over and the
    earlier one stops (``RebuildSuperseded``): it says what happened, exit code 1."""
    import search.indexer
    from chronik.cli import main
    from search.backend import RebuildSuperseded

    made = chronik("office", "create", "Büro", data_dir=tmp_path)
    assert made.returncode == 0, made.stderr

    async def overtaken(*_args: object, **_kw: object) -> int:
        raise RebuildSuperseded
    monkeypatch.setattr(search.indexer, "reindex", overtaken)
    assert main(["--data-dir", str(tmp_path), "reindex"]) == 1
    err = capsys.readouterr().err
    assert "another rebuild of the search index" in err and "took over" in err
    assert "Traceback" not in err
