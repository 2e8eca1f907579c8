"""Customers waiting for a reply (``timeline.replies``): what the console's ``/waiting``
shows, for wallboards and integrations."""

from __future__ import annotations

from aiohttp import web

from chronik.api.base import Caller, Operation, Param, json_model, query_int
from chronik.api.schemas import CustomerOut, EntryOut, WaitingItem, WaitingOut
from chronik.awaiting import DEFAULT_DAYS, MAX_ROWS, waiting_lists
from chronik.state import AppState
from timeline.store import CustomerListQuery


async def list_waiting(request: web.Request, state: AppState, caller: Caller
                       ) -> web.StreamResponse:
    days = query_int(request, "days", DEFAULT_DAYS, 1, 365)
    limit = query_int(request, "limit", 50, 1, MAX_ROWS)
    office_id = caller.office.id
    waiting = await waiting_lists(state).get(office_id, days)
    shown = waiting[:limit]
    ids = tuple(dict.fromkeys(e.customer_id for e in shown))
    customers = {} if not ids else {c.id: c for c in (await state.store.list_customers(
        office_id, CustomerListQuery(limit=len(ids), ids=ids))).items}
    return json_model(WaitingOut(days=days, total=len(waiting), items=[
        WaitingItem(customer=CustomerOut.of(customers[e.customer_id]), message=EntryOut.of(e))
        for e in shown if e.customer_id in customers]))


OPERATIONS = [
    Operation("GET", "/waiting", list_waiting, "listWaiting",
              "Customers waiting for a reply: each one's newest message (e-mail, Telegram, "
              "portal, missed call) that nothing answered and nobody marked 'no reply "
              "needed', the longest waiting first", "entries",
              params=(Param("days", schema={"type": "integer", "minimum": 1, "maximum": 365},
                            description=f"how far back to look (default {DEFAULT_DAYS})"),
                      Param("limit", schema={"type": "integer", "minimum": 1,
                                             "maximum": MAX_ROWS},
                            description="items at most (default 50)")),
              response=WaitingOut, errors=(400,)),
]
