"""A full disk is a 507 ``storage_full`` on writes (not a 500 "bug"), and ``GET /ready``
says 503 before it comes to that."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections import namedtuple
from typing import Any

import pytest

from chronik.api import meta
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.blobs import BlobStore
from timeline.sqlite_db import SqliteDb


async def test_full_database_on_write_is_507(hub: Hub, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    c = await make_customer(hub)
    real_write = SqliteDb.write

    async def full(self: SqliteDb, fn: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteDb, "write", full)
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries",
                                        json={"kind": "note", "body": "Rückruf vereinbart."})
    assert status == 507, body
    assert body["error"]["code"] == "storage_full"
    assert "full" in body["error"]["message"] and "bug" not in body["error"]["message"]
    monkeypatch.setattr(SqliteDb, "write", real_write)
    # reads still work, and nothing half-written is there
    status, page = await hub.agent.get(f"/customers/{c['id']}/timeline")
    assert status == 200 and page["items"] == []
    status, e = await hub.agent.post(f"/customers/{c['id']}/entries",
                                     json={"kind": "note", "body": "Rückruf vereinbart."})
    assert status == 201, e


async def test_full_disk_on_attachment_write_is_507(hub: Hub, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    c = await make_customer(hub)

    async def full(self: BlobStore, data: bytes) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(BlobStore, "put", full)
    from aiohttp import FormData

    form = FormData()
    form.add_field("kind", "document")
    form.add_field("file", b"%PDF", filename="police.pdf", content_type="application/pdf")
    status, body = await hub.agent.post(f"/customers/{c['id']}/entries", data=form)
    assert status == 507 and body["error"]["code"] == "storage_full", body


async def test_ready_is_200_with_space(hub: Hub) -> None:
    status, body = await hub.anon.get("/ready")
    assert status == 200, body
    assert body["status"] == "ready" and body["free_bytes"] > 0
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"disk_space": True,
                                                           "writable": True}


async def test_ready_is_503_when_the_disk_is_nearly_full(hub: Hub,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: usage(10 ** 9, 10 ** 9 - 1024, 1024))
    status, body = await hub.anon.get("/ready")
    assert status == 503, body
    assert body["error"]["code"] == "not_ready"
    assert "disk_space" in body["error"]["message"]
    assert body["error"]["details"]["free_bytes"] == 1024
    status, health = await hub.anon.get("/health")
    assert status == 200  # liveness is another question


async def test_ready_is_503_when_the_data_folder_cannot_be_written(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(folder: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(meta, "write_probe", refuse)
    status, body = await hub.anon.get("/ready")
    assert status == 503 and "writable" in body["error"]["message"], body


def test_a_full_postgresql_disk_is_recognised_however_it_is_wrapped() -> None:
    import asyncpg
    import sqlalchemy.exc

    from chronik.app import storage_full

    full = asyncpg.exceptions.DiskFullError("could not extend file \"base/1/2\"")
    wrapped = sqlalchemy.exc.DBAPIError("INSERT …", None, full)
    wrapped.__cause__ = full
    assert storage_full(full) and storage_full(wrapped)
    assert not storage_full(asyncpg.exceptions.UniqueViolationError("duplicate key"))
