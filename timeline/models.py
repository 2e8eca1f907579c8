"""Domain records. Plain data: the store persists them, services decide about them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Channel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    PHONE = "phone"
    PORTAL = "portal"
    NOTE = "note"
    DOCUMENT = "document"
    NOTIFICATION = "notification"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Visibility(StrEnum):
    INTERNAL = "internal"
    PUBLISHED = "published"


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TELEGRAM = "telegram"
    PORTAL = "portal"


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    UNVERIFIED = "unverified"
    MERGED = "merged"
    """Emptied into another customer by a merge (kept so the merge can be undone)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Office(_Record):
    id: str
    name: str
    region: str = "DE"
    created_at: datetime


class Agent(_Record):
    id: str
    office_id: str
    name: str
    role: Role
    created_at: datetime


class Identity(_Record):
    kind: IdentityKind
    value: str
    """Normalised: e-mail case-folded, phone in E.164, Telegram user id, portal account id."""
    raw: str | None = None
    """As the user typed it (kept for display only)."""
    undeliverable: bool = False


class Customer(_Record):
    id: str
    office_id: str
    name: str
    status: CustomerStatus = CustomerStatus.ACTIVE
    identities: tuple[Identity, ...] = ()
    created_at: datetime
    updated_at: datetime


class Attachment(_Record):
    name: str
    content_type: str
    size: int
    sha256: str


class EntryDraft(_Record):
    """What a service hands to the store; the store assigns ``id``/``seq``/``recorded_at``."""

    office_id: str
    customer_id: str
    channel: Channel
    direction: Direction
    kind: str
    author: str | None = None
    visibility: Visibility
    notify: bool = False
    occurred_at: datetime
    subject: str = ""
    body: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    tags: tuple[str, ...] = ()
    source_id: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Entry(EntryDraft):
    id: str
    seq: int
    recorded_at: datetime


class Page(BaseModel):
    """One page of a keyset-paginated listing."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    items: list[Any]
    next_cursor: str | None = None


class JsonPage(BaseModel):
    """One page of a timeline as JSON: ``items_json`` is an array (UTF-8) of entries as
    ``timeline.public.public_entry`` shows them, newest first (``count`` of them)."""

    items_json: bytes
    next_cursor: str | None = None
    count: int


class RecentJson(BaseModel):
    """A customer found by an identity, with its newest conversation entries as a JSON
    array (UTF-8) of entries as ``timeline.public.public_entry`` shows them (newest first);
    ``newest_seq``: the key of the first of them (``None``: none)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    customer: Customer
    recent_json: bytes
    newest_seq: int | None = None


class Consent(_Record):
    """The current consent for one notification channel, and how it came about."""

    channel: str
    granted: bool
    at: datetime
    actor: str
    """Who: an agent id, ``customer`` or ``system``."""
    route: str
    """How: ``agent``, ``portal``, ``telegram_stop``, ``telegram_start``, ``unsubscribe_link``,
    ``email_stop``, ``bounce``, ``api`` …"""


class QuietHours(_Record):
    start: str
    """``HH:MM`` local time at which messages start to wait."""
    end: str
    timezone: str = "Europe/Berlin"


class DailyDigest(_Record):
    at: str = "08:00"
    """``HH:MM`` local time at which the day's collected notifications go out as one message."""
    timezone: str = "Europe/Berlin"


class Preferences(_Record):
    channels: tuple[str, ...] = ()
    """Ordered preferred channels (``email``, ``telegram``, ``portal``); empty = derived from the
    customer's identities."""
    automatic_notifications: bool = True
    quiet_hours: QuietHours | None = None
    language: str = "de"
    language_chosen: bool = False
    """``language`` was chosen -- by the customer, or changed by an agent -- rather than
    left at the default: the portal then speaks it whatever the browser asks for."""
    daily_digest: DailyDigest | None = None
    """E-mail and Telegram notifications collected into one message a day; ``None`` = each
    item on its own."""


class QuarantineItem(_Record):
    id: str
    office_id: str
    channel: str
    reason: str
    origin: str
    raw_sha256: str
    size: int
    status: str
    """``open``, ``processed`` or ``discarded``."""
    created_at: datetime
    updated_at: datetime
    entry_id: str | None = None


class Merge(_Record):
    id: str
    office_id: str
    source_id: str
    target_id: str
    entry_ids: tuple[str, ...]
    identities: tuple[Identity, ...]
    """Moved from source to target (the target did not have them)."""
    shared_identities: tuple[Identity, ...] = ()
    """The source had them and so did the target already."""
    created_at: datetime
    undone_at: datetime | None = None
