"""``/healthz`` and ``/readyz`` as a container runtime or load balancer sees them: no auth,
a JSON body naming the failed check, a 503 when the data folder cannot be written or the
search backend does not answer, and an answer in bounded time when a check hangs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chronik import ops
from search.backend import HitPage, SearchUnavailable
from search.query import SearchRequest
from tests.conftest import Hub


async def probe(hub: Hub, path: str) -> tuple[int, Any, dict[str, str]]:
    url = str(hub.server.make_url(path))
    async with hub.anon.session.get(url) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files, also for root (who ignores mode bits): the
    immutable attribute (``chattr +i``, ext4 and most Linux file systems)."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    made = subprocess.run([chattr, "+i", str(folder)], capture_output=True, text=True,
                          check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not allowed here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


async def test_healthz_is_public_and_says_ok(hub: Hub) -> None:
    status, body, headers = await probe(hub, "/healthz")
    assert status == 200 and body == {"status": "ok"}
    assert headers["Cache-Control"] == "no-store"


async def test_readyz_is_200_with_every_check_named(hub: Hub) -> None:
    status, body, _ = await probe(hub, "/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    assert {name: c["ok"] for name, c in body["checks"].items()} == {
        "database": True, "search": True, "data_dir": True}
    assert not list(hub.state.settings.data_dir.glob(".readyz-*"))  # the probe file is gone


async def test_readyz_is_503_when_the_data_folder_is_read_only(hub: Hub) -> None:
    with read_only(hub.state.settings.data_dir):
        status, body, _ = await probe(hub, "/readyz")
        live, _, _ = await probe(hub, "/healthz")
    assert status == 503, body
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["message"] == "not ready: data_dir"
    assert body["error"]["details"]["failed"] == ["data_dir"]
    assert body["error"]["details"]["checks"]["data_dir"]["error"] in (
        "PermissionError: Permission denied", "PermissionError: Operation not permitted")
    assert str(hub.state.settings.data_dir) not in str(body)  # no paths in the answer
    assert live == 200  # alive, just not ready
    status, body, _ = await probe(hub, "/readyz")
    assert status == 200, body  # writable again: ready again


class UnreachableSearch:
    """A search backend whose engine went away: what every backend raises then
    (``SearchUnavailable``, see ``search/backend.py``), here with credentials in the text
    the way a client library's message may carry its URL."""

    name = "opensearch"

    async def search(self, request: SearchRequest) -> HitPage:
        raise SearchUnavailable("cannot connect to http://chronik:s3cret@search.internal:9200")


class SilentSearch:
    """A search engine that accepts the connection and never answers."""

    name = "opensearch"

    async def search(self, request: SearchRequest) -> HitPage:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_readyz_is_503_when_the_search_backend_is_unreachable(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub.state, "backend", UnreachableSearch())
    status, body, _ = await probe(hub, "/readyz")
    assert status == 503, body
    assert body["error"]["details"]["failed"] == ["search"]
    assert body["error"]["details"]["checks"]["search"]["error"] == \
        "search backend unreachable or overloaded"
    assert "s3cret" not in str(body) and "search.internal" not in str(body)
    assert body["error"]["details"]["checks"]["database"]["ok"] is True


async def test_readyz_answers_in_bounded_time_when_checks_hang(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "CHECK_SECONDS", 0.3)
    monkeypatch.setattr(hub.state, "backend", SilentSearch())

    async def hang(office_id: str) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(hub.state.store, "get_office", hang)
    async with asyncio.timeout(5):  # the checks run together, each cut off after 0.3 s
        status, body, _ = await probe(hub, "/readyz")
    assert status == 503, body
    assert body["error"]["details"]["failed"] == ["database", "search"]
    assert body["error"]["details"]["checks"]["search"]["error"] == "no answer within 0.3s"
    assert body["error"]["details"]["checks"]["data_dir"]["ok"] is True


async def test_probes_are_not_in_the_openapi_document(hub: Hub) -> None:
    status, spec = await hub.anon.get("/openapi.json")
    assert status == 200
    assert not {"/healthz", "/readyz", "/metrics"} & set(spec["paths"])
