"""Customers and their identities."""

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
    CustomerIn,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    IdentityIn,
)
from chronik.state import AppState
from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.models import CustomerStatus, IdentityKind
from timeline.store import CustomerListQuery
from timeline.text import fold

ID = Param("id", "path", description="Customer id")


async def create_customer(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    body = await read_json(request, CustomerIn)
    pairs = [(IdentityKind.EMAIL, e) for e in body.emails] + \
            [(IdentityKind.PHONE, p) for p in body.phones]
    customer = await state.timeline.create_customer(caller.office, body.name, pairs)
    return json_model(CustomerOut.of(customer), status=201)


async def get_customer(request: web.Request, state: AppState, caller: Caller
                       ) -> web.StreamResponse:
    customer = await state.timeline.customer(caller.office, request.match_info["id"])
    return json_model(CustomerOut.of(customer))


async def update_customer(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    body = await read_json(request, CustomerPatch)
    if body.status is not None:
        current = await state.timeline.customer(caller.office, request.match_info["id"])
        if current.status is CustomerStatus.MERGED:  # its merge holds it: undo that
            raise Conflict("this customer was merged into another; undo the merge "
                           "(POST /merges/{id}/undo) to make them active again")
    customer = await state.store.update_customer(
        caller.office.id, request.match_info["id"],
        name=body.name.strip() if body.name else None,
        status=CustomerStatus(body.status) if body.status else None)
    if customer is None:
        raise NotFound("no such customer")
    return json_model(CustomerOut.of(customer))


async def list_customers(request: web.Request, state: AppState, caller: Caller
                         ) -> web.StreamResponse:
    status_raw = request.query.get("status")
    try:
        status = CustomerStatus(status_raw) if status_raw else None
    except ValueError:
        raise InvalidInput("status must be 'active' or 'unverified'") from None
    name = request.query.get("name", "").strip() or None
    if name is not None and not fold(name):  # "!!", "-", bytes that are not UTF-8
        raise InvalidInput("name has no letters or digits to match; leave it out to list "
                           "every customer")
    page = await state.store.list_customers(caller.office.id, CustomerListQuery(
        limit=query_int(request, "limit", 50, 1, 200),
        after_id=query_id_cursor(request),
        name=name,
        status=status,
    ))
    return json_model(CustomerPage(items=[CustomerOut.of(c) for c in page.items],
                                   next_cursor=page.next_cursor))


async def add_identity(request: web.Request, state: AppState, caller: Caller
                       ) -> web.StreamResponse:
    body = await read_json(request, IdentityIn)
    customer = await state.timeline.add_identity(
        caller.office, request.match_info["id"], body.kind, body.value)
    return json_model(CustomerOut.of(customer), status=201)


async def remove_identity(request: web.Request, state: AppState, caller: Caller
                          ) -> web.StreamResponse:
    try:
        kind = IdentityKind(request.match_info["kind"])
    except ValueError:
        raise InvalidInput("kind must be one of email, phone, telegram, portal") from None
    customer = await state.timeline.remove_identity(
        caller.office, request.match_info["id"], kind, request.match_info["value"])
    return json_model(CustomerOut.of(customer))


OPERATIONS = [
    Operation("POST", "/customers", create_customer, "createCustomer",
              "Create a customer with e-mail addresses and phone numbers", "customers",
              body=CustomerIn, response=CustomerOut, status=201, errors=(400,)),
    Operation("GET", "/customers", list_customers, "listCustomers",
              "List customers, filtered by name (umlaut-insensitive word prefixes)",
              "customers",
              params=(Param("name", description="Words the name starts with"),
                      Param("status", schema=enum_schema(*(s.value for s in CustomerStatus)),
                            description="active or unverified"),
                      Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 200}),
                      Param("cursor", description="next_cursor of the previous page")),
              response=CustomerPage, errors=(400,)),
    Operation("GET", "/customers/{id}", get_customer, "getCustomer", "Read a customer",
              "customers", params=(ID,), response=CustomerOut, errors=(404,)),
    Operation("PATCH", "/customers/{id}", update_customer, "updateCustomer",
              "Rename a customer or change their status (active or unverified; 409 for a "
              "customer merged into another: undo the merge instead)", "customers",
              params=(ID,), body=CustomerPatch, response=CustomerOut, errors=(400, 404, 409)),
    Operation("POST", "/customers/{id}/identities", add_identity, "addIdentity",
              "Attach an e-mail address, phone number, Telegram or portal identity; 409 "
              "when another customer has that e-mail address or Telegram already (a sign-in "
              "code sent there would open their portal too: merge them if they are one "
              "person)", "customers", params=(ID,), body=IdentityIn, response=CustomerOut,
              status=201, errors=(400, 404, 409)),
    Operation("DELETE", "/customers/{id}/identities/{kind}/{value}", remove_identity,
              "removeIdentity", "Detach an identity", "customers",
              params=(ID, Param("kind", "path",
                                schema=enum_schema(*(k.value for k in IdentityKind))),
                      Param("value", "path")),
              response=CustomerOut, errors=(400, 404)),
]
