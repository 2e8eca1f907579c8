"""Drains the store's index outbox into a search backend; rebuilds a backend from the store.

Delivery is at-least-once: a batch is acknowledged only after the backend took it, and
backends index idempotently (same ``seq`` replaces).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from search.attachments import AttachmentTexts
from search.backend import SearchBackend
from search.phones import PhoneForms
from timeline.models import Entry
from timeline.store import EntryRepository
from timeline.waiting import wait_set

log = logging.getLogger(__name__)


class Indexer:
    def __init__(
        self, store: EntryRepository, backend: SearchBackend, *, batch: int = 500,
        poll_seconds: float = 0.5, gather_seconds: float = 0.05,
        texts: AttachmentTexts | None = None, phones: PhoneForms | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.texts = texts
        """Attachments' contents indexed with their entries (``None``: names only)."""
        self.phones = phones
        """Phone numbers in the text indexed in every format (``None``: as written)."""
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        """After a wake-up, wait this long so a burst of writes is indexed as one batch."""
        self._wake = asyncio.Event()

    def wake(self, _entry: Entry | None = None) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        tasks = await self.store.pending_index_tasks(self.batch)
        if not tasks:
            return 0
        upserts = {t.seq: t.entry for t in tasks if t.entry is not None}
        deletes = [t.seq for t in tasks if t.entry is None and t.seq not in upserts]
        unread: list[Entry] = []
        if upserts:
            entries = [e for e in upserts.values() if e is not None]
            if self.texts is not None:  # what is kept now; new files are read below
                entries, unread = await self.texts.with_kept(entries)
            if self.phones is not None:
                entries = await self.phones.annotate(entries)
            await self.backend.index(entries)
        if deletes:
            await self.backend.delete(deletes)
        if unread and self.texts is not None:  # the entries are searchable already
            await self.store.requeue_index(await self.texts.read(unread))
        await self.store.ack_index_tasks([t.outbox_id for t in tasks])
        return len(tasks)

    async def drain(self, progress: Callable[[int], object] | None = None) -> int:
        """Index everything pending now (tests, CLI); ``progress`` gets each batch's size."""
        total = 0
        while n := await self.drain_once():
            total += n
            if progress is not None:
                progress(n)
        return total

    async def run(self) -> None:
        delay = self.poll_seconds
        while True:
            try:
                n = await self.drain_once()
                delay = self.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("indexing failed; retrying")
                n = 0
                delay = min(delay * 2, 30.0)
            if n == 0:
                self._wake.clear()
                if await wait_set(self._wake, delay):
                    await asyncio.sleep(self.gather_seconds)


class _StoreBatches:
    def __init__(self, store: EntryRepository, size: int,
                 progress: Callable[[int], object] | None = None,
                 texts: AttachmentTexts | None = None,
                 phones: PhoneForms | None = None) -> None:
        self.store = store
        self.size = size
        self.texts = texts
        self.phones = phones
        self.after = -(2**63)
        self.progress = progress
        self.handed = 0

    def __aiter__(self) -> _StoreBatches:
        return self

    async def __anext__(self) -> Sequence[Entry]:
        if self.progress is not None and self.handed:  # the backend is done with it
            self.progress(self.handed)
        self.handed = 0
        batch = await self.store.scan_entries(self.after, self.size)
        if not batch:
            raise StopAsyncIteration
        self.after = batch[-1].seq
        self.handed = len(batch)
        if self.texts is not None:
            batch = await self.texts.with_texts(batch)
        if self.phones is not None:
            batch = await self.phones.annotate(batch)
        return batch


async def reindex(store: EntryRepository, backend: SearchBackend, *, batch: int = 2000,
                  progress: Callable[[int], object] | None = None,
                  texts: AttachmentTexts | None = None,
                  phones: PhoneForms | None = None) -> int:
    """Rebuild ``backend`` from the store (the system of record); returns documents indexed.
    ``progress`` is called with the size of every batch read from the store; ``texts``:
    attachments' contents indexed too (read once, then kept beside the files); ``phones``:
    phone numbers in every format."""
    return await backend.rebuild(_StoreBatches(store, batch, progress, texts, phones))
