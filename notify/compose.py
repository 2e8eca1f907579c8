"""From entries to outgoing messages: one message for one entry (``published`` or, for what
the customer wrote in the portal, ``receipt``), or one message listing several held entries
(``digest``). Attachments go along within the channel's limits, larger ones as portal links.
Office names and reply addresses are cached for a minute; zones are loaded off the loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from notify.digest import digest_context, digest_items, digest_message_id
from notify.message import OutgoingAttachment, OutgoingMessage
from notify.render import Renderer, format_when, language_of
from notify.tokens import sign_unsubscribe
from notify.transports import Transport
from timeline.blobs import Blobs
from timeline.models import Channel, Customer, Direction, Entry, Preferences
from timeline.repositories import InboundRepository, OfficeRepository


class ComposerStore(OfficeRepository, InboundRepository, Protocol):
    """What composing reads: the office's name and its inbound address for replies, and
    the mail an agent's reply answers (its Message-ID, for the customer's thread) -- only
    ever a published one."""

    async def published_entry(self, office_id: str, entry_id: str) -> Entry | None: ...


QUOTED_LINES = 60
"""Lines of the customer's mail quoted below a reply at most."""
_MESSAGE_ID = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]{1,250}")
"""A Message-ID we can repeat in ``In-Reply-To`` (printable ASCII, no ``<``/``>`` inside):
anything else a hostile mail carried is left out rather than sent."""
_DERIVED = "@chronik.invalid"
"""The domain of the ids the parser derives for mail without a Message-ID (no mail
program knows them)."""


def _message_id(value: object) -> str | None:
    """``<id>`` for a Message-ID as stored (the parser keeps them without brackets)."""
    if not isinstance(value, str):
        return None
    bare = value.strip()
    bare = bare[1:-1] if bare.startswith("<") and bare.endswith(">") else bare
    if not _MESSAGE_ID.fullmatch(bare) or bare.endswith(_DERIVED):
        return None
    return f"<{bare}>"


def _thread(answered: Entry | None) -> tuple[str, ...]:
    """``References`` of an answer to ``answered`` (RFC 5322 3.6.4: its conversation, then
    its own Message-ID, which ends up as ``In-Reply-To``); empty without a usable ID."""
    own = None if answered is None else _message_id(answered.meta.get("message_id"))
    if answered is None or own is None:
        return ()
    earlier = answered.meta.get("references")
    chain = [m for m in map(_message_id, earlier if isinstance(earlier, list) else [])
             if m is not None and m != own]
    return (*chain, own)


@dataclass
class Composer:
    store: ComposerStore
    blobs: Blobs
    transports: Mapping[str, Transport]
    renderer: Renderer
    base_url: str
    secret_key: bytes
    mail_host: str
    max_attachment_bytes: int
    _offices: dict[str, tuple[float, str, str | None]] = field(default_factory=dict)

    async def office(self, office_id: str) -> tuple[str, str | None]:
        """(office name, its inbound address for replies) — cached for a minute."""
        loop = asyncio.get_running_loop()
        cached = self._offices.get(office_id)
        if cached is not None and cached[0] > loop.time():
            return cached[1], cached[2]
        office = await self.store.get_office(office_id)
        # an address with an ASCII local part first: every mail server takes it (its
        # domain goes out in IDNA form), one like "büro@…" only a server with SMTPUTF8
        addresses = sorted(await self.store.inbound_addresses(office_id),
                           key=lambda a: (not a.rpartition("@")[0].isascii(), a))
        name = office.name if office else ""
        reply_to = addresses[0] if addresses else None
        self._offices[office_id] = (loop.time() + 60, name, reply_to)
        return name, reply_to

    def unsubscribe(self, office_id: str, customer_id: str, channel: str) -> str:
        if channel != "email":
            return ""
        token = sign_unsubscribe(self.secret_key, office_id, customer_id)
        return f"{self.base_url.rstrip('/')}/unsubscribe/{token}"

    async def digest(self, entries: Sequence[Entry], held: str | None, customer: Customer,
                     prefs: Preferences, channel: str, address: str) -> OutgoingMessage:
        """One message for several entries: each listed with subject, excerpt and link."""
        office_id = customer.office_id
        office_name, reply_to = await self.office(office_id)
        lang = language_of(prefs.language)
        base = self.base_url.rstrip("/")
        unsubscribe = self.unsubscribe(office_id, customer.id, channel)
        listed = digest_items(entries, lang, base, await load_zone(zone_name(prefs)))
        context = digest_context(
            listed, office=office_name, customer=customer.name, channel=channel, why=held,
            portal_url=f"{base}/portal", unsubscribe_url=unsubscribe,
            reply_by_mail=reply_to is not None)
        rendered = await self.renderer.message(office_id, lang, "digest", context)
        return OutgoingMessage(
            channel=channel, address=address, recipient_name=customer.name,
            sender_name=office_name, subject=rendered.subject, text=rendered.text,
            html=rendered.html,
            message_id=digest_message_id([e.id for e in entries], channel, self.mail_host),
            office_id=office_id, customer_id=customer.id, entry_id=entries[0].id,
            unsubscribe_url=unsubscribe or None, entry_url=f"{base}/portal",
            reply_to=reply_to if channel == "email" else None)

    async def single(self, entry: Entry, customer: Customer, prefs: Preferences,
                       channel: str, address: str, *, attach: bool = True) -> OutgoingMessage:
        """The message for one entry; its files go along as far as the channel's budget
        allows (counted as sent: e-mail's base64 is a third larger), the others as portal
        links; all of them with ``attach=False`` (a message the server refused for its
        size)."""
        office_name, reply_to = await self.office(entry.office_id)
        lang = language_of(prefs.language)
        base = self.base_url.rstrip("/")
        attached: list[OutgoingAttachment] = []
        linked: list[str] = []
        transport = self.transports[channel]
        budget = transport.attachment_budget(self.max_attachment_bytes)
        largest = transport.max_attachment_bytes or self.max_attachment_bytes
        for att in entry.attachments:
            data = None
            cost = transport.attachment_cost(att.size)
            if channel != "portal" and attach and att.size <= largest and cost <= budget:
                data = await self.blobs.get(att.sha256)
            if data is None:
                linked.append(att.name)
                continue
            budget -= cost
            attached.append(OutgoingAttachment(att.name, att.content_type, data))
        unsubscribe = self.unsubscribe(entry.office_id, customer.id, channel)
        zone = await load_zone(zone_name(prefs))
        occurred = format_when(entry.occurred_at.astimezone(zone), lang)
        template = ("receipt" if entry.direction is Direction.INBOUND
                    else "reply" if entry.kind == "reply" else "published")
        author = str(entry.meta.get("author_name") or "")
        # the customer's e-mail a reply answers: its Message-ID for their mail program's
        # thread, its text quoted below the signature
        answered = (await self.answered(entry, Channel.EMAIL)
                    if template == "reply" and channel == "email" else None)
        chat_message = (await self.answered_chat_message(entry, address)
                        if template == "reply" and channel == "telegram" else None)
        thread = _thread(answered)
        quoted = None if answered is None else {
            "when": format_when(answered.occurred_at.astimezone(zone), lang),
            "lines": answered.body.splitlines()[:QUOTED_LINES]}
        context = {
            "office": office_name, "customer": customer.name, "kind": entry.kind,
            "entry": {"subject": entry.subject, "body": entry.body, "kind": entry.kind},
            "channel": channel, "portal_url": f"{base}/portal",
            "entry_url": f"{base}/portal/entries/{entry.id}", "unsubscribe_url": unsubscribe,
            "attached": [a.name for a in attached] if channel != "portal" else [],
            "linked": linked if channel != "portal" else [a.name for a in entry.attachments],
            "reply_by_mail": reply_to is not None, "occurred": occurred,
            "author": author, "quoted": quoted,
        }
        rendered = await self.renderer.message(entry.office_id, lang, template, context)
        return OutgoingMessage(
            channel=channel, address=address, recipient_name=customer.name,
            # a letter says who wrote it: "Tom Weber (Büro Müller & Partner)"
            sender_name=f"{author} ({office_name})" if template == "reply" and author
            else office_name,
            subject=rendered.subject, text=rendered.text,
            html=rendered.html, message_id=f"<{entry.id}.{channel}@{self.mail_host}>",
            office_id=entry.office_id, customer_id=customer.id, entry_id=entry.id,
            attachments=tuple(attached), unsubscribe_url=unsubscribe or None,
            entry_url=f"{base}/portal/entries/{entry.id}",
            reply_to=reply_to if channel == "email" else None,
            attachment_refs=tuple({"index": i, "name": a.name, "content_type": a.content_type,
                                   "size": a.size} for i, a in enumerate(entry.attachments)),
            in_reply_to=thread[-1] if thread else None, references=thread,
            reply_to_chat_message=chat_message,
            personal=template == "reply")

    async def answered(self, entry: Entry, channel: Channel) -> Entry | None:
        """The customer's message on ``channel`` an agent's reply answers
        (``in_reply_to``), if it is one -- read like everything the notifier sends, through
        ``published_entry``: an internal entry (an out-of-office auto-reply, a bounce, our
        own mail looped back) is never quoted or threaded on, whatever the reply names."""
        parent_id = entry.meta.get("in_reply_to")
        if not isinstance(parent_id, str):
            return None
        parent = await self.store.published_entry(entry.office_id, parent_id)
        if parent is None or parent.direction is not Direction.INBOUND or \
                parent.channel is not channel or parent.customer_id != entry.customer_id:
            return None
        return parent

    async def answered_chat_message(self, entry: Entry, address: str) -> int | None:
        """The id of the customer's Telegram message a reply answers, in the chat it goes
        to (Telegram shows it quoted above the answer)."""
        parent = await self.answered(entry, Channel.CHAT)
        telegram = parent.meta.get("telegram") if parent is not None else None
        if not isinstance(telegram, dict) or str(telegram.get("chat_id")) != address.strip():
            return None
        message_id = telegram.get("message_id")
        return message_id if isinstance(message_id, int) and message_id > 0 else None


def zone_name(prefs: Preferences) -> str:
    """The customer's time zone, as far as their preferences tell."""
    if prefs.quiet_hours is not None:
        return prefs.quiet_hours.timezone
    if prefs.daily_digest is not None:
        return prefs.daily_digest.timezone
    return "Europe/Berlin"


_ZONES: dict[str, ZoneInfo] = {}


async def load_zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        try:
            zone = await asyncio.to_thread(ZoneInfo, name)
        except (ValueError, KeyError, OSError):
            zone = await asyncio.to_thread(ZoneInfo, "Europe/Berlin")
        _ZONES[name] = zone
    return zone
