"""Data protection (admin): a customer's data export (Art. 15) and erasure (Art. 17), the
erasure receipts, the access record (who exported or erased whom), the office's retention
rules and its policy for messages from erased persons."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chronik import privacy
from chronik.api.base import (
    ApiError,
    Caller,
    Operation,
    Param,
    json_model,
    query_int,
    read_json,
)
from chronik.state import AppState
from timeline.errors import Conflict, NotFound
from timeline.privacy_models import AccessRecord, ErasedSenderPolicy, ExportRecord

CID = Param("id", "path", description="Customer id")
EID = Param("id", "path", description="Export id")


class ExportOut(BaseModel):
    id: str
    status: str
    """``running``, ``done`` or ``failed``."""
    progress: int
    customer_id: str
    created_at: datetime
    finished_at: datetime | None = None
    download_url: str | None = None


class ErasurePreviewOut(BaseModel):
    customer_id: str
    counts: dict[str, int]
    retained: list[dict[str, Any]]
    kept: list[str]
    confirm: str = Field(description="Pass as ?confirm= to DELETE /customers/{id}")


class ErasureReceiptOut(BaseModel):
    receipt_id: str
    erased_by: str
    counts: dict[str, int]
    placeholder_id: str | None = None
    retained: list[dict[str, Any]]


class ReceiptOut(BaseModel):
    id: str
    erased_by: str
    erased_at: datetime
    counts: dict[str, int]
    retained: list[dict[str, Any]]


class ReceiptPage(BaseModel):
    items: list[ReceiptOut]
    next_cursor: str | None = None


class RetentionRuleIn(BaseModel):
    action: str = Field(description="keep (kept by law; survives erasure) or delete "
                                    "(removed by the retention job)")
    years: int = Field(ge=0, le=100)


class RetentionRuleOut(BaseModel):
    kind: str
    action: str
    years: int


class RetentionRulesOut(BaseModel):
    items: list[RetentionRuleOut]


class AccessRecordOut(BaseModel):
    id: str
    agent_id: str = Field(description="The agent's id, or cli for the command line")
    action: str
    """``export`` or ``erase``."""
    customer_id: str
    at: datetime
    expires_at: datetime


class AccessLogPage(BaseModel):
    items: list[AccessRecordOut]
    next_cursor: str | None = None


class OfficePrivacyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    erased_sender: ErasedSenderPolicy | None = Field(
        description="drop or quarantine a message from an erased person in this office; "
                    "null: the server's default (CHRONIK_ERASED_SENDER)")


class OfficePrivacyOut(BaseModel):
    erased_sender: ErasedSenderPolicy | None = Field(
        description="The office's own choice; null: the server's default")
    server_default: ErasedSenderPolicy
    effective: ErasedSenderPolicy


def access_out(record: AccessRecord) -> AccessRecordOut:
    return AccessRecordOut(id=record.id, agent_id=record.agent_id, action=record.action.value,
                           customer_id=record.customer_id, at=record.at,
                           expires_at=record.expires_at)


def export_out(record: ExportRecord) -> ExportOut:
    return ExportOut(id=record.id, status=record.status.value, progress=record.progress,
                     customer_id=record.customer_id, created_at=record.created_at,
                     finished_at=record.finished_at,
                     download_url=f"/api/v1/exports/{record.id}/download"
                     if record.status.value == "done" else None)


async def start_export(request: web.Request, state: AppState, caller: Caller
                       ) -> web.StreamResponse:
    service = await privacy.service(state)
    record = await service.start_export(caller.office, request.match_info["id"],
                                        caller.agent.id)
    return json_model(export_out(record), status=202)


async def _export(state: AppState, caller: Caller, export_id: str) -> ExportRecord:
    record = await (await privacy.service(state)).current_export(caller.office, export_id)
    if record is None:
        raise NotFound("no such export")
    return record


async def get_export(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    return json_model(export_out(await _export(state, caller, request.match_info["id"])))


async def download_export(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    record = await _export(state, caller, request.match_info["id"])
    if record.status.value == "running":
        raise Conflict("the export is still running")
    path = (await privacy.service(state)).export_path(record)
    if path is None:
        raise NotFound("this export failed or was removed")
    return web.FileResponse(path, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="chronik-export-{record.id}.zip"'})


async def erasure_preview(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    service = await privacy.service(state)
    preview = await service.preview(caller.office, request.match_info["id"])
    return json_model(ErasurePreviewOut(**preview))


async def erase(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    confirm = request.query.get("confirm", "")
    if not confirm:
        raise ApiError(400, "confirmation_required",
                       "ask GET /api/v1/customers/{id}/erasure first and pass its confirm "
                       "token as ?confirm=")
    receipt = await privacy.erase(state, caller.office, request.match_info["id"],
                                  caller.agent.id, confirm)
    return json_model(ErasureReceiptOut(**receipt))


def _cursor(request: web.Request) -> str | None:
    """A list's ``cursor``: a ``next_cursor`` it gave (an id), else ``400 invalid_cursor``."""
    cursor = request.query.get("cursor") or None
    if cursor is not None and not _CURSOR.match(cursor):
        raise ApiError(400, "invalid_cursor", "cursor must be a next_cursor of this list")
    return cursor


async def list_receipts(request: web.Request, state: AppState, caller: Caller
                        ) -> web.StreamResponse:
    limit = query_int(request, "limit", 100, 1, 200)
    cursor = _cursor(request)
    receipts = await state.store.erasure_receipts(caller.office.id, limit=limit + 1,
                                                  before_id=cursor)
    page = receipts[:limit]
    return json_model(ReceiptPage(items=[ReceiptOut(
        id=r.id, erased_by=r.erased_by, erased_at=r.erased_at, counts=r.counts,
        retained=r.retained) for r in page],
        next_cursor=page[-1].id if len(receipts) > limit else None))


async def _rules(state: AppState, caller: Caller) -> RetentionRulesOut:
    rules = await state.store.retention_rules(caller.office.id)
    return RetentionRulesOut(items=[RetentionRuleOut(kind=r.kind, action=r.action.value,
                                                     years=r.years) for r in rules])


async def list_rules(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    return json_model(await _rules(state, caller))


async def put_rule(request: web.Request, state: AppState, caller: Caller
                   ) -> web.StreamResponse:
    body = await read_json(request, RetentionRuleIn)
    await (await privacy.service(state)).set_rule(caller.office, request.match_info["kind"],
                                                  body.action, body.years)
    return json_model(await _rules(state, caller))


async def delete_rule(request: web.Request, state: AppState, caller: Caller
                      ) -> web.StreamResponse:
    if not await state.store.remove_retention_rule(caller.office.id, request.match_info["kind"]):
        raise NotFound("no retention rule for this kind")
    return json_model(await _rules(state, caller))


_CURSOR = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


async def list_access_log(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    limit = query_int(request, "limit", 50, 1, 200)
    cursor = _cursor(request)
    records = await state.store.access_records(caller.office.id, limit=limit + 1,
                                               before_id=cursor)
    page = records[:limit]
    return json_model(AccessLogPage(items=[access_out(r) for r in page],
                                    next_cursor=page[-1].id if len(records) > limit else None))


async def office_privacy(state: AppState, caller: Caller) -> OfficePrivacyOut:
    own = await state.store.office_erased_sender(caller.office.id)
    default = state.settings.erased_sender
    return OfficePrivacyOut(erased_sender=own, server_default=default,
                            effective=own or default)


async def set_office_privacy(state: AppState, caller: Caller,
                             erased_sender: ErasedSenderPolicy | None) -> OfficePrivacyOut:
    """The API and the admin office page both come here."""
    await state.store.set_office_erased_sender(caller.office.id, erased_sender)
    return await office_privacy(state, caller)


async def get_office_privacy(request: web.Request, state: AppState, caller: Caller
                             ) -> web.StreamResponse:
    return json_model(await office_privacy(state, caller))


async def put_office_privacy(request: web.Request, state: AppState, caller: Caller
                             ) -> web.StreamResponse:
    body = await read_json(request, OfficePrivacyIn)
    return json_model(await set_office_privacy(state, caller, body.erased_sender))


KIND = Param("kind", "path", description="Entry kind, e.g. document")

OPERATIONS = [
    Operation("POST", "/customers/{id}/export", start_export, "startExport",
              "Export everything stored about a customer (GDPR Art. 15), in the background "
              "(admin; 409 for a record merged into another)", "privacy", auth="admin",
              params=(CID,), response=ExportOut, status=202, errors=(404, 409)),
    Operation("GET", "/exports/{id}", get_export, "getExport",
              "Status and progress of an export (admin)", "privacy", auth="admin",
              params=(EID,), response=ExportOut, errors=(404,)),
    Operation("GET", "/exports/{id}/download", download_export, "downloadExport",
              "The finished export as a zip (admin; removed after 7 days)", "privacy",
              auth="admin", params=(EID,), response_content="application/zip",
              errors=(404, 409)),
    Operation("GET", "/customers/{id}/erasure", erasure_preview, "previewErasure",
              "What an erasure would remove and keep, with a confirmation token (admin)",
              "privacy", auth="admin", params=(CID,), response=ErasurePreviewOut,
              errors=(404, 409)),
    Operation("DELETE", "/customers/{id}", erase, "eraseCustomer",
              "Erase a customer (GDPR Art. 17); needs ?confirm= from the preview (admin)",
              "privacy", auth="admin",
              params=(CID, Param("confirm", required=True,
                                 description="The token from GET /customers/{id}/erasure")),
              response=ErasureReceiptOut, errors=(400, 404, 409)),
    Operation("GET", "/erasures", list_receipts, "listErasureReceipts",
              "Erasure receipts: who erased, when, counts per kind; newest first (admin)",
              "privacy", auth="admin",
              params=(Param("limit", schema={"type": "integer", "minimum": 1,
                                             "maximum": 200}),
                      Param("cursor")),
              response=ReceiptPage, errors=(400,)),
    Operation("GET", "/privacy-log", list_access_log, "listPrivacyLog",
              "The access record: who exported or erased which customer, when; newest "
              "first (admin)", "privacy", auth="admin",
              params=(Param("limit", schema={"type": "integer", "minimum": 1,
                                             "maximum": 200}),
                      Param("cursor")),
              response=AccessLogPage, errors=(400,)),
    Operation("GET", "/office/privacy", get_office_privacy, "getOfficePrivacy",
              "The office's erased-sender policy and the server's default (admin)",
              "privacy", auth="admin", response=OfficePrivacyOut),
    Operation("PUT", "/office/privacy", put_office_privacy, "putOfficePrivacy",
              "Drop or quarantine messages from erased persons in this office; null: the "
              "server's default (admin)", "privacy", auth="admin", body=OfficePrivacyIn,
              response=OfficePrivacyOut, errors=(400,)),
    Operation("GET", "/retention-rules", list_rules, "listRetentionRules",
              "The office's retention rules (admin)", "privacy", auth="admin",
              response=RetentionRulesOut),
    Operation("PUT", "/retention-rules/{kind}", put_rule, "putRetentionRule",
              "Keep entries of a kind N years by law, or delete them after N years (admin)",
              "privacy", auth="admin", params=(KIND,), body=RetentionRuleIn,
              response=RetentionRulesOut, errors=(400,)),
    Operation("DELETE", "/retention-rules/{kind}", delete_rule, "deleteRetentionRule",
              "Remove a retention rule (admin)", "privacy", auth="admin", params=(KIND,),
              response=RetentionRulesOut, errors=(404,)),
]
