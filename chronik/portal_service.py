"""What a customer may see and do, for the portal pages and the portal API.

* **The one customer-facing read** (ARCHITECTURE invariant 1): ``customer_timeline`` and
  ``customer_entry`` read only published entries of the one customer (``timeline`` with the
  visibility fixed to published, and ``published_entry`` whose SQL hard-codes it: the
  ``PortalStore`` protocol), check owner and visibility once more, and hand out
  ``PortalItem`` -- the customer-safe fields only (no agent ids, no addresses or other meta
  of the entry, no tags). Nothing else in the portal reads entries.
* Writing a message (``write_message``): an inbound, published ``portal`` entry, exactly what
  ``POST /api/v1/portal/messages`` stores.
* Asking for a copy of one's data (``request_data_copy``): a published ``portal`` entry of
  kind ``data_request``, tagged ``data-request``, with ``meta.deadline`` four weeks later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from chronik import privacy
from chronik.api.base import canonical_index
from chronik.state import AppState
from connectors.portal import PortalFile, portal_message
from timeline.blobs import Blobs
from timeline.errors import NotFound
from timeline.models import (
    Channel,
    Customer,
    Direction,
    Entry,
    EntryDraft,
    Visibility,
    utcnow,
)
from timeline.privacy import DATA_COPY_KIND, DATA_COPY_TAG, EXPORT_KEEP
from timeline.privacy_models import ExportRecord
from timeline.repositories import EntryRepository, NotifyRepository, TimelineQuery

DATA_REQUEST_KIND = "data_request"
DATA_REQUEST_TAG = "data-request"
DATA_REQUEST_DONE_TAG = "data-request:done"
"""Set by an admin when the request was answered (``/admin/data-requests``)."""
DATA_REQUEST_DAYS = 28
"""The answer is due four weeks after the request (GDPR Art. 12(3): one month)."""
OFFICE_ZONE = ZoneInfo("Europe/Berlin")
"""Whose "today" decides that a customer asks at most once a day."""


class PortalStore(EntryRepository, NotifyRepository, Protocol):
    """What the portal reads: the timeline (with the visibility fixed to published) and
    ``published_entry`` (the notifier's published-only read)."""


@dataclass(frozen=True)
class PortalAttachment:
    index: int
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class PortalItem:
    """An entry as its customer may see it."""

    id: str
    occurred_at: datetime
    channel: str
    direction: str
    kind: str
    subject: str
    body: str
    author_name: str | None
    """The agent's display name for what an agent wrote; None: the office (or, inbound,
    the customer)."""
    attachments: tuple[PortalAttachment, ...]
    deadline: str | None = None
    """For a data request: the ISO date the answer is due."""
    answered: bool = False
    """For a data request: an admin marked it answered."""
    data_copy: str | None = None
    """For the office's message that provides a copy of the customer's data: the export's
    id (downloaded from the portal's data page while it is kept)."""
    answers: PortalRef | None = None
    """The customer's published item this one answers (``meta.in_reply_to``); filled in by
    ``customer_entry`` only, and only when that item is published and theirs."""


@dataclass(frozen=True)
class PortalRef:
    """Another item of the customer's, by id and what its page is titled with."""

    id: str
    subject: str
    kind: str
    occurred_at: datetime


def _author_name(entry: Entry) -> str | None:
    if entry.direction is Direction.INBOUND or not entry.author:
        return None
    name = entry.meta.get("author_name")
    if not isinstance(name, str):
        return None
    return name.strip()[:200] or None


def _portal_item(entry: Entry) -> PortalItem:
    deadline = entry.meta.get("deadline") if entry.kind == DATA_REQUEST_KIND else None
    return PortalItem(
        id=entry.id, occurred_at=entry.occurred_at, channel=entry.channel.value,
        direction=entry.direction.value, kind=entry.kind, subject=entry.subject,
        body=entry.body, author_name=_author_name(entry),
        attachments=tuple(PortalAttachment(index=i, name=a.name, content_type=a.content_type,
                                           size=a.size)
                          for i, a in enumerate(entry.attachments)),
        deadline=deadline if isinstance(deadline, str) else None,
        answered=entry.kind == DATA_REQUEST_KIND and DATA_REQUEST_DONE_TAG in entry.tags,
        data_copy=_export_id(entry))


def _export_id(entry: Entry) -> str | None:
    value = entry.meta.get("export_id") if entry.kind == DATA_COPY_KIND else None
    return value if isinstance(value, str) and DATA_COPY_TAG in entry.tags else None


def _visible(entry: Entry | None, customer: Customer) -> Entry | None:
    if (entry is None or entry.visibility is not Visibility.PUBLISHED
            or entry.customer_id != customer.id or entry.office_id != customer.office_id):
        return None
    return entry


async def customer_timeline(store: PortalStore, customer: Customer, *,
                            before: str | None = None, limit: int = 30,
                            channels: Sequence[Channel] = (), kinds: Sequence[str] = ()
                            ) -> tuple[list[PortalItem], str | None]:
    """The customer's published entries, newest first, and the cursor of the next page."""
    before_seq = int(before) if before and before.isdigit() and len(before) < 30 else None
    page = await store.timeline(customer.office_id, customer.id, TimelineQuery(
        limit=limit, before_seq=before_seq, channels=tuple(channels), kinds=tuple(kinds),
        visibility=Visibility.PUBLISHED))
    items = [_portal_item(e) for e in page.items if _visible(e, customer) is not None]
    return items, page.next_cursor


async def _published(store: PortalStore, customer: Customer, entry_id: str) -> Entry | None:
    if not entry_id or len(entry_id) > 64:
        return None
    return _visible(await store.published_entry(customer.office_id, entry_id), customer)


async def customer_entry(store: PortalStore, customer: Customer, entry_id: str
                         ) -> PortalItem | None:
    """One published entry of the customer's own timeline, or None; with the item it
    answers when that one is published and theirs too (never a hint of an internal one)."""
    entry = await _published(store, customer, entry_id)
    if entry is None:
        return None
    item = _portal_item(entry)
    parent_id = _parent_id(entry)
    parent = await _published(store, customer, parent_id) if parent_id else None
    if parent is None or parent.id == entry.id:
        return item
    return replace(item, answers=PortalRef(id=parent.id, subject=parent.subject,
                                           kind=parent.kind, occurred_at=parent.occurred_at))


def _parent_id(entry: Entry) -> str | None:
    """The entry an entry answers: ``meta.in_reply_to`` as agents' replies and portal
    answers keep it (an id), or as inbound mail keeps it (``{"entry_id": …}``)."""
    value = entry.meta.get("in_reply_to")
    if isinstance(value, dict):
        value = value.get("entry_id")
    return value if isinstance(value, str) else None


async def unread_news(store: PortalStore, customer: Customer, entry_ids: Sequence[str],
                      most: int = 20) -> list[str]:
    """Of the entries the customer's unread portal notifications are about (newest first),
    those that are news to them: published items of theirs that they did not write
    themselves (a copy of their own message is none). At most ``most`` are looked at."""
    news = []
    for entry_id in list(dict.fromkeys(entry_ids))[:most]:
        entry = await _published(store, customer, entry_id)
        if entry is not None and entry.direction is not Direction.INBOUND:
            news.append(entry.id)
    return news


async def customer_attachment(store: PortalStore, blobs: Blobs, customer: Customer,
                              entry_id: str, index: str) -> tuple[PortalAttachment, bytes]:
    """A file of one published entry of the customer's own timeline (``NotFound`` else)."""
    entry = await _published(store, customer, entry_id)
    number = canonical_index(index)
    if entry is None or number is None or number >= len(entry.attachments):
        raise NotFound("no such attachment")
    att = entry.attachments[number]
    data = await blobs.get(att.sha256)
    if data is None:
        raise NotFound("the attachment's content was erased")
    return PortalAttachment(index=number, name=att.name, content_type=att.content_type,
                            size=att.size), data


async def write_message(state: AppState, customer: Customer, subject: str, body: str,
                        files: Sequence[PortalFile] = (), idempotency_key: str | None = None,
                        in_reply_to: str | None = None) -> tuple[Entry, bool]:
    """The customer writes a message: an inbound, published ``portal`` entry on their own
    timeline, with a receipt copy (``notify``). Returns (entry, created); a repeated
    ``idempotency_key`` gives the first message again. Bad input is ``InvalidInput``.
    ``in_reply_to``: an item of theirs it answers -- kept only when it is one of their
    published items (anything else is left out, never an error the customer could not
    act on)."""
    answered = (await _published(state.store, customer, in_reply_to)
                if in_reply_to else None)
    msg = portal_message(customer, subject, body, files, idempotency_key,
                         answered.id if answered else None)
    result = await state.ingest.ingest(msg, origin="portal")
    if result.entry is None:  # the customer comes from the session: cannot be unknown
        raise NotFound("the customer of this session is gone")
    return result.entry, result.created


def today() -> date:
    return utcnow().astimezone(OFFICE_ZONE).date()


async def request_data_copy(state: AppState, customer: Customer, subject: str, body: str
                            ) -> tuple[PortalItem, bool]:
    """Record the customer's request for a copy of their data (at most one a day: a second
    one the same day gives the first). Returns (request, created)."""
    day = today()
    deadline = (day + timedelta(days=DATA_REQUEST_DAYS)).isoformat()
    entry, created = await state.timeline.append(EntryDraft(
        office_id=customer.office_id, customer_id=customer.id, channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind=DATA_REQUEST_KIND, author=None,
        visibility=Visibility.PUBLISHED, notify=False, occurred_at=utcnow(),
        subject=subject, body=body, tags=(DATA_REQUEST_TAG,),
        source_id=f"portal-data-request:{customer.id}:{day.isoformat()}",
        meta={"deadline": deadline}))
    return _portal_item(entry), created


async def data_requests(store: PortalStore, customer: Customer, limit: int = 20
                        ) -> list[PortalItem]:
    """The customer's data requests, newest first."""
    items, _ = await customer_timeline(store, customer, limit=limit,
                                       channels=(Channel.PORTAL,), kinds=(DATA_REQUEST_KIND,))
    return items


@dataclass(frozen=True)
class DataCopy:
    """A copy of the customer's data the office provided in the portal."""

    item: PortalItem
    until: datetime
    available: bool
    """Still kept (exports go after ``EXPORT_KEEP``) and its file is there."""

    @property
    def until_day(self) -> str:
        """The last day it is kept (ISO date, the office's calendar)."""
        return self.until.astimezone(OFFICE_ZONE).date().isoformat()


async def data_copies(state: AppState, customer: Customer, limit: int = 10
                      ) -> list[DataCopy]:
    """The copies provided to the customer, newest first (read through the customer's
    published timeline, like everything the portal shows)."""
    items, _ = await customer_timeline(state.store, customer, limit=limit,
                                       channels=(Channel.PORTAL,), kinds=(DATA_COPY_KIND,))
    out = []
    for item in items:
        if item.data_copy is None:
            continue
        record = await _export(state, customer, item.data_copy)
        until = (record.created_at if record else item.occurred_at) + EXPORT_KEEP
        out.append(DataCopy(item=item, until=until, available=record is not None))
    return out


async def _export(state: AppState, customer: Customer, export_id: str) -> ExportRecord | None:
    service = await privacy.service(state)
    office = await state.store.get_office(customer.office_id)
    if office is None:
        return None
    record = await service.current_export(office, export_id)
    if record is None or record.customer_id != customer.id:
        return None
    return record if service.export_path(record) is not None else None


async def data_copy_file(state: AppState, customer: Customer, item_id: str) -> Path:
    """The zip of a copy provided to this customer (its portal message's id), or
    ``NotFound`` (not theirs, not a copy, or no longer kept)."""
    item = await customer_entry(state.store, customer, item_id)
    if item is None or item.data_copy is None:
        raise NotFound("no such copy")
    record = await _export(state, customer, item.data_copy)
    path = (await privacy.service(state)).export_path(record) if record else None
    if path is None:
        raise NotFound("this copy is no longer kept")
    return path
