"""The CTI webhook: ``POST /api/v1/cti/{token}`` with newCall / answer / hangup events from
the office's PBX, form-encoded or JSON. Authenticated by the office's token in the URL
(``GET /api/v1/office``); an unknown token is a plain 404."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chronik.api.base import (
    ApiError,
    Operation,
    Param,
    json_bytes,
    json_model,
    read_form,
    refuse_declared_oversize,
)
from chronik.glue.phone import cti_service
from chronik.state import AppState
from connectors.phone import CallResult, CtiEventType, parse_event
from connectors.phone.events import FieldValue
from timeline.errors import NotFound, TooLarge
from timeline.models import utcnow

MAX_EVENT_BYTES = 64 * 1024
FORM = ("application/x-www-form-urlencoded", "multipart/form-data")


class CtiEventIn(BaseModel):
    """A CTI event (form fields or a JSON object). ``user`` may repeat (``user[]``)."""

    model_config = ConfigDict(populate_by_name=True)
    event: str = Field(description="newCall, answer or hangup")
    call_id: str = Field(alias="callId")
    from_number: str | None = Field(
        None, alias="from", description="the caller; empty, null or absent: withheld")
    to_number: str | None = Field(None, alias="to", description="newCall: required")
    direction: str | None = Field(None, description="in or out; newCall: required")
    user: list[str] | str | None = Field(
        None, description="newCall: the users whose phones ring; answer: who answered")
    answering_number: str | None = Field(None, alias="answeringNumber")
    cause: str | None = Field(None, description="hangup: normalClearing, busy, cancel, "
                                                "noAnswer, congestion, notFound, forwarded, "
                                                "rejected (other words: other)")
    timestamp: str | None = Field(None, description="ISO 8601, Unix seconds or milliseconds; "
                                                    "default: when the event is received")


class CtiResultOut(BaseModel):
    call_id: str
    event: str
    duplicate: bool
    status: str
    outcome: str | None
    entry_id: str | None
    customer_id: str | None
    quarantined: bool
    internal: bool = Field(False, description="a call between two of the office's "
                                               "extensions: nothing is stored for it")


async def _body(request: web.Request) -> bytes:
    """The body, at most :data:`MAX_EVENT_BYTES` (413 as soon as more is declared or read:
    a chunked body declares nothing)."""
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        raise ApiError(413, "too_large", f"a CTI event is at most {MAX_EVENT_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_EVENT_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_EVENT_BYTES:
            raise ApiError(413, "too_large", f"a CTI event is at most {MAX_EVENT_BYTES} bytes")
    return b"".join(chunks)


def _decoded(raw: bytes, charset: str | None) -> str:
    """One form value's bytes as text: in the charset the ``Content-Type`` names (400 when
    it is unknown or the bytes do not fit), else UTF-8 -- and, when they are not UTF-8,
    ISO-8859-1, which PBX firmware writes (``J\\xfcrgen``): a call is not refused for the
    spelling of a name."""
    if charset:
        try:
            return raw.decode(charset)
        except LookupError:
            raise ApiError(400, "invalid_input", f"unknown charset {charset!r}") from None
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_input", f"the body is not {charset}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def _form(request: web.Request) -> dict[str, FieldValue]:
    out: dict[str, list[str]] = {}
    if request.content_type == "multipart/form-data":
        refuse_declared_oversize(request, MAX_EVENT_BYTES)
        try:
            pairs, files = await read_form(request, MAX_EVENT_BYTES)
        except TooLarge:
            raise ApiError(413, "too_large",
                           f"a CTI event is at most {MAX_EVENT_BYTES} bytes") from None
        if files:
            raise ApiError(400, "invalid_input", "files are not accepted here")
    else:
        # parsed here, not by aiohttp: its form parser fails (500) on a byte that is not
        # UTF-8, and reads no charset; latin-1 keeps every byte for ``_decoded``
        text = (await _body(request)).decode("latin-1")
        pairs = [(_decoded(k.encode("latin-1"), request.charset),
                  _decoded(v.encode("latin-1"), request.charset))
                 for k, v in parse_qsl(text, keep_blank_values=True, encoding="latin-1")]
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return dict(out)


async def _fields(request: web.Request) -> dict[str, FieldValue]:
    if request.content_type in FORM:
        return await _form(request)
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "send the event form-encoded or as a JSON object")
    raw = json_bytes(await _body(request), request.charset)  # BOM, charset=iso-8859-1
    try:
        data: Any = json.loads(raw)
    except ValueError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON (send UTF-8, or name "
                       "its charset in the Content-Type header)") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    fields: dict[str, FieldValue] = {}
    for key, value in data.items():
        if value is None:  # "from": null -- sent, but empty (a withheld caller)
            fields[key] = [""]
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
        quarantined=result.quarantined, internal=s.internal))


OPERATIONS = [
    Operation("POST", "/cti/{token}", cti_event, "ctiEvent",
              "CTI webhook of the office's PBX: newCall (from, to, direction in/out, callId, "
              "user), answer (callId, user, answeringNumber), hangup (callId, cause); "
              "form-encoded or JSON; optional timestamp (ISO 8601, Unix seconds or milliseconds). "
              "Authenticated by the token in the URL (GET /office). A form-encoded newCall "
              "is answered with the XML <Response onAnswer onHangup/> subscription.",
              "phone", auth="public",
              params=(Param("token", "path", description="The office's CTI token"),),
              body=CtiEventIn,
              body_kinds=("application/x-www-form-urlencoded", "application/json"),
              response=CtiResultOut, errors=(400, 404, 413, 415)),
]
