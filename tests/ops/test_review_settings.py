"""A mistyped key in the ``CHRONIK_CONFIG`` file stops every command with a clear message
(it was ignored in silence: the setting kept its default, e.g. no mail server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.live.cluster import base_env
from tests.support.live_server import ROOT


def chronik(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "chronik.toml"
    path.write_text(config, "utf-8")
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir",
                           str(tmp_path / "data"), *args], capture_output=True, text=True,
                          env=base_env({"CHRONIK_CONFIG": str(path)}), cwd=ROOT, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_a_mistyped_key_is_named_with_the_key_meant(tmp_path: Path) -> None:
    for args in (("office", "create", "Büro"), ("serve", "--port", "0"), ("worker",)):
        done = chronik(tmp_path, 'http_port = 8081\nsmtp_hots = "mail.example"\n', *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "unknown setting 'smtp_hots' (did you mean 'smtp_host'?)" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()


def test_a_section_or_a_key_of_no_component_is_refused(tmp_path: Path) -> None:
    done = chronik(tmp_path, '[smtp]\nhost = "mail.example"\n', "office", "list")
    assert done.returncode == 2
    assert "unknown setting 'smtp'" in done.stderr


def test_keys_of_every_component_are_accepted(tmp_path: Path) -> None:
    config = ('http_port = 8081\nsmtp_host = "mail.example"\nmail_from = "a@b.example"\n'
              'email_imap_poll_seconds = 5\ntelegram_mode = "polling"\n'
              'portal_session_days = 7\ninbound_smtp_lmtp = true\nnotify_worker = false\n')
    done = chronik(tmp_path, config, "office", "create", "Büro")
    assert done.returncode == 0, done.stderr
