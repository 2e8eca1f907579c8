"""Drains the store's index outbox into a search backend; rebuilds a backend from the store.

Delivery is at-least-once: a batch is acknowledged only after the backend took it, and
backends index idempotently (same ``seq`` replaces).

An index whose text was written by an older ``TEXT_VERSION`` (folding or tokens changed:
only the store's original text gives the new words) is rebuilt from the store by
:meth:`Indexer.run` in the background, with the backend's zero-downtime rebuild: search
answers from the old index and the outbox keeps being drained into both until the swap. A
rebuild another process runs (``chronik reindex``) is left alone, or takes this one over;
an interrupted one starts over the next time the indexer runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from search.analysis import TEXT_VERSION
from search.attachments import AttachmentTexts
from search.backend import RebuildBusy, RebuildSuperseded, SearchBackend
from search.phones import PhoneForms
from timeline.models import Entry
from timeline.store import EntryRepository
from timeline.waiting import wait_set

log = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0
"""How soon an outdated index is looked at again when another rebuild runs or one failed."""
PROGRESS_SECONDS = 30.0
"""At most how often an automatic rebuild logs its progress."""


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
        """Drain the outbox for ever; meanwhile bring an index of older text up to date."""
        upgrade = asyncio.create_task(self.keep_text_current(), name="chronik-search-rebuild")
        try:
            await self._drain_forever()
        finally:
            upgrade.cancel()
            await asyncio.gather(upgrade, return_exceptions=True)

    async def keep_text_current(self) -> None:
        """Rebuild the index from the store while its text is older than ``TEXT_VERSION``;
        returns when it is current. Never raises (a failure is logged and retried)."""
        wait = RECHECK_SECONDS
        while True:
            try:
                found = await self.backend.text_version()
                if found >= TEXT_VERSION:
                    return
                await self._rebuild_text(found)
                wait = RECHECK_SECONDS
                continue
            except asyncio.CancelledError:
                raise
            except RebuildBusy as exc:
                log.info("search index: its text is outdated, but %s; looking again in "
                         "%.0f s", exc, wait)
            except RebuildSuperseded:
                log.warning("search index: another rebuild from the store took over the "
                            "automatic one (chronik reindex?)")
            except Exception:
                log.exception("search index: rebuilding from the store failed; retrying in "
                              "%.0f s (search answers from the old index)", wait)
                wait = min(wait * 2, 3600.0)
            await asyncio.sleep(wait)

    async def _rebuild_text(self, found: int) -> None:
        total = await self.store.count_entries()
        log.warning("search index: rebuilding from the store in the background (text "
                    "analysis v%d -> v%d, %d entries); search answers from the old index "
                    "until it is done", found, TEXT_VERSION, total)
        started = last = time.monotonic()
        done = 0

        def progress(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= PROGRESS_SECONDS:
                last = now
                log.info("search index: rebuilt %d of %d entries", done, total)

        count = await reindex(self.store, self.backend, progress=progress, texts=self.texts,
                              phones=self.phones, automatic=True)
        log.warning("search index: rebuild from the store done (%d entries in %.0f s)",
                    count, time.monotonic() - started)

    async def _drain_forever(self) -> None:
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
                  phones: PhoneForms | None = None, automatic: bool = False) -> int:
    """Rebuild ``backend`` from the store (the system of record); returns documents indexed.
    ``progress`` is called with the size of every batch read from the store; ``texts``:
    attachments' contents indexed too (read once, then kept beside the files); ``phones``:
    phone numbers in every format; ``automatic``: leave it to a rebuild another process is
    running (``RebuildBusy``) rather than take it over."""
    return await backend.rebuild(_StoreBatches(store, batch, progress, texts, phones),
                                 automatic=automatic)
