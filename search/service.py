"""Search as agents and integrators see it: backend hits joined with entries and snippets."""

from __future__ import annotations

from dataclasses import dataclass

from search.backend import SearchBackend
from search.query import SearchFilters, SearchRequest, parse
from search.snippet import snippet
from timeline.models import Entry
from timeline.store import Store

MAX_LIMIT = 100


@dataclass(frozen=True)
class Found:
    entry: Entry
    snippet: str
    score: float | None


@dataclass(frozen=True)
class Results:
    items: list[Found]
    next_cursor: str | None


class SearchService:
    def __init__(self, store: Store, backend: SearchBackend) -> None:
        self.store = store
        self.backend = backend

    async def search(
        self,
        text: str,
        filters: SearchFilters,
        *,
        order: str = "newest",
        limit: int = 20,
        cursor: str | None = None,
    ) -> Results:
        query = parse(text)
        request = SearchRequest(query=query, filters=filters, order=order,
                                limit=max(1, min(limit, MAX_LIMIT)), cursor=cursor)
        page = await self.backend.search(request)
        entries = await self.store.entries_by_seq(filters.office_id, [h.seq for h in page.hits])
        by_seq = {e.seq: e for e in entries}
        items = []
        for hit in page.hits:
            entry = by_seq.get(hit.seq)
            if entry is None:  # erased or not yet visible; the index catches up
                continue
            text_for_snippet = "\n".join(p for p in (entry.subject, entry.body) if p)
            items.append(Found(entry=entry, snippet=snippet(text_for_snippet, query),
                               score=hit.score))
        return Results(items=items, next_cursor=page.next_cursor)
