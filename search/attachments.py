"""Attachments' contents in search: the text of PDFs, office documents, RTF, HTML and plain
text files (``timeline/doctext.py``) is indexed with the entry it came with, so a policy
number inside ``Police.pdf`` finds the mail, note or upload it was attached to.

A file is read once: its text is kept beside it in the blob store (``Blobs.put_text``) and
goes when the file goes (erasure). Reading happens when the entry is indexed, not when it is
stored, so intake never waits for it: the indexer indexes an entry at once with what is
kept, then reads its new files and queues the entry to be indexed again (``reindex`` reads
before it indexes); the reading itself runs
in a process of its own (one, started on the first file, from a fork server that loads
only the readers), file by file: a 200-page PDF read in pure Python does not slow the
server's requests (the caller lookup) through the GIL, and a file that takes longer than
``timeout`` seconds (a hostile PDF that loops) is given up -- the process is killed, the file
kept as "no text", and indexing goes on. ``chronik import`` reads its mails' files in its
parser processes instead (``connectors/email/importer.py``), so the storing process finds
the text kept already.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from search.prepared import attachment_text
from timeline.blobs import Blobs
from timeline.doctext import MAX_BYTES, MAX_CHARS, document_text, worth_reading
from timeline.models import Attachment, Entry
from timeline.processes import process_context

log = logging.getLogger(__name__)

ATTACHMENT_TEXT = "attachment_text"
"""The key under which an entry handed to a search backend carries its files' text (the
indexer's copy only; never stored with the entry)."""


TIMEOUT = 60.0
"""Seconds one file may take to read (a 200-page PDF takes a few)."""


def _reader() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=process_context("timeline.doctext"))


class AttachmentTexts:
    def __init__(self, blobs: Blobs, *, max_bytes: int = MAX_BYTES,
                 max_chars: int = MAX_CHARS, timeout: float = TIMEOUT) -> None:
        self.blobs = blobs
        self.max_bytes = max_bytes
        """Files larger than this are not read (their names are still searchable)."""
        self.max_chars = max_chars
        """Text kept per file, at most."""
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._no_process = False

    async def _read(self, attachment: Attachment, data: bytes) -> str:
        """``data``'s text, read in the reader process (see the module's docstring); in a
        thread where no process can be started (a locked-down host: no semaphores)."""
        read = partial(document_text, attachment.name, attachment.content_type, data,
                       max_bytes=self.max_bytes, max_chars=self.max_chars)
        if self._no_process:
            return await asyncio.to_thread(read)
        try:
            if self._pool is None:
                self._pool = _reader()
            pool = self._pool
            try:
                reading = asyncio.get_running_loop().run_in_executor(pool, read)
            except BrokenProcessPool:  # its process died since the last file: a new one
                self._stop(pool, kill=True)
                self._pool = pool = _reader()
                reading = asyncio.get_running_loop().run_in_executor(pool, read)
        except (OSError, RuntimeError, ImportError) as exc:  # no process can be started
            if not self._no_process:
                log.warning("no reader process for attachments (%s): reading in a thread",
                            exc)
            self._no_process, self._pool = True, None
            return await asyncio.to_thread(read)
        try:
            return await asyncio.wait_for(reading, self.timeout)
        except TimeoutError:
            log.warning("attachment %s… not read for search: more than %g s",
                        attachment.sha256[:12], self.timeout)
            self._stop(pool, kill=True)
        except BrokenProcessPool:  # killed from outside (memory): a fresh one next time
            log.warning("attachment %s… not read for search: the reader process died",
                        attachment.sha256[:12])
            self._stop(pool, kill=True)
        return ""

    def _stop(self, pool: ProcessPoolExecutor, *, kill: bool) -> None:
        if self._pool is pool:
            self._pool = None
        if kill:  # (the executor itself cannot stop a running call)
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the reader process (at shutdown)."""
        if self._pool is not None:
            self._stop(self._pool, kill=False)

    def wanted(self, attachment: Attachment) -> bool:
        return worth_reading(attachment.name, attachment.content_type, attachment.size,
                             self.max_bytes)

    async def with_kept(self, entries: Sequence[Entry]) -> tuple[list[Entry], list[Entry]]:
        """``entries`` with the text kept for their files (no file is read here), and
        those of them with files not read yet (for :meth:`read`)."""
        kept = await self.blobs.get_texts(
            [a.sha256 for e in entries for a in e.attachments if self.wanted(a)])
        out: list[Entry] = []
        unread: list[Entry] = []
        for entry in entries:
            files = [a for a in entry.attachments if self.wanted(a)]
            if any(a.sha256 not in kept for a in files):
                unread.append(entry)
            out.append(_carrying(entry, [kept.get(a.sha256, "") for a in files]))
        return out, unread

    async def read(self, entries: Sequence[Entry]) -> list[int]:
        """Read (and keep) the files of ``entries`` not read yet; returns the seqs of the
        entries with a file read now -- to be indexed again with it."""
        done: list[int] = []
        for entry in entries:
            files = [a for a in entry.attachments if self.wanted(a)]
            kept = await self.blobs.get_texts([a.sha256 for a in files])
            read_now = False
            for file in files:
                if file.sha256 in kept:
                    continue
                data = await self.blobs.get(file.sha256)
                if data is None:  # erased meanwhile
                    continue
                await self.blobs.put_text(file.sha256, await self._read(file, data))
                read_now = True
            if read_now:
                done.append(entry.seq)
        return done

    async def with_texts(self, entries: Sequence[Entry]) -> list[Entry]:
        """``entries`` as a search backend should see them, every file read (``reindex``):
        those with readable files as copies carrying the files' text."""
        out, unread = await self.with_kept(entries)
        if unread and await self.read(unread):
            out, _ = await self.with_kept(entries)
        return out


def _carrying(entry: Entry, texts: list[str]) -> Entry:
    """``entry`` as a backend should index it: with its files' ``texts`` in its meta (a
    copy; the stored entry is never changed)."""
    joined = attachment_text(texts)
    if joined is None:
        return entry
    return Entry.model_construct(**{**entry.__dict__, "meta": {  # (stores build entries bare)
        **entry.meta, ATTACHMENT_TEXT: joined}})
