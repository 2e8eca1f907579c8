"""File modes: whatever the umask, the data folder is readable by the service user only —
folders 0700, files 0600 (store, search index, their -wal/-shm, attachments, secret key)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import FormData

from chronik.glue.notify import load_settings as notify_settings
from chronik.glue.notify import secret_key
from chronik.settings import Settings
from tests.api.test_customers_entries import make_customer
from tests.conftest import Hub
from timeline.files import private_dir, private_file


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    old = os.umask(0o022)  # a service manager's usual default: world-readable files
    tmp_path.joinpath("fresh").mkdir(mode=0o755)
    try:
        yield Settings(data_dir=tmp_path / "fresh" / "data", http_port=0,
                       max_upload_bytes=64 * 1024)
    finally:
        os.umask(old)


def readable_by_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)}: {oct(mode)}")
    return found


async def test_nothing_in_the_data_folder_is_readable_by_others(hub: Hub) -> None:
    c = await make_customer(hub, emails=["erika@example.de"], phones=["0171 1234567"])
    for i in range(3):
        form = FormData()
        form.add_field("kind", "document")
        form.add_field("notify", "false")
        form.add_field("file", f"Police {i}".encode() * 100, filename=f"police-{i}.pdf",
                       content_type="application/pdf")
        status, body = await hub.agent.post(f"/customers/{c['id']}/entries", data=form)
        assert status == 201, body
        status, body = await hub.agent.post(f"/customers/{c['id']}/entries",
                                            json={"kind": "note", "body": f"Notiz {i}"})
        assert status == 201, body
    await hub.indexed()
    await secret_key(hub.state.settings, notify_settings())
    data = hub.state.settings.data_dir
    names = {p.name for p in data.iterdir()}
    assert {"chronik.sqlite3", "chronik.sqlite3-wal", "search.sqlite3", "blobs",
            "secret_key"} <= names, names
    files = [p for p in (data / "blobs").rglob("*") if p.is_file()]
    assert len([p for p in files if len(p.name) == 64]) == 3  # the uploads
    assert len([p for p in files if p.suffix == ".txt"]) == 3  # their text, read for search
    assert readable_by_others(data) == []
    # the folder above the data folder is not ours to change
    assert stat.S_IMODE(data.parent.stat().st_mode) == 0o755


def test_existing_files_and_folders_are_made_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        tmp_path.joinpath("shared").mkdir(mode=0o755)
        folder = tmp_path / "shared" / "data"
        folder.mkdir()
        (folder / "chronik.sqlite3").write_bytes(b"")
        private_dir(folder)
        private_file(folder / "chronik.sqlite3")
        private_dir(folder / "a" / "b", below=folder)
        private_file(folder / "a" / "b" / "new")
    finally:
        os.umask(old)
    assert readable_by_others(folder) == []
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o755  # left alone
