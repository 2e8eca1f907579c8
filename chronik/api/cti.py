"""The CTI webhook: ``POST /api/v1/cti/{token}`` with newCall / answer / hangup events from
the office's PBX, form-encoded or JSON. Authenticated by the office's token in the URL
(``GET /api/v1/office``); an unknown token is a plain 404."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import quoteattr

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chronik.api.base import ApiError, Operation, Param, json_model
from chronik.glue.phone import cti_service
from chronik.state import AppState
from connectors.phone import CallResult, CtiEventType, parse_event
from connectors.phone.events import FieldValue
from timeline.errors import NotFound
from timeline.models import utcnow

MAX_EVENT_BYTES = 64 * 1024
FORM = ("application/x-www-form-urlencoded", "multipart/form-data")


class CtiEventIn(BaseModel):
    """A CTI event (form fields or a JSON object). ``user`` may repeat (``user[]``)."""

    model_config = ConfigDict(populate_by_name=True)
    event: str = Field(description="newCall, answer or hangup")
    call_id: str = Field(alias="callId")
    from_number: str | None = Field(None, alias="from", description="newCall: required")
    to_number: str | None = Field(None, alias="to", description="newCall: required")
    direction: str | None = Field(None, description="in or out; newCall: required")
    user: list[str] | str | None = Field(
        None, description="newCall: the users whose phones ring; answer: who answered")
    answering_number: str | None = Field(None, alias="answeringNumber")
    cause: str | None = Field(None, description="hangup: normalClearing, busy, cancel, "
                                                "noAnswer, congestion, notFound, forwarded")
    timestamp: str | None = Field(None, description="ISO 8601 or Unix seconds; default: "
                                                    "when the event is received")


class CtiResultOut(BaseModel):
    call_id: str
    event: str
    duplicate: bool
    status: str
    outcome: str | None
    entry_id: str | None
    customer_id: str | None
    quarantined: bool


async def _fields(request: web.Request) -> dict[str, FieldValue]:
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        raise ApiError(413, "too_large", f"a CTI event is at most {MAX_EVENT_BYTES} bytes")
    if request.content_type in FORM:
        form = await request.post()
        out: dict[str, list[str]] = {}
        for key, value in form.items():
            if not isinstance(value, str):
                raise ApiError(400, "invalid_input", f"{key}: files are not accepted here")
            out.setdefault(key, []).append(value)
        return dict(out)
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "send the event form-encoded or as a JSON object")
    raw = await request.content.read(MAX_EVENT_BYTES + 1)
    if len(raw) > MAX_EVENT_BYTES:
        raise ApiError(413, "too_large", f"a CTI event is at most {MAX_EVENT_BYTES} bytes")
    try:
        data: Any = json.loads(raw)
    except ValueError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    fields: dict[str, FieldValue] = {}
    for key, value in data.items():
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool)
                   for v in items):
            raise ApiError(400, "invalid_input", f"{key}: must be a string, a number or a "
                           "list of them", {"invalid": [{"field": key,
                                                         "problem": "not a scalar"}]})
        values = [str(v) for v in items]
        if not all(_is_text(v) for v in (key, *values)):
            raise ApiError(400, "invalid_json", f"{key[:40]!r}: text must be valid Unicode "
                           "(no lone surrogates such as \\ud800)")
        fields[key] = values
    return fields


def _is_text(value: str) -> bool:
    """Whether ``value`` can be stored as UTF-8 (JSON's ``\\ud800`` escapes cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _xml_subscription(request: web.Request, state: AppState) -> web.Response:
    """sipgate.io-style PBXs send answer/hangup only when the newCall response asks."""
    url = state.settings.base_url + request.path
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response onAnswer={quoteattr(url)} onHangup={quoteattr(url)} />\n")
    return web.Response(text=body, content_type="application/xml")


async def cti_event(request: web.Request, state: AppState) -> web.StreamResponse:
    office_id = await state.store.office_for_cti_token(request.match_info["token"])
    office = await state.store.get_office(office_id) if office_id else None
    if office is None:
        raise NotFound("unknown CTI token")
    event = parse_event(await _fields(request), utcnow())
    result: CallResult = await cti_service(state).handle(office, event)
    wants_xml = "xml" in request.headers.get("Accept", "") or (
        request.content_type in FORM and "json" not in request.headers.get("Accept", ""))
    if event.type is CtiEventType.NEW_CALL and wants_xml:
        return _xml_subscription(request, state)
    s = result.state
    return json_model(CtiResultOut(
        call_id=s.call_id, event=event.type.value, duplicate=result.duplicate,
        status=s.status, outcome=s.outcome, entry_id=s.entry_id, customer_id=s.customer_id,
        quarantined=result.quarantined))


OPERATIONS = [
    Operation("POST", "/cti/{token}", cti_event, "ctiEvent",
              "CTI webhook of the office's PBX: newCall (from, to, direction in/out, callId, "
              "user), answer (callId, user, answeringNumber), hangup (callId, cause); "
              "form-encoded or JSON; optional timestamp (ISO 8601 or Unix seconds). "
              "Authenticated by the token in the URL (GET /office). A form-encoded newCall "
              "is answered with the XML <Response onAnswer onHangup/> subscription.",
              "phone", auth="public",
              params=(Param("token", "path", description="The office's CTI token"),),
              body=CtiEventIn,
              body_kinds=("application/x-www-form-urlencoded", "application/json"),
              response=CtiResultOut, errors=(400, 404, 413, 415)),
]
