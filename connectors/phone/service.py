"""The phone connector: CTI events -> one call entry per call, plus live events for agents.

Per call id the state lives apart from the entry (``CallRepository.call_state``), so an
``answer`` or ``hangup`` that arrives before its ``newCall`` is kept even when it does not
name the number yet; the entry is created from whatever names the customer first and
completed as the other events come. Events of one call are applied one at a time: a lock
per call in this process, and across processes (``serve --processes N``, several servers
behind a balancer) a compare-and-set save (``replace_call_state``): an event applied to a
state another process has changed meanwhile is applied again to the newer state, so no
event is lost. The entry is written from the state, so an attempt that lost is simply
written over.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from connectors.phone.calls import MISSED_TAG, CallState
from connectors.phone.events import CallDirection, CtiEvent, CtiEventType
from connectors.phone.numbers import customer_number, e164_or_raw, is_extension, is_withheld
from timeline.errors import Conflict, InvalidInput
from timeline.events import StoredEvent
from timeline.identity import normalise_identity
from timeline.ingest import InboundMessage, IngestResult, IngestService
from timeline.models import Channel, Direction, IdentityKind, Office, Visibility, utcnow
from timeline.service import Match

log = logging.getLogger(__name__)

UNENDED_SCAN = 10_000
"""Calls without an end looked through at most (they are ended after 12 hours)."""

RAW_CHANNEL = "cti"
"""Quarantine channel of calls from unknown or withheld numbers (reprocessed by us)."""

MatchView = Callable[[Match], dict[str, Any]]
RECENT = 10
"""Entries of each matching customer in ``call.ringing``."""
ATTEMPTS = 50
"""Tries to apply one event while other processes keep changing the same call (each lost
try means another event of the call was applied meanwhile: a call has a handful)."""


def _live_event(event: CtiEvent, state: CallState) -> str | None:
    """The live event an applied CTI event makes (``None``: nothing to show)."""
    if event.type is CtiEventType.NEW_CALL and state.ended_at is None:
        return "call.ringing"
    if event.type is CtiEventType.ANSWER and state.ended_at is None:
        return "call.answered"
    if event.type is CtiEventType.HANGUP:
        return "call.ended"
    return None


def plain_match(match: Match) -> dict[str, Any]:
    return {"customer": match.customer.model_dump(mode="json", exclude={"office_id"}),
            "recent": [e.model_dump(mode="json", exclude={"office_id"}) for e in match.recent]}


@dataclass(frozen=True)
class CallResult:
    state: CallState
    duplicate: bool
    quarantined: bool = False


class CtiService:
    def __init__(self, ingest: IngestService, match_view: MatchView = plain_match) -> None:
        self.ingest = ingest
        self.timeline = ingest.timeline
        self.store = ingest.store
        self.match_view = match_view
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        self.timeline.events.loader("call", self._load_event)

    @asynccontextmanager
    async def _call_lock(self, office_id: str, call_id: str) -> AsyncIterator[None]:
        key = (office_id, call_id)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _load(self, office_id: str, call_id: str) -> CallState | None:
        raw = await self.store.call_state(office_id, call_id)
        return None if raw is None else CallState.model_validate(raw)

    async def _save(self, office_id: str, read: dict[str, Any] | None, state: CallState,
                    event: str | None = None, new_customer: bool = False) -> bool:
        """Keep the state unless the stored one is no longer ``read`` (then False); with
        ``event`` the live event goes in the same transaction (``new_customer``: the
        caller's customer was created by this call, so it is no match to show when the
        phone rings)."""
        return await self.store.replace_call_state(
            office_id, state.call_id, read, state.model_dump(mode="json"), state.customer_id,
            event=event, entry_id=state.entry_id,
            event_data={"new_customer": True} if new_customer else None)

    # ------------------------------------------------------------------ events
    async def handle(self, office: Office, event: CtiEvent) -> CallResult:
        internal = event.internal or (
            is_extension(event.from_number, office.region)
            and is_extension(event.to_number, office.region))
        event = replace(event, from_number=e164_or_raw(event.from_number, office.region),
                        to_number=e164_or_raw(event.to_number, office.region),
                        answering_number=e164_or_raw(event.answering_number, office.region),
                        internal=internal)
        async with self._call_lock(office.id, event.call_id):
            for _ in range(ATTEMPTS):
                done = await self._apply(office, event)
                if done is not None:
                    break
            else:
                raise Conflict("the call kept changing while this event was applied; "
                               "send the event again")
        return done

    async def _apply(self, office: Office, event: CtiEvent) -> CallResult | None:
        """One try at applying ``event`` to the stored call; ``None`` when another process
        changed the call meanwhile (nothing of this try is kept but the entry, which the
        next try writes over)."""
        read = await self.store.call_state(office.id, event.call_id)
        state = CallState.start(event) if read is None else CallState.model_validate(read)
        if state.dropped:  # an erased person's call: nothing of it is kept
            return CallResult(state=state, duplicate=False)
        if not state.apply(event):
            if not await self._save(office.id, read, state):
                return None
            return CallResult(state=state, duplicate=True)
        if state.internal:  # colleagues calling each other: nobody's timeline, no banner
            if not await self._save(office.id, read, state):
                return None
            return CallResult(state=state, duplicate=False)
        new_customer = await self._sync(office, state)
        if state.dropped:
            tombstone = state.tombstone()
            if not await self._save(office.id, read, tombstone):
                return None
            return CallResult(state=tombstone, duplicate=False)
        if not await self._save(office.id, read, state, _live_event(event, state),
                                new_customer):
            return None
        self.timeline.events.poke()  # deliver the live event now (timeline/events.py)
        return CallResult(state=state, duplicate=False,
                          quarantined=state.quarantine_id is not None)

    async def unended(self, office: Office, wanted: Callable[[str], bool]) -> list[CallState]:
        """The office's calls that have not ended and whose id ``wanted`` accepts, the one
        that began last first (a phone source picking up calls begun before it started)."""
        found: list[CallState] = []
        for office_id, call_id in await self.store.unended_calls(
                utcnow() + timedelta(seconds=1), limit=UNENDED_SCAN):
            if office_id == office.id and wanted(call_id):
                read = await self.store.call_state(office_id, call_id)
                if read is not None:
                    found.append(CallState.model_validate(read))
        return sorted(found, key=lambda s: s.first_seen_at, reverse=True)

    async def close_unreported(self, office: Office, call_id: str) -> bool:
        """End a call the phone system never reported ending (``CallState.close_unreported``):
        its entry says so, live views hear ``call.ended``. ``False`` when it had ended or
        is gone meanwhile."""
        async with self._call_lock(office.id, call_id):
            for _ in range(ATTEMPTS):
                read = await self.store.call_state(office.id, call_id)
                if read is None:
                    return False
                state = CallState.model_validate(read)
                if not state.close_unreported():
                    return False
                if state.entry_id is not None:
                    await self._revise(office, state)
                if await self._save(office.id, read, state,
                                    "call.ended" if state.entry_id is not None else None):
                    self.timeline.events.poke()
                    return True
        return False

    async def _lookup(self, office: Office, state: CallState) -> list[Match]:
        """The caller's customers and their history before this call."""
        number = customer_number(state.number, office.region)
        if not number or is_withheld(number):
            return []
        found = await self.timeline.lookup(office, IdentityKind.PHONE, number, RECENT + 1)
        return [Match(m.customer, [e for e in m.recent if e.id != state.entry_id][:RECENT])
                for m in found]

    def _message(self, office: Office, state: CallState, customer_id: str | None = None
                 ) -> InboundMessage:
        rendered = state.render()
        number = customer_number(state.number, office.region)
        assert number is not None
        return InboundMessage(
            office_id=office.id, channel=Channel.PHONE, source_id=f"cti:{state.call_id}",
            sender_kind=IdentityKind.PHONE, sender=number, occurred_at=state.started_at,
            kind="call", visibility=Visibility.INTERNAL,
            direction=(Direction.OUTBOUND if state.direction is CallDirection.OUT
                       else Direction.INBOUND),
            subject=rendered.subject, body=rendered.body, tags=rendered.tags,
            meta=rendered.meta, customer_id=customer_id)

    def _raw(self, office: Office, state: CallState) -> bytes:
        return json.dumps({"office_id": office.id, "call_id": state.call_id}).encode()

    async def _sync(self, office: Office, state: CallState) -> bool:
        """Create the call entry once the customer's number is known; keep it up to date.
        True when the call created the customer (an unknown number)."""
        if state.number is None:
            return False  # an answer/hangup without numbers: kept in the state until newCall
        if state.entry_id is None:
            if state.quarantine_id is not None:
                return False  # waits in the quarantine; reprocessing renders the latest state
            result = await self.ingest.ingest(
                self._message(office, state), raw=self._raw(office, state),
                raw_channel=RAW_CHANNEL, origin=f"cti:{state.call_id}")
            if result.entry is None:
                state.quarantine_id = result.quarantined.id if result.quarantined else None
                state.dropped = result.dropped
                return False
            state.entry_id, state.customer_id = result.entry.id, result.entry.customer_id
            if result.created:
                return result.new_customer
        await self._revise(office, state)
        return False

    async def _revise(self, office: Office, state: CallState) -> None:
        assert state.entry_id is not None
        rendered = state.render()
        await self.store.retag_entry(office.id, state.entry_id, add=rendered.tags,
                                     remove=() if rendered.tags else (MISSED_TAG,))
        await self.timeline.revise(office.id, state.entry_id, subject=rendered.subject,
                                   body=rendered.body, meta=rendered.meta, keep_history=False)

    async def _load_event(self, stored: StoredEvent) -> dict[str, Any] | None:
        """The live payload of a ``call.*`` feed row: the call as stored now (the caller's
        customers and history too when it rings)."""
        if stored.call_id is None:
            return None
        state = await self._load(stored.office_id, stored.call_id)
        office = await self.store.get_office(stored.office_id)
        if state is None or state.dropped or office is None:
            return None
        base: dict[str, Any] = {
            "call_id": state.call_id, "entry_id": state.entry_id,
            "customer_id": state.customer_id,
            "direction": state.direction.value if state.direction else None,
            "number": state.number, "quarantined": state.quarantine_id is not None}
        if stored.type == "call.ringing":
            try:
                normalised: str | None = normalise_identity(
                    IdentityKind.PHONE, customer_number(state.number, office.region) or "",
                    office.region)
            except InvalidInput:
                normalised = None
            matches = [m for m in await self._lookup(office, state)
                       if not (stored.data.get("new_customer")
                               and m.customer.id == state.customer_id)]
            return {**base, "normalised": normalised, "from": state.from_number,
                    "to": state.to_number, "users": state.ringing_users,
                    "matches": [self.match_view(m) for m in matches]}
        if stored.type == "call.answered":
            return {**base, "answered_by": state.answered_by,
                    "answering_number": state.answering_number,
                    "transferred_to": state.transferred_to}
        if stored.type == "call.ended":
            return {**base, "outcome": state.outcome, "missed": state.missed,
                    "cause": state.cause, "answered_by": state.answered_by,
                    "transferred_to": state.transferred_to,
                    "duration_seconds": state.duration_seconds}
        return base

    # ------------------------------------------------------------------ quarantine
    async def reprocess(self, office: Office, raw: bytes, origin: str,
                        customer_id: str | None) -> IngestResult:
        """A quarantined call (unknown or withheld number) is assigned or retried: render
        the call as it stands now (later events included)."""
        try:
            call_id = str(json.loads(raw)["call_id"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("not a quarantined CTI call") from None
        created = new_customer = False
        async with self._call_lock(office.id, call_id):
            for _ in range(ATTEMPTS):  # as ``handle``: again when another process changed it
                read = await self.store.call_state(office.id, call_id)
                state = None if read is None else CallState.model_validate(read)
                if state is None or state.number is None:
                    raise InvalidInput(f"no state for call {call_id}")
                result = await self.ingest.ingest(
                    self._message(office, state, customer_id), raw=raw,
                    raw_channel=RAW_CHANNEL, origin=origin)
                if result.entry is None:
                    return result
                created, new_customer = (created or result.created,
                                         new_customer or result.new_customer)
                state.entry_id, state.customer_id = result.entry.id, result.entry.customer_id
                state.quarantine_id = None
                if not result.created:
                    await self._revise(office, state)
                if await self._save(office.id, read, state):
                    return replace(result, created=created, new_customer=new_customer)
        raise Conflict("the call kept changing while it was reprocessed; try again")
