"""Caller lookup: a ringing number (any format) or an e-mail address finds the customer."""

from __future__ import annotations

import re

from aiohttp import web

from chronik.answers import Answer
from chronik.api.base import ApiError, Caller, Operation, Param
from chronik.api.render import customer_json, dumps, etag_of, json_response, raw_json_response
from chronik.api.schemas import LookupOut
from chronik.state import AppState
from timeline.errors import InvalidInput
from timeline.identity import is_withheld, normalise_phone
from timeline.models import IdentityKind

_UNENCODED_PLUS = re.compile(r"^ +(?=[1-9])")
"""``?phone=+49 171 1234567`` with its ``+`` not URL-encoded arrives as
``" 49 171 1234567"``: a blank before the first digit is that ``+``."""


def _phone(raw: str, region: str) -> str | None:
    """The number to look up, E.164; ``None`` for a withheld caller (``anonymous``,
    ``unknown``, ``sip:anonymous@anonymous.invalid``, blanks: nobody to find). Anything
    else that is not one valid number is a 400 saying why, so an integrator can tell an
    unknown caller (``200``, no matches) from input that is no number."""
    if is_withheld(raw):
        return None
    try:
        return normalise_phone(_UNENCODED_PLUS.sub("+", raw), region)
    except InvalidInput as exc:
        raise ApiError(400, "invalid_input", exc.message, {"phone": raw[:100]}) from None


async def lookup(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    phone, email = request.query.get("phone"), request.query.get("email")
    if bool(phone) == bool(email):
        raise ApiError(400, "invalid_input", "give exactly one of phone= or email=")
    if phone:
        number = _phone(phone, caller.office.region)
        if number is None:
            return json_response({"normalised": None, "matches": []})
        kind, raw = IdentityKind.PHONE, number
    else:
        assert email is not None
        kind, raw = IdentityKind.EMAIL, email
    # asked again (any spelling of the number) while nothing it shows was written
    # anywhere: the same answer, without reading the store (chronik.answers)
    key = (caller.office.id, kind, raw)
    before = state.store.change_token()
    kept = state.lookups.get(before, key)
    if kept is not None:
        return raw_json_response(kept.body, etag=kept.etag)
    normalised, matches = await state.timeline.lookup_json(caller.office, kind, raw)
    # the entries' JSON comes written (by SQLite, on its reader thread): put around it
    body = b'{"normalised":%s,"matches":[%s]}' % (dumps(normalised), b",".join(
        b'{"customer":%s,"recent":%s}' % (dumps(customer_json(m.customer)), m.recent_json)
        for m in matches))
    answer = Answer(body, etag_of(body))
    state.lookups.put(before, state.store.change_token(), key, answer)
    return raw_json_response(body, etag=answer.etag)


OPERATIONS = [
    Operation("GET", "/lookup", lookup, "lookup",
              "Find customers by phone number (any common format, office region as default) "
              "or e-mail address; an unknown caller or a withheld number (anonymous) gives "
              "an empty match list, a phone value that is not one valid number is 400",
              "lookup",
              params=(Param("phone", description="e.g. 0171 1234567, +49 171 1234567"),
                      Param("email")),
              response=LookupOut, errors=(400,)),
]
