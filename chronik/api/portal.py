"""The customer portal API: an agent issues a portal session token for a customer; with it
the customer writes messages (``POST /portal/messages``) and reads their own ones back.

The customer is the token's customer, always: nothing in a request can name another one.
Only published entries are ever read here."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from chronik.api.base import (
    ApiError,
    Caller,
    Operation,
    Param,
    canonical_index,
    json_model,
    query_int,
    query_seq_cursor,
    read_form,
    read_json,
    refuse_declared_oversize,
    validation_error,
)
from chronik.api.schemas import _In
from chronik.glue.portal import portal_settings
from chronik.portal_service import write_message
from chronik.state import AppState
from connectors.portal import PortalFile, issue_session, resolve_session
from timeline.errors import InvalidInput, NotFound
from timeline.models import Channel, Customer, CustomerStatus, Direction, Entry, Visibility
from timeline.store import TimelineQuery


class PortalTokenOut(BaseModel):
    token: str = Field(description="Give this to the customer's portal; shown only once")
    customer_id: str
    expires_at: datetime


class PortalMessageIn(_In):
    subject: str = Field("", max_length=1000)
    body: str = Field("", max_length=100_000)


class PortalAttachmentOut(BaseModel):
    index: int
    name: str
    content_type: str
    size: int
    url: str


class PortalMessageOut(BaseModel):
    id: str
    subject: str
    body: str
    occurred_at: datetime
    attachments: list[PortalAttachmentOut]


class PortalMessagePage(BaseModel):
    items: list[PortalMessageOut]
    next_cursor: str | None


def _out(entry: Entry) -> PortalMessageOut:
    return PortalMessageOut(
        id=entry.id, subject=entry.subject, body=entry.body, occurred_at=entry.occurred_at,
        attachments=[PortalAttachmentOut(
            index=i, name=a.name, content_type=a.content_type, size=a.size,
            url=f"/api/v1/portal/messages/{entry.id}/attachments/{i}")
            for i, a in enumerate(entry.attachments)])


async def _customer(request: web.Request, state: AppState) -> Customer:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <portal session token>'")
    session = await resolve_session(state.store, token)
    customer = (await state.store.get_customer(session.office_id, session.customer_id)
                if session else None)
    if customer is None or customer.status is CustomerStatus.MERGED:
        raise ApiError(401, "unauthorized", "invalid or expired portal session")
    return customer


async def issue_token(request: web.Request, state: AppState, caller: Caller
                      ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    settings = await portal_settings(state)
    token, expires_at = await issue_session(state.store, caller.office.id, customer.id,
                                            timedelta(days=settings.session_days))
    return json_model(PortalTokenOut(token=token, customer_id=customer.id,
                                     expires_at=expires_at), status=201)


async def _read_multipart(request: web.Request, limit: int
                          ) -> tuple[PortalMessageIn, list[PortalFile]]:
    raw_fields, raw_files = await read_form(request, limit)
    fields: dict[str, str] = {}
    for name, value in raw_fields:
        if name not in ("subject", "body"):
            raise InvalidInput(f"unknown field {name!r}: send subject, body and files")
        fields[name] = value
    files = [PortalFile(name=f.name, content_type=f.content_type, data=f.data)
             for f in raw_files]
    try:
        return PortalMessageIn.model_validate(fields), files
    except ValidationError as exc:
        raise validation_error(exc) from None


async def post_message(request: web.Request, state: AppState) -> web.StreamResponse:
    customer = await _customer(request, state)
    limit = state.settings.max_upload_bytes
    refuse_declared_oversize(request, limit)
    if request.content_type.startswith("multipart/"):
        body, files = await _read_multipart(request, limit)
    else:
        body, files = await read_json(request, PortalMessageIn), []
    entry, created = await write_message(state, customer, body.subject, body.body, files,
                                         request.headers.get("Idempotency-Key"))
    return json_model(_out(entry), status=201 if created else 200)


def _own(entry: Entry | None, customer: Customer) -> Entry:
    """Only the customer's own, published portal messages are visible here."""
    if (entry is None or entry.customer_id != customer.id
            or entry.visibility is not Visibility.PUBLISHED
            or entry.channel is not Channel.PORTAL or entry.direction is not Direction.INBOUND):
        raise NotFound("no such message")
    return entry


async def list_messages(request: web.Request, state: AppState) -> web.StreamResponse:
    customer = await _customer(request, state)
    before = query_seq_cursor(request)
    page = await state.store.timeline(customer.office_id, customer.id, TimelineQuery(
        limit=query_int(request, "limit", 50, 1, 200), before_seq=before,
        channels=(Channel.PORTAL,), kinds=("message",), visibility=Visibility.PUBLISHED))
    items = [_out(e) for e in page.items if e.direction is Direction.INBOUND]
    return json_model(PortalMessagePage(items=items, next_cursor=page.next_cursor))


async def get_attachment(request: web.Request, state: AppState) -> web.StreamResponse:
    customer = await _customer(request, state)
    entry = _own(await state.store.get_entry(customer.office_id,
                                             request.match_info["message_id"]), customer)
    index = canonical_index(request.match_info["index"])
    if index is None or index >= len(entry.attachments):
        raise NotFound("no such attachment")
    att = entry.attachments[index]
    data = await state.blobs.get(att.sha256)
    if data is None:
        raise NotFound("no such attachment")
    return web.Response(body=data, content_type=att.content_type or "application/octet-stream",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Content-Disposition": "attachment"})


PORTAL_AUTH = " Needs 'Authorization: Bearer cpt_…' (a portal session token), not an agent's."

OPERATIONS = [
    Operation("POST", "/customers/{id}/portal-token", issue_token, "issuePortalToken",
              "Issue a customer portal session token (valid CHRONIK_PORTAL_SESSION_DAYS)",
              "portal", params=(Param("id", "path", description="Customer id"),),
              response=PortalTokenOut, status=201, errors=(404,)),
    Operation("POST", "/portal/messages", post_message, "postPortalMessage",
              "The customer writes a message (JSON, or multipart with files); stored as an "
              "inbound portal entry, published, with a receipt copy to the customer. "
              "Optional Idempotency-Key header." + PORTAL_AUTH, "portal", auth="public",
              body=PortalMessageIn, body_kinds=("application/json", "multipart/form-data"),
              response=PortalMessageOut, status=201, errors=(400, 401, 413)),
    Operation("GET", "/portal/messages", list_messages, "listPortalMessages",
              "The messages the customer wrote in the portal, newest first." + PORTAL_AUTH,
              "portal", auth="public",
              params=(Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}),
                      Param("cursor", description="next_cursor of the previous page")),
              response=PortalMessagePage, errors=(400, 401)),
    Operation("GET", "/portal/messages/{message_id}/attachments/{index}", get_attachment,
              "getPortalAttachment", "Download a file of one's own portal message."
              + PORTAL_AUTH, "portal", auth="public",
              params=(Param("message_id", "path"),
                      Param("index", "path", schema={"type": "integer", "minimum": 0})),
              response_content="*/*", errors=(401, 404)),
]
