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
