"""Timeline services: the one place that decides (policy, tone guard, identity rules) before
the store persists. Connectors, the API and the CLI all come through here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic

from typing_extensions import TypeVar

from timeline import disclosure, tone
from timeline import policy as publish_policy
from timeline.blobs import Blobs
from timeline.errors import Conflict, DisclosureWarning, InvalidInput, NotFound, ToneWarning
from timeline.events import EventBus, StoredEvent
from timeline.filenames import safe_file_name
from timeline.identity import normalise_identity
from timeline.ids import in_window, window_text
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
    Office,
    RecentJson,
    Visibility,
    utcnow,
)
from timeline.repositories import EntryContext, TimelineStore
from timeline.store import Store

log = logging.getLogger(__name__)

AGENT_ENTRY_KINDS: dict[str, tuple[Channel, Direction]] = {
    "note": (Channel.NOTE, Direction.INTERNAL),
    "phone_note": (Channel.PHONE, Direction.INTERNAL),
    "document": (Channel.DOCUMENT, Direction.INTERNAL),
    "reply": (Channel.EMAIL, Direction.OUTBOUND),
}
REPLY_CHANNELS: dict[str, Channel] = {
    "email": Channel.EMAIL, "telegram": Channel.CHAT, "portal": Channel.PORTAL,
}
"""A reply is a message to the customer on one channel (the notifier sends it there, with
the customer's other channels as fallback); it is always published and sent."""


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content_type: str
    data: bytes


SIGN_IN_KINDS = frozenset({IdentityKind.EMAIL, IdentityKind.TELEGRAM})
"""Identities a portal sign-in code goes to: each belongs to one customer of an office (a
phone number may be shared, e.g. a family's landline)."""


@dataclass(frozen=True)
class EntryRequest:
    """What an agent asks for; ``visibility``/``notify`` ``None`` means "use the preset"."""

    kind: str
    subject: str = ""
    body: str = ""
    visibility: Visibility | None = None
    notify: bool | None = None
    confirm: bool = False
    tags: tuple[str, ...] = ()
    occurred_at: datetime | None = None
    files: tuple[UploadedFile, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    reply_via: str | None = None
    """``reply`` only: ``email``, ``telegram`` or ``portal``."""
    in_reply_to: str | None = None
    """The entry (same customer) this one answers; shown as a thread link."""
    source_id: str | None = None
    """Makes the request idempotent: the same ``source_id`` again gives the entry written
    the first time (a form sent twice: Back and submit, a reload, a retried request)."""


@dataclass(frozen=True)
class Recorded:
    entry: Entry
    decision: publish_policy.Decision
    tone_hits: tuple[tone.ToneHit, ...]
    disclosure_hits: tuple[disclosure.DisclosureHit, ...] = ()


@dataclass(frozen=True)
class Screening:
    """What the tone guard and the disclosure check found in a text meant for a customer."""

    tone_hits: tuple[tone.ToneHit, ...]
    disclosure_hits: tuple[disclosure.DisclosureHit, ...]

    def details(self) -> dict[str, Any]:
        return {"hits": [{"text": h.text, "pattern": h.pattern} for h in self.tone_hits],
                "disclosure": [{"kind": h.kind, "text": h.text}
                               for h in self.disclosure_hits],
                "hint": tone.shipped_lexicon().hint}


def screen(text: str, context: EntryContext | None, office_words: Sequence[str] = ()
           ) -> Screening:
    """Run both checks; without a customer context only the office-wide ones."""
    words = context.tone_words if context else tuple(office_words)
    found = disclosure.check(
        text, colleagues=context.colleagues if context else (),
        internal_addresses=context.internal_addresses if context else (),
        customer_names=[context.customer_name] if context else ())
    return Screening(tuple(tone.check(text, words)), tuple(found))


@dataclass(frozen=True)
class Match:
    customer: Customer
    recent: list[Entry]


def _identity_value(office: Office, kind: IdentityKind, raw: str) -> str | None:
    """What a lookup looks for: ``raw`` normalised (None: it is no such identity)."""
    try:
        return normalise_identity(kind, raw, office.region)
    except InvalidInput:
        return None


def _best_first(customer: Customer, newest_seq: int | None) -> tuple[bool, int]:
    """The order of a lookup's matches: active before the others, then the one with the
    newest history."""
    return customer.status is not CustomerStatus.ACTIVE, -(newest_seq or 0)


Listener = Callable[[Entry | None], None]

S = TypeVar("S", bound=TimelineStore, covariant=True, default=Store)
"""The store the service was built with. It uses only ``TimelineStore`` itself; the services
built on it (ingest, the notifier, data protection) ask for the protocol they use, e.g.
``TimelineService[IngestStore]``, and read ``timeline.store`` as that."""


class TimelineService(Generic[S]):
    def __init__(self, store: S, blobs: Blobs, events: EventBus | None = None) -> None:
        self.store: S = store
        self.blobs = blobs
        self.events = events or EventBus()
        self.events.loader("entry", self._load_event)
        self._listeners: list[Listener] = []

    def notify_reindex(self) -> None:
        """Wake listeners after bulk changes that wrote index-outbox rows (merges, erasure)."""
        for listener in self._listeners:
            try:
                listener(None)
            except Exception:
                log.exception("timeline listener failed")

    def subscribe(self, listener: Listener) -> None:
        """Called (on the loop) for every newly stored entry: indexer wake-up, event streams."""
        self._listeners.append(listener)

    async def _load_event(self, stored: StoredEvent) -> dict[str, Any] | None:
        """The live payload of an ``entry.created`` / ``entry.updated`` feed row (the
        store wrote the row with the entry; ``timeline.events``)."""
        if stored.entry_id is None:
            return None
        entry = await self.store.get_entry(stored.office_id, stored.entry_id)
        if entry is None:  # erased or deleted since
            return None
        data: dict[str, Any] = {
            "id": entry.id, "customer_id": entry.customer_id, "channel": entry.channel.value,
            "kind": entry.kind}
        if stored.type == "entry.created":
            data.update(direction=entry.direction.value, visibility=entry.visibility.value,
                        subject=entry.subject, occurred_at=entry.occurred_at.isoformat())
        return data

    def _announce(self, entry: Entry) -> None:
        self.events.poke()  # the store wrote the live event with the entry
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:  # a listener's bug must not fail the write
                log.exception("timeline listener failed")

    # ------------------------------------------------------------------ customers
    def identities(
        self, office: Office, pairs: Sequence[tuple[IdentityKind, str]]
    ) -> list[Identity]:
        out: list[Identity] = []
        for kind, raw in pairs:
            value = normalise_identity(kind, raw, office.region)
            out.append(Identity(kind=kind, value=value, raw=raw.strip()))
        return out

    async def create_customer(
        self,
        office: Office,
        name: str,
        identities: Sequence[tuple[IdentityKind, str]] = (),
        status: CustomerStatus = CustomerStatus.ACTIVE,
    ) -> Customer:
        name = name.strip()
        if not name:
            raise InvalidInput("name must not be empty")
        return await self.store.create_customer(
            office.id, name, self.identities(office, identities), status)

    async def customer(self, office: Office, customer_id: str) -> Customer:
        customer = await self.store.get_customer(office.id, customer_id)
        if customer is None:
            raise NotFound("no such customer")
        return customer

    async def add_identity(
        self, office: Office, customer_id: str, kind: IdentityKind, raw: str, *,
        proven: bool = False
    ) -> Customer:
        """``proven``: the person showed it is theirs (a Telegram link token used from that
        chat); else an e-mail address or Telegram chat of another customer is ``Conflict``."""
        (ident,) = self.identities(office, [(kind, raw)])
        if kind in SIGN_IN_KINDS and not proven:  # a code sent there opens that portal
            for other in await self.store.find_customers(office.id, kind, ident.value):
                if other.id != customer_id and other.status is not CustomerStatus.MERGED:
                    raise Conflict(
                        f"{ident.value} is {other.name}'s already: one address opens one "
                        "customer's portal (merge the two if they are one person)",
                        {"customer_id": other.id, "name": other.name, "value": ident.value})
        customer = await self.store.add_identity(office.id, customer_id, ident)
        if customer is None:
            raise NotFound("no such customer")
        return customer

    async def remove_identity(
        self, office: Office, customer_id: str, kind: IdentityKind, raw: str
    ) -> Customer:
        try:
            value = normalise_identity(kind, raw, office.region)
        except InvalidInput:
            value = raw.strip()
        customer = await self.store.remove_identity(office.id, customer_id, kind, value)
        if customer is None:
            raise NotFound("no such customer or identity")
        return customer

    # ------------------------------------------------------------------ entries
    async def append(self, draft: EntryDraft) -> tuple[Entry, bool]:
        """Store an entry from a connector or service (idempotent on ``source_id``)."""
        entry, created = await self.store.append(draft)
        if created:
            self._announce(entry)
        return entry, created

    async def append_many(self, drafts: Sequence[EntryDraft]) -> list[tuple[Entry, bool]]:
        """``append`` for many entries in one store transaction (imports)."""
        if not drafts:
            return []
        out = await self.store.append_many(drafts)
        for entry, created in out:
            if created:
                self._announce(entry)
        return out

    async def revise(self, office_id: str, entry_id: str, *, subject: str | None = None,
                     body: str | None = None, meta: dict[str, Any] | None = None,
                     keep_history: bool = True) -> Entry:
        entry = await self.store.revise_entry(office_id, entry_id, subject=subject, body=body,
                                              meta=meta, keep_history=keep_history)
        if entry is None:
            raise NotFound("no such entry")
        self.events.poke()  # the store wrote the live event with the change
        self.notify_reindex()
        return entry

    async def move(self, office: Office, agent: Agent, entry_id: str, customer_id: str
                   ) -> Entry:
        """File an entry on the customer it is really about (a mail from a shared family
        address, a call note on the wrong one of two callers with one number). The entry
        keeps its time and place in the timeline; ``meta.moved`` says who moved it, when
        and from where. What was already sent about it stays sent; a notification not sent
        yet goes to the new customer. ``NotFound``: no such entry or customer."""
        entry = await self.store.get_entry(office.id, entry_id)
        if entry is None:
            raise NotFound("no such entry")
        target = await self.customer(office, customer_id)
        if target.status is CustomerStatus.MERGED:
            raise Conflict(f"{target.name} was merged into another customer: move it there")
        if entry.customer_id == target.id:
            raise InvalidInput("the entry is filed on this customer already")
        moved = await self.store.move_entry(office.id, entry_id, target.id, {
            "from": entry.customer_id, "to": target.id, "by": agent.id,
            "at": utcnow().isoformat()})
        if moved is None:
            raise NotFound("no such entry")
        self.events.poke()  # the store wrote the live events with the change
        self.notify_reindex()
        return moved

    async def record(
        self, agent: Agent, office: Office, customer_id: str, req: EntryRequest
    ) -> Recorded:
        """An agent writes a note, phone note or document: apply the publish policy, run
        the tone guard, store attachments, append."""
        if req.kind not in AGENT_ENTRY_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(AGENT_ENTRY_KINDS)}")
        if req.occurred_at is not None and not in_window(req.occurred_at):
            raise InvalidInput(f"occurred_at must lie between {window_text()}",
                               {"problems": [{"field": "occurred_at",
                                              "problem": "outside the supported dates"}]})
        channel, direction = AGENT_ENTRY_KINDS[req.kind]
        if req.kind == "document" and not req.files:
            raise InvalidInput("a document needs at least one file")
        if not (req.body.strip() or req.subject.strip() or req.files):
            raise InvalidInput("an entry needs a subject, a body or a file")
        if req.kind == "reply":
            if req.reply_via not in REPLY_CHANNELS:
                raise InvalidInput("a reply needs reply_via: email, telegram or portal")
            if req.visibility is Visibility.INTERNAL or req.notify is False:
                raise InvalidInput("a reply is sent to the customer; write a note to keep "
                                   "something internal")
            channel = REPLY_CHANNELS[req.reply_via]
        elif req.reply_via is not None:
            raise InvalidInput("reply_via is only for kind reply")
        context = await self.store.entry_context(office.id, agent.id, customer_id)
        if context is None:
            raise NotFound("no such customer")
        if req.in_reply_to is not None:
            parent = await self.store.get_entry(office.id, req.in_reply_to)
            if parent is None or parent.customer_id != customer_id:
                raise InvalidInput("in_reply_to must be an entry of the same customer")
        try:
            if req.kind == "reply":
                decision = publish_policy.Decision(
                    visibility=Visibility.PUBLISHED, notify=True,
                    visibility_source=publish_policy.PresetSource.REQUEST,
                    notify_source=publish_policy.PresetSource.REQUEST)
            else:
                decision = publish_policy.decide(
                    req.kind, context.agent_policy, context.office_policy, req.visibility,
                    req.notify)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        hits: tuple[tone.ToneHit, ...] = ()
        leaks: tuple[disclosure.DisclosureHit, ...] = ()
        if decision.visibility is Visibility.PUBLISHED:
            text = "\n".join([req.subject, req.body, *(f.name for f in req.files)])
            found = screen(text, context)
            hits, leaks = found.tone_hits, found.disclosure_hits
            if hits and not req.confirm:
                raise ToneWarning(
                    "This entry would be shown to the customer and contains wording that may "
                    "offend: " + ", ".join(f"“{h.text}”" for h in hits), found.details())
            if leaks and not req.confirm:
                raise DisclosureWarning(
                    "This entry would be shown to the customer and contains what should "
                    "stay internal: " + ", ".join(f"“{h.text}”" for h in leaks),
                    found.details())
        attachments = []
        for f in req.files:
            digest = await self.blobs.put(f.data)
            attachments.append(Attachment(name=safe_file_name(f.name),
                                          content_type=f.content_type,
                                          size=len(f.data), sha256=digest))
        meta = dict(req.meta)
        meta["author_name"] = agent.name
        meta["preset"] = {"visibility": decision.visibility_source.value,
                          "notify": decision.notify_source.value}
        if hits:
            meta["tone_confirmed"] = [h.text for h in hits]
        if leaks:
            meta["disclosure_confirmed"] = [h.text for h in leaks]
        if req.reply_via is not None:
            meta["reply_via"] = req.reply_via
        if req.in_reply_to is not None:
            meta["in_reply_to"] = req.in_reply_to
        draft = EntryDraft(
            office_id=office.id, customer_id=customer_id, channel=channel,
            direction=direction, kind=req.kind, author=agent.id,
            visibility=decision.visibility, notify=decision.notify,
            occurred_at=req.occurred_at or utcnow(), subject=req.subject.strip(),
            body=req.body, attachments=tuple(attachments), tags=req.tags, meta=meta,
            source_id=req.source_id,
        )
        entry, _ = await self.append(draft)
        return Recorded(entry=entry, decision=decision, tone_hits=hits, disclosure_hits=leaks)

    # ------------------------------------------------------------------ lookup
    async def lookup(self, office: Office, kind: IdentityKind, raw: str, recent: int = 10
                     ) -> list[Match]:
        """Customers with this identity, best first (verified before unverified, then the
        one with the newest history), each with its newest entries."""
        _, matches = await self.lookup_normalised(office, kind, raw, recent)
        return matches

    async def lookup_normalised(self, office: Office, kind: IdentityKind, raw: str,
                                recent: int = 10) -> tuple[str | None, list[Match]]:
        """Like ``lookup``, also returning the normalised identity (None if unparseable)."""
        value = _identity_value(office, kind, raw)
        if value is None:
            return None, []
        found = await self.store.customers_with_recent(office.id, kind, value, recent)
        matches = [Match(customer=c, recent=entries) for c, entries in found
                   if c.status is not CustomerStatus.MERGED]
        matches.sort(key=lambda m: _best_first(m.customer, m.recent[0].seq if m.recent
                                               else None))
        return value, matches

    async def lookup_json(self, office: Office, kind: IdentityKind, raw: str,
                          recent: int = 10) -> tuple[str | None, list[RecentJson]]:
        """``lookup_normalised`` with the entries as JSON (``timeline.public``), as the
        store writes them: what the API answers."""
        value = _identity_value(office, kind, raw)
        if value is None:
            return None, []
        found = await self.store.customers_with_recent_json(office.id, kind, value, recent)
        matches = [m for m in found if m.customer.status is not CustomerStatus.MERGED]
        matches.sort(key=lambda m: _best_first(m.customer, m.newest_seq))
        return value, matches
