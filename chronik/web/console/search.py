"""The console's full-text search page: hits with their customers, how many there are, and
every filter kept wherever the page leads (next page, "did you mean", the form itself)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from chronik.web.console.customer import FILTER_KINDS, agent_names
from chronik.web.console.home import classify, names_of, typed
from chronik.web.console.items import item_view
from chronik.web.i18n import catalog
from chronik.web.pages import AgentView, agent_page
from search.query import MAX_QUERY_CHARS, QueryError, SearchFilters
from timeline.errors import DomainError
from timeline.models import Channel, Customer, CustomerStatus, Visibility
from timeline.store import CustomerListQuery

PAGE_SIZE = 25
COUNT_UP_TO = 1000
"""Hits are counted exactly up to this many; above it the page says "more than 1000": a
common word then costs a bounded count (FTS5 stops there, OpenSearch's
``track_total_hits`` too) instead of a pass over the whole office."""
ORDERS = ("newest", "relevance")


@dataclass(frozen=True)
class SearchForm:
    """What the agent asked for: the words and every filter, as read from the URL."""

    q: str
    channel: str
    kind: str
    visibility: str
    order: str
    system: bool
    customer: str

    @classmethod
    def of(cls, query: Any) -> SearchForm:
        order = query.get("order", "newest")
        return cls(q=query.get("q", "").strip(), channel=query.get("channel", ""),
                   kind=query.get("kind", ""), visibility=query.get("visibility", ""),
                   order=order if order in ORDERS else "newest",
                   system=query.get("system", "") in ("1", "true", "on"),
                   customer=query.get("customer", "")[:100])

    def filters(self, office_id: str) -> SearchFilters:
        """The backend's filters; ValueError for a channel, kind or visibility unknown here."""
        if self.kind and self.kind not in FILTER_KINDS:
            raise ValueError(self.kind)
        return SearchFilters(
            office_id=office_id, customer_id=self.customer or None,
            channels=(Channel(self.channel),) if self.channel else (),
            kinds=(self.kind,) if self.kind else (),
            visibility=Visibility(self.visibility) if self.visibility else None,
            include_system=self.system)

    def params(self, **changes: str) -> list[tuple[str, str]]:
        """The query string of this search (the filters that are set), with ``changes``
        (an empty value leaves that parameter out)."""
        pairs = {"q": self.q, "channel": self.channel, "kind": self.kind,
                 "visibility": self.visibility, "order": self.order,
                 "system": "1" if self.system else "", "customer": self.customer, **changes}
        return [(k, v) for k, v in pairs.items() if v]

    def url(self, **changes: str) -> str:
        return "/search?" + urlencode(self.params(**changes))


def _start(raw: str) -> int:
    """The number of this page's first hit (``start``, carried by the next-page link)."""
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1


@agent_page
async def search_page(view: AgentView) -> web.StreamResponse:
    query = view.request.query
    form = SearchForm.of(query)
    start = _start(query.get("start", ""))
    results: list[dict[str, Any]] = []
    error = None
    total = None
    more = None
    suggestions: list[tuple[str, str]] = []
    if form.q:
        try:
            found = await view.state.search.search(
                form.q, form.filters(view.caller.office.id), order=form.order,
                limit=PAGE_SIZE, cursor=query.get("cursor") or None, count_up_to=COUNT_UP_TO)
        except ValueError:
            error = view.t("search.bad_filter")
        except QueryError as exc:  # the API says it in English: here in the agent's language
            error = view.t(f"search.error.{exc.reason}", **exc.values) \
                if f"search.error.{exc.reason}" in catalog() else view.t("search.error.invalid")
        except DomainError:
            error = view.t("search.error.invalid")
        else:
            names = await agent_names(view.state, view.caller.office.id)
            customers = await names_of(view, {f.entry.customer_id for f in found.items})
            results = [{"item": (item := item_view(f.entry, names)),
                        "snippet": Markup(f.snippet),  # noqa: S704 (escaped but <mark>)
                        "file": (None if f.attachment is None
                                 else item.attachments[f.attachment]),
                        "customer": customers.get(f.entry.customer_id, "?")}
                       for f in found.items]
            total = found.total
            if found.next_cursor:
                more = form.url(cursor=found.next_cursor, start=str(start + len(results)))
            suggestions = [(text, form.url(q=text)) for text in found.suggestions]
    customer_name = None
    people = await customers_named(view, form) if form.q and not error else []
    if form.customer:
        customer_name = (await names_of(view, {form.customer})).get(form.customer, "?")
    return view.render("console/search.html", nav="search", form=form, q=form.q,
                       results=results, error=error, more=more, total=total, start=start,
                       suggestions=suggestions, channels=[c.value for c in Channel],
                       people=people,
                       kinds=FILTER_KINDS, customer_name=customer_name,
                       max_query_chars=MAX_QUERY_CHARS,
                       all_customers=form.url(customer=""))


PEOPLE = 5
"""Customers named beside the hits, at most."""
_PLAIN = re.compile(r"[^\W\d_][\w .'-]*", re.UNICODE)
"""A query that can be a name: words, no operators, quotes or wildcards."""


async def customers_named(view: AgentView, form: SearchForm) -> list[Customer]:
    """The customers the words are -- a phone number in any format, an e-mail address or
    a name, as the header's search box reads them -- so an agent who typed a caller's number
    or a name into the full-text search is one click from the customer (the entries
    rarely spell a number as it was typed)."""
    if form.customer:  # searching one customer's history: no one else to name
        return []
    meant = typed(form.q)
    kind = classify(meant)
    if kind is not None:
        _, found = await view.state.timeline.lookup_normalised(view.caller.office, kind,
                                                               meant, recent=0)
        people = [m.customer for m in found]
    elif (_PLAIN.fullmatch(form.q) and " or " not in f" {form.q.lower()} "
          and " -" not in f" {form.q}"):
        page = await view.state.store.list_customers(
            view.caller.office.id, CustomerListQuery(limit=PEOPLE + 1, name=form.q[:200]))
        people = list(page.items)
    else:
        return []
    return [c for c in people if c.status is not CustomerStatus.MERGED][:PEOPLE]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/search", search_page)
