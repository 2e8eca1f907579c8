"""Kill the worker process in the middle of a send: the normal retry path must not send a
second e-mail. A real ``chronik worker`` subprocess is SIGKILLed right after the SMTP sink
took the message's DATA but before the worker could record the outcome."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chronik.settings import Settings
from tests.conftest import Hub
from tests.notify.conftest import (
    Received,
    SmtpSink,
    customer,
    eventually,
    free_port,
    note,
    outcome,
    start_hub,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def quiet_hub(tmp_path: Path, notify_env: dict[str, str],
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    """The server without its own worker: only the subprocess workers deliver."""
    monkeypatch.setenv("CHRONIK_NOTIFY_WORKER", "false")
    hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=free_port()))
    yield hub
    await session.close()
    await hub.server.close()


async def start_worker(hub: Hub, tmp_path: Path, name: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "CHRONIK_NOTIFY_LEASE_SECONDS": "1",
           "CHRONIK_HTTP_PORT": str(hub.state.settings.http_port)}
    log = (tmp_path / f"{name}.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chronik.cli", "--data-dir", str(hub.state.settings.data_dir),
            "worker", env=env, cwd=ROOT, stdout=log, stderr=log)
    finally:
        log.close()


async def test_worker_killed_after_data_does_not_send_twice(
        quiet_hub: Hub, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    hub = quiet_hub
    got_data = asyncio.Event()
    release = asyncio.Event()

    async def hold(_msg: Received) -> None:  # the message is in; the reply is held back
        got_data.set()
        await release.wait()
    smtp_sink.on_data = hold

    c = await customer(hub, email="erika@example.de")
    e = await note(hub, c["id"], "Genau einmal, bitte")
    first = await start_worker(hub, tmp_path, "first")
    try:
        async with asyncio.timeout(20):
            await got_data.wait()
    finally:
        first.kill()  # SIGKILL: no cleanup, no acknowledgement
        await first.wait()
    assert first.returncode == -9
    release.set()
    smtp_sink.on_data = None

    second = await start_worker(hub, tmp_path, "second")
    try:
        done = await outcome(hub, c["id"], e["id"], timeout=20)
        assert done["meta"]["notification"]["status"] == "unknown"
        assert "not sent again automatically" in done["meta"]["notification"]["reason"]
        await asyncio.sleep(0.5)
        assert len(smtp_sink.received) == 1
        _, source = await hub.agent.get(f"/entries/{e['id']}")
        assert source["meta"]["delivery"]["status"] == "unknown"
        status, listed = await hub.admin.get("/notifications?status=unknown")
        assert status == 200
        (job,) = listed["items"]
        assert [a["outcome"] for a in job["history"]] == ["interrupted"]

        # An admin decides to send it again: same Message-ID, so a mail client that
        # de-duplicates shows it once.
        status, _ = await hub.admin.post(f"/notifications/{job['id']}/retry")
        assert status == 200
        got = await smtp_sink.wait(2, timeout=20)
        assert got[0].message["Message-ID"] == got[1].message["Message-ID"] == \
            f"<{e['id']}.email@buero.test>"

        async def settled() -> list[dict] | None:
            _, page = await hub.admin.get(f"/notifications?customer={c['id']}")
            return page["items"] if page["items"][0]["status"] == "sent" else None
        await eventually(settled, timeout=20)
    finally:
        second.terminate()
        await second.wait()
    assert second.returncode == 0, (tmp_path / "second.log").read_text()
