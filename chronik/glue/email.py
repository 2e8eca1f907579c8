"""Glue for the e-mail connector: the component factory (IMAP connector, inbound SMTP/LMTP
listener), the quarantine reprocessor and the ``chronik import`` runner. Settings models:
``connectors.email.settings`` (listed in ``chronik.settings``)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from chronik.components import Misconfigured
from chronik.glue.email_words import prepare_mail
from connectors.email.imap import ImapConfig, ImapConnector
from connectors.email.importer import ImportSummary, import_messages, open_source
from connectors.email.inbound import MailIngest
from connectors.email.parse import DEFAULT_MAX_BYTES
from connectors.email.settings import EmailSettings, InboundSmtpSettings
from connectors.email.smtp import InboundAddresses, SmtpListener
from notify.settings import NotifySettings
from search import prepared
from timeline.errors import NotFound
from timeline.processes import collecting_less
from timeline.waiting import wait_set

if TYPE_CHECKING:
    from chronik.components import Component
    from chronik.state import AppState

log = logging.getLogger(__name__)


def _problem(prefix: str, exc: ValidationError) -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                     for e in exc.errors(include_input=False, include_url=False))


def mail_ingest(state: AppState, max_bytes: int = DEFAULT_MAX_BYTES) -> MailIngest:
    """The mail path into this app's ingest service; quarantined mail becomes
    reprocessable."""
    try:
        mail_from = NotifySettings().mail_from
    except ValidationError:  # reported by the notifier's own component
        mail_from = None

    async def staff(office_id: str) -> list[str]:
        return [a.login.email for a in await state.store.list_agents(office_id)
                if a.login is not None and a.login.email]

    mail = MailIngest(state.ingest, max_bytes=max_bytes,
                      own_addresses=(mail_from,) if mail_from else (), staff_addresses=staff)
    mail.register()
    return mail


def components(state: AppState) -> list[Component]:
    out: list[Component] = []
    try:
        email = EmailSettings()
    except ValidationError as exc:
        mail_ingest(state)
        return [Misconfigured("email-imap", _problem("CHRONIK_EMAIL_", exc))]
    mail = mail_ingest(state, email.max_message_bytes)
    try:
        smtp = InboundSmtpSettings()
    except ValidationError as exc:
        out.append(Misconfigured("email-smtp", _problem("CHRONIK_", exc)))
    else:
        if smtp.inbound_smtp_port is not None:
            out.append(SmtpListener(mail, InboundAddresses(state.store),
                                    host=smtp.inbound_smtp_host, port=smtp.inbound_smtp_port,
                                    lmtp=smtp.inbound_smtp_lmtp))
    if email.imap_host:
        if not email.imap_office_id:
            out.append(Misconfigured("email-imap", "CHRONIK_EMAIL_IMAP_OFFICE_ID is required "
                                                    "with CHRONIK_EMAIL_IMAP_HOST"))
        else:
            out.append(ImapConnector(mail, ImapConfig(
                host=email.imap_host,
                port=email.imap_port or (993 if email.imap_tls == "tls" else 143),
                username=email.imap_username,
                password=(email.imap_password.get_secret_value()
                          if email.imap_password else ""),
                office_id=email.imap_office_id, tls=email.imap_tls,
                folder=email.imap_folder, processed_folder=email.imap_processed_folder,
                processed_keyword=email.imap_processed_keyword,
                poll_seconds=email.imap_poll_seconds, idle=email.imap_idle)))
    return out


async def _keep_index_up(state: AppState, done: asyncio.Event) -> None:
    """Index what the import stores while it runs (on time the event loop would spend
    waiting for the parser processes), until ``done``. A failure only ends this: the drain
    after the import indexes the rest, and reports what fails."""
    try:
        while not done.is_set():
            if not await state.indexer.drain_once():
                await wait_set(done, 0.2)
    except Exception:
        log.exception("indexing during the import failed; the index catches up at its end")


async def run_import(state: AppState, path: Path, office_id: str, *,
                     progress: Callable[[ImportSummary], None] | None = None,
                     indexing: Callable[[int, int], None] | None = None
                     ) -> ImportSummary:
    """``chronik import``: raises ``SourceError`` for a bad path, ``NotFound`` for an
    unknown office. ``progress`` gets the running summary after every batch; ``indexing``
    gets (indexed, to index) while the search index catches up at the end."""
    office = await state.store.get_office(office_id)
    if office is None:
        raise NotFound("no such office", {"office_id": office_id})
    email = EmailSettings()
    mail = mail_ingest(state, email.max_message_bytes)
    messages = await open_source(path, email.max_message_bytes)
    state.blobs.fsync_each = False  # one sync at the end instead of one per attachment
    with collecting_less():  # (a tenth of this process's time with the default pace)
        finished = asyncio.Event()
        keeping_up = asyncio.create_task(_keep_index_up(state, finished),
                                         name="import-indexer")
        try:
            texts = state.indexer.texts  # attached files read by the parser processes
            summary = await import_messages(
                mail, office_id, messages, workers=email.import_workers, progress=progress,
                text_max_bytes=None if texts is None else texts.max_bytes,
                # the parser processes read each mail's searchable words for the indexer
                enrich=functools.partial(prepare_mail, office.region or "DE"),
                enriched=prepared.remember)
        finally:
            finished.set()
            await keeping_up
            await state.blobs.sync()
            state.blobs.fsync_each = True
        try:
            return await _index_rest(state, summary, indexing)
        finally:
            prepared.forget()


async def _index_rest(state: AppState, summary: ImportSummary,
                      indexing: Callable[[int, int], None] | None) -> ImportSummary:
    """Index what the import stored and the indexer has not caught up with yet."""
    if indexing is None:
        await state.indexer.drain()
        return summary
    backlog, _ = await state.store.index_backlog()
    done = 0

    def indexed(n: int) -> None:
        nonlocal done
        done += n
        indexing(done, max(backlog, done))
    indexing(0, backlog)
    await state.indexer.drain(indexed)
    return summary
