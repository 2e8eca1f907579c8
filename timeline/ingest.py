"""One ingest path for every inbound channel: identity resolution, idempotency, threading,
quarantine, merges. Connectors only translate their protocol into an ``InboundMessage``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from timeline.errors import Conflict, CustomerGone, DomainError, InvalidInput, NotFound
from timeline.filenames import safe_file_name
from timeline.identity import earlier_forms, normalise_identity
from timeline.ids import in_window
from timeline.models import (
    Agent,
    Attachment,
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    Entry,
    EntryDraft,
    Identity,
    IdentityKind,
    Merge,
    Office,
    QuarantineItem,
    Visibility,
    utcnow,
)
from timeline.privacy_models import ErasedSenderPolicy, suppression_digest
from timeline.repositories import IngestStore
from timeline.service import TimelineService

log = logging.getLogger(__name__)


class InboundAttachment(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")
    name: str
    content_type: str = "application/octet-stream"
    data: bytes
    inline: bool = False
    text: str | None = None
    """The file's searchable text when the connector read it already (``chronik import``
    does, in its parser processes); kept beside the file for the indexer."""


class InboundMessage(BaseModel):
    """A message as every connector hands it over, whatever the channel."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")
    office_id: str
    channel: Channel
    source_id: str = Field(min_length=1, max_length=1000)
    """The channel's own id (Message-ID, Telegram chat/message id, CTI call id, …)."""
    sender_kind: IdentityKind
    sender: str
    """Raw sender: address, phone number, Telegram user id, portal account id."""
    sender_name: str = ""
    occurred_at: datetime
    kind: str = "message"
    direction: Direction = Direction.INBOUND
    visibility: Visibility = Visibility.PUBLISHED
    subject: str = ""
    body: str = ""
    html: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automated: str | None = None
    """``auto_reply``, ``bounce``, ``delivery_report``, ``own_mail``, ``bulk``: stored
    internal and marked, never answered. A report or our own mail never creates a customer:
    the connector names the customer (``customer_id``) or it is quarantined."""
    customer_id: str | None = None
    """Set when the connector already knows the customer (portal session, linked chat)."""
    spam: str | None = None
    """Why the channel's own server took it for spam (e.g. ``X-Spam-Flag: YES``): from
    someone who is no customer it is quarantined, not made a customer; a known customer's
    is stored with ``meta["spam"]``."""
    notify: bool = False
    """Ask the notifier for a receipt copy to the customer (portal: "a copy of what I sent")."""
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = Field(default_factory=dict)


NEVER_A_CUSTOMER = frozenset({"bounce", "delivery_report", "own_mail"})
"""``automated`` kinds whose sender is a mail system or the office itself, never a customer."""
NO_NEW_CUSTOMER = frozenset({"auto_reply", "bulk"})
"""``automated`` kinds filed on a known customer's timeline, but never making a stranger a
customer (a newsletter, a mailing list, a notification robot, an out-of-office from an address
nobody knows): from a stranger they wait in the quarantine (reason ``auto_reply`` / ``bulk``)
for an admin to assign or discard."""


class UnknownSenderPolicy(StrEnum):
    CREATE = "create"
    """An unknown sender becomes a new customer with status ``unverified``."""
    UNASSIGNED = "unassigned"
    """An unknown sender's message waits in the quarantine (reason ``unknown_sender``) until
    an agent assigns it to a customer."""


@dataclass(frozen=True)
class IngestResult:
    entry: Entry | None
    created: bool
    customer: Customer | None
    new_customer: bool = False
    quarantined: QuarantineItem | None = None
    dropped: bool = False
    """The sender was erased and ``erased_sender`` is ``drop``: nothing was stored."""


class _ErasedSender(Exception):
    """The sender's identity is on the suppression list of erased persons."""


class _KeptFromStranger(Exception):
    """The sender is nobody the office knows, and the message must not make them a customer
    (``reason``: why it waits in the quarantine)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _SpamFromStranger(_KeptFromStranger):
    """Marked as spam by the channel's server, and the sender is nobody the office knows."""

    def __init__(self, verdict: str) -> None:
        super().__init__(f"spam: marked by a mail server ({verdict}); the sender is no "
                         "customer")


Reprocessor = Callable[[Office, bytes, str, str | None], Awaitable[IngestResult]]
"""Parse raw bytes of a channel again: (office, raw, origin, forced customer id)."""

JSON_CHANNEL = "inbound-json"

BAD_MESSAGE: tuple[type[Exception], ...] = (DomainError, ValueError, OverflowError, TypeError)
"""What a message's own data can raise while it is stored: that message is quarantined and
the rest go on. Anything else (a full disk, a locked database) is the store's, and raises."""


class IngestService:
    def __init__(self, timeline: TimelineService[IngestStore],
                 unknown_sender: UnknownSenderPolicy = UnknownSenderPolicy.CREATE) -> None:
        self.timeline = timeline
        self.store: IngestStore = timeline.store
        self.unknown_sender = unknown_sender
        self.suppression_key: bytes | None = None
        """Key of the suppression list of erased persons (set by the composition root)."""
        self.erased_sender = ErasedSenderPolicy.QUARANTINE
        self._reprocessors: dict[str, Reprocessor] = {JSON_CHANNEL: self._reprocess_json}

    def register_reprocessor(self, channel: str, fn: Reprocessor) -> None:
        """A connector registers how to parse its raw quarantined bytes again."""
        self._reprocessors[channel] = fn

    # ------------------------------------------------------------------ ingest
    async def ingest(self, msg: InboundMessage, *, raw: bytes | None = None,
                     raw_channel: str | None = None, origin: str = "") -> IngestResult:
        try:
            return await self._ingest(msg, raw, raw_channel, origin)
        except CustomerGone:
            # the customer was erased between finding them and storing the entry (the store
            # refuses an entry for a customer that is gone): once more, from the sender
            return await self._ingest(msg, raw, raw_channel, origin)

    async def _ingest(self, msg: InboundMessage, raw: bytes | None, raw_channel: str | None,
                      origin: str) -> IngestResult:
        existing = await self.store.find_entry_by_source(msg.office_id, msg.source_id,
                                                         msg.channel)
        if existing is not None:
            customer = await self.store.get_customer(msg.office_id, existing.customer_id)
            return IngestResult(entry=existing, created=False, customer=customer)
        office = await self.store.get_office(msg.office_id)
        if office is None:
            raise NotFound(f"no office {msg.office_id}")
        try:
            customer, new_customer = await self._resolve(office, msg)
        except _ErasedSender:
            return await self._erased(office, msg, raw, raw_channel, origin)
        except _KeptFromStranger as kept:
            return await self._quarantined(office, msg, raw, raw_channel, origin, kept.reason)
        except InvalidInput as exc:
            return await self._quarantined(office, msg, raw, raw_channel, origin,
                                           f"unattributable sender: {exc.message}")
        if customer is None:
            return await self._quarantined(office, msg, raw, raw_channel, origin,
                                           f"unknown_sender: {msg.sender}")
        entry, created = await self.timeline.append(await self._draft(office, customer, msg))
        return IngestResult(entry=entry, created=created, customer=customer,
                            new_customer=new_customer)

    async def _resolve(self, office: Office, msg: InboundMessage,
                       known: dict[tuple[IdentityKind, str], list[Customer]] | None = None
                       ) -> tuple[Customer | None, bool]:
        """The sender's customer (created per policy). ``known``: identities already looked
        up by a batch (kept up to date here)."""
        if msg.customer_id:
            customer = await self.store.get_customer(office.id, msg.customer_id)
            if customer is None:
                raise InvalidInput(f"no customer {msg.customer_id}")
            return customer, False
        if msg.automated in NEVER_A_CUSTOMER:
            raise InvalidInput(f"a {msg.automated.replace('_', ' ')} never creates a customer; "
                               "assign it to the customer it is about")
        value = normalise_identity(msg.sender_kind, msg.sender, office.region)
        key = (msg.sender_kind, value)
        candidates = (known[key] if known is not None and key in known
                      else await self.store.find_customers(office.id, msg.sender_kind, value))
        found = [c for c in candidates if c.status is not CustomerStatus.MERGED]
        if found:
            found.sort(key=lambda c: (c.status is not CustomerStatus.ACTIVE, c.created_at))
            return found[0], False
        if msg.spam:
            raise _SpamFromStranger(msg.spam)
        if await self.is_erased(office.id, msg.sender_kind, value):
            raise _ErasedSender
        if msg.automated in NO_NEW_CUSTOMER:
            raise _KeptFromStranger(f"{msg.automated}: {msg.sender.strip()[:300]}; the sender "
                                    "is no customer")
        if self.unknown_sender is UnknownSenderPolicy.UNASSIGNED:
            return None, False
        name = msg.sender_name.strip() or msg.sender.strip()
        customer = await self.store.create_customer(
            office.id, name[:300],
            [Identity(kind=msg.sender_kind, value=value, raw=msg.sender.strip())],
            CustomerStatus.UNVERIFIED)
        if known is not None:
            known[key] = [customer]
        return customer, True

    async def _draft(self, office: Office, customer: Customer, msg: InboundMessage,
                     parents: dict[str, Entry] | None = None) -> EntryDraft:
        """``parents``: referenced source ids already looked up by a batch."""
        attachments = []
        for att in msg.attachments:
            digest = await self.timeline.blobs.put(att.data, att.text)
            attachments.append(Attachment(name=safe_file_name(att.name),
                                          content_type=att.content_type,
                                          size=len(att.data), sha256=digest))
        meta = dict(msg.meta)
        meta.setdefault("from", msg.sender)
        if msg.sender_name:
            meta.setdefault("from_name", msg.sender_name)
        meta["search_text"] = " ".join(p for p in (msg.sender_name, msg.sender) if p)
        if msg.spam:
            meta["spam"] = msg.spam
        occurred_at = msg.occurred_at
        if not in_window(occurred_at):  # a broken clock or header: stored as received
            meta["original_date"] = occurred_at.isoformat()
            occurred_at = utcnow()
        for ref in [msg.in_reply_to, *reversed(msg.references)]:
            if not ref:
                continue
            parent = (parents.get(ref) if parents is not None
                      else await self.store.find_entry_by_source(office.id, ref))
            if parent is not None:
                meta["in_reply_to"] = {"entry_id": parent.id, "subject": parent.subject,
                                       "channel": parent.channel.value}
                break
        visibility = msg.visibility
        tags = list(msg.tags)
        if msg.automated:
            meta["automated"] = msg.automated
            visibility = Visibility.INTERNAL
            if "automated" not in tags:
                tags.append("automated")
        return EntryDraft(
            office_id=office.id, customer_id=customer.id, channel=msg.channel,
            direction=msg.direction, kind=msg.kind, author=None, visibility=visibility,
            notify=msg.notify and visibility is Visibility.PUBLISHED,
            occurred_at=occurred_at, subject=msg.subject[:1000],
            body=msg.body, html=msg.html, attachments=tuple(attachments), tags=tuple(tags),
            source_id=msg.source_id, meta=meta)

    async def ingest_many(self, items: Sequence[tuple[InboundMessage, bytes | None, str]],
                          *, raw_channel: str | None = None) -> list[IngestResult]:
        """``ingest`` for many (message, raw, origin) of one office and channel, in order,
        with the same outcome per message -- but batched reads and one write transaction
        per run of new entries (``chronik import``)."""
        if not items:
            return []
        first = items[0][0]
        if any(m.office_id != first.office_id or m.channel is not first.channel
               for m, _, _ in items):
            raise InvalidInput("a batch holds messages of one office and one channel")
        office = await self.store.get_office(first.office_id)
        if office is None:
            raise NotFound(f"no office {first.office_id}")
        stored = await self.store.entries_by_sources(
            office.id, [m.source_id for m, _, _ in items], first.channel)
        parents = await self.store.entries_by_sources(
            office.id, [r for m, _, _ in items for r in (m.in_reply_to, *m.references) if r])
        known: dict[tuple[IdentityKind, str], list[Customer]] = {}
        for kind in {m.sender_kind for m, _, _ in items}:
            values = set()
            for m, _, _ in items:
                with contextlib.suppress(InvalidInput):
                    if m.sender_kind is kind and not m.customer_id:
                        values.add(normalise_identity(kind, m.sender, office.region))
            found = await self.store.customers_by_identities(office.id, kind, sorted(values))
            known.update({(kind, v): found.get(v, []) for v in values})
        results: list[IngestResult | None] = [None] * len(items)
        pending: list[tuple[int, EntryDraft, Customer, bool]] = []
        waiting: set[str] = set()  # source ids of ``pending``

        async def flush() -> None:
            appended: list[tuple[Entry, bool] | Exception]
            try:
                appended = list(await self.timeline.append_many([d for _, d, _, _ in pending]))
            except BAD_MESSAGE:  # one bad draft must not cost the others: one by one
                appended = []
                for _, draft, _, _ in pending:
                    try:
                        appended.append(await self.timeline.append(draft))
                    except BAD_MESSAGE as exc:
                        appended.append(exc)
            for (i, _, customer, new), done in zip(pending, appended, strict=True):
                if isinstance(done, CustomerGone):
                    msg, raw, origin = items[i]  # its customer was erased meanwhile: again,
                    results[i] = await self.ingest(  # from the sender
                        msg, raw=raw, raw_channel=raw_channel, origin=origin)
                    continue
                if isinstance(done, Exception):
                    msg, raw, origin = items[i]
                    results[i] = await self._unstorable(office, msg, raw, raw_channel, origin,
                                                        done)
                    continue
                entry, created = done
                results[i] = IngestResult(entry=entry, created=created, customer=customer,
                                          new_customer=new)
                stored.setdefault(entry.source_id or "", entry)
                parents.setdefault(entry.source_id or "", entry)
            pending.clear()
            waiting.clear()

        owners: dict[str, Customer | None] = {}
        for i, (msg, raw, origin) in enumerate(items):
            if not waiting.isdisjoint((msg.source_id, msg.in_reply_to, *msg.references)):
                await flush()  # it repeats or answers a message of this batch: store that first
            existing = stored.get(msg.source_id)
            if existing is not None:
                if existing.customer_id not in owners:
                    owners[existing.customer_id] = await self.store.get_customer(
                        office.id, existing.customer_id)
                results[i] = IngestResult(entry=existing, created=False,
                                          customer=owners[existing.customer_id])
                continue
            try:
                customer, new_customer = await self._resolve(office, msg, known)
            except _ErasedSender:
                results[i] = await self._erased(office, msg, raw, raw_channel, origin)
                continue
            except _KeptFromStranger as kept:
                results[i] = await self._quarantined(office, msg, raw, raw_channel, origin,
                                                     kept.reason)
                continue
            except InvalidInput as exc:
                results[i] = await self._quarantined(office, msg, raw, raw_channel, origin,
                                                     f"unattributable sender: {exc.message}")
                continue
            if customer is None:
                results[i] = await self._quarantined(office, msg, raw, raw_channel, origin,
                                                     f"unknown_sender: {msg.sender}")
                continue
            try:
                draft = await self._draft(office, customer, msg, parents)
            except BAD_MESSAGE as exc:
                results[i] = await self._unstorable(office, msg, raw, raw_channel, origin, exc)
                continue
            pending.append((i, draft, customer, new_customer))
            if draft.source_id is not None:
                waiting.add(draft.source_id)
        await flush()
        return [r for r in results if r is not None]

    async def _unstorable(self, office: Office, msg: InboundMessage, raw: bytes | None,
                          raw_channel: str | None, origin: str, exc: Exception) -> IngestResult:
        """A message of a batch that could not be stored: quarantined, the batch goes on."""
        what = exc.message if isinstance(exc, DomainError) else type(exc).__name__
        log.warning("could not store %s message %s (%s); quarantined", msg.channel.value,
                    msg.source_id, type(exc).__name__)
        return await self._quarantined(office, msg, raw, raw_channel, origin,
                                       f"unstorable: {what}"[:500])

    async def is_erased(self, office_id: str, kind: IdentityKind, value: str) -> bool:
        """Whether ``value`` (normalised) is an identity of a person erased in the office:
        its hash is on the suppression list (also in a form from before that form
        changed: an older erasure left the hash of the old form)."""
        if self.suppression_key is None:
            return False
        for form in (value, *earlier_forms(kind, value)):
            if await self.store.is_suppressed(office_id, kind.value, suppression_digest(
                    self.suppression_key, office_id, kind.value, form)):
                return True
        return False

    async def erased_sender_policy(self, office_id: str) -> ErasedSenderPolicy:
        """What becomes of a message from or about an erased person: the office's own
        policy (``office_privacy``), else ``CHRONIK_ERASED_SENDER``."""
        return (await self.store.office_erased_sender(office_id)) or self.erased_sender

    async def _erased(self, office: Office, msg: InboundMessage, raw: bytes | None,
                      raw_channel: str | None, origin: str) -> IngestResult:
        """A message from an erased person: never re-creates them; dropped or quarantined
        (reason ``erased_sender``) per the office's own policy (``office_privacy``), else
        ``CHRONIK_ERASED_SENDER``. Logged without the address."""
        own = await self.store.office_erased_sender(office.id)
        policy = own or self.erased_sender
        log.info("%s message from an erased sender in office %s: %s (%s)", msg.channel.value,
                 office.id, policy.value, "office policy" if own else "server default")
        if policy is ErasedSenderPolicy.DROP:
            return IngestResult(entry=None, created=False, customer=None, dropped=True)
        return await self._quarantined(office, msg, raw, raw_channel,
                                       origin or msg.channel.value, "erased_sender")

    # ------------------------------------------------------------------ quarantine
    async def quarantine(self, office_id: str, channel: str, raw: bytes, reason: str,
                         origin: str) -> QuarantineItem:
        """Keep what could not be parsed or attributed, with the reason; nothing is lost."""
        digest = await self.timeline.blobs.put(raw)
        item = await self.store.add_quarantine(office_id, channel, reason, origin, digest,
                                               len(raw))
        log.warning("quarantined %s message %s: %s", channel, item.id, reason.split(":")[0])
        return item

    async def _quarantined(self, office: Office, msg: InboundMessage, raw: bytes | None,
                           raw_channel: str | None, origin: str, reason: str
                           ) -> IngestResult:
        """The message kept in the quarantine with ``reason`` instead of being stored."""
        item = await self._quarantine_msg(office, msg, raw, raw_channel, origin, reason)
        return IngestResult(entry=None, created=False, customer=None, quarantined=item)

    async def _quarantine_msg(self, office: Office, msg: InboundMessage, raw: bytes | None,
                              raw_channel: str | None, origin: str, reason: str
                              ) -> QuarantineItem:
        if raw is None or raw_channel is None:
            raw, raw_channel = msg.model_dump_json().encode("utf-8"), JSON_CHANNEL
        return await self.quarantine(office.id, raw_channel, raw, reason,
                                     origin or f"{msg.channel.value}:{msg.source_id}")

    async def _reprocess_json(self, office: Office, raw: bytes, origin: str,
                              customer_id: str | None) -> IngestResult:
        msg = InboundMessage.model_validate_json(raw)
        if customer_id:
            msg = msg.model_copy(update={"customer_id": customer_id})
        return await self.ingest(msg, origin=origin)

    async def reprocess(self, office: Office, item_id: str, customer_id: str | None = None
                        ) -> QuarantineItem:
        """Parse a quarantined message again (after a fix), optionally for a given customer.
        Success marks it ``processed`` with the entry; failure keeps it open with the new
        reason."""
        item = await self.store.get_quarantine(office.id, item_id)
        if item is None:
            raise NotFound("no such quarantined message")
        if item.status != "open":
            raise Conflict(f"this message is already {item.status}")
        if customer_id and await self.store.get_customer(office.id, customer_id) is None:
            raise NotFound("no such customer")
        fn = self._reprocessors.get(item.channel)
        if fn is None:
            raise Conflict(f"no connector for {item.channel} is running to reprocess this")
        raw = await self.timeline.blobs.get(item.raw_sha256)
        if raw is None:
            raise NotFound("the raw message is gone")
        try:
            result = await fn(office, raw, item.origin, customer_id)
        except InvalidInput as exc:
            updated = await self.store.resolve_quarantine(office.id, item.id, "open",
                                                          reason=exc.message)
            assert updated is not None
            return updated
        if result.entry is None:
            reason = result.quarantined.reason if result.quarantined else "still unparseable"
            if result.quarantined is not None and result.quarantined.id != item.id:
                await self.store.resolve_quarantine(office.id, result.quarantined.id,
                                                    "discarded", reason="duplicate of "
                                                    f"{item.id}")
            updated = await self.store.resolve_quarantine(office.id, item.id, "open",
                                                          reason=reason)
        else:
            updated = await self.store.resolve_quarantine(office.id, item.id, "processed",
                                                          entry_id=result.entry.id)
        assert updated is not None
        return updated

    async def discard(self, office: Office, item_id: str) -> QuarantineItem:
        """Give up on an open quarantined message (again: no change); one that was
        processed into an entry stays processed (``Conflict``)."""
        item = await self.store.get_quarantine(office.id, item_id)
        if item is None:
            raise NotFound("no such quarantined message")
        if item.status == "discarded":
            return item
        if item.status != "open":
            raise Conflict(f"this message is already {item.status}")
        discarded = await self.store.resolve_quarantine(office.id, item_id, "discarded")
        if discarded is None:
            raise NotFound("no such quarantined message")
        return discarded

    # ------------------------------------------------------------------ merges
    async def merge(self, office: Office, agent: Agent, source_id: str, target_id: str
                    ) -> Merge:
        """Move everything of ``source`` into ``target``; recorded on both timelines."""
        if source_id == target_id:
            raise InvalidInput("cannot merge a customer into itself")
        source = await self.timeline.customer(office, source_id)
        target = await self.timeline.customer(office, target_id)
        merge = await self.store.merge_customers(office.id, source_id, target_id)
        text = (f"{source.name} was merged into {target.name} by {agent.name} "
                f"({len(merge.entry_ids)} entries, {len(merge.identities)} identities moved).")
        said = {"source": source.name, "target": target.name, "agent": agent.name,
                "entries": len(merge.entry_ids), "identities": len(merge.identities)}
        await self._record(office, agent, target_id, "Customers merged", text,
                           {"merge_id": merge.id, "source_id": source_id,
                            "system": {"key": "merged", **said}})
        await self._record(office, agent, source_id, "Customer merged away", text,
                           {"merge_id": merge.id, "target_id": target_id,
                            "system": {"key": "merged_away", **said}})
        self.timeline.notify_reindex()
        return merge

    async def undo_merge(self, office: Office, agent: Agent, merge_id: str) -> Merge:
        merge = await self.store.undo_merge(office.id, merge_id)
        text = f"Merge {merge_id} was undone by {agent.name}."
        names: dict[str, str | None] = {}
        for role, cid in (("source", merge.source_id), ("target", merge.target_id)):
            customer = await self.store.get_customer(office.id, cid)
            names[role] = customer.name if customer is not None else None
        said = {"key": "merge_undone", "agent": agent.name, **names}
        for cid in (merge.source_id, merge.target_id):
            await self._record(office, agent, cid, "Merge undone", text,
                               {"merge_id": merge.id, "system": said})
        self.timeline.notify_reindex()
        return merge

    async def _record(self, office: Office, agent: Agent, customer_id: str, subject: str,
                      body: str, meta: dict[str, Any]) -> None:
        """A merge note: its English ``subject``/``body`` are stored (API, search, export);
        ``meta.system`` holds what it says (``key`` and the names), so the console shows
        it in the reader's language."""
        await self.timeline.append(EntryDraft(
            office_id=office.id, customer_id=customer_id, channel=Channel.NOTE,
            direction=Direction.INTERNAL, kind="merge", author=agent.id,
            visibility=Visibility.INTERNAL, occurred_at=utcnow(), subject=subject, body=body,
            meta={**meta, "author_name": agent.name}))

    # ------------------------------------------------------------------ identities
    async def mark_undeliverable(self, office_id: str, kind: IdentityKind, raw: str,
                                 reason: str) -> list[str]:
        """A bounce for an address we send to: the identity is marked undeliverable."""
        office = await self.store.get_office(office_id)
        if office is None:
            return []
        try:
            value = normalise_identity(kind, raw, office.region)
        except InvalidInput:
            return []
        already = {c.id for c in await self.store.find_customers(office_id, kind, value)
                   if all(i.undeliverable for i in c.identities
                          if i.kind is kind and i.value == value)}
        customers = await self.store.set_identity_undeliverable(office_id, kind, value, True)
        for cid in customers:
            if cid in already:  # a second bounce for the same address: one note is enough
                continue
            await self.timeline.append(EntryDraft(
                office_id=office_id, customer_id=cid, channel=Channel.NOTE,
                direction=Direction.INTERNAL, kind="identity_undeliverable",
                visibility=Visibility.INTERNAL, occurred_at=utcnow(),
                subject=f"{kind.value} {value} is undeliverable", body=reason[:2000],
                meta={"identity": {"kind": kind.value, "value": value}}))
        return customers
