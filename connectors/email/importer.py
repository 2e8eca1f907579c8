"""``chronik import``: every message of an .eml file, a folder of them, an mbox file or a
Maildir folder, into one office -- streaming, so memory stays flat however big the source.

Three stages overlap: raw messages are read (``sources.iter_messages``), worker processes
parse them (``parse_message`` is pure CPU work; the first ``POOL_AFTER`` messages are parsed
in a thread, so small imports do not wait for processes to start), and the event loop
ingests them in batches, in source order, through :class:`MailIngest` (the same path as IMAP
and SMTP: identity resolution, idempotency, quarantine). At most ``workers * 2`` batches are
in flight. Re-importing the same source gives duplicates, never new entries.

Where each message is a file (a folder, a Maildir), the parsing side reads the files itself
and hands back the raw bytes with the result: the importing process, busy with storing,
never holds up the parsers with its own reading. An mbox is split by a thread of the
importing process.

The worker processes come from a fork server that has imported only this module's parsing
side (not the command line, the web app and every connector, as ``spawn`` would): they
start in a fraction of a second and each holds a fraction of the memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from timeline.doctext import document_text, worth_reading
from timeline.processes import collect_less, process_context

from .errors import MailParseError, SourceError
from .inbound import MailIngest, quarantine_reason
from .parse import ParsedMail, parse_message
from .sources import MessageStream, RawMessage, iter_messages, read_files

BATCH = 512
"""Messages per batch: one read of known source ids and senders, few write transactions."""
POOL_AFTER = 1000
"""Messages parsed in threads before parser processes are started."""
TEXT_TIMEOUT = 60.0
"""Seconds a parser process may spend reading one attached file's text."""


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    expected: int | None = None
    """How many messages the source holds, when that is known before reading it (files and
    folders; not an mbox)."""
    skipped: tuple[str, ...] = ()
    """Files of a folder that hold no mail (their names)."""
    left_out: tuple[str, ...] = ()
    """Folders and mbox files of junk or deleted mail in a folder (their names)."""

    @property
    def total(self) -> int:
        return self.imported + self.duplicates + self.quarantined

    def line(self) -> str:
        line = (f"imported {self.imported}, duplicates {self.duplicates}, "
                f"quarantined {self.quarantined}")
        if self.skipped:
            shown = ", ".join(self.skipped[:3]) + (", …" if len(self.skipped) > 3 else "")
            line += (f"; skipped {len(self.skipped)} file(s) that hold no mail "
                     f"(not a message, mbox, .emlx or Outlook mail: {shown})")
        if self.left_out:
            shown = ", ".join(self.left_out[:5]) + (", …" if len(self.left_out) > 5 else "")
            line += (f"; left out {len(self.left_out)} folder(s) of junk or deleted mail "
                     f"({shown}): import one by naming it")
        return line


Parsed = ParsedMail | str
"""A parsed message, or the quarantine reason why it could not be parsed."""


def parse_batch(raws: list[bytes], max_bytes: int, text_max_bytes: int | None = None
                ) -> list[Parsed]:
    """Parse a batch (runs in a worker process). ``text_max_bytes``: also read the
    searchable text of attached files up to that size (``None``: not here)."""
    out: list[Parsed] = []
    for raw in raws:
        try:
            parsed = parse_message(raw, max_bytes=max_bytes)
        except MailParseError as exc:
            out.append(quarantine_reason(exc))
            continue
        if text_max_bytes is not None and parsed.attachments:
            parsed = dataclasses.replace(parsed, attachments=tuple(
                dataclasses.replace(a, text=document_text(
                    a.filename, a.content_type, a.data, max_bytes=text_max_bytes,
                    timeout=TEXT_TIMEOUT))
                if worth_reading(a.filename, a.content_type, len(a.data), text_max_bytes)
                else a for a in parsed.attachments))
        parsed.content_sha256  # noqa: B018 -- hashed here, not in the storing process
        out.append(parsed)
    return out


def read_and_parse(paths: list[str], maildir: bool | frozenset[str], max_bytes: int,
                   text_max_bytes: int | None = None) -> list[tuple[RawMessage, Parsed]]:
    """Read and parse a batch of files of a :class:`MessageFiles` (in a worker process)."""
    messages = read_files(paths, maildir=maildir, max_bytes=max_bytes)
    return list(zip(messages, parse_batch([m.raw for m in messages], max_bytes,
                                          text_max_bytes), strict=True))


T = TypeVar("T")
Enrich = Callable[[ParsedMail], T]
"""Work the parser processes do for the storing process on each parsed mail (``chronik
import`` gives one that reads the mail's searchable words there: ``search.prepared``); a
picklable module-level function (or a ``functools.partial`` of one)."""


def _enriched(parsed: list[Parsed], enrich: Enrich[T]) -> list[T | None]:
    out: list[T | None] = []
    for p in parsed:
        if isinstance(p, str):
            continue
        try:
            out.append(enrich(p))
        except Exception:  # only a help: the storing process does it itself then
            out.append(None)
    return out


def parse_batch_enriched(raws: list[bytes], max_bytes: int, text_max_bytes: int | None,
                         enrich: Enrich[T]) -> tuple[list[Parsed], list[T | None]]:
    """:func:`parse_batch`, and ``enrich`` of each mail parsed (in a worker process)."""
    parsed = parse_batch(raws, max_bytes, text_max_bytes)
    return parsed, _enriched(parsed, enrich)


def read_and_parse_enriched(paths: list[str], maildir: bool | frozenset[str], max_bytes: int,
                            text_max_bytes: int | None, enrich: Enrich[T]
                            ) -> tuple[list[tuple[RawMessage, Parsed]], list[T | None]]:
    """:func:`read_and_parse`, and ``enrich`` of each mail parsed (in a worker process)."""
    pairs = read_and_parse(paths, maildir, max_bytes, text_max_bytes)
    return pairs, _enriched([p for _, p in pairs], enrich)


def _next_batch(messages: Iterator[RawMessage], size: int) -> list[RawMessage]:
    batch: list[RawMessage] = []
    for message in messages:
        batch.append(message)
        if len(batch) >= size:
            break
    return batch


async def open_source(path: Path, max_bytes: int) -> Iterator[RawMessage]:
    """Check the source now (raises :class:`SourceError` for a bad path)."""
    return await asyncio.to_thread(iter_messages, path, max_bytes=max_bytes)


async def import_messages(mail: MailIngest, office_id: str, messages: Iterator[RawMessage],
                          *, workers: int = 2,
                          progress: Callable[[ImportSummary], None] | None = None,
                          text_max_bytes: int | None = None,
                          enrich: Enrich[T] | None = None,
                          enriched: Callable[[list[T | None]], None] | None = None
                          ) -> ImportSummary:
    """Ingest every message of ``messages`` (an iterator from :func:`open_source`).
    ``progress`` is called with the running summary after every batch; ``text_max_bytes``:
    the parser processes also read attached files' searchable text up to that size (what
    the indexer would otherwise read in this process); ``enrich``: also run in the parser
    processes on each mail, its results handed to ``enriched`` before the batch is stored
    (not for the first batches, parsed in this process)."""
    stream = messages if isinstance(messages, MessageStream) else None
    files = stream.files if stream is not None else None
    summary = ImportSummary(expected=stream.total if stream is not None else None,
                            skipped=stream.skipped if stream is not None else (),
                            left_out=stream.left_out if stream is not None else ())
    loop = asyncio.get_running_loop()
    pool: Executor | None = None
    pending: asyncio.Queue[tuple[list[RawMessage] | None, asyncio.Future[Any]] | None] = (
        asyncio.Queue(maxsize=max(2, workers * 2)))

    def texts() -> int | None:
        """Attached files are read in the parser processes, with a time limit there; the
        first batches, parsed in this process, leave them to the indexer (which reads in
        a process of its own)."""
        return text_max_bytes if pool is not None else None

    def parse(fn: Callable[..., Any], *args: object) -> asyncio.Future[Any]:
        if pool is None:
            return asyncio.ensure_future(asyncio.to_thread(fn, *args))
        return loop.run_in_executor(pool, fn, *args)

    async def produce() -> None:
        nonlocal pool
        read = 0
        try:
            while True:
                if pool is None and workers > 1 and read >= POOL_AFTER:
                    # big sources only: starting the worker processes takes a moment
                    pool = ProcessPoolExecutor(workers, mp_context=process_context(__name__),
                                               initializer=collect_less)
                if files is not None:  # the parsing side reads them
                    paths = files.paths[read:read + BATCH]
                    if not paths:
                        break
                    read += len(paths)
                    if pool is not None and enrich is not None:
                        await pending.put((None, parse(read_and_parse_enriched, paths,
                                                       files.maildir, mail.max_bytes, texts(),
                                                       enrich)))
                    else:
                        await pending.put((None, parse(read_and_parse, paths, files.maildir,
                                                       mail.max_bytes, texts())))
                    continue
                batch = await asyncio.to_thread(_next_batch, messages, BATCH)
                if not batch:
                    break
                read += len(batch)
                raws = [m.raw for m in batch]
                await pending.put((batch, parse(parse_batch_enriched, raws, mail.max_bytes,
                                                texts(), enrich)
                                   if pool is not None and enrich is not None else
                                   parse(parse_batch, raws, mail.max_bytes, texts())))
        finally:
            await pending.put(None)

    if progress is not None:
        progress(summary)
    producer = asyncio.create_task(produce(), name="email-import-reader")
    try:
        while (item := await pending.get()) is not None:
            batch, parsed_future = item
            done_parsing = await parsed_future
            if isinstance(done_parsing, tuple):  # parsed and enriched
                done_parsing, extras = done_parsing
                if enriched is not None:
                    enriched(extras)
            pairs: list[tuple[RawMessage, Parsed]] = (
                done_parsing if batch is None else list(zip(batch, done_parsing, strict=True)))
            delivered = await mail.deliver_many(office_id, [
                (parsed, message.raw, message.origin) for message, parsed in pairs])
            for done in delivered:
                if done.outcome == "created":
                    summary.imported += 1
                elif done.outcome == "duplicate":
                    summary.duplicates += 1
                else:
                    summary.quarantined += 1
            if progress is not None:
                progress(summary)
        await producer  # re-raises a SourceError from reading
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, SourceError):
            await producer
        while not pending.empty():  # do not leave parse futures unobserved
            left = pending.get_nowait()
            if left is not None:
                left[1].cancel()
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
    return summary
