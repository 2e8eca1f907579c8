"""Search as agents and integrators see it: backend hits joined with entries and snippets;
"did you mean" suggestions when a query finds nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from search.analysis import spelled_as_written
from search.attachments import AttachmentTexts
from search.backend import SearchBackend, Total
from search.query import QueryError, SearchFilters, SearchRequest, parse
from search.snippet import Highlighter
from timeline.models import Entry
from timeline.store import EntryRepository

MAX_LIMIT = 100
SUGGESTIONS = 3


@dataclass(frozen=True)
class Found:
    entry: Entry
    snippet: str
    score: float | None
    attachment: int | None = None
    """The index of the attached file the snippet is from (the words were found in its
    contents, not in the entry's own text); ``None``: from the entry's text."""


@dataclass(frozen=True)
class Results:
    items: list[Found]
    next_cursor: str | None
    suggestions: list[str] = field(default_factory=list)
    """When the query found nothing: corrected queries (words of the office's own entries),
    each of which finds something with the same filters; best first."""
    total: Total | None = None
    """The query's matches on all pages, when asked for (``count_up_to``)."""


class SearchService:
    def __init__(self, store: EntryRepository, backend: SearchBackend, *,
                 texts: AttachmentTexts | None = None) -> None:
        self.store = store
        self.backend = backend
        self.texts = texts

    async def search(
        self,
        text: str,
        filters: SearchFilters,
        *,
        order: str = "newest",
        limit: int = 20,
        cursor: str | None = None,
        count_up_to: int = 0,
    ) -> Results:
        """One page of hits; with ``count_up_to``, also how many there are on all pages
        (exact up to that many, above it "more than": see ``Total``)."""
        query = parse(text)
        request = SearchRequest(query=query, filters=filters, order=order,
                                limit=max(1, min(limit, MAX_LIMIT)), cursor=cursor,
                                count_up_to=max(0, count_up_to))
        page = await self.backend.search(request)
        entries = await self.store.entries_by_seq(filters.office_id, [h.seq for h in page.hits])
        by_seq = {e.seq: e for e in entries}
        marks = Highlighter(query)
        found = [(e, marks.snippet(_text_of(e))) for e in
                 (by_seq.get(h.seq) for h in page.hits) if e is not None]  # None: erased
        # words not in the entry's own text: found in a file's (kept) text, one lookup
        files = {a.sha256 for e, shown in found if "<mark>" not in shown
                 for a in e.attachments} if self.texts is not None else set()
        kept = await self.texts.blobs.get_texts(sorted(files)) if self.texts and files else {}
        scores = {h.seq: h.score for h in page.hits}
        items = []
        for entry, shown in found:
            attachment = None
            for index, file in enumerate(entry.attachments if "<mark>" not in shown else ()):
                inside = marks.snippet(kept.get(file.sha256, ""))
                if "<mark>" in inside:
                    shown, attachment = inside, index
                    break
            items.append(Found(entry=entry, snippet=shown, score=scores[entry.seq],
                               attachment=attachment))
        suggestions = [] if page.hits or cursor else await self.suggestions(text, filters)
        return Results(items=items, next_cursor=page.next_cursor, suggestions=suggestions,
                       total=page.total)

    async def suggestions(self, text: str, filters: SearchFilters) -> list[str]:
        """The backend's corrections of ``text`` that find something under ``filters``,
        spelled as the entry found first spells the corrected words."""
        out: list[str] = []
        for candidate in await self.backend.suggest(filters.office_id, text, SUGGESTIONS):
            try:
                query = parse(candidate)
            except QueryError:
                continue
            page = await self.backend.search(SearchRequest(query=query, filters=filters,
                                                           limit=1))
            if not page.hits:
                continue
            found = await self.store.entries_by_seq(filters.office_id, [page.hits[0].seq])
            texts = [_text_of(e) for e in found]
            shown = spelled_as_written(candidate, text, texts)
            if shown not in out:
                out.append(shown)
        return out


def _text_of(entry: Entry) -> str:
    return "\n".join(p for p in (entry.subject, entry.body) if p)
