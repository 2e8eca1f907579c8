"""Attachment bytes, content-addressed on disk (``blobs/ab/cd/<sha256>``; folders ``0700``,
files ``0600``: see ``timeline/files.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from timeline.files import private_dir

_SHA = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fsync_each = True
        """``False`` during bulk imports: no fsync per file; call ``sync()`` at the end."""

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError("not a sha256 digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        if not target.parent.is_dir():
            private_dir(target.parent, below=self.root.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
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
