"""What a quarantined message says, shown on its admin page so nobody has to download the
raw bytes to decide: sender, subject, date, the start of the text and the attachments'
names. A mail is read with the e-mail connector's own parser (``parse_message``, off the
event loop); a message a connector had already normalised (``inbound-json``) is read as
that; anything else (or a mail the parser cannot read, with its reason) shows the start of
its raw bytes as text. Never HTML: the page autoescapes plain text, and control and
bidirectional-override characters are taken out first."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chronik.state import AppState
from connectors.email import MailParseError, parse_message
from connectors.email.inbound import RAW_CHANNEL as MAIL_CHANNEL
from connectors.phone.numbers import is_withheld
from timeline.ingest import JSON_CHANNEL, InboundMessage
from timeline.models import QuarantineItem

TEXT_CHARS = 3000
"""How much of the text is shown."""
PARSE_BYTES = 5 * 1024 * 1024
"""A longer mail is read from its first 5 MiB only (headers and text come first)."""
RAW_BYTES = 4000
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Preview:
    sender: str = ""
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    more: bool = False
    """The text goes on beyond what is shown."""
    attachments: tuple[str, ...] = ()
    problem: str | None = None
    """Why it could not be read as a message (``text`` is then the start of the raw bytes)."""
    partial: bool = False
    """Only the start of a long mail was read."""
    call: dict[str, Any] | None = None
    """A quarantined phone call (a withheld number, an unknown one): what the PBX said of
    it (``from``, ``to``, ``direction``, ``answered_by``, ``ended``), instead of its raw
    record."""


def clean(text: str) -> str:
    """Plain text fit to show: no control characters (but tabs and line breaks), no
    bidirectional overrides."""
    return _INVISIBLE.sub("", text.replace("\r\n", "\n"))


def _cut(text: str, limit: int = TEXT_CHARS) -> tuple[str, bool]:
    text = clean(text).strip()
    return (text[:limit], True) if len(text) > limit else (text, False)


def _raw(raw: bytes, problem: str | None = None) -> Preview:
    text, _ = _cut(raw[:RAW_BYTES].decode("utf-8", "replace"), RAW_BYTES)
    return Preview(text=text, more=len(raw) > RAW_BYTES, problem=problem)


def _mail(raw: bytes) -> Preview:
    partial = len(raw) > PARSE_BYTES
    try:
        mail = parse_message(raw[:PARSE_BYTES], max_bytes=PARSE_BYTES)
    except MailParseError as exc:
        return _raw(raw, exc.reason)
    sender = (f"{mail.from_display_name} <{mail.from_email}>" if mail.from_display_name
              else mail.from_email)
    text, more = _cut(mail.text)
    return Preview(sender=clean(sender), subject=clean(mail.subject), date=mail.date,
                   text=text, more=more, partial=partial,
                   attachments=tuple(clean(a.filename) for a in mail.attachments))


def _normalised(raw: bytes) -> Preview:
    try:
        msg = InboundMessage.model_validate_json(raw)
    except ValidationError:
        return _raw(raw, "not a stored message")
    sender = f"{msg.sender_name} <{msg.sender}>" if msg.sender_name else msg.sender
    text, more = _cut(msg.body)
    return Preview(sender=clean(sender), subject=clean(msg.subject), date=msg.occurred_at,
                   text=text, more=more, attachments=tuple(clean(a.name)
                                                           for a in msg.attachments))


async def quarantine_preview(state: AppState, item: QuarantineItem) -> Preview | None:
    """The preview of a quarantined message; ``None`` when its raw bytes are gone."""
    raw = await state.blobs.get(item.raw_sha256)
    if raw is None:
        return None
    if item.channel == MAIL_CHANNEL:
        return await asyncio.to_thread(_mail, raw)
    if item.channel == JSON_CHANNEL:
        return await asyncio.to_thread(_normalised, raw)
    if item.channel == CTI_CHANNEL:
        return await _call(state, item, raw)
    return _raw(raw)


CTI_CHANNEL = "cti"


async def _call(state: AppState, item: QuarantineItem, raw: bytes) -> Preview:
    """A quarantined call: its record names the call; the call's state holds what the
    PBX's events said (read from the store, as the admin assigns it from there too)."""
    try:
        record = json.loads(raw)
        call = await state.store.call_state(item.office_id, str(record["call_id"]))
    except (ValueError, KeyError, TypeError):
        return _raw(raw)
    if call is None:
        return _raw(raw)
    number = str(call.get("from_number") or "")
    when = call.get("ringing_at") or call.get("first_seen_at")
    return Preview(
        sender=clean(number), date=datetime.fromisoformat(when) if isinstance(when, str)
        else None, text="", call={
            "from": clean(number), "withheld": is_withheld(number),
            "to": clean(str(call.get("to_number") or "")),
            "direction": call.get("direction"),
            "answered_by": clean(str(call.get("answered_by") or "")),
            "ended": bool(call.get("ended_at"))})
