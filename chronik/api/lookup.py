"""Caller lookup: a ringing number (any format) or an e-mail address finds the customer."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import ApiError, Caller, Operation, Param, json_model
from chronik.api.schemas import CustomerOut, EntryOut, LookupMatch, LookupOut
from chronik.state import AppState
from timeline.errors import InvalidInput
from timeline.identity import normalise_identity
from timeline.models import IdentityKind


async def lookup(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    phone, email = request.query.get("phone"), request.query.get("email")
    if bool(phone) == bool(email):
        raise ApiError(400, "invalid_input", "give exactly one of phone= or email=")
    kind, raw = (IdentityKind.PHONE, phone) if phone else (IdentityKind.EMAIL, email)
    assert raw is not None
    try:
        normalised: str | None = normalise_identity(kind, raw, caller.office.region)
    except InvalidInput:
        normalised = None
    matches = await state.timeline.lookup(caller.office, kind, raw) if normalised else []
    return json_model(LookupOut(normalised=normalised, matches=[
        LookupMatch(customer=CustomerOut.of(m.customer),
                    recent=[EntryOut.of(e) for e in m.recent]) for m in matches]))


OPERATIONS = [
    Operation("GET", "/lookup", lookup, "lookup",
              "Find customers by phone number (any common format, office region as default) "
              "or e-mail address; unknown gives an empty match list", "lookup",
              params=(Param("phone", description="e.g. 0171 1234567, +49 171 1234567"),
                      Param("email")),
              response=LookupOut, errors=(400,)),
]
