"""Notification jobs (admin: list, dead letters, retry) and the portal inbox (the customer
with a portal session token; agents read it per customer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from chronik.api.base import (
    ApiError,
    Caller,
    Operation,
    Param,
    enum_schema,
    hash_token,
    json_model,
    query_id_cursor,
    query_int,
)
from chronik.state import AppState
from timeline.errors import InvalidInput, NotFound
from timeline.models import Customer, CustomerStatus
from timeline.notifications import DeliveryAttempt, InboxItem, JobStatus, NotifyJob

PORTAL_PURPOSE = "portal_session"


class AttemptOut(BaseModel):
    channel: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    detail: str | None


class NotificationOut(BaseModel):
    id: str
    entry_id: str
    customer_id: str
    status: JobStatus
    channel: str | None
    reason: str | None
    attempts: int = Field(description="Transient failures so far")
    next_attempt_at: datetime | None
    skip_channels: list[str]
    created_at: datetime
    updated_at: datetime
    history: list[AttemptOut]
    retry_url: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class InboxItemOut(BaseModel):
    id: str
    entry_id: str
    subject: str
    body: str
    attachments: list[dict[str, Any]]
    created_at: datetime
    read: bool
    read_at: datetime | None


class InboxPage(BaseModel):
    items: list[InboxItemOut]
    unread: int
    next_cursor: str | None


def _job_out(job: NotifyJob, attempts: list[DeliveryAttempt]) -> NotificationOut:
    return NotificationOut(
        id=job.id, entry_id=job.entry_id, customer_id=job.customer_id, status=job.status,
        channel=job.channel, reason=job.reason, attempts=job.attempts,
        next_attempt_at=job.next_at if job.status is JobStatus.PENDING else None,
        skip_channels=list(job.skip_channels), created_at=job.created_at,
        updated_at=job.updated_at,
        history=[AttemptOut(channel=a.channel, outcome=a.outcome, started_at=a.started_at,
                            finished_at=a.finished_at, detail=a.detail) for a in attempts],
        retry_url=f"/api/v1/notifications/{job.id}/retry"
        if job.status in (JobStatus.DEAD, JobStatus.FAILED, JobStatus.UNKNOWN) else None)


async def list_notifications(request: web.Request, state: AppState, caller: Caller
                             ) -> web.StreamResponse:
    status = request.query.get("status", "all")
    allowed = [s.value for s in JobStatus]
    if status not in (*allowed, "all"):
        raise InvalidInput(f"status must be one of {', '.join(allowed)} or all")
    limit = query_int(request, "limit", 50, 1, 200)
    customer = request.query.get("customer") or None
    jobs = await state.store.list_notify_jobs(
        caller.office.id, status=None if status == "all" else status, customer_id=customer,
        limit=limit + 1, before_id=query_id_cursor(request))
    page = jobs[:limit]
    history = await state.store.notify_attempts([j.id for j in page])
    return json_model(NotificationPage(
        items=[_job_out(j, history.get(j.id, [])) for j in page],
        next_cursor=page[-1].id if len(jobs) > limit else None))


async def retry_job(state: AppState, office_id: str, job_id: str) -> NotifyJob:
    """An admin's retry of a dead, failed or unknown job (the API and the admin page)."""
    job = await state.store.retry_notify_job(office_id, job_id)  # Conflict: not retryable
    if job is None:
        raise NotFound("no such notification")
    state.timeline.notify_reindex()  # wakes the worker (and the indexer) at once
    return job


async def retry_notification(request: web.Request, state: AppState, caller: Caller
                             ) -> web.StreamResponse:
    job = await retry_job(state, caller.office.id, request.match_info["id"])
    history = await state.store.notify_attempts([job.id])
    return json_model(_job_out(job, history.get(job.id, [])))


# ---------------------------------------------------------------------- portal inbox
def _item(item: InboxItem) -> InboxItemOut:
    return InboxItemOut(id=item.id, entry_id=item.entry_id, subject=item.subject,
                        body=item.body, attachments=list(item.attachments),
                        created_at=item.created_at, read=item.read_at is not None,
                        read_at=item.read_at)


async def _portal_customer(request: web.Request, state: AppState) -> Customer:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <portal session token>'")
    found = None
    if token.startswith("cpt_") and len(token) <= 200:
        found = await state.store.resolve_customer_token(hash_token(token), PORTAL_PURPOSE)
    customer = await state.store.get_customer(*found) if found else None
    if customer is None or customer.status is CustomerStatus.MERGED:
        raise ApiError(401, "unauthorized", "invalid or expired portal session")
    return customer


async def _inbox_page(request: web.Request, state: AppState, customer: Customer
                      ) -> web.Response:
    limit = query_int(request, "limit", 50, 1, 200)
    unread_only = request.query.get("unread", "").lower() in ("1", "true", "yes")
    items = await state.store.list_inbox(customer.office_id, customer.id, limit=limit + 1,
                                         before_id=query_id_cursor(request),
                                         unread_only=unread_only)
    unread = await state.store.list_inbox(customer.office_id, customer.id, limit=1000,
                                          unread_only=True)
    page = items[:limit]
    return json_model(InboxPage(items=[_item(i) for i in page], unread=len(unread),
                                next_cursor=page[-1].id if len(items) > limit else None))


async def portal_inbox(request: web.Request, state: AppState) -> web.StreamResponse:
    return await _inbox_page(request, state, await _portal_customer(request, state))


async def portal_inbox_read(request: web.Request, state: AppState) -> web.StreamResponse:
    customer = await _portal_customer(request, state)
    item = await state.store.mark_inbox_read(customer.office_id, customer.id,
                                             request.match_info["id"])
    if item is None:
        raise NotFound("no such inbox item")
    return json_model(_item(item))


async def customer_inbox(request: web.Request, state: AppState, caller: Caller
                         ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    return await _inbox_page(request, state, customer)


PAGE_PARAMS = (Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}),
               Param("cursor", description="next_cursor of the previous page"))
INBOX_PARAMS = (*PAGE_PARAMS, Param("unread", description="true: unread items only"))

OPERATIONS = [
    Operation("GET", "/notifications", list_notifications, "listNotifications",
              "Notification jobs, newest first; status=dead lists the dead letters (admin)",
              "notifications", auth="admin",
              params=(Param("status", schema=enum_schema(*(s.value for s in JobStatus), "all"),
                            description="pending, sent, suppressed, failed, dead, "
                                        "unknown or all (default)"),
                      Param("customer", description="Customer id"), *PAGE_PARAMS),
              response=NotificationPage, errors=(400,)),
    Operation("POST", "/notifications/{id}/retry", retry_notification, "retryNotification",
              "Send a dead, failed or unknown notification again (admin)", "notifications",
              auth="admin", params=(Param("id", "path"),), response=NotificationOut,
              errors=(404, 409)),
    Operation("GET", "/portal/inbox", portal_inbox, "getPortalInbox",
              "The customer's portal inbox, newest first (Authorization: Bearer cpt_…)",
              "portal", auth="public", params=INBOX_PARAMS, response=InboxPage,
              errors=(400, 401)),
    Operation("POST", "/portal/inbox/{id}/read", portal_inbox_read, "readPortalInboxItem",
              "Mark an inbox item read (Authorization: Bearer cpt_…)", "portal",
              auth="public", params=(Param("id", "path"),), response=InboxItemOut,
              errors=(401, 404)),
    Operation("GET", "/customers/{id}/inbox", customer_inbox, "getCustomerInbox",
              "A customer's portal inbox as the customer sees it", "notifications",
              params=(Param("id", "path"), *INBOX_PARAMS), response=InboxPage,
              errors=(400, 404)),
]
