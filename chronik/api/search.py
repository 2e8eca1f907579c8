"""Full-text search over every entry of the caller's office."""

from __future__ import annotations

from typing import Any, TypeVar

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
from search.query import MAX_QUERY_CHARS, SearchFilters
from search.service import Found
from timeline.errors import InvalidInput
from timeline.models import Channel, Visibility
from timeline.public import ATTACHMENT_PATH

_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}

ENTRY_KINDS: tuple[str, ...] = (
    "email", "auto_reply", "bulk", "bounce", "delivery_report", "own_mail",  # e-mail intake
    "message",  # chat (Telegram) and portal messages
    "call",  # the phone system's calls
    "note", "phone_note", "document", "reply",  # what agents write
    "notification",  # automatic bookkeeping: a notification sent, its delivery
    "preferences", "data_request", "data_copy", "merge")  # what the hub itself records
"""Every ``kind`` an entry is written with (connectors, agents, the notifier, the hub): the
values of the search's ``kind`` filter (exactly these, in lower case, like ``channel``)."""

def query_kinds(request: web.Request) -> tuple[str, ...]:
    """The ``kind`` filter (repeated or comma-separated): known kinds only, else 400 naming
    them (search and the timeline alike)."""
    kinds = tuple(query_list(request, "kind"))
    unknown = [k for k in kinds if k not in ENTRY_KINDS]
    if unknown:
        raise InvalidInput(f"unknown kind {unknown[0]!r}: kind is one of "
                           f"{', '.join(ENTRY_KINDS)}", {"allowed": list(ENTRY_KINDS)})
    return kinds


TOTAL_UP_TO = 1000
"""``total=true`` counts exactly up to this many hits, above it "more than" (as the console
does): a common word costs a bounded count."""


async def search(request: web.Request, state: AppState, caller: Caller) -> web.StreamResponse:
    q = request.query.get("q", "")
    if not q.strip():
        raise ApiError(400, "bad_query", "q is required")
    order = request.query.get("order", "newest")
    if order not in ("newest", "relevance"):
        raise InvalidInput("order must be newest or relevance")
    channels = tuple(_known(Channel, "channel", c) for c in query_list(request, "channel"))
    vis_raw = request.query.get("visibility")
    visibility = _known(Visibility, "visibility", vis_raw) if vis_raw else None
    kinds = query_kinds(request)
    include_system = _flag(request, "include_system")
    filters = SearchFilters(
        office_id=caller.office.id, customer_id=request.query.get("customer") or None,
        channels=channels, kinds=kinds, visibility=visibility,
        since=query_datetime(request, "since"),
        until=query_datetime(request, "until", end_of_day=True), include_system=include_system)
    results = await state.search.search(
        q, filters, order=order, limit=query_int(request, "limit", 20, 1, 100),
        cursor=request.query.get("cursor") or None,
        count_up_to=TOTAL_UP_TO if _flag(request, "total") else 0)
    page: dict[str, Any] = {
        "items": [{"entry": entry_json(f.entry), "snippet": f.snippet, "score": f.score,
                   "attachment": _file(f)} for f in results.items],
        "next_cursor": results.next_cursor,
        "suggestions": [{"q": s, "href": _same_search(request, s)} for s in results.suggestions]}
    if results.total is not None:
        page["total"] = {"count": results.total.count, "exact": results.total.exact}
    return json_response(page)


E = TypeVar("E", Channel, Visibility)


def _known(enum: type[E], name: str, raw: str) -> E:
    try:
        return enum(raw)
    except ValueError:
        allowed = [m.value for m in enum]
        raise InvalidInput(f"unknown {name} {raw!r}: {name} is one of {', '.join(allowed)}",
                           {"allowed": allowed}) from None


def _flag(request: web.Request, name: str) -> bool:
    value = _BOOL.get(request.query.get(name, "").lower())
    if value is None:
        raise InvalidInput(f"{name} must be true or false")
    return value


def _file(found: Found) -> dict[str, Any] | None:
    if found.attachment is None:
        return None
    index = found.attachment
    return {"index": index, "name": found.entry.attachments[index].name,
            "url": ATTACHMENT_PATH.format(entry_id=found.entry.id, index=index)}


def _same_search(request: web.Request, q: str) -> str:
    """This request's URL with ``q`` replaced (and no cursor): the suggestion, one GET away."""
    keep = [(k, v) for k, v in request.query.items() if k not in ("q", "cursor")]
    return str(request.rel_url.with_query([("q", q), *keep]))


_SYNTAX = (
    "The query (required, at most 500 characters and 32 terms). Words: all must match, "
    "each also in its other forms (Verträge finds Vertrag; Versicherung finds "
    "Hausratversicherung); \"a phrase in quotes\" (a quoted word: that spelling only; "
    "„…“ and «…» are quotes too); prefix* (two letters at least); *part* or *ending: the "
    "words holding it (*versicher* finds Privathaftpflichtversicherung); -word or -\"a phrase\" "
    "(also NOT/NICHT word, !word) to exclude; a OR b (also ODER, |); AND/UND/+word are what "
    "every word does anyway. Operators only in capitals. Umlauts and case do not matter "
    "(Müller = Mueller = Muller, ß = ss); a reference number matches however it is typed "
    "(HR-20391 = HR20391 = HR 20391). An unclosed quote, a lone OR or NOT, a one-letter "
    "prefix, no words at all: 400 bad_query.")
DATES = (" An ISO date (2025-03-01, also 20250301: a UTC day) or date-time "
          "(2025-03-01T10:00:00Z; without an offset it is UTC). An offset's + must be "
          "URL-encoded as %2B (an unencoded + arrives as a space, which is also read as +). "
          "Between 1970-01-01 and 2200-01-01.")
_FILTER_EXAMPLE = "Kündigung"

OPERATIONS = [
    Operation("GET", "/search", search, "search",
              "Search entries: words (any word form), \"exact phrases\", prefix*, *part*, "
              "-exclude, OR; umlaut-insensitive; 'did you mean' suggestions when nothing is found",
              "search",
              params=(Param("q", required=True, description=_SYNTAX, schema={
                          "type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS,
                          "examples": [_FILTER_EXAMPLE, '"Vertrag gekündigt" -Hausrat',
                                       "Beitrag* OR Prämie", "HR-20391"]}),
                      Param("customer", description="Only this customer's entries (its id)"),
                      Param("channel", schema={
                          "type": "array", "items": enum_schema(*(c.value for c in Channel)),
                          "examples": [["email", "chat"]]},
                          description="Only these channels: repeat the parameter or separate "
                          "them with commas (channel=email,chat). Naming notification "
                          "includes automatic bookkeeping entries"),
                      Param("kind", schema={
                          "type": "array", "items": enum_schema(*ENTRY_KINDS),
                          "examples": [["note", "phone_note"]]},
                          description="Only these kinds (exactly as listed, lower case): "
                          "repeat the parameter or separate them with commas; an unknown "
                          "kind is 400 naming the known ones"),
                      Param("visibility", schema={
                          **enum_schema(*(v.value for v in Visibility)),
                          "examples": ["published"]}, description="internal or published"),
                      Param("since", schema={**DATE_OR_DATE_TIME, "examples": [
                          "2025-03-01", "2025-03-01T08:00:00+01:00"]},
                            description="Entries that occurred at or after this." + DATES),
                      Param("until", schema={**DATE_OR_DATE_TIME, "examples": [
                          "2025-03-31", "2025-03-31T18:00:00Z"]},
                            description="Entries that occurred at or before this; a date "
                            "means the whole day (up to the next midnight, UTC)." + DATES),
                      Param("include_system", schema={"type": "boolean", "default": False},
                            description="Include automatic bookkeeping entries (channel "
                            "notification: notification sent, delivery outcomes)"),
                      Param("order", schema={**enum_schema("newest", "relevance"),
                                             "default": "newest", "examples": ["relevance"]},
                            description="newest: by occurred_at, newest first (score is "
                            "null). relevance: entries with the words as typed first, then "
                            "those found through other word forms, each group by BM25 "
                            "(over the newest 2,000 matches)"),
                      Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 100,
                                             "default": 20, "examples": [50]},
                            description="Hits per page"),
                      Param("cursor", description="The previous page's next_cursor, to get "
                            "the next page: opaque (pass it back as it is), valid only with "
                            "the same q, filters and order (a newest cursor under "
                            "order=relevance, or the reverse, is 400 bad_query)"),
                      Param("total", schema={"type": "boolean", "default": False,
                                             "examples": [True]},
                            description=f"Also count the hits on all pages: total.count, "
                            f"exact up to {TOTAL_UP_TO}; above that total.exact is false and "
                            f"there are more than total.count. Costs a bounded count")),
              response=SearchPage, errors=(400, 503)),
]
