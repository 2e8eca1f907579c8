"""Attachment bytes, content-addressed on disk (``blobs/ab/cd/<sha256>``; folders ``0700``,
files ``0600``: see ``timeline/files.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from timeline.files import DIR_MODE, private_dir

_SHA = re.compile(r"^[0-9a-f]{64}$")


class Blobs(Protocol):
    """Where attachment bytes live, addressed by their SHA-256: ``BlobStore`` (files in the
    data folder) or ``timeline.pg_blobs.PgBlobStore`` (PostgreSQL, shared by every machine)."""

    fsync_each: bool
    """``False`` during bulk imports: no flush to disk per put; ``sync()`` at the end."""

    async def put(self, data: bytes) -> str: ...
    async def get(self, sha256: str) -> bytes | None: ...
    async def delete(self, sha256: str) -> None: ...
    async def sync(self) -> None: ...


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fsync_each = True
        """``False`` during bulk imports: no fsync per file; call ``sync()`` at the end."""
        # folders known to exist: ``ab/cd`` (any mode) and ``ab`` (made ``0700`` with the
        # folders above by this store), so a put neither stats nor resolves them again
        self._folders: set[str] = set()
        self._tops: set[str] = set()

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError("not a sha256 digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        try:
            self._folder(digest)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
        except FileNotFoundError:  # a folder was removed behind our back: make it again
            self._folders.clear()
            self._tops.clear()
            self._folder(digest)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self.fsync_each:
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def _folder(self, digest: str) -> None:
        """Make the ``ab/cd`` folder of ``digest`` (``0700``, and ``0700`` the folders up to
        the root) unless it exists."""
        key = digest[:4]
        if key in self._folders:
            return
        folder = self.root / digest[:2] / digest[2:4]
        top = digest[:2]
        if top in self._tops:  # only the last level may be missing
            try:
                os.mkdir(folder, DIR_MODE)
                os.chmod(folder, DIR_MODE)  # whatever the umask
            except FileExistsError:
                pass
        elif not folder.is_dir():
            private_dir(folder, below=self.root.parent)
            self._tops.add(top)
        self._folders.add(key)

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    async def sync(self) -> None:
        """Flush everything written so far to disk (after puts without ``fsync_each``)."""
        await asyncio.to_thread(os.sync)

    async def get(self, sha256: str) -> bytes | None:
        path = self.path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path(sha256).unlink, missing_ok=True)
