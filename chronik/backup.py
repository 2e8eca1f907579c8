"""``chronik backup DEST``: a consistent copy of a live SQLite data folder.

Copying the folder with ``cp`` or ``rsync`` while Chronik runs is not a backup: the store is
a database file plus its write-ahead log, and a copy taken between the two (or in the middle
of a checkpoint) can be torn. This copies the store with SQLite's online backup API in one
step — one read transaction, so the copy is the store as of one instant, and in WAL mode
the server's writers never wait for it — and checks the copy (``PRAGMA quick_check``).
Attachments are content-addressed and never change once written, so they are copied after
the store: every file the copied store names exists by then (a file erased in between is
rightly missing). The signing key and the template overrides go along. Left out: the search
index (``chronik serve`` rebuilds a missing one from the store before serving, as
``chronik reindex`` does), exports being built and the
background-work lock.

Everything is written into ``DEST.partial`` and renamed to ``DEST`` at the end, so a folder
named ``DEST`` is always a whole backup. Blocking file work: this runs as a command, never
inside the server's event loop."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

STORE = "chronik.sqlite3"
KEPT = ("secret_key",)
KEPT_DIRS = ("templates",)


class BackupError(Exception):
    """The backup could not be made (the message says why); nothing was left at DEST."""


@dataclass
class BackupReport:
    dest: Path
    entries: int
    files: int
    bytes: int

    def line(self) -> str:
        return (f"backed up {self.entries} entries and {self.files} attachment files "
                f"({self.bytes / 1e6:.1f} MB) to {self.dest}")


def backup(data_dir: Path, dest: Path) -> BackupReport:
    """Copy the data folder ``data_dir`` (whose store may be in use) to the new folder
    ``dest``."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder: name a new one")
    if dest.resolve().is_relative_to(data_dir.resolve()):
        raise BackupError(f"{dest} is inside the data folder: name a folder outside it")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted run left
    try:
        partial.mkdir(mode=0o700, parents=True)
        entries = _copy_store(data_dir / STORE, partial / STORE)
        files, size = _copy_blobs(data_dir / "blobs", partial / "blobs")
        for name in KEPT:
            if (data_dir / name).is_file():
                shutil.copy2(data_dir / name, partial / name)
        for name in KEPT_DIRS:
            if (data_dir / name).is_dir():
                shutil.copytree(data_dir / name, partial / name)
        _sync_tree(partial)
        if dest.exists():
            dest.rmdir()  # the empty folder named
        partial.rename(dest)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        where = f" ({exc.filename})" if exc.filename else ""
        raise BackupError(f"cannot write the backup: {exc.strerror or exc}{where}") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupReport(dest, entries, files, size)


def _copy_store(source: Path, target: Path) -> int:
    """The store as of one instant into ``target``, checked; its number of entries."""
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)  # all pages in one step: one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = [row[0] for row in dst.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise BackupError("the copy of the store failed its check: "
                                  + "; ".join(problems[:3]))
            (entries,) = dst.execute("SELECT count(*) FROM entries").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the store: {exc}") from None
    finally:
        src.close()
    os.chmod(target, 0o600)
    return int(entries)


def _copy_blobs(source: Path, target: Path) -> tuple[int, int]:
    """Copy the attachment files (not the half-written ``.tmp-`` ones); (files, bytes)."""
    files = size = 0
    if not source.is_dir():
        return files, size
    for folder, dirs, names in os.walk(source):
        dirs.sort()
        rel = Path(folder).relative_to(source)
        (target / rel).mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in sorted(names):
            if name.startswith(".tmp-"):
                continue
            try:
                shutil.copy2(Path(folder) / name, target / rel / name)
            except FileNotFoundError:  # erased while we copied: rightly not in the backup
                continue
            files += 1
            size += (target / rel / name).stat().st_size
    return files, size


def _sync_tree(root: Path) -> None:
    """fsync every file and folder below ``root`` (a backup is worth nothing in a cache)."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
