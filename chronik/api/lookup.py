"""Caller lookup: a ringing number (any format) or an e-mail address finds the customer."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import ApiError, Caller, Operation, Param
from chronik.api.render import customer_json, entry_json, json_response
from chronik.api.schemas import LookupOut
from chronik.state import AppState
from timeline.models import IdentityKind


async def lookup(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    phone, email = request.query.get("phone"), request.query.get("email")
    if bool(phone) == bool(email):
        raise ApiError(400, "invalid_input", "give exactly one of phone= or email=")
    kind, raw = (IdentityKind.PHONE, phone) if phone else (IdentityKind.EMAIL, email)
    assert raw is not None
    normalised, matches = await state.timeline.lookup_normalised(caller.office, kind, raw)
    return json_response({"normalised": normalised, "matches": [
        {"customer": customer_json(m.customer), "recent": [entry_json(e) for e in m.recent]}
        for m in matches]})


OPERATIONS = [
    Operation("GET", "/lookup", lookup, "lookup",
              "Find customers by phone number (any common format, office region as default) "
              "or e-mail address; unknown gives an empty match list", "lookup",
              params=(Param("phone", description="e.g. 0171 1234567, +49 171 1234567"),
                      Param("email")),
              response=LookupOut, errors=(400,)),
]
