"""Wiring of the phone connector: one ``CtiService`` per running app, its quarantine
reprocessor, and the lookup view the ``call.ringing`` event shares with ``GET /lookup``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chronik.api.schemas import CustomerOut, EntryOut, LookupMatch
from chronik.components import Component
from chronik.state import AppState
from connectors.phone import RAW_CHANNEL, CtiService
from timeline.errors import InvalidInput, NotFound
from timeline.models import Channel, Entry, Office
from timeline.service import Match


def match_view(match: Match) -> dict[str, Any]:
    """The same shape as one item of ``GET /api/v1/lookup``'s ``matches``."""
    return LookupMatch(customer=CustomerOut.of(match.customer),
                       recent=[EntryOut.of(e) for e in match.recent]).model_dump(mode="json")


def cti_service(state: AppState) -> CtiService:
    if state.cti is None:
        state.cti = CtiService(state.ingest, match_view)
        state.ingest.register_reprocessor(RAW_CHANNEL, state.cti.reprocess)
    return state.cti


def components(state: AppState) -> Sequence[Component]:
    """Nothing runs in the background (CTI events are pushed to the webhook); this only
    makes quarantined calls reprocessable from the start."""
    cti_service(state)
    return []


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
