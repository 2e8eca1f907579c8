"""Attachment bytes, content-addressed on disk (``blobs/ab/cd/<sha256>``; folders ``0700``,
files ``0600``: see ``timeline/files.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from timeline.files import DIR_MODE, private_dir

_SHA = re.compile(r"^[0-9a-f]{64}$")
TEXT_SUFFIX = ".txt"
"""A file's searchable text is kept beside it as ``<sha256>.txt``."""


class Blobs(Protocol):
    """Where attachment bytes live, addressed by their SHA-256: ``BlobStore`` (files in the
    data folder) or ``timeline.pg_blobs.PgBlobStore`` (PostgreSQL, shared by every machine)."""

    fsync_each: bool
    """``False`` during bulk imports: no flush to disk per put; ``sync()`` at the end."""

    async def put(self, data: bytes, text: str | None = None) -> str:
        """Store ``data``; with ``text``, also its searchable text (see ``put_text``)."""

    async def get(self, sha256: str) -> bytes | None: ...
    async def delete(self, sha256: str) -> None:
        """The bytes and the text kept for them (``put_text``)."""

    async def sync(self) -> None: ...
    async def put_text(self, sha256: str, text: str) -> None:
        """Keep the searchable text of the file ``sha256`` (read once, searched often),
        unless the file is gone (an erasure deletes both; a text read meanwhile is not kept)."""

    async def get_text(self, sha256: str) -> str | None:
        """The text kept for the file ``sha256``; ``None``: none kept (not read yet)."""

    async def get_texts(self, sha256s: Sequence[str]) -> dict[str, str]:
        """The texts kept for those of ``sha256s`` that have one (one round trip)."""


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

    def _put(self, data: bytes, text: str | None = None) -> str:
        digest = self._put_bytes(data)
        if text is not None:
            self._put_text(digest, text)
        return digest

    def _put_bytes(self, data: bytes) -> str:
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

    async def put(self, data: bytes, text: str | None = None) -> str:
        return await asyncio.to_thread(self._put, data, text)

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
        def run() -> None:
            self.path(sha256).unlink(missing_ok=True)
            self.text_path(sha256).unlink(missing_ok=True)
        await asyncio.to_thread(run)

    def text_path(self, sha256: str) -> Path:
        """The text read from the file ``sha256``, beside it (``<sha256>.txt``)."""
        path = self.path(sha256)
        return path.with_name(path.name + TEXT_SUFFIX)

    def _put_text(self, sha256: str, text: str) -> None:
        source, target = self.path(sha256), self.text_path(sha256)
        if not source.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8", "surrogatepass"))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if not source.exists():  # erased while the text was read: not kept either
            target.unlink(missing_ok=True)

    async def put_text(self, sha256: str, text: str) -> None:
        await asyncio.to_thread(self._put_text, sha256, text)

    def _get_text(self, sha256: str) -> str | None:
        try:
            return self.text_path(sha256).read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return None

    async def get_text(self, sha256: str) -> str | None:
        return await asyncio.to_thread(self._get_text, sha256)

    async def get_texts(self, sha256s: Sequence[str]) -> dict[str, str]:
        def run() -> dict[str, str]:
            found = {sha: self._get_text(sha) for sha in dict.fromkeys(sha256s)}
            return {sha: text for sha, text in found.items() if text is not None}
        return await asyncio.to_thread(run) if sha256s else {}
