"""Several notification workers never send one message twice: three ``chronik worker``
processes share one store and a real SMTP server (aiosmtpd); 1,000 published notes are
queued; one worker is killed (SIGKILL) while it sends. Every note's e-mail arrives exactly
once, except the few the killed worker was in the middle of sending: those end ``unknown``
(never resent automatically, so never twice) -- and their lease ran out, so the surviving
workers took over everything else the killed one had claimed."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.live.cluster import Worker, pg_database, running, serve, spawn_worker, stop_all
from tests.support.live_server import ChronikServer, MailSink, seed, server_env

pytestmark = pytest.mark.timeout(600)
__all__ = ["pg_database"]

NOTES = 1000
CUSTOMERS = 100
CONCURRENCY = 8
"""Sends a worker has in flight at most: what a killed worker can leave ``unknown``."""
KILL_AFTER = 250
"""Messages received before the first worker is killed."""


def _env(sink: MailSink, extra: dict[str, str]) -> dict[str, str]:
    return server_env(sink.port, {
        "CHRONIK_NOTIFY_LEASE_SECONDS": "3",  # a killed worker's claims come free soon
        "CHRONIK_NOTIFY_POLL_SECONDS": "0.1",
        "CHRONIK_NOTIFY_CONCURRENCY": str(CONCURRENCY),
        **extra})


class SlowSink(MailSink):
    """Takes 20 ms per message, as a real server might: a worker then always has messages
    in flight, so the kill lands in the middle of sends."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with SlowSink() as running:
        yield running


async def _publish(server: ChronikServer) -> list[str]:
    """CUSTOMERS customers with an e-mail address, NOTES published notes among them."""
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with aiohttp.ClientSession(server.api_url + "/", headers=headers) as http:
        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with http.post(path, json=body) as resp:
                assert resp.status == 201, await resp.text()
                data: dict[str, Any] = await resp.json()
                return data
        customers = [await post("customers", {"name": f"Kunde {i}",
                                              "emails": [f"kunde{i}@example.org"]})
                     for i in range(CUSTOMERS)]
        gate = asyncio.Semaphore(8)

        async def note(i: int) -> str:
            async with gate:
                entry = await post(f"customers/{customers[i % CUSTOMERS]['id']}/entries", {
                    "kind": "note", "subject": f"Nachricht {i}", "body": f"Inhalt {i}",
                    "visibility": "published", "notify": True})
                return str(entry["id"])
        return list(await asyncio.gather(*(note(i) for i in range(NOTES))))


def _jobs(server: ChronikServer, status: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = server.api("GET", f"/notifications?status={status}&limit=200"
                          + (f"&cursor={cursor}" if cursor else ""))
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def _entry_of(message: Any) -> str:
    """The note a notification e-mail is about (its Message-ID is ``<entry>.email@…>``)."""
    return str(message["Message-ID"]).strip("<>").split(".", 1)[0]


def run_exactly_once(tmp_path: Path, sink: MailSink, extra: dict[str, str]) -> None:
    data_dir = tmp_path / "data"
    env = _env(sink, extra)
    seeded = seed(data_dir, env)
    api = serve(tmp_path, data_dir, env, seeded, "serve-api", "--no-workers")
    workers: list[Worker] = []
    try:
        notes = asyncio.run(_publish(api))
        assert len(set(notes)) == NOTES
        workers = [spawn_worker(tmp_path, data_dir, env, name=f"worker-{n}")
                   for n in range(3)]  # started at once
        for w in workers:
            running(w)
        deadline = time.monotonic() + 120
        while len(sink.messages) < KILL_AFTER:
            assert time.monotonic() < deadline, f"only {len(sink.messages)} sent in 120 s"
            time.sleep(0.05)
        victim = workers.pop(0)
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()

        deadline = time.monotonic() + 240
        while True:
            pending = _jobs(api, "pending")
            if not pending:
                break
            assert time.monotonic() < deadline, f"{len(pending)} still pending after 240 s"
            time.sleep(0.5)
        sent = {j["entry_id"] for j in _jobs(api, "sent")}
        unknown = {j["entry_id"] for j in _jobs(api, "unknown")}
        for status in ("dead", "failed", "suppressed"):
            assert _jobs(api, status) == [], status

        received = collections.Counter(_entry_of(m) for m in sink.messages)
        twice = {e: n for e, n in received.items() if n > 1}
        assert twice == {}, f"sent more than once: {twice}"
        assert sent | unknown == set(notes) and not sent & unknown
        assert set(received) >= sent  # every job recorded as sent really arrived
        assert set(received) <= set(notes)
        # only the killed worker's sends in flight are unknown: the others finished theirs
        assert len(unknown) <= CONCURRENCY, unknown
    finally:
        stop_all([*workers, api])


def test_three_workers_one_killed_send_every_message_once(tmp_path: Path,
                                                          sink: MailSink) -> None:
    run_exactly_once(tmp_path, sink, {})


def test_on_postgresql_too(tmp_path: Path, sink: MailSink, pg_database: str) -> None:
    """The same on the PostgreSQL store (claims with ``FOR UPDATE SKIP LOCKED``)."""
    run_exactly_once(tmp_path, sink, {"CHRONIK_DATABASE_URL": pg_database})
