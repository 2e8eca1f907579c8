"""The export zip, written member by member: attachments and raw messages go in one at a
time as they are read from the blob store, so an export holds at most one file in memory
(a customer with years of scanned documents is gigabytes), then ``data.json``,
``summary.html`` and ``manifest.json`` (the SHA-256 of every other member). Written next to
its final name, readable only by the owner (it holds everything about a person), and
renamed into place when complete."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import IO, Any


class ExportZip:
    """Blocking file work: call its methods from a worker thread (``asyncio.to_thread``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.hashes: dict[str, str] = {}
        self._fh: IO[bytes] | None = None
        self._zip: zipfile.ZipFile | None = None

    def open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._fh = os.fdopen(fd, "wb")
        self._zip = zipfile.ZipFile(self._fh, "w", zipfile.ZIP_DEFLATED)

    def add(self, name: str, data: bytes) -> None:
        assert self._zip is not None, "open() first"
        self.hashes[name] = hashlib.sha256(data).hexdigest()
        self._zip.writestr(name, data)

    def finish(self, document: dict[str, Any], html: str, counts: dict[str, int]) -> None:
        """``data.json`` and ``summary.html``, the manifest, and the rename into place."""
        self.add("data.json", json.dumps(document, ensure_ascii=False, indent=2,
                                         default=str).encode("utf-8"))
        self.add("summary.html", html.encode("utf-8"))
        manifest = {"format": "chronik-export/1", "counts": counts, "files": self.hashes}
        assert self._zip is not None and self._fh is not None
        self._zip.writestr("manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        self._zip.close()
        self._fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        for closable in (self._zip, self._fh):
            if closable is not None:
                try:
                    closable.close()
                except (OSError, ValueError):
                    pass
        self.tmp.unlink(missing_ok=True)
