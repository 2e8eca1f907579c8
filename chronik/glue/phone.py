"""Wiring of the phone connector: one ``CtiService`` per running app, its quarantine
reprocessor, the FRITZ!Box call monitor when its settings enable it (settings model:
:class:`connectors.phone.settings.FritzboxSettings`, listed in ``chronik.settings``), and the
lookup view the ``call.ringing`` event shares with ``GET /lookup``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chronik.api.schemas import CustomerOut, EntryOut, LookupMatch
from chronik.components import Component, Misconfigured
from chronik.state import AppState
from connectors.phone import RAW_CHANNEL, CtiService
from connectors.phone.fritzbox import FritzboxCallMonitor, FritzboxConfig
from connectors.phone.settings import FritzboxSettings
from timeline.errors import InvalidInput, NotFound
from timeline.models import Channel, Entry, Office, utcnow
from timeline.service import Match

log = logging.getLogger(__name__)


def match_view(match: Match) -> dict[str, Any]:
    """The same shape as one item of ``GET /api/v1/lookup``'s ``matches``."""
    return LookupMatch(customer=CustomerOut.of(match.customer),
                       recent=[EntryOut.of(e) for e in match.recent]).model_dump(mode="json")


def cti_service(state: AppState) -> CtiService:
    if state.cti is None:
        state.cti = CtiService(state.ingest, match_view)
        state.ingest.register_reprocessor(RAW_CHANNEL, state.cti.reprocess)
    return state.cti


def _problem(exc: ValidationError) -> str:
    fields = ", ".join(
        f"CHRONIK_FRITZBOX_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False))
    return f"invalid FRITZ!Box settings: {fields}"


UNREPORTED_AFTER = timedelta(hours=12)
"""A call still ringing or in progress this long after its last event has ended without
the phone system saying so (longer than any real call; PBXs lose ``hangup`` events, a
FRITZ!Box restarted mid-call never sends its ``DISCONNECT``)."""
SWEEP_SECONDS = 600.0
SWEEP_BATCH = 500
"""Calls read per round of a sweep (rounds follow while a full one ended some)."""


class UnendedCalls:
    """Ends the calls whose end the phone system never reported (``CtiService.
    close_unreported``), every ``every`` seconds: otherwise they would say "(ringing)" on
    the timeline for ever."""

    name = "phone-unended-calls"
    kind = "worker"

    def __init__(self, state: AppState, *, after: timedelta = UNREPORTED_AFTER,
                 every: float = SWEEP_SECONDS) -> None:
        self.state = state
        self.after = after
        self.every = every
        self.closed = 0
        self.last_run_at: datetime | None = None

    async def run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.every)

    async def run_once(self, now: datetime | None = None) -> int:
        """End every such call now (``now``: for tests); how many were ended."""
        store, cti = self.state.store, cti_service(self.state)
        cutoff = (now or utcnow()) - self.after
        offices: dict[str, Office | None] = {}
        closed = 0
        while True:
            found = await store.unended_calls(cutoff, SWEEP_BATCH)
            ended = 0
            for office_id, call_id in found:
                if office_id not in offices:
                    offices[office_id] = await store.get_office(office_id)
                office = offices[office_id]
                if office is not None and await cti.close_unreported(office, call_id):
                    ended += 1
            closed += ended
            if not ended or len(found) < SWEEP_BATCH:
                break
        self.closed += closed
        self.last_run_at = utcnow()
        if closed:
            log.info("%d call(s) ended that the phone system never reported ending", closed)
        return closed

    def diagnostics(self) -> dict[str, Any]:
        return {"after_hours": self.after.total_seconds() / 3600, "ended": self.closed,
                "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None}


def components(state: AppState) -> Sequence[Component]:
    """Ending calls whose end never came; the FRITZ!Box call monitor when
    ``CHRONIK_FRITZBOX_ENABLED`` (webhook events need nothing else in the background);
    quarantined calls are reprocessable from the start."""
    cti = cti_service(state)
    unended: list[Component] = [UnendedCalls(state)]
    try:
        settings = FritzboxSettings()
    except ValidationError as exc:
        return [*unended, Misconfigured("phone-fritzbox", _problem(exc))]
    if not settings.enabled:
        return unended
    return [*unended, FritzboxCallMonitor(cti, FritzboxConfig(
        host=settings.host.strip(), port=settings.port, office_id=settings.office_id,
        numbers=settings.number_list, lines=settings.line_list,
        timezone=settings.timezone, extensions=settings.extension_names))]


async def linked_call(state: AppState, office: Office, customer_id: str, kind: str,
                      call_entry_id: str | None) -> Entry | None:
    """The call a phone note is written against (``None`` for a free-standing note)."""
    if call_entry_id is None:
        return None
    if kind != "phone_note":
        raise InvalidInput("call_entry_id is only for a phone_note")
    call = await state.store.get_entry(office.id, call_entry_id)
    if call is None:
        raise NotFound("no such call entry")
    if call.kind != "call" or call.channel is not Channel.PHONE:
        raise InvalidInput("call_entry_id must name a call entry")
    if call.customer_id != customer_id:
        raise InvalidInput("the call belongs to another customer")
    return call


async def link_note(state: AppState, office: Office, call: Entry, note: Entry) -> None:
    """Mark the call with its note (``meta.phone_notes``), so the call shows its notes."""
    current = await state.store.get_entry(office.id, call.id) or call
    notes = [n for n in current.meta.get("phone_notes", []) if n != note.id]
    await state.timeline.revise(office.id, call.id, meta={"phone_notes": [*notes, note.id]},
                                keep_history=False)
