"""Full-text search over every entry of the caller's office."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chronik.api.base import (
    DATE_OR_DATE_TIME,
    ApiError,
    Caller,
    Operation,
    Param,
    enum_schema,
    query_datetime,
    query_int,
    query_list,
)
from chronik.api.render import entry_json, json_response
from chronik.api.schemas import SearchPage
from chronik.state import AppState
from search.query import SearchFilters
from search.service import Found
from timeline.errors import InvalidInput
from timeline.models import Channel, Visibility

_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}


async def search(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    q = request.query.get("q", "")
    if not q.strip():
        raise ApiError(400, "bad_query", "q is required")
    order = request.query.get("order", "newest")
    if order not in ("newest", "relevance"):
        raise InvalidInput("order must be newest or relevance")
    try:
        channels = tuple(Channel(c) for c in query_list(request, "channel"))
        vis_raw = request.query.get("visibility")
        visibility = Visibility(vis_raw) if vis_raw else None
    except ValueError:
        raise InvalidInput("unknown channel or visibility") from None
    include_system = _BOOL.get(request.query.get("include_system", "").lower())
    if include_system is None:
        raise InvalidInput("include_system must be true or false")
    filters = SearchFilters(
        office_id=caller.office.id, customer_id=request.query.get("customer") or None,
        channels=channels, kinds=tuple(query_list(request, "kind")), visibility=visibility,
        since=query_datetime(request, "since"),
        until=query_datetime(request, "until", end_of_day=True), include_system=include_system)
    results = await state.search.search(
        q, filters, order=order, limit=query_int(request, "limit", 20, 1, 100),
        cursor=request.query.get("cursor") or None)
    return json_response({
        "items": [{"entry": entry_json(f.entry), "snippet": f.snippet, "score": f.score,
                   "attachment": _file(f)} for f in results.items],
        "next_cursor": results.next_cursor,
        "suggestions": [{"q": s, "href": _same_search(request, s)} for s in results.suggestions]})


def _file(found: Found) -> dict[str, Any] | None:
    if found.attachment is None:
        return None
    index = found.attachment
    return {"index": index, "name": found.entry.attachments[index].name,
            "url": f"/api/v1/entries/{found.entry.id}/attachments/{index}"}


def _same_search(request: web.Request, q: str) -> str:
    """This request's URL with ``q`` replaced (and no cursor): the suggestion, one GET away."""
    keep = [(k, v) for k, v in request.query.items() if k not in ("q", "cursor")]
    return str(request.rel_url.with_query([("q", q), *keep]))


OPERATIONS = [
    Operation("GET", "/search", search, "search",
              "Search entries: words (any word form), \"exact phrases\", prefix*, -exclude, OR; "
              "umlaut-insensitive; 'did you mean' suggestions when nothing is found",
              "search",
              params=(Param("q", required=True, description="The query"),
                      Param("customer", description="Customer id"),
                      Param("channel", description="Comma-separated channels (naming "
                            "notification includes automatic bookkeeping entries)"),
                      Param("kind", description="Comma-separated kinds"),
                      Param("visibility", schema=enum_schema(*(v.value for v in Visibility)),
                            description="internal or published"),
                      Param("since", schema=DATE_OR_DATE_TIME,
                            description="ISO date or date-time"),
                      Param("until", schema=DATE_OR_DATE_TIME,
                            description="ISO date or date-time"),
                      Param("include_system", schema={"type": "boolean", "default": False},
                            description="Include automatic bookkeeping entries (channel "
                            "notification: notification sent, delivery outcomes)"),
                      Param("order", schema=enum_schema("newest", "relevance"),
                            description="relevance: exact word forms first, then BM25"),
                      Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 100}),
                      Param("cursor", description="next_cursor of the previous page")),
              response=SearchPage, errors=(400,)),
]
