"""The data folder is the service user's alone: folders ``0700``, files ``0600``, whatever
the umask (store, search index, their journals, attachments, secret key)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, below: Path | None = None) -> None:
    """Create ``path`` (and missing parents) and make it ``0700``; with ``below``, also every
    folder between ``below`` (exclusive) and ``path``. Folders above are left alone."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    folders = [path]
    if below is not None:
        stop = below.resolve()
        parent = path.resolve().parent
        while parent != stop and stop in parent.parents:
            folders.append(parent)
            parent = parent.parent
    for folder in folders:
        os.chmod(folder, DIR_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` if missing and make it ``0600``.

    An existing file is never opened: closing any descriptor of a file drops every POSIX
    lock this process holds on it, and SQLite keeps its locks on the database and ``-shm``
    files that way -- a process that lost them lets the next one reset the shared memory
    under it (``SIGBUS``) while another process still uses it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    os.chmod(path, FILE_MODE)


def write_probe(folder: Path) -> None:
    """Create, write, sync and remove a small private file in ``folder``: raises ``OSError``
    when the folder cannot take a write (read-only, full, gone)."""
    probe = folder / f".probe-{secrets.token_hex(6)}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
