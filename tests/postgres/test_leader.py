"""On PostgreSQL the background work (indexer, connectors, notifier, retention) runs in
exactly one process per database: the first to start takes a lock in the database, every
other ``chronik worker --all`` or ``chronik serve`` stands by (serving HTTP as usual) and
takes over the moment the active one ends -- however it ends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import urllib.parse
from pathlib import Path

import asyncpg
import pytest

from tests.live.cluster import _spawn, base_env, serve
from tests.support.live_server import seed, wait_until
from tests.support.postgres import fresh_database_sync
from timeline.pg_leader import LeaderLock
from timeline.pg_migrate import asyncpg_dsn


async def test_one_process_holds_the_lock_and_the_next_gets_it_when_it_goes(
        pg_url: str) -> None:
    first, second = LeaderLock(pg_url, role="worker --all"), LeaderLock(pg_url, check_seconds=1)
    try:
        assert await first.try_take()
        assert not await second.try_take()
        holder = await second.holder()
        assert holder.startswith("chronik worker --all on ") and f"pid {os.getpid()}" in holder

        waiting = asyncio.create_task(second.take())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # still held
        await first.release()
        await asyncio.wait_for(waiting, 10)
        assert second.held

        # the holder notices when its session is ended from outside (a failover, an admin's
        # pg_terminate_backend, a network cut the server gave up on)
        watching = asyncio.create_task(second.lost())
        await asyncio.sleep(0.2)
        assert not watching.done()
        admin = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1", second.name)
        finally:
            await admin.close()
        assert ended == 1
        await asyncio.wait_for(watching, 10)
        assert not second.held
        assert await first.try_take()  # free again
    finally:
        await first.release()
        await second.release()


def _output(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.timeout(180)
def test_a_second_worker_stands_by_and_takes_over_when_the_first_is_killed(
        tmp_path: Path) -> None:
    with fresh_database_sync() as url:
        env = base_env({"CHRONIK_DATABASE_URL": url})
        data = tmp_path / "data"
        seeded = seed(data, env)
        first, first_out, _ = _spawn(tmp_path, "first", env, "--data-dir", str(data),
                                     "worker", "--all")
        started: list[subprocess.Popen[bytes]] = [first]
        http = None
        try:
            wait_until(lambda: "worker running" in _output(first_out), timeout=60,
                       what="the first worker running")
            second, second_out, second_err = _spawn(tmp_path, "second", env, "--data-dir",
                                                    str(data), "worker", "--all")
            started.append(second)
            wait_until(lambda: "standing by" in _output(second_out), timeout=60,
                       what="the second worker standing by")
            log = wait_until(lambda: "stands by" in _output(second_err) and
                             _output(second_err), timeout=10, what="who runs it")
            assert f"pid {first.pid}" in log  # says which process runs the work
            assert "CHRONIK_SEARCH_URL" in log  # and that its embedded index is this machine's
            assert "Traceback" not in log

            http = serve(tmp_path, data, env, seeded, "http", "--no-workers")
            office_id, _, agent = seeded
            customer = http.api("POST", "/customers", {"name": "Lena Vogt"}, agent)

            first.send_signal(signal.SIGKILL)  # no goodbye: the server ends its session
            first.wait(10)
            wait_until(lambda: "now runs the background work" in _output(second_err),
                       timeout=30, what="the second worker taking over")

            # the background work really runs there now: a new note becomes searchable
            http.api("POST", f"/customers/{customer['id']}/entries",
                     {"kind": "note", "body": "Übernahme Fahrradversicherung geprüft",
                      "visibility": "internal"}, agent)
            query = urllib.parse.quote("Fahrradversicherung")

            def found() -> bool:
                hits = http.api("GET", f"/search?q={query}", None, agent)
                return bool(hits["items"])
            wait_until(found, timeout=30, what="the note indexed by the second worker")
            assert second.poll() is None
            assert "Traceback" not in _output(second_err)
        finally:
            if http is not None:
                http.stop()
            for process in reversed(started):
                _stop(process)
