"""Search as agents and integrators see it: backend hits joined with entries and snippets;
"did you mean" suggestions when a query finds nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from search.analysis import corrected_words, spelled_as_written, written_spelling
from search.attachments import AttachmentTexts
from search.backend import SearchBackend, Total
from search.phones import PhoneForms
from search.query import ParsedQuery, QueryError, SearchFilters, SearchRequest, parse
from search.snippet import Highlighter
from search.translations import translated
from timeline.models import Entry
from timeline.store import EntryRepository

MAX_LIMIT = 100
SUGGESTIONS = 3
SPELLING_HITS = 5
"""Entries a corrected word's written spelling is taken from (the most frequent wins)."""


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
                 texts: AttachmentTexts | None = None,
                 phones: PhoneForms | None = None) -> None:
        self.store = store
        self.backend = backend
        self.texts = texts
        self.phones = phones
        """Phone numbers in a query found in any format, with the office's region."""

    async def _parse(self, text: str, office_id: str) -> ParsedQuery:
        region = await self.phones.region(office_id) if self.phones is not None else None
        return translated(parse(text, region))  # cancellation: also Kündigung

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
        query = await self._parse(text, filters.office_id)
        request = SearchRequest(query=query, filters=filters, order=order,
                                limit=max(1, min(limit, MAX_LIMIT)), cursor=cursor,
                                count_up_to=max(0, count_up_to))
        page = await self.backend.search(request)
        entries = await self.store.entries_by_seq(filters.office_id, [h.seq for h in page.hits])
        by_seq = {e.seq: e for e in entries}
        marks = Highlighter(query)
        found = []
        for entry in (by_seq.get(h.seq) for h in page.hits):
            if entry is None:  # erased meanwhile
                continue
            shown = marks.snippet(_text_of(entry))
            own = marks.held_by_snippet(shown)
            found.append((entry, shown, own if own is not None
                          else marks.held(_own_text(entry))))
        # an entry whose own text does not hold the query was found (also) through the text
        # of an attached file: the kept texts of their files, one lookup
        files = {a.sha256 for e, _, own in found if len(own) < marks.clauses
                 for a in e.attachments} if self.texts is not None else set()
        kept = await self.texts.blobs.get_texts(sorted(files)) if self.texts and files else {}
        scores = {h.seq: h.score for h in page.hits}
        items = []
        for entry, shown, own in found:
            attachment = None
            if len(own) < marks.clauses and kept:
                attachment, inside = _found_in(marks, own, [kept.get(a.sha256, "")
                                                            for a in entry.attachments])
                shown = inside if attachment is not None else shown
            items.append(Found(entry=entry, snippet=shown, score=scores[entry.seq],
                               attachment=attachment))
        suggestions = [] if page.hits or cursor else await self.suggestions(text, filters)
        return Results(items=items, next_cursor=page.next_cursor, suggestions=suggestions,
                       total=page.total)

    async def suggestions(self, text: str, filters: SearchFilters) -> list[str]:
        """The backend's corrections of ``text`` that find something under ``filters``; each
        corrected word spelled as the office's entries write it (``Kündigung``, not the
        index's ``kundigung``), every other word as the user typed it."""
        out: list[str] = []
        spellings: dict[str, str] = {}
        for candidate in await self.backend.suggest(filters.office_id, text, SUGGESTIONS):
            try:
                query = await self._parse(candidate, filters.office_id)
            except QueryError:
                continue
            page = await self.backend.search(SearchRequest(query=query, filters=filters,
                                                           limit=1))
            if not page.hits:
                continue
            for word in corrected_words(candidate, text):
                if word not in spellings:
                    spellings[word] = await self._spelling(filters.office_id, word)
            shown = spelled_as_written(candidate, text, spellings)
            if shown not in out:
                out.append(shown)
        return out

    async def _spelling(self, office_id: str, word: str) -> str:
        """How the office's newest entries holding exactly the folded ``word`` write it (the
        most frequent spelling among :data:`SPELLING_HITS` of them): in their own text, else
        in their files' text; ``word`` itself when none does."""
        try:
            query = parse(f'"{word}"')
        except QueryError:
            return word
        page = await self.backend.search(SearchRequest(
            query=query, filters=SearchFilters(office_id=office_id, include_system=True),
            limit=SPELLING_HITS))
        entries = await self.store.entries_by_seq(office_id, [h.seq for h in page.hits])
        written = written_spelling(word, (_own_text(e) for e in entries))
        if written is None and self.texts is not None:
            files = sorted({a.sha256 for e in entries for a in e.attachments})
            kept = await self.texts.blobs.get_texts(files) if files else {}
            written = written_spelling(word, kept.values())
        return written or word


def _found_in(marks: Highlighter, own: frozenset[int], texts: list[str]
              ) -> tuple[int | None, str]:
    """Which of an entry's files' ``texts`` holds the query's clauses that its ``own`` text
    does not (the one holding most of them, the first of equals), and its snippet;
    ``(None, "")`` when none does (the words were found in the entry's metadata)."""
    best, most = None, 0
    for index, text in enumerate(texts):
        adds = len(marks.held(text) - own) if text else 0
        if adds > most:
            best, most = index, adds
    return (best, marks.snippet(texts[best])) if best is not None else (None, "")


def _own_text(entry: Entry) -> str:
    """What the index holds of the entry itself (not of its files' contents): subject, text,
    the files' names and the sender (``search.backend.document_words``)."""
    extra = entry.meta.get("search_text")
    return "\n".join(p for p in (entry.subject, entry.body, *(a.name for a in entry.attachments),
                                  extra if isinstance(extra, str) else "") if p)


def _text_of(entry: Entry) -> str:
    return "\n".join(p for p in (entry.subject, entry.body) if p)
