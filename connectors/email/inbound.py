"""From raw mail to the one ingest path: parse, build the ``InboundMessage``, hand it over.

Every e-mail source (IMAP, the SMTP/LMTP listener, ``chronik import``, re-processing a
quarantined message) goes through :class:`MailIngest`; no storage code lives here.

- A message that cannot be parsed (or is too large) is quarantined raw with the reason.
- ``source_id`` is the Message-ID, so re-delivery and re-import never duplicate an entry;
  a *different* message reusing a Message-ID already on file gets
  ``<message-id>#<content hash>`` so it is not lost.
- Auto-replies, delivery reports and bulk mail are stored marked (``automated``) and
  internal.
- A delivery report never creates a customer. A bounce is filed on the timeline of the
  customer who owns the bounced address (that address is marked undeliverable; a delay
  warning or success notice marks nothing); a report for an address nobody owns waits in the
  quarantine (reason ``unattributed_bounce`` / ``unattributed_delivery_report``) where an
  admin can assign or discard it. A report whose ``From`` is empty (``Mail Delivery System
  <>``) is read as one from ``MAILER-DAEMON@<reporting host>``, not quarantined as
  sender-less.
- Our own mail coming back in (a notification looped back or forwarded to the office, mail
  sent from the office's own address) never creates a customer: it is recognised by the
  notification's Message-ID (``<entry id>.<channel>@host``) or the sender being one of the
  office's own addresses, and is filed internal (``kind`` ``own_mail``) on the timeline of
  the customer it was about, else quarantined (reason ``own_mail``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser

from pydantic import ValidationError

from timeline.errors import InvalidInput
from timeline.identity import normalise_email
from timeline.ingest import InboundAttachment, InboundMessage, IngestResult, IngestService
from timeline.models import (
    Channel,
    CustomerStatus,
    Direction,
    Entry,
    EntryDraft,
    IdentityKind,
    Office,
    Visibility,
    utcnow,
)
from timeline.optout import own_words, says_stop
from timeline.privacy_models import ErasedSenderPolicy

from .bounce import OWN_MESSAGE_ID, DeliveryReport, read_report
from .errors import MailParseError, MessageTooLarge
from .parse import DEFAULT_MAX_BYTES, ParsedMail, parse_message
from .quotes import split_quoted
from .structure import line_end

log = logging.getLogger(__name__)

RAW_CHANNEL = "email"
"""Channel name of quarantined raw mail (and of the reprocessor that parses it again)."""
_MAX_SOURCE_ID = 900
REPORT_KINDS = ("bounce", "delivery_report")
"""``ParsedMail.auto`` of delivery reports: attributed by recipient, never by sender."""
OWN_MAIL = "own_mail"
_NO_SENDER = "no sender address"
_QUOTED_SENDER = re.compile(
    r"^[ \t>]*(?:from|von|de|da|van|od|från|fra)[ \t]*:[^\n@]*?<?(?:mailto:)?"
    r"([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)", re.IGNORECASE | re.MULTILINE)
"""The sender line of a forwarded or quoted mail in a text ("Von: Erika <erika@…>")."""
_QUOTE_SCAN = 50_000
_MAX_LOOKUPS = 10
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|antw|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+",
                           re.IGNORECASE)
_HOST = re.compile(rb"^reporting-mta:[ \t]*dns[ \t]*;[ \t]*([A-Za-z0-9.-]{1,253})",
                   re.IGNORECASE | re.MULTILINE)


def content_hash(parsed: ParsedMail) -> str:
    """What makes two messages "the same": sender, subject, text and attachment bytes."""
    return parsed.content_sha256


def quarantine_reason(exc: MailParseError) -> str:
    if isinstance(exc, MessageTooLarge):
        if exc.size == exc.max_bytes + 1:  # a source cut it there (sources.iter_messages)
            return (f"too_large: message is more than the limit of {exc.max_bytes} bytes; "
                    f"the first {exc.size} bytes are kept here, the whole message stays in "
                    "its source")
        return f"too_large: {exc.reason}"
    return f"unparseable: {exc.reason}"


def _stdlib_message(raw: bytes) -> Message:
    return BytesParser(_class=Message, policy=policy.compat32).parsebytes(raw.lstrip(b"\r\n"))


def parse_senderless_report(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES
                            ) -> ParsedMail | None:
    """A delivery report without any sender address (``From: Mail Delivery System <>``),
    parsed as one from ``MAILER-DAEMON@<reporting host>``; ``None`` when it is not a report
    (then it stays quarantined as sender-less)."""
    try:
        if read_report(_stdlib_message(raw)) is None:
            return None
    except (Exception, RecursionError):  # the stdlib parser on hostile input: not a report
        return None
    host = _HOST.search(raw[:200_000])
    name = host.group(1).decode("ascii") if host else "unknown.invalid"
    newline = line_end(raw)
    stand_in = (b"Sender: Mail Delivery System <MAILER-DAEMON@" + name.encode("ascii") + b">"
                + newline)
    try:
        parsed = parse_message(stand_in + raw.lstrip(b"\r\n"),
                               max_bytes=max_bytes + len(stand_in))
    except MailParseError:
        return None
    if parsed.auto not in REPORT_KINDS:
        return None
    return dataclasses.replace(parsed, size=len(raw))


NO_SENDER = "no-sender@sender.invalid"
"""The stand-in sender of a mail that names none, once an admin assigned it to a customer
(``.invalid``: no one can have it)."""


def parse_unsigned(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedMail | None:
    """A mail without any sender address, parsed with :data:`NO_SENDER` standing in (for a
    customer an admin named); ``None`` when it cannot be read even so."""
    newline = line_end(raw)
    stand_in = b"Sender: (no sender) <" + NO_SENDER.encode("ascii") + b">" + newline
    try:
        parsed = parse_message(stand_in + raw.lstrip(b"\r\n"), max_bytes=max_bytes + len(stand_in))
    except MailParseError:
        return None
    return dataclasses.replace(parsed, size=len(raw), parse_notes=(
        *parsed.parse_notes, "the message names no sender; stored for the customer an admin "
                             "assigned it to"))


def _is_senderless(reason: str) -> bool:
    return _NO_SENDER in reason


KEPT_REFERENCES = 20
"""Message-IDs of a mail's conversation kept (the newest: mail programs thread by the
first and the last few)."""


def sender_name(parsed: ParsedMail) -> str:
    """The sender's name as the entry keeps it (``to_inbound``; also read by ``chronik
    import``'s parser processes for the entry's search words)."""
    return parsed.from_display_name[:300]


def to_inbound(office_id: str, parsed: ParsedMail, *, source_id: str, content_sha256: str,
               customer_id: str | None = None) -> InboundMessage:
    """The normalised inbound message for one parsed mail (pure)."""
    meta: dict[str, object] = {
        "message_id": parsed.message_id, "to": list(parsed.to), "cc": list(parsed.cc),
        "content_sha256": content_sha256, "size": parsed.size,
    }
    thread = parsed.references or ((parsed.in_reply_to,) if parsed.in_reply_to else ())
    if thread:  # the conversation it belongs to: an answer's References repeat it
        meta["references"] = list(thread[-KEPT_REFERENCES:])
    if parsed.bounced_recipients:
        meta["bounced_recipients"] = list(parsed.bounced_recipients)
    if parsed.parse_notes:  # what was broken in the MIME and how it was read
        meta["parse_notes"] = list(parsed.parse_notes)
    return InboundMessage(
        office_id=office_id, channel=Channel.EMAIL, source_id=source_id,
        sender_kind=IdentityKind.EMAIL, sender=parsed.from_email,
        sender_name=sender_name(parsed),
        occurred_at=parsed.date or utcnow(), kind=parsed.auto or "email",
        subject=parsed.subject, body=parsed.text, html=parsed.html,
        attachments=tuple(InboundAttachment(name=a.filename, content_type=a.content_type,
                                            data=a.data, inline=a.inline, text=a.text)
                          for a in parsed.attachments),
        in_reply_to=parsed.in_reply_to, references=parsed.references,
        automated=parsed.auto, customer_id=customer_id, meta=meta, spam=parsed.spam)


def _same_bytes(stored: Entry | None, parsed: ParsedMail) -> bool:
    """The stored mail of this Message-ID came from the same bytes: the same size and the
    same Date. Then it is the same message delivered again (the mailbox imported a second
    time, an IMAP folder read anew) even where this version reads it otherwise than the one
    that stored it (a repair of the intake: a file opened, a text decoded better) -- not
    another message that reuses the Message-ID."""
    return (stored is not None and parsed.date is not None
            and stored.meta.get("size") == parsed.size and stored.occurred_at == parsed.date)


def _report_of(raw: bytes) -> DeliveryReport | None:
    try:
        return read_report(_stdlib_message(raw))
    except (Exception, RecursionError):  # the stdlib parser on hostile input
        return None


def _addresses_to_mark(parsed: ParsedMail, report: DeliveryReport | None) -> tuple[str, ...]:
    """The reported addresses, plus the one our returned notification was sent to (an alias
    may have been expanded on the way: that address is the customer's identity)."""
    found = list(parsed.bounced_recipients)
    if (report is not None and report.returned_message_id
            and OWN_MESSAGE_ID.match(report.returned_message_id)
            and len(report.returned_to) == 1
            and report.returned_to[0].lower() not in (a.lower() for a in found)):
        found.append(report.returned_to[0])
    return tuple(found)


@dataclass(frozen=True)
class Delivered:
    """What happened to one message: ``created``, ``duplicate`` or ``quarantined``."""

    outcome: str
    result: IngestResult


class MailIngest:
    """Turns raw or parsed mail into entries (or quarantined records) of one office."""

    def __init__(self, ingest: IngestService, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 own_addresses: Iterable[str] = (),
                 staff_addresses: Callable[[str], Awaitable[Iterable[str]]] | None = None
                 ) -> None:
        self.ingest = ingest
        self.store = ingest.store
        self.max_bytes = max_bytes
        self.own_addresses = frozenset(a.rpartition("<")[2].strip(" >").lower()
                                       for a in own_addresses if "@" in a)
        """The addresses our own mail is sent from (``CHRONIK_MAIL_FROM``); with the office's
        inbound addresses, mail from them is our own, never a customer's."""
        self.staff_addresses = staff_addresses
        """An office's agents' own addresses (by office id): their mail copied or forwarded
        to the office (Bcc to the inbox) is the office's own too, never a new customer
        named after the agent."""

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
            rescued = await self._senderless(raw, exc.reason)
            if rescued is None:
                return await self.quarantine(office_id, raw, quarantine_reason(exc), origin)
            parsed = rescued
        return await self.deliver_parsed(office_id, parsed, raw, origin)

    async def _senderless(self, raw: bytes, reason: str) -> ParsedMail | None:
        if not _is_senderless(reason):
            return None
        return await asyncio.to_thread(parse_senderless_report, raw, self.max_bytes)

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
                rescued = await self._senderless(raw, parsed)
                if rescued is None:
                    out[i] = await self.quarantine(office_id, raw, parsed, origin)
                    continue
                parsed = rescued
            todo.append((i, parsed, raw, origin))
        known = await self.store.entries_by_sources(
            office_id, [p.message_id[:_MAX_SOURCE_ID] for _, p, _, _ in todo], Channel.EMAIL)
        seen = {mid: e.meta.get("content_sha256") for mid, e in known.items()}
        batch: list[tuple[int, ParsedMail, InboundMessage, bytes, str]] = []
        marks: dict[int, tuple[str, ...]] = {}
        own_senders = self.own_addresses | {
            a.lower() for a in await self.store.inbound_addresses(office_id)}
        if self.staff_addresses is not None and todo:
            own_senders |= {a.strip().lower() for a in await self.staff_addresses(office_id)}
        for i, parsed, raw, origin in todo:
            digest = content_hash(parsed)
            source_id = parsed.message_id[:_MAX_SOURCE_ID]
            first = seen.setdefault(source_id, digest)
            if first not in (None, digest) and not _same_bytes(known.get(source_id), parsed):
                log.info("a different message reuses Message-ID %s; stored separately",
                         source_id)
                source_id = f"{source_id}#{digest[:16]}"
            owner = customer_id
            extra: dict[str, object] = {}
            own = await self._own_mail(office_id, parsed, own_senders)
            if own is not None:
                own_entry, own_owner = own
                parsed = dataclasses.replace(parsed, auto=OWN_MAIL, bounced_recipients=())
                owner = owner or own_owner
                if own_entry:
                    extra["own_entry_id"] = own_entry
                if owner is None:
                    out[i] = await self.quarantine(
                        office_id, raw, f"own_mail: sent from this office's own address "
                                        f"{parsed.from_email}; no customer known", origin)
                    continue
            elif parsed.auto in REPORT_KINDS:
                report = await asyncio.to_thread(_report_of, raw)
                marks[i] = _addresses_to_mark(parsed, report)
                if report is not None and report.returned_message_id:
                    extra["returned_message_id"] = report.returned_message_id
                if owner is None:
                    owner = await self._report_owner(office_id, marks[i], report)
                if owner is None:
                    what = ("unattributed_bounce" if parsed.auto == "bounce"
                            else "unattributed_delivery_report")
                    named = [a for a in marks[i] if not await self.ingest.is_erased(
                        office_id, IdentityKind.EMAIL, a)]
                    if marks[i] and not named:  # about erased persons only
                        out[i] = await self._about_erased(office_id, raw, what, origin)
                        continue
                    who = ", ".join(named[:5]) or "no recipient found"
                    out[i] = await self.quarantine(office_id, raw, f"{what}: {who}", origin)
                    continue
            elif parsed.auto == "auto_reply" and owner is None:
                owner = await self._answered_for(office_id, parsed)
            try:
                msg = to_inbound(office_id, parsed, source_id=source_id,
                                 content_sha256=digest, customer_id=owner)
                if extra:
                    msg = msg.model_copy(update={"meta": {**msg.meta, **extra}})
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
                if parsed.auto is None and result.entry is not None:
                    await self._stop_by_reply(office_id, parsed, result.entry)
                if parsed.auto == "bounce":
                    reason = f"bounce: {parsed.subject}"[:500]
                    for address in marks.get(i, parsed.bounced_recipients):
                        await self.ingest.mark_undeliverable(office_id, IdentityKind.EMAIL,
                                                             address, reason)
        return [d for d in out if d is not None]

    async def _stop_by_reply(self, office_id: str, parsed: ParsedMail, entry: Entry) -> None:
        """A customer's reply to one of our mails that says nothing but "STOP" (or
        "Abmelden", "unsubscribe please" -- ``timeline.optout``) withdraws their e-mail
        consent, as the unsubscribe link would, and says so on the timeline. Only a reply to
        our own mail of this customer counts: a new mail "Stopp" may be about anything."""
        ours = [m.group(1).upper() for m in (OWN_MESSAGE_ID.match(r) for r in
                                             [parsed.in_reply_to or "", *parsed.references])
                if m]
        if not ours:  # most mail answers none of ours: the text is not read (cheap test first)
            return
        own = split_quoted(parsed.text)
        written = own_words(own[0] if own is not None else parsed.text)
        if not written:  # an empty body: the subject, without "Re:"
            written = _REPLY_PREFIX.sub("", parsed.subject)
        if not says_stop(written):
            return
        answered = await self.store.get_entry(office_id, ours[-1])
        if answered is None or answered.customer_id != entry.customer_id:
            return
        current = (await self.store.consents(office_id, entry.customer_id)).get("email")
        if current is not None and not current.granted:
            return
        await self.store.record_consent(office_id, entry.customer_id, "email", False,
                                        actor="customer", route="email_stop")
        said = " ".join(written.split())
        await self.ingest.timeline.append(EntryDraft(
            office_id=office_id, customer_id=entry.customer_id, channel=Channel.EMAIL,
            direction=Direction.INTERNAL, kind="email_consent", visibility=Visibility.INTERNAL,
            notify=False, occurred_at=utcnow(),
            subject=f'E-mail notifications turned off by the customer (replied "{said}")',
            body="", meta={"consent": {"channel": "email", "granted": False,
                                       "route": "email_stop"},
                           "reply_entry_id": entry.id}))

    async def _about_erased(self, office_id: str, raw: bytes, what: str, origin: str
                            ) -> Delivered:
        """A report about mail to erased persons only (a late bounce): as a message from
        an erased person -- dropped, or kept without naming them, per the office's policy."""
        if await self.ingest.erased_sender_policy(office_id) is ErasedSenderPolicy.DROP:
            log.info("a delivery report about an erased person was dropped (office policy)")
            return Delivered("duplicate", IngestResult(entry=None, created=False,
                                                       customer=None, dropped=True))
        return await self.quarantine(office_id, raw, f"{what}: erased_sender", origin)

    async def _own_mail(self, office_id: str, parsed: ParsedMail, own_senders: frozenset[str]
                        | set[str]) -> tuple[str | None, str | None] | None:
        """``(our entry it is about, its customer)`` when this is our own mail coming back
        (a looped or forwarded notification, mail from the office's own address); else
        ``None``."""
        match = OWN_MESSAGE_ID.match(parsed.message_id)
        entry = (await self.store.get_entry(office_id, match.group(1).upper())
                 if match else None)
        if entry is None and parsed.from_email.strip().lower() not in own_senders:
            return None
        if entry is not None:
            return entry.id, entry.customer_id
        for ref in [parsed.in_reply_to, *reversed(parsed.references)]:
            if not ref:
                continue
            ours = OWN_MESSAGE_ID.match(ref)
            parent = (await self.store.get_entry(office_id, ours.group(1).upper()) if ours
                      else await self.store.find_entry_by_source(office_id, ref))
            if parent is not None:
                return parent.id, parent.customer_id
        # a mail the office wrote (an agent's, copied to the inbox): whom it was written to,
        # else whose mail it forwards
        written = [a for a in (*parsed.to, *parsed.cc) if a.lower() not in own_senders]
        owner = await self._owner_of(office_id, written[:_MAX_LOOKUPS])
        if owner is None:
            quoted = [m.group(1) for m in _QUOTED_SENDER.finditer(parsed.text[:_QUOTE_SCAN])]
            owner = await self._owner_of(office_id, [
                a for a in dict.fromkeys(quoted) if a.lower() not in own_senders][:_MAX_LOOKUPS])
        return None, owner

    async def _answered_for(self, office_id: str, parsed: ParsedMail) -> str | None:
        """The customer whose notification an auto-reply from an unknown address answers
        (an out-of-office of the address our mail was forwarded to): known by the
        notification's Message-ID in ``In-Reply-To``/``References``. ``None`` when the
        sender is a customer (filed on them as any mail) or it answers none of ours."""
        ours = [m.group(1).upper() for m in (OWN_MESSAGE_ID.match(r) for r in
                                             [parsed.in_reply_to or "", *parsed.references])
                if m]
        if not ours or await self._owner_of(office_id, [parsed.from_email]) is not None:
            return None
        entry = await self.store.get_entry(office_id, ours[0])
        return entry.customer_id if entry is not None else None

    async def _report_owner(self, office_id: str, recipients: Sequence[str],
                            report: DeliveryReport | None) -> str | None:
        """The customer a delivery report is about: the owner of a reported address, else
        the customer our returned notification was sent to."""
        owner = await self._owner_of(office_id, recipients)
        if owner is not None or report is None or not report.returned_message_id:
            return owner
        ours = OWN_MESSAGE_ID.match(report.returned_message_id)
        if ours is None:
            return None
        entry = await self.store.get_entry(office_id, ours.group(1).upper())
        return entry.customer_id if entry is not None else None

    async def _owner_of(self, office_id: str, recipients: Sequence[str]) -> str | None:
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
            rescued = await self._senderless(raw, exc.reason)
            if rescued is None and customer_id and _is_senderless(exc.reason):
                # the admin says whose it is: it needs no sender to be theirs
                rescued = await asyncio.to_thread(parse_unsigned, raw, self.max_bytes)
            if rescued is None:
                raise InvalidInput(quarantine_reason(exc)) from None
            parsed = rescued
        return (await self.deliver_parsed(office.id, parsed, raw, origin, customer_id)).result
