"""``CHRONIK_DATABASE_URL`` that is wrong or a PostgreSQL that is away: a message naming the
setting and an exit code that says whether waiting helps (1) or a setting must change (2) —
not a traceback, and not ``cannot listen on …`` (the port was never the problem)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, free_port
from tests.support.postgres import require_server

pytestmark = pytest.mark.timeout(180)

COMMANDS = [("serve", "--host", HOST, "--port", "0"), ("office", "list"), ("worker",)]


def chronik(tmp_path: Path, url: str, *args: str, folder: str = "data"
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir",
                           str(tmp_path / folder), *args], capture_output=True, text=True,
                          env=base_env({"CHRONIK_DATABASE_URL": url}), cwd=ROOT, timeout=90,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_postgresql_that_is_away_is_exit_1_and_says_so(tmp_path: Path,
                                                         command: tuple[str, ...]) -> None:
    url = f"postgresql://chronik:secret-pw@{HOST}:{free_port()}/chronik"
    done = chronik(tmp_path, url, *command)
    assert done.returncode == 1, done.stderr
    assert "chronik: cannot reach the PostgreSQL store (CHRONIK_DATABASE_URL)" in done.stderr
    assert "cannot listen" not in done.stderr
    assert "Traceback" not in done.stderr and "secret-pw" not in done.stderr


async def test_a_wrong_password_or_database_or_scheme_is_a_settings_error(
        tmp_path: Path) -> None:
    server = sa.make_url(await require_server())
    wrong = {
        "password": (server.set(password="not-the-password"),
                     "password authentication failed"),
        "database": (server.set(database="chronik_no_such_db"), "does not exist"),
    }
    runs = [(name, url.render_as_string(hide_password=False), says, command)
            for name, (url, says) in wrong.items() for command in COMMANDS[:2]]
    runs.append(("scheme", "mysql://chronik:pw@db/chronik", "", ("office", "list")))
    # the processes run at once (each its own data folder): their start-ups are most of it
    results = await asyncio.gather(*(
        asyncio.to_thread(chronik, tmp_path, url, *command, folder=f"data-{n}")
        for n, (_, url, _, command) in enumerate(runs)))
    *settings_errors, (_, scheme) = zip(runs, results, strict=True)
    for (name, _, says, command), done in settings_errors:
        assert done.returncode == 2, (name, command, done.stderr)
        assert "chronik: bad settings: the PostgreSQL store (CHRONIK_DATABASE_URL)" \
            in done.stderr
        assert says in done.stderr
        assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr
    assert scheme.returncode == 2, scheme.stderr
    assert "bad settings: CHRONIK_DATABASE_URL: not a PostgreSQL URL" in scheme.stderr
    assert "Traceback" not in scheme.stderr
