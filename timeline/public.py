"""An entry as the world outside the office's data sees it (the API's ``EntryOut``): no
``office_id`` or ``seq``, attachments with their index and download path, times in UTC.

One definition of that shape for both ways of producing it: :func:`public_entry` from an
``Entry`` (any store), and the SQL projection of ``sqlite_rows.PUBLIC_ENTRY_JSON``, which
lets SQLite write a timeline page's JSON itself (``timeline_json``); a contract test holds
the two equal on every store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from timeline.models import Customer, Entry, JsonPage, Page, RecentJson

JSON_OPTIONS = orjson.OPT_UTC_Z
"""Datetimes as RFC 3339 with ``Z`` for UTC, exactly like pydantic's JSON."""


def as_utc(value: datetime) -> datetime:
    """A stored time as it is shown: in UTC (``Z``), whatever offset its writer gave
    (SQLite keeps it, PostgreSQL answers in UTC: the same entry must look the same); a
    time without an offset is taken as UTC."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


ATTACHMENT_PATH = "/api/v1/entries/{entry_id}/attachments/{index}"
"""Where an entry's attachment is downloaded (the API's route)."""


def public_entry(e: Entry) -> dict[str, Any]:
    """The entry's fields as they are (a copy of the model's own dict: 2.5x faster than
    naming each), minus the two that are not shown, attachments with their paths, times
    in UTC."""
    out = e.__dict__.copy()
    del out["office_id"], out["seq"]
    out["occurred_at"], out["recorded_at"] = as_utc(e.occurred_at), as_utc(e.recorded_at)
    if e.attachments:
        out["attachments"] = [{"index": i, "name": a.name, "content_type": a.content_type,
                               "size": a.size, "sha256": a.sha256,
                               "url": ATTACHMENT_PATH.format(entry_id=e.id, index=i)}
                              for i, a in enumerate(e.attachments)]
    return out


def public_entries_json(entries: list[Entry]) -> bytes:
    """A JSON array of :func:`public_entry` of each (UTF-8)."""
    return orjson.dumps([public_entry(e) for e in entries], option=JSON_OPTIONS)


def json_page(page: Page) -> JsonPage:
    """A page of entries as ``timeline_json`` gives it, built from the entries."""
    return JsonPage(items_json=public_entries_json(page.items), next_cursor=page.next_cursor,
                    count=len(page.items))


def recent_json(customer: Customer, entries: list[Entry]) -> RecentJson:
    """A lookup's match as ``customers_with_recent_json`` gives it, built from the entries
    (newest first)."""
    return RecentJson(customer=customer, recent_json=public_entries_json(entries),
                      newest_seq=entries[0].seq if entries else None)


def utc_text(stored: str) -> str:
    """A stored ISO 8601 time (any offset, or none) as :func:`public_entry` writes it in
    JSON (SQLite's ``chronik_utc``; the rare time not stored in UTC)."""
    text: str = orjson.dumps(as_utc(datetime.fromisoformat(stored)),
                             option=JSON_OPTIONS)[1:-1].decode()
    return text
