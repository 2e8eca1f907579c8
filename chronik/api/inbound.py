"""Admin views of inbound processing: quarantine, connectors, office config; merges."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import (
    Caller,
    Operation,
    Param,
    enum_schema,
    json_model,
    query_id_cursor,
    query_int,
    read_json,
)
from chronik.api.schemas import (
    AddressIn,
    ComponentOut,
    ComponentsOut,
    IdentityOut,
    MergeIn,
    MergeOut,
    OfficeDetailOut,
    QuarantineOut,
    QuarantinePage,
    ReprocessIn,
)
from chronik.components import component_states
from chronik.state import AppState
from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.identity import normalise_email
from timeline.models import Merge, QuarantineItem

QID = Param("id", "path", description="Quarantine item id")


class AddressUnavailable(Conflict):
    code = "address_unavailable"


def _q(item: QuarantineItem) -> QuarantineOut:
    return QuarantineOut(**item.model_dump(exclude={"office_id"}),
                         raw_url=f"/api/v1/quarantine/{item.id}/raw")


def _m(merge: Merge) -> MergeOut:
    return MergeOut(id=merge.id, source_id=merge.source_id, target_id=merge.target_id,
                    entry_ids=list(merge.entry_ids),
                    identities=[IdentityOut(**i.model_dump()) for i in merge.identities],
                    created_at=merge.created_at, undone_at=merge.undone_at)


async def list_quarantine(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    status = request.query.get("status", "open")
    if status not in ("open", "processed", "discarded", "all"):
        raise InvalidInput("status must be open, processed, discarded or all")
    limit = query_int(request, "limit", 50, 1, 200)
    items = await state.store.list_quarantine(
        caller.office.id, status=None if status == "all" else status, limit=limit + 1,
        after_id=query_id_cursor(request))
    reason = request.query.get("reason")
    page = items[:limit]
    out = [_q(i) for i in page if not reason or i.reason.startswith(reason)]
    return json_model(QuarantinePage(items=out, next_cursor=page[-1].id
                                     if len(items) > limit else None))


async def get_quarantine(request: web.Request, state: AppState, caller: Caller
                         ) -> web.StreamResponse:
    item = await state.store.get_quarantine(caller.office.id, request.match_info["id"])
    if item is None:
        raise NotFound("no such quarantined message")
    return json_model(_q(item))


async def raw_quarantine(request: web.Request, state: AppState, caller: Caller
                         ) -> web.StreamResponse:
    item = await state.store.get_quarantine(caller.office.id, request.match_info["id"])
    data = await state.blobs.get(item.raw_sha256) if item else None
    if item is None or data is None:
        raise NotFound("no such quarantined message")
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"Content-Disposition": f"attachment; filename={item.id}.raw"})


async def reprocess(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    body = (await read_json(request, ReprocessIn) if request.can_read_body
            else ReprocessIn(customer_id=None))
    item = await state.ingest.reprocess(caller.office, request.match_info["id"],
                                        body.customer_id)
    return json_model(_q(item))


async def discard(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    return json_model(_q(await state.ingest.discard(caller.office, request.match_info["id"])))


async def merge(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    body = await read_json(request, MergeIn)
    result = await state.ingest.merge(caller.office, caller.agent, request.match_info["id"],
                                      body.into)
    return json_model(_m(result), status=201)


async def undo_merge(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    return json_model(_m(await state.ingest.undo_merge(caller.office, caller.agent,
                                                       request.match_info["id"])))


async def connectors(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    report = await component_states(state.supervisor, state.store)
    return json_model(ComponentsOut(items=[ComponentOut(**r) for r in report]))


async def office_detail(state: AppState, caller: Caller) -> OfficeDetailOut:
    o = caller.office
    token = await state.store.cti_token(o.id)
    addresses = sorted(await state.store.inbound_addresses(o.id))
    return OfficeDetailOut(id=o.id, name=o.name, region=o.region, created_at=o.created_at,
                           cti_token=token, cti_url_path=f"/api/v1/cti/{token}",
                           inbound_addresses=addresses)


async def get_office(request: web.Request, state: AppState, caller: Caller
                     ) -> web.StreamResponse:
    return json_model(await office_detail(state, caller))


async def add_office_address(state: AppState, caller: Caller, raw: str) -> OfficeDetailOut:
    """Accept inbound mail for ``raw`` (the API and the admin page both come here).
    An address that cannot be had gets one answer whatever the reason, so nobody learns
    from it that another office exists or which addresses it uses."""
    address = normalise_email(raw)
    if not await state.store.add_inbound_address(caller.office.id, address):
        raise AddressUnavailable("this address cannot be added; choose another one")
    return await office_detail(state, caller)


async def remove_office_address(state: AppState, caller: Caller, raw: str) -> OfficeDetailOut:
    address = raw.strip().casefold()
    if not await state.store.remove_inbound_address(caller.office.id, address):
        raise NotFound("no such inbound address")
    return await office_detail(state, caller)


async def add_address(request: web.Request, state: AppState, caller: Caller
                      ) -> web.StreamResponse:
    raw = (await read_json(request, AddressIn)).address
    return json_model(await add_office_address(state, caller, raw), status=201)


async def remove_address(request: web.Request, state: AppState, caller: Caller
                         ) -> web.StreamResponse:
    return json_model(await remove_office_address(state, caller, request.match_info["address"]))


OPERATIONS = [
    Operation("GET", "/quarantine", list_quarantine, "listQuarantine",
              "Messages that could not be parsed or attributed (admin)", "inbound",
              auth="admin",
              params=(Param("status", schema=enum_schema("open", "processed", "discarded",
                                                         "all"),
                            description="open (default), processed, discarded, all"),
                      Param("reason", description="Reason prefix, e.g. unknown_sender"),
                      Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}),
                      Param("cursor")),
              response=QuarantinePage, errors=(400,)),
    Operation("GET", "/quarantine/{id}", get_quarantine, "getQuarantine",
              "One quarantined message (admin)", "inbound", auth="admin", params=(QID,),
              response=QuarantineOut, errors=(404,)),
    Operation("GET", "/quarantine/{id}/raw", raw_quarantine, "getQuarantineRaw",
              "The raw bytes as received (admin)", "inbound", auth="admin", params=(QID,),
              response_content="application/octet-stream", errors=(404,)),
    Operation("POST", "/quarantine/{id}/reprocess", reprocess, "reprocessQuarantine",
              "Parse again (after a fix), optionally assigning a customer (admin)", "inbound",
              auth="admin", params=(QID,), body=ReprocessIn, response=QuarantineOut,
              errors=(400, 404, 409)),
    Operation("POST", "/quarantine/{id}/discard", discard, "discardQuarantine",
              "Give up on a quarantined message (admin); 409 when it was processed into "
              "an entry already", "inbound", auth="admin",
              params=(QID,), response=QuarantineOut, errors=(404, 409)),
    Operation("POST", "/customers/{id}/merge", merge, "mergeCustomer",
              "Merge this customer into another (identities and entries move; undoable)",
              "customers", params=(Param("id", "path"),), body=MergeIn, response=MergeOut,
              status=201, errors=(400, 404, 409)),
    Operation("POST", "/merges/{id}/undo", undo_merge, "undoMerge", "Undo a merge",
              "customers", params=(Param("id", "path"),), response=MergeOut,
              errors=(404, 409)),
    Operation("GET", "/connectors", connectors, "listConnectors",
              "State of every connector and worker (admin)", "inbound", auth="admin",
              response=ComponentsOut),
    Operation("GET", "/office", get_office, "getOffice",
              "The office, its CTI webhook token and inbound e-mail addresses (admin)",
              "inbound", auth="admin", response=OfficeDetailOut),
    Operation("POST", "/office/inbound-addresses", add_address, "addInboundAddress",
              "Accept mail for this address (admin)", "inbound", auth="admin", body=AddressIn,
              response=OfficeDetailOut, status=201, errors=(400, 409)),
    Operation("DELETE", "/office/inbound-addresses/{address}", remove_address,
              "removeInboundAddress", "Stop accepting mail for this address (admin)", "inbound",
              auth="admin", params=(Param("address", "path"),), response=OfficeDetailOut,
              errors=(404,)),
]
