"""Entries: agents write notes, phone notes and documents; everyone reads the timeline."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from chronik.api.base import (
    DATE_OR_DATE_TIME,
    ApiError,
    Caller,
    Operation,
    Param,
    canonical_index,
    enum_schema,
    json_model,
    query_datetime,
    query_int,
    query_list,
    query_seq_cursor,
    read_form,
    read_json,
    refuse_declared_oversize,
    validation_error,
)
from chronik.api.render import dumps, entry_json, json_response, raw_json_response
from chronik.api.schemas import (
    EntryCreated,
    EntryIn,
    EntryMoveIn,
    EntryOut,
    PresetSourceOut,
    TimelinePage,
)
from chronik.api.search import DATES, ENTRY_KINDS, query_kinds
from chronik.glue.phone import link_note, linked_call
from chronik.state import AppState
from timeline.errors import InvalidInput, NotFound
from timeline.models import Channel, Entry, Visibility
from timeline.policy import PresetSource
from timeline.service import EntryRequest, UploadedFile
from timeline.store import TimelineQuery

ID = Param("id", "path", description="Customer id")
_BOOL = {"true": True, "1": True, "yes": True, "on": True,
         "false": False, "0": False, "no": False, "off": False}


async def _read_multipart(request: web.Request, limit: int) -> tuple[EntryIn, list[UploadedFile]]:
    raw_fields, raw_files = await read_form(request, limit)
    fields: dict[str, object] = {}
    for name, value in raw_fields:
        if name in ("notify", "confirm"):
            if value.lower() not in _BOOL:
                raise InvalidInput(f"{name} must be true or false")
            fields[name] = _BOOL[value.lower()]
        elif name == "tags":
            fields[name] = [t.strip() for t in value.split(",") if t.strip()]
        elif name in ("visibility", "occurred_at", "call_entry_id", "reply_via",
                      "in_reply_to") and value == "":
            continue
        else:
            fields[name] = value
    fields.setdefault("kind", "document")
    files = [UploadedFile(name=f.name, content_type=f.content_type, data=f.data)
             for f in raw_files]
    try:
        return EntryIn.model_validate(fields), files
    except ValidationError as exc:
        raise validation_error(exc) from None


async def create_entry(request: web.Request, state: AppState, caller: Caller
                       ) -> web.StreamResponse:
    limit = state.settings.max_upload_bytes
    refuse_declared_oversize(request, limit)
    if request.content_type.startswith("multipart/"):
        body, files = await _read_multipart(request, limit)
    else:
        body, files = await read_json(request, EntryIn), []
    occurred = body.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone (e.g. 2026-11-23T10:00:00+01:00)")
    customer_id = request.match_info["id"]
    source_id = _idempotency(request, caller)
    fingerprint = request_fingerprint(customer_id, body, files) if source_id else ""
    if source_id is not None:
        earlier = await state.store.find_entry_by_source(caller.office.id, source_id)
        if earlier is not None:  # a retry: the entry written the first time, if it is one
            return _replayed(_same_request(earlier, fingerprint))
    call = await linked_call(state, caller.office, customer_id, body.kind, body.call_entry_id)
    meta: dict[str, Any] = {"call_entry_id": call.id} if call else {}
    if source_id is not None:
        meta[REQUEST_SHA256] = fingerprint
    recorded = await state.timeline.record(caller.agent, caller.office, customer_id,
                                           EntryRequest(
        kind=body.kind, subject=body.subject, body=body.body, visibility=body.visibility,
        notify=body.notify, confirm=body.confirm, tags=tuple(body.tags), occurred_at=occurred,
        files=tuple(files), meta=meta, reply_via=body.reply_via,
        in_reply_to=body.in_reply_to, source_id=source_id))
    if source_id is not None:  # a request with the same key may have written it meanwhile
        _same_request(recorded.entry, fingerprint)
    if call is not None:
        await link_note(state, caller.office, call, recorded.entry)
    out = EntryCreated(
        **EntryOut.of(recorded.entry).model_dump(),
        preset_source=PresetSourceOut(visibility=recorded.decision.visibility_source,
                                      notify=recorded.decision.notify_source),
        tone_confirmed=[h.text for h in recorded.tone_hits])
    return json_model(out, status=201)


IDEMPOTENCY_KEY = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,100}")
REQUEST_SHA256 = "request_sha256"
"""``meta`` of an entry written with an ``Idempotency-Key``: :func:`request_fingerprint` of
the request that wrote it, to tell a retry from another request reusing the key."""


def _idempotency(request: web.Request, caller: Caller) -> str | None:
    """The entry's ``source_id`` for an ``Idempotency-Key`` (per agent): a request sent
    again with the same key (a retry after a timeout) answers with the entry written the
    first time instead of writing a second one."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise InvalidInput(f"{IDEMPOTENCY_KEY} must be 1 to 100 printable ASCII characters")
    return f"api:{caller.agent.id}:{key}"


def request_fingerprint(customer_id: str, body: EntryIn, files: list[UploadedFile]) -> str:
    """SHA-256 of the canonical request: its target and its fields as read (JSON or
    multipart alike; key order, spacing and escapes do not count, nor does the time zone
    ``occurred_at`` is written in), files by name, type and content."""
    fields = body.model_dump(mode="json")
    if body.occurred_at is not None:
        fields["occurred_at"] = body.occurred_at.astimezone(UTC).isoformat()
    canonical = {"target": f"POST /customers/{customer_id}/entries", "fields": fields,
                 "files": [[f.name, f.content_type, hashlib.sha256(f.data).hexdigest()]
                           for f in files]}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _same_request(entry: Entry, fingerprint: str) -> Entry:
    """``entry`` (written with this request's key) when it was written by the same request;
    422 when the key was used for another one (a key names one request, as Stripe's API and
    the IETF Idempotency-Key draft have it). An entry written before fingerprints were kept
    counts as the same."""
    if entry.meta.get(REQUEST_SHA256, fingerprint) != fingerprint:
        raise ApiError(422, "idempotency_key_reused",
                       f"{IDEMPOTENCY_KEY} reused with a different request: it wrote another "
                       "entry before; send a new key for a new entry",
                       {"entry_id": entry.id})
    return entry


def _replayed(entry: Entry) -> web.Response:
    """The answer to a retried request: the entry written the first time, as then."""
    preset = entry.meta.get("preset") or {}
    out = EntryCreated(
        **EntryOut.of(entry).model_dump(),
        preset_source=PresetSourceOut(
            visibility=PresetSource(preset.get("visibility", PresetSource.REQUEST)),
            notify=PresetSource(preset.get("notify", PresetSource.REQUEST))),
        tone_confirmed=list(entry.meta.get("tone_confirmed", [])))
    response = json_model(out, status=201)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _enum_list(request: web.Request, name: str, enum: type[Channel]) -> tuple[Channel, ...]:
    try:
        return tuple(enum(v) for v in query_list(request, name))
    except ValueError:
        raise InvalidInput(f"{name} must be among {', '.join(c.value for c in enum)}") from None


async def timeline(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    customer_id = request.match_info["id"]
    vis_raw = request.query.get("visibility")
    try:
        visibility = Visibility(vis_raw) if vis_raw else None
    except ValueError:
        raise InvalidInput("visibility must be internal or published") from None
    since = query_datetime(request, "since")
    until = query_datetime(request, "until", end_of_day=True)
    query = TimelineQuery(
        limit=query_int(request, "limit", 50, 1, 200), before_seq=query_seq_cursor(request),
        channels=_enum_list(request, "channel", Channel), kinds=query_kinds(request),
        visibility=visibility, since=since, until=until)
    page = await state.store.timeline_json(caller.office.id, customer_id, query)
    if not page.count:  # entries are office-scoped: a non-empty page proves the customer
        await state.timeline.customer(caller.office, customer_id)
    return raw_json_response(b'{"items":%s,"next_cursor":%s}' % (
        page.items_json, dumps(page.next_cursor)))


async def get_entry(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    entry = await state.store.get_entry(caller.office.id, request.match_info["entry_id"])
    if entry is None:
        raise NotFound("no such entry")
    return json_response(entry_json(entry))


async def get_attachment(request: web.Request, state: AppState, caller: Caller
                         ) -> web.StreamResponse:
    entry = await state.store.get_entry(caller.office.id, request.match_info["entry_id"])
    index = canonical_index(request.match_info["index"])
    if entry is None or index is None or index >= len(entry.attachments):
        raise NotFound("no such attachment")
    att = entry.attachments[index]
    data = await state.blobs.get(att.sha256)
    if data is None:
        raise NotFound("the attachment's content was erased")
    disposition = "attachment; filename*=UTF-8''" + _rfc5987(att.name)
    return web.Response(body=data, content_type=att.content_type or "application/octet-stream",
                        headers={"Content-Disposition": disposition,
                                 "X-Content-Type-Options": "nosniff"})


def _rfc5987(name: str) -> str:
    return quote(name, safe="")



LIST_PARAMS = (
    ID,
    Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}),
    Param("cursor", description="next_cursor of the previous page"),
    Param("channel", description="Comma-separated channels: email, chat, phone, portal, "
                                 "note, document, notification"),
    Param("kind", schema={"type": "array", "items": enum_schema(*ENTRY_KINDS)},
          description="Only these kinds (exactly as listed, lower case): repeat the "
          "parameter or separate them with commas; an unknown kind is 400 naming the known "
          "ones"),
    Param("visibility", schema=enum_schema(*(v.value for v in Visibility)),
          description="internal or published"),
    Param("since", schema=DATE_OR_DATE_TIME,
          description="Entries that occurred at or after this." + DATES),
    Param("until", schema=DATE_OR_DATE_TIME,
          description="Entries that occurred before the end of this (a date: the whole UTC "
          "day)." + DATES),
)

async def move_entry(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    body = await read_json(request, EntryMoveIn)
    entry = await state.timeline.move(caller.office, caller.agent, request.match_info["entry_id"],
                                      body.customer_id)
    return json_response(entry_json(entry))


OPERATIONS = [
    Operation("POST", "/customers/{id}/entries", create_entry, "createEntry",
              "Write a note, phone note or document (multipart with one or more files); "
              "visibility and notify default to the publish policy; with an Idempotency-Key "
              "the same request sent again answers with the entry written the first time "
              "(header Idempotent-Replayed: true), the key with a different request is "
              "422 idempotency_key_reused", "entries",
              params=(ID, Param(IDEMPOTENCY_KEY, "header", description=(
                  "Any 1-100 printable ASCII characters, unique per entry you mean to write "
                  "(e.g. a UUID); the same key with the same request (customer, fields, "
                  "files) gives the same entry, not a second; with a different request: "
                  "422 idempotency_key_reused, nothing written")),),
              body=EntryIn, body_kinds=("application/json", "multipart/form-data"),
              response=EntryCreated, status=201, errors=(400, 404, 409, 413, 422)),
    Operation("GET", "/customers/{id}/timeline", timeline, "getTimeline",
              "A customer's timeline, newest first, cursor-paginated", "entries",
              params=LIST_PARAMS, response=TimelinePage, errors=(400, 404)),
    Operation("GET", "/entries/{entry_id}", get_entry, "getEntry", "Read one entry", "entries",
              params=(Param("entry_id", "path"),), response=EntryOut, errors=(404,)),
    Operation("POST", "/entries/{entry_id}/move", move_entry, "moveEntry",
              "File an entry on another customer of the office (it was filed on the wrong "
              "one: a shared family address, the wrong one of two callers with one number). "
              "It keeps its time; meta.moved records who moved it, when and from where; a "
              "notification not sent yet goes to the new customer, what was sent stays sent, "
              "and the old customer's portal no longer shows it. 400: already filed there; "
              "404: no such entry or customer; 409: that customer was merged away", "entries",
              params=(Param("entry_id", "path"),), body=EntryMoveIn, response=EntryOut,
              errors=(400, 404, 409)),
    Operation("GET", "/entries/{entry_id}/attachments/{index}", get_attachment,
              "getAttachment", "Download an attachment", "entries",
              params=(Param("entry_id", "path"),
                      Param("index", "path", schema={"type": "integer", "minimum": 0})),
              response_content="*/*", errors=(404,)),
]
