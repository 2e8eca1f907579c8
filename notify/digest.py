"""One message for several items: what the customer gets when quiet hours end with items
held back, or at the time of their daily digest. Each item is listed with its label,
subject, an excerpt and its link in the customer portal; files are not attached (the
link fetches them). Rendered from ``notify/templates/<lang>/digest.*``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from notify.render import KIND_LABELS, format_when
from timeline.models import Direction, Entry

EXCERPT_CHARS = 300
"""Each item's text is cut to this many characters (the whole text is in the portal)."""

COPY_LABELS = {"de": "Kopie Ihrer Nachricht", "en": "Copy of your message"}


@dataclass(frozen=True)
class DigestItem:
    subject: str
    label: str
    excerpt: str
    url: str
    occurred: str
    files: tuple[str, ...]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + " …"


def digest_items(entries: Sequence[Entry], lang: str, base_url: str, zone: ZoneInfo
                 ) -> list[DigestItem]:
    """Oldest first, as they happened."""
    labels = KIND_LABELS[lang]
    out = []
    for entry in sorted(entries, key=lambda e: (e.occurred_at, e.id)):
        label = COPY_LABELS[lang] if entry.direction is Direction.INBOUND else \
            labels.get(entry.kind, labels[""])
        out.append(DigestItem(
            subject=" ".join(entry.subject.split()), label=label, excerpt=excerpt(entry.body),
            url=f"{base_url}/portal/entries/{entry.id}",
            occurred=format_when(entry.occurred_at.astimezone(zone), lang),
            files=tuple(a.name for a in entry.attachments)))
    return out


def digest_context(items: Sequence[DigestItem], *, office: str, customer: str, channel: str,
                   why: str | None, portal_url: str, unsubscribe_url: str,
                   reply_by_mail: bool) -> dict[str, Any]:
    return {"office": office, "customer": customer, "channel": channel, "count": len(items),
            "why": why or "", "items": [vars(i) for i in items], "portal_url": portal_url,
            "unsubscribe_url": unsubscribe_url, "reply_by_mail": reply_by_mail, "kind": ""}


def digest_message_id(entry_ids: Sequence[str], channel: str, host: str) -> str:
    """Stable for the same set of items on the same channel."""
    digest = hashlib.sha256("|".join(sorted(entry_ids)).encode("ascii")).hexdigest()[:24]
    return f"<digest.{digest}.{channel}@{host}>"
