"""A timeline entry as the console shows it: icon, direction, local time, author, text,
inert mail HTML, attachments, thread link, call outcome, delivery status — and automatic
system entries folded into the item they belong to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from chronik.web.system_texts import why_nobody
from connectors.email.quotes import split_quoted
from connectors.phone.events import HANGUP_CAUSES
from connectors.phone.numbers import WITHHELD
from timeline.models import Channel, Entry, Visibility
from timeline.public import ATTACHMENT_PATH

ICONS = {
    Channel.EMAIL: "✉", Channel.CHAT: "💬", Channel.PHONE: "☎", Channel.PORTAL: "🌐",
    Channel.NOTE: "📝", Channel.DOCUMENT: "📄", Channel.NOTIFICATION: "🔔",
}
COMPLAINT = "complaint"
COMPLAINT_RESOLVED = "complaint:resolved"
PINNED = "pinned"
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
THUMBNAIL_MAX = 5 * 1024 * 1024
"""Images up to this size are shown as thumbnails (the browser scales the file itself)."""


@dataclass
class ItemView:
    entry: Entry
    icon: str
    author: str
    internal: bool
    attachments: list[dict[str, Any]]
    call: dict[str, Any] | None
    delivery: dict[str, Any] | None
    in_reply_to: str | None
    complaint: str | None
    """``open``, ``resolved`` or None."""
    resolution: dict[str, Any] | None
    pinned: bool
    quoted: tuple[str, str] | None = None
    """An e-mail's own text and the quoted history below it (``split_quoted``), or None."""
    album: list[str] = field(default_factory=list)
    """Ids of the other messages of a Telegram album shown in this item (their files are in
    ``attachments``)."""
    folded: list[Entry] = field(default_factory=list)
    """System entries about this one (e.g. "Notification sent to the portal inbox")."""
    merge_undone: bool = False
    """A merge entry whose merge was undone since (no "Undo merge" any more)."""

    @property
    def id(self) -> str:
        return self.entry.id


_SKIP_NOTES = (  # the notifier's English per channel left out (notify.evaluate.Skip.text)
    (re.compile(r"(email|telegram|portal) failed"), "failed"),
    (re.compile(r"no consent for (email|telegram|portal)"), "no_consent"),
    (re.compile(r"(email|telegram|portal) is not configured"), "not_configured"),
    (re.compile(r"(email|telegram|portal) address is undeliverable"), "undeliverable"),
    (re.compile(r"no (e)-mail address"), "no_address"),
    (re.compile(r"no linked (T)elegram chat"), "no_address"),
)
_NOTE_CHANNELS = {"e": "email", "T": "telegram"}


def delivery_note(reason: object, lang: str) -> str:
    """A delivery's stored note (English: why another channel than the first was used,
    ``"email is not configured; no consent for telegram"``) in the agent's language: each
    part the notifier words from a channel's reason code said as the recipients line says
    it; other parts (a mail server's answer, a file sent as a link) as stored."""
    if not isinstance(reason, str):
        return ""
    parts = []
    for part in reason.split("; "):
        for pattern, code in _SKIP_NOTES:
            found = pattern.fullmatch(part.strip())
            if found:
                channel = _NOTE_CHANNELS.get(found.group(1), found.group(1))
                part = why_nobody(False, [(code, channel)], lang)
                break
        parts.append(part)
    return "; ".join(parts)


CALL_OUTCOMES = ("answered", "missed", "forwarded", "not_reached")
"""A call's outcomes (``connectors.phone.calls``), named in the agent's language; none
while it rings or is under way."""


def system_parent(entry: Entry) -> str | None:
    """The entry an automatic system entry belongs to (notifications about an entry)."""
    if entry.channel is Channel.NOTIFICATION:
        note = entry.meta.get("notification")
        if isinstance(note, dict) and isinstance(note.get("entry_id"), str):
            return str(note["entry_id"])
    return None


def item_view(entry: Entry, agent_names: dict[str, str]) -> ItemView:
    meta = entry.meta
    author = str(meta.get("author_name") or agent_names.get(entry.author or "", "")
                 or meta.get("from") or meta.get("answered_by") or "")
    attachments = [{
        "index": i, "name": a.name, "size": a.size, "content_type": a.content_type,
        "url": ATTACHMENT_PATH.format(entry_id=entry.id, index=i),
        "thumbnail": a.content_type in IMAGE_TYPES and a.size <= THUMBNAIL_MAX,
    } for i, a in enumerate(entry.attachments)]
    call = None
    if entry.kind == "call":
        number = meta.get("number") or meta.get(  # (calls stored without "number")
            "to" if meta.get("call_direction") == "out" else "from")
        outcome = meta.get("outcome")
        answered_by = meta.get("answered_by") or meta.get("answering_number")
        users = meta.get("users")
        cause = meta.get("cause")
        call = {"outcome": outcome if outcome in CALL_OUTCOMES else None,
                "missed": bool(meta.get("missed")),
                "duration": _duration(meta.get("duration_seconds")),
                "answered_by": answered_by,
                # what a CTI call's stored (English) body says, from its meta
                "cti": isinstance(meta.get("cti_events"), list),
                "rang_for": ", ".join(u for u in users if isinstance(u, str))
                if isinstance(users, list) and not answered_by
                and meta.get("call_direction") != "out" else "",
                "cause": cause if isinstance(cause, str) and outcome != "answered" else None,
                "cause_known": cause in HANGUP_CAUSES,
                # its title in the agent's language ("Call from …" is stored in English)
                "title": "out" if meta.get("call_direction") == "out"
                else "missed" if meta.get("missed") else "in",
                "number": _phone(number)}
    delivery = meta.get("delivery") if isinstance(meta.get("delivery"), dict) else None
    complaint = None
    if COMPLAINT in entry.tags:
        complaint = "resolved" if COMPLAINT_RESOLVED in entry.tags else "open"
    resolution = meta.get("complaint_resolution")
    parent = meta.get("in_reply_to") or meta.get("call_entry_id")
    if isinstance(parent, dict):  # a mail or chat reply: {"entry_id", "subject", "channel"}
        parent = parent.get("entry_id")
    return ItemView(
        entry=entry, icon=ICONS.get(entry.channel, "•"), author=author,
        internal=entry.visibility is Visibility.INTERNAL, attachments=attachments,
        call=call, delivery=delivery, in_reply_to=parent if isinstance(parent, str) else None,
        complaint=complaint,
        resolution=resolution if isinstance(resolution, dict) else None,
        pinned=PINNED in entry.tags,
        quoted=split_quoted(entry.body) if entry.channel is Channel.EMAIL and entry.body
        else None)


def _phone(number: object) -> str | None:
    """A call's number as people read it (``+49 171 1234567``); None when withheld."""
    if not isinstance(number, str) or not number or number.casefold() in WITHHELD:
        return None
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return number


def _duration(value: object) -> str | None:
    if not isinstance(value, int):
        return None
    minutes, seconds = divmod(value, 60)
    return f"{minutes}:{seconds:02d}"


def fold_items(entries: list[Entry], agent_names: dict[str, str]) -> list[ItemView]:
    """Views in order, with system entries folded into their entry when it is on the same
    page (otherwise the entry shows its own delivery status, and the system entry is
    dropped: it adds nothing the item does not say)."""
    views: list[ItemView] = []
    by_id: dict[str, ItemView] = {}
    pending: list[tuple[str, Entry]] = []
    for entry in entries:
        parent = system_parent(entry)
        if parent is not None:
            pending.append((parent, entry))
            continue
        view = item_view(entry, agent_names)
        views.append(view)
        by_id[entry.id] = view
    for parent, entry in pending:
        if parent in by_id:
            by_id[parent].folded.append(entry)
    return _albums(views)


def album_key(entry: Entry) -> tuple[str, str] | None:
    """(customer, Telegram ``media_group_id``) of a message that came as part of an album."""
    telegram = entry.meta.get("telegram")
    if entry.channel is Channel.CHAT and isinstance(telegram, dict):
        group = telegram.get("media_group_id")
        if isinstance(group, str) and group:
            return entry.customer_id, group
    return None


def _albums(views: list[ItemView]) -> list[ItemView]:
    """Several photos sent at once arrive as one Telegram message each (the caption on one
    of them): shown as one item with all their files, where the newest of them stands. The
    entries stay as they are (each one searchable, each with its own id)."""
    groups: dict[tuple[str, str], list[ItemView]] = {}
    for view in views:
        key = album_key(view.entry)
        if key is not None:
            groups.setdefault(key, []).append(view)
    if all(len(group) < 2 for group in groups.values()):
        return views
    out: list[ItemView] = []
    for view in views:
        key = album_key(view.entry)
        group = groups[key] if key is not None else [view]
        if len(group) < 2:
            out.append(view)
            continue
        if view is not group[0]:  # the album stands where its newest message does
            continue
        lead = next((v for v in group if v.entry.body), group[0])
        sent = sorted(group, key=lambda v: v.entry.seq)
        lead.attachments = [a for v in sent for a in v.attachments]
        lead.album = [v.entry.id for v in sent if v is not lead]
        out.append(lead)
    return out
