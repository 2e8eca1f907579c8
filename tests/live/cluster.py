"""Real ``chronik`` processes sharing one data folder: servers (``chronik serve``, also with
``--processes N``), a ``chronik worker``, and an SSE client for their ``/api/v1/events``.

Built on ``tests/support/live_server.py`` (seeding through the CLI, health polling, clean
SIGTERM stops)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.live_server import (
    HOST,
    ROOT,
    STOP_TIMEOUT,
    ChronikServer,
    ServerFailed,
    _healthy,
    free_port,
    wait_until,
)
from tests.support.postgres import fresh_database_sync

ENV: dict[str, str] = {"CHRONIK_NOTIFY_POLL_SECONDS": "0.2"}
"""No mail server: the notifier delivers published notes to the portal inbox."""


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONIK_")}
    env.update(ENV)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _spawn(workdir: Path, name: str, env: Mapping[str, str], *args: str
           ) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    with out.open("wb") as out_f, err.open("wb") as err_f:
        process = subprocess.Popen([sys.executable, "-m", "chronik.cli", *args],
                                   stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
                                   env=dict(env), cwd=ROOT)
    return process, out, err


def serve(workdir: Path, data_dir: Path, env: Mapping[str, str], seeded: tuple[str, str, str],
          name: str, *flags: str) -> ChronikServer:
    """``chronik serve`` (with ``flags``) on a free port, healthy."""
    return healthy(spawn_server(workdir, data_dir, env, seeded, name, *flags))


def spawn_server(workdir: Path, data_dir: Path, env: Mapping[str, str],
                 seeded: tuple[str, str, str], name: str, *flags: str) -> ChronikServer:
    """``chronik serve`` started, not waited for: start several, then ``healthy`` each
    (their start-ups, mostly imports, overlap on a machine with more than one core)."""
    port = free_port()
    process, out, err = _spawn(workdir, name, env, "--data-dir", str(data_dir), "serve",
                               "--host", HOST, "--port", str(port), *flags)
    office_id, admin, agent = seeded
    return ChronikServer(base_url=f"http://{HOST}:{port}", data_dir=data_dir,
                         office_id=office_id, admin_token=admin, agent_token=agent,
                         process=process, stdout_path=out, stderr_path=err, env=dict(env))


def healthy(server: ChronikServer) -> ChronikServer:
    """The server, once ``GET /api/v1/health`` answers (``ServerFailed`` if it exited)."""
    wait_until(functools.partial(_healthy, server), timeout=60,
               what=f"{server.stdout_path.stem} healthy")
    return server


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stop(self) -> None:
        if self.process.poll() is not None:
            raise ServerFailed(f"chronik worker exited early: {self.stderr_path.read_text()}")
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ServerFailed("chronik worker did not stop on SIGTERM") from None
        if code != 0:
            raise ServerFailed(f"chronik worker exited with {code}: "
                               f"{self.stderr_path.read_text()}")


def worker(workdir: Path, data_dir: Path, env: Mapping[str, str], *flags: str) -> Worker:
    """``chronik worker`` (with ``flags``), running."""
    return running(spawn_worker(workdir, data_dir, env, *flags))


def spawn_worker(workdir: Path, data_dir: Path, env: Mapping[str, str], *flags: str,
                 name: str = "worker") -> Worker:
    """``chronik worker`` started, not waited for (see ``spawn_server``)."""
    process, out, err = _spawn(workdir, name, env, "--data-dir", str(data_dir), "worker",
                               *flags)
    return Worker(process, out, err)


def stop_all(processes: Sequence[ChronikServer | Worker]) -> None:
    """Stop each (in this order), also when one of them fails to stop cleanly; then raise
    the first failure."""
    failed: list[ServerFailed] = []
    for proc in processes:
        try:
            proc.stop()
        except ServerFailed as exc:
            failed.append(exc)
    if failed:
        raise failed[0]


def running(w: Worker) -> Worker:
    """The worker, once it says it is running (``ServerFailed`` if it exited)."""
    def says_so() -> bool:
        if w.process.poll() is not None:
            raise ServerFailed(f"chronik worker exited: {w.stderr_path.read_text()}")
        return "running" in w.stdout_path.read_text()
    wait_until(says_so, timeout=60, what="chronik worker running")
    return w


def banner_pids(server: ChronikServer) -> list[int]:
    """The process ids ``serve --processes N`` printed."""
    line = wait_until(lambda: re.search(r"pids ([\d, ]+)\)", server.stdout_path.read_text()),
                      timeout=30, what="the banner")
    return [int(p) for p in line.group(1).split(", ")]


# ------------------------------------------------------------------------- who serves
def server_pid(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The pid among ``pids`` holding the server end of the TCP connection from
    ``client_port`` to ``server_port`` (from /proc)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode_field = fields[1], fields[2], fields[9]
        if (int(local.split(":")[1], 16) == server_port
                and int(remote.split(":")[1], 16) == client_port):
            inode = inode_field
    if inode is None:
        return None
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def listening_pids(port: int, pids: list[int]) -> set[int]:
    """Which of ``pids`` hold a socket listening on ``port`` (from /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    found.add(pid)
            except OSError:
                continue
    return found


# ------------------------------------------------------------------------- SSE
class Stream:
    """One open ``GET /api/v1/events``: ``until(type, pred)`` waits for a matching event."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @property
    def client_port(self) -> int:
        assert self.resp.connection is not None and self.resp.connection.transport is not None
        return int(self.resp.connection.transport.get_extra_info("sockname")[1])

    async def next(self, wait: float) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self._read(), wait)

    async def _read(self) -> tuple[str, dict[str, Any]]:
        event, data = "", ""
        while True:
            line = (await self.resp.content.readline()).decode()
            if not line:
                raise EOFError("stream closed")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and event:
                self.seen.append((event, json.loads(data)))
                return self.seen[-1]

    async def until(self, event_type: str, wait: float = 10.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event_type} {match} within {wait}s; saw {self.seen}")
            try:
                event, data = await self.next(left)
            except TimeoutError:
                raise AssertionError(f"no {event_type} {match} within {wait}s; saw {self.seen}"
                                     ) from None
            if event == event_type and all(data.get(k) == v for k, v in match.items()):
                return data


@asynccontextmanager
async def stream(session: aiohttp.ClientSession, server: ChronikServer,
                 token: str | None = None) -> AsyncIterator[Stream]:
    resp = await session.get(server.api_url + "/events", headers={
        "Authorization": f"Bearer {token or server.agent_token}"})
    try:
        assert resp.status == 200
        assert (await resp.content.readline()).startswith(b": connected")
        yield Stream(resp)
    finally:
        resp.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the processes a test starts."""
    with fresh_database_sync() as url:
        yield url
