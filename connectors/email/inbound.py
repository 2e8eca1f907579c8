"""From raw mail to the one ingest path: parse, build the ``InboundMessage``, hand it over.

Every e-mail source (IMAP, the SMTP/LMTP listener, ``chronik import``, re-processing a
quarantined message) goes through :class:`MailIngest`; no storage code lives here.

- A message that cannot be parsed (or is too large) is quarantined raw with the reason.
- ``source_id`` is the Message-ID, so re-delivery and re-import never duplicate an entry;
  a *different* message reusing a Message-ID already on file gets
  ``<message-id>#<content hash>`` so it is not lost.
- Auto-replies, bounces and bulk mail are stored marked (``automated``) and internal.
- A bounce is filed on the timeline of the customer who owns the bounced address (that
  address is marked undeliverable); a bounce for an address nobody owns waits in the
  quarantine (reason ``unattributed_bounce``) where an admin can assign or discard it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from timeline.errors import InvalidInput
from timeline.identity import normalise_email
from timeline.ingest import InboundAttachment, InboundMessage, IngestResult, IngestService
from timeline.models import Channel, CustomerStatus, IdentityKind, Office, utcnow

from .errors import MailParseError, MessageTooLarge
from .parse import DEFAULT_MAX_BYTES, ParsedMail, parse_message

log = logging.getLogger(__name__)

RAW_CHANNEL = "email"
"""Channel name of quarantined raw mail (and of the reprocessor that parses it again)."""
_MAX_SOURCE_ID = 900


def content_hash(parsed: ParsedMail) -> str:
    """What makes two messages "the same": sender, subject, text and attachment bytes."""
    digest = hashlib.sha256()
    for part in (parsed.from_email.lower(), parsed.subject, parsed.text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    for att in parsed.attachments:
        digest.update(hashlib.sha256(att.data).digest())
    return digest.hexdigest()


def quarantine_reason(exc: MailParseError) -> str:
    if isinstance(exc, MessageTooLarge):
        if exc.size == exc.max_bytes + 1:  # a source cut it there (sources.iter_messages)
            return (f"too_large: message is more than the limit of {exc.max_bytes} bytes; "
                    f"the first {exc.size} bytes are kept here, the whole message stays in "
                    "its source")
        return f"too_large: {exc.reason}"
    return f"unparseable: {exc.reason}"


def to_inbound(office_id: str, parsed: ParsedMail, *, source_id: str, content_sha256: str,
               customer_id: str | None = None) -> InboundMessage:
    """The normalised inbound message for one parsed mail (pure)."""
    meta: dict[str, object] = {
        "message_id": parsed.message_id, "to": list(parsed.to), "cc": list(parsed.cc),
        "content_sha256": content_sha256, "size": parsed.size,
    }
    if parsed.bounced_recipients:
        meta["bounced_recipients"] = list(parsed.bounced_recipients)
    return InboundMessage(
        office_id=office_id, channel=Channel.EMAIL, source_id=source_id,
        sender_kind=IdentityKind.EMAIL, sender=parsed.from_email,
        sender_name=parsed.from_display_name[:300],
        occurred_at=parsed.date or utcnow(), kind=parsed.auto or "email",
        subject=parsed.subject, body=parsed.text, html=parsed.html,
        attachments=tuple(InboundAttachment(name=a.filename, content_type=a.content_type,
                                            data=a.data, inline=a.inline)
                          for a in parsed.attachments),
        in_reply_to=parsed.in_reply_to, references=parsed.references,
        automated=parsed.auto, customer_id=customer_id, meta=meta)


@dataclass(frozen=True)
class Delivered:
    """What happened to one message: ``created``, ``duplicate`` or ``quarantined``."""

    outcome: str
    result: IngestResult


class MailIngest:
    """Turns raw or parsed mail into entries (or quarantined records) of one office."""

    def __init__(self, ingest: IngestService, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.ingest = ingest
        self.store = ingest.store
        self.max_bytes = max_bytes

    def register(self) -> None:
        """Make ``POST /api/v1/quarantine/{id}/reprocess`` work for quarantined mail."""
        self.ingest.register_reprocessor(RAW_CHANNEL, self.reprocess)

    async def parse(self, raw: bytes) -> ParsedMail:
        """Parse off the event loop (big messages take a while); raises MailParseError."""
        return await asyncio.to_thread(parse_message, raw, max_bytes=self.max_bytes)

    async def deliver(self, office_id: str, raw: bytes, origin: str) -> Delivered:
        """Parse and ingest one raw message; unparseable mail goes to the quarantine."""
        try:
            parsed = await self.parse(raw)
        except MailParseError as exc:
            return await self.quarantine(office_id, raw, quarantine_reason(exc), origin)
        return await self.deliver_parsed(office_id, parsed, raw, origin)

    async def quarantine(self, office_id: str, raw: bytes, reason: str, origin: str
                         ) -> Delivered:
        item = await self.ingest.quarantine(office_id, RAW_CHANNEL, raw, reason, origin)
        return Delivered("quarantined", IngestResult(entry=None, created=False, customer=None,
                                                     quarantined=item))

    async def deliver_parsed(self, office_id: str, parsed: ParsedMail, raw: bytes,
                             origin: str, customer_id: str | None = None) -> Delivered:
        return (await self.deliver_many(office_id, [(parsed, raw, origin)],
                                        customer_id=customer_id))[0]

    async def deliver_many(self, office_id: str,
                           items: Sequence[tuple[ParsedMail | str, bytes, str]], *,
                           customer_id: str | None = None) -> list[Delivered]:
        """Ingest many (parsed mail or quarantine reason, raw, origin) in order, as one
        batch; the outcome of each is what delivering them one by one would give."""
        out: list[Delivered | None] = [None] * len(items)
        todo: list[tuple[int, ParsedMail, bytes, str]] = []
        for i, (parsed, raw, origin) in enumerate(items):
            if isinstance(parsed, str):
                out[i] = await self.quarantine(office_id, raw, parsed, origin)
            else:
                todo.append((i, parsed, raw, origin))
        known = await self.store.entries_by_sources(
            office_id, [p.message_id[:_MAX_SOURCE_ID] for _, p, _, _ in todo], Channel.EMAIL)
        seen = {mid: e.meta.get("content_sha256") for mid, e in known.items()}
        batch: list[tuple[int, ParsedMail, InboundMessage, bytes, str]] = []
        for i, parsed, raw, origin in todo:
            digest = content_hash(parsed)
            source_id = parsed.message_id[:_MAX_SOURCE_ID]
            first = seen.setdefault(source_id, digest)
            if first not in (None, digest):
                log.info("a different message reuses Message-ID %s; stored separately",
                         source_id)
                source_id = f"{source_id}#{digest[:16]}"
            owner = customer_id
            if parsed.auto == "bounce" and owner is None:
                owner = await self._bounce_owner(office_id, parsed.bounced_recipients)
                if owner is None:
                    who = ", ".join(parsed.bounced_recipients[:5]) or "no recipient found"
                    out[i] = await self.quarantine(office_id, raw,
                                                   f"unattributed_bounce: {who}", origin)
                    continue
            try:
                msg = to_inbound(office_id, parsed, source_id=source_id,
                                 content_sha256=digest, customer_id=owner)
            except ValidationError as exc:
                problem = exc.errors(include_url=False)[0]
                out[i] = await self.quarantine(
                    office_id, raw, f"unparseable: {'.'.join(map(str, problem['loc']))}: "
                                    f"{problem['msg']}", origin)
                continue
            batch.append((i, parsed, msg, raw, origin))
        results = await self.ingest.ingest_many([(m, raw, o) for _, _, m, raw, o in batch],
                                                raw_channel=RAW_CHANNEL)
        for (i, parsed, _, _, _), result in zip(batch, results, strict=True):
            if result.quarantined is not None:
                out[i] = Delivered("quarantined", result)
            elif not result.created:
                out[i] = Delivered("duplicate", result)
            else:
                out[i] = Delivered("created", result)
                if parsed.auto == "bounce":
                    reason = f"bounce: {parsed.subject}"[:500]
                    for address in parsed.bounced_recipients:
                        await self.ingest.mark_undeliverable(office_id, IdentityKind.EMAIL,
                                                             address, reason)
        return [d for d in out if d is not None]

    async def _bounce_owner(self, office_id: str, recipients: Sequence[str]) -> str | None:
        for address in recipients:
            try:
                value = normalise_email(address)
            except InvalidInput:
                continue
            found = [c for c in await self.store.find_customers(office_id, IdentityKind.EMAIL,
                                                                value)
                     if c.status is not CustomerStatus.MERGED]
            if found:
                found.sort(key=lambda c: (c.status is not CustomerStatus.ACTIVE, c.created_at))
                return found[0].id
        return None

    async def reprocess(self, office: Office, raw: bytes, origin: str,
                        customer_id: str | None) -> IngestResult:
        """Parse a quarantined message again (after a fix, or with a customer assigned)."""
        try:
            parsed = await self.parse(raw)
        except MailParseError as exc:
            raise InvalidInput(quarantine_reason(exc)) from None
        return (await self.deliver_parsed(office.id, parsed, raw, origin, customer_id)).result
