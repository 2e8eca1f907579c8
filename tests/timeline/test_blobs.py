"""Attachment files on disk: every folder ``0700`` and every file ``0600`` whatever the
umask, however many files share a folder, and a folder removed meanwhile is made again."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from timeline.blobs import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlobStore]:
    old = os.umask(0o022)  # a service manager's usual default: world-readable files
    try:
        yield BlobStore(tmp_path / "data" / "blobs")
    finally:
        os.umask(old)


def _with_prefix(prefix: str, skip: int = 0) -> bytes:
    """Attachment bytes whose digest starts with ``prefix``."""
    found = 0
    for number in range(1_000_000):
        data = f"Anhang {number}".encode()
        if hashlib.sha256(data).hexdigest().startswith(prefix):
            if found == skip:
                return data
            found += 1
    raise AssertionError(f"no bytes with digest prefix {prefix!r}")


async def test_many_attachments_stay_private_and_readable(store: BlobStore) -> None:
    store.fsync_each = False
    blobs = [f"Police {n}".encode() * 20 for n in range(600)]  # 600 files, 256 first folders
    digests = [await store.put(data) for data in blobs]
    await store.sync()
    root = store.root  # the folder above is not the store's to change
    assert len({d[:2] for d in digests}) < len(digests)  # first-level folders are shared
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    for digest, data in zip(digests, blobs, strict=True):
        assert await store.get(digest) == data
    assert await store.put(blobs[0]) == digests[0]  # the same bytes again: one file
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 600


async def test_a_folder_removed_meanwhile_is_made_again(store: BlobStore) -> None:
    first = await store.put(_with_prefix("ab"))
    shutil.rmtree(store.root / "ab")  # e.g. an administrator cleaning up by hand
    again = _with_prefix("ab", skip=1)
    digest = await store.put(again)
    assert digest != first
    assert await store.get(digest) == again
    assert stat.S_IMODE((store.root / "ab").stat().st_mode) == 0o700


async def test_a_files_text_lives_and_goes_with_it(store: BlobStore) -> None:
    """Search keeps a file's text beside it (``<sha256>.txt``, private like the file); an
    erasure deleting the file deletes the text, and a text read while the file was being
    deleted is not kept."""
    sha = await store.put(b"%PDF- Police", "Versicherungsschein VS-4711")
    assert await store.get_text(sha) == "Versicherungsschein VS-4711"
    assert stat.S_IMODE(os.stat(store.text_path(sha)).st_mode) == 0o600
    other = await store.put(b"anderes")
    assert await store.get_text(other) is None
    assert await store.get_texts([sha, other, sha]) == {sha: "Versicherungsschein VS-4711"}
    await store.put_text(other, "")  # read, nothing found: kept as such
    assert await store.get_texts([other]) == {other: ""}
    await store.delete(sha)
    assert await store.get(sha) is None and await store.get_text(sha) is None
    assert not store.text_path(sha).exists()
    await store.put_text(sha, "zu spät")  # the file is gone: its text is not kept
    assert not store.text_path(sha).exists()
