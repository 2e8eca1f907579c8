"""Glue for data protection (``timeline/privacy.py``): the service built from the running
state with the server's secret key, the suppression check wired into ingest, and the steps
after an erasure that reach beyond the store (search index, WAL files)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chronik.state import AppState
from chronik.web.i18n import gettext
from chronik.web.system_texts import entry_text
from notify.settings import NotifySettings
from timeline.models import Entry, Office
from timeline.privacy import PrivacyService


async def install(state: AppState) -> PrivacyService:
    """Build the privacy service and give ingest the suppression list's key (called when
    the state is opened, so every process checks erased senders)."""
    from chronik.glue.notify import secret_key

    try:
        notify = NotifySettings()
    except ValidationError:  # a broken notifier setting must not disable erasure checks
        notify = NotifySettings.model_construct(secret_key=None)
    key = await secret_key(state.settings, notify)
    service = PrivacyService(state.timeline, key, state.settings.data_dir / "exports",
                             access_log_years=state.settings.privacy_log_years,
                             describe=_describe, label=_label)
    state.privacy = service
    state.ingest.suppression_key = key
    state.ingest.erased_sender = state.settings.erased_sender
    return service


def _describe(entry: Entry, lang: str) -> tuple[str, str] | None:
    """A system-written entry (merge note, preference change, the record of a notification
    sent) in the export's language."""
    said = entry_text(entry, lang)
    if said is not None:
        return said.subject, said.body
    sent = entry.meta.get("notification")
    if entry.kind != "notification" or not isinstance(sent, dict) \
            or sent.get("status") not in _DELIVERY:
        return None
    subject = gettext(lang, f"delivery.{sent['status']}")
    if sent.get("channel") in _VIA:
        subject += f" · {gettext(lang, 'via.' + sent['channel'])}"
    about = entry.body.split("\n", 1)[0].removeprefix("About: ")  # the notified subject
    return subject, about


_DELIVERY = frozenset({"sent", "failed", "suppressed", "unknown"})
_VIA = frozenset({"email", "portal", "telegram"})


def _label(key: str, lang: str) -> str | None:
    """A stored code (``kind.phone_note``, ``channel.chat``) in the export's language."""
    said = gettext(lang, key)
    return None if said == key else said


async def service(state: AppState) -> PrivacyService:
    return state.privacy if state.privacy is not None else await install(state)


async def scrub_after_erasure(state: AppState) -> None:
    """After an erasure or retention run: index the drop rows now, make the backend forget
    the documents physically (FTS5 optimize / Elasticsearch forcemerge), checkpoint and
    truncate the store's WAL."""
    await state.indexer.drain()
    await state.backend.compact()
    await state.store.scrub()


async def erase(state: AppState, office: Office, customer_id: str, erased_by: str,
                confirm: str) -> dict[str, Any]:
    """Erase a customer (API and admin page alike): the store, attachments and exports,
    then the search index and the store's WAL; customer tokens cached in this process go.
    Returns the receipt."""
    receipt = await (await service(state)).erase(office, customer_id, erased_by, confirm)
    await scrub_after_erasure(state)
    state.token_cache.clear()
    return receipt
