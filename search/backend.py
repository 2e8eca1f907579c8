"""The search-backend boundary. Every backend passes ``tests/search/test_backend_contract``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from search.analysis import index_forms, languages_of
from search.prepared import searchable_text, taken_words, words_of
from search.query import SYSTEM_CHANNELS, SearchRequest
from timeline.models import Entry

RELEVANCE_CANDIDATES = 2000
"""Relevance order ranks only the newest this-many matches: bounded work on common words."""


class SearchUnavailable(Exception):
    """The backend is unreachable, timing out or overloaded: retry later (HTTP 503)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SearchHit:
    seq: int
    score: float | None = None


@dataclass(frozen=True)
class Total:
    """How many documents match a query, over all its pages: ``count`` exactly, or, when
    not ``exact``, more than ``count`` (counting stopped at the request's ``count_up_to``,
    so a common word costs bounded work)."""

    count: int
    exact: bool = True

    @classmethod
    def counted(cls, found: int, up_to: int) -> Total:
        """From a count that stopped at ``up_to + 1`` matches."""
        return cls(up_to, exact=False) if found > up_to else cls(found)


@dataclass(frozen=True)
class HitPage:
    hits: list[SearchHit]
    next_cursor: str | None
    total: Total | None = None
    """The query's matches on all pages (any cursor), when the request asked for a count
    (``SearchRequest.count_up_to``)."""


class RebuildBusy(Exception):
    """Another process is rebuilding the index (an automatic rebuild leaves it to that one)."""


class RebuildSuperseded(Exception):
    """A newer rebuild (``chronik reindex``) took the index over while this one was loading;
    nothing of this one was swapped in."""


class SearchBackend(Protocol):
    name: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def index(self, entries: Sequence[Entry]) -> None:
        """Add or replace documents (idempotent)."""
        ...
    async def delete(self, seqs: Sequence[int]) -> None: ...
    async def search(self, request: SearchRequest) -> HitPage: ...
    async def rebuild(self, batches: RebuildSource, *, automatic: bool = False) -> int:
        """Build a fresh index from ``batches`` and swap it in at once; returns the count.
        Searches answer from the old index until the swap; writes and deletes made
        meanwhile (by any process) reach the new one and win over the snapshot. A rebuild
        started later takes over (this one raises :class:`RebuildSuperseded`);
        ``automatic``: leave it to a rebuild another process is running
        (:class:`RebuildBusy`)."""
        ...
    async def text_version(self) -> int:
        """The ``search.analysis.TEXT_VERSION`` the index's text was written with (an older
        one: only a rebuild from the store brings it up to date)."""
        ...
    async def compact(self) -> None:
        """Physically drop deleted documents (after an erasure), so no index file keeps
        their text: FTS5 ``optimize`` + WAL truncation, Elasticsearch ``forcemerge``."""
        ...
    async def suggest(self, office_id: str, text: str, limit: int = 3) -> list[str]:
        """Corrected versions of the free-text query ``text`` built from words of this
        office's own index (best first); [] when nothing close is known."""
        ...


class RebuildSource(Protocol):
    def __aiter__(self) -> RebuildSource: ...
    async def __anext__(self) -> Sequence[Entry]: ...


_NON_ALNUM = re.compile(r"[^0-9a-z]")


@lru_cache(maxsize=1 << 16)
def scope_token(prefix: str, value: str) -> str:
    """Filter values as single index tokens (``o01J…``, ``chemail``, ``kphonenote``)."""
    return prefix + _NON_ALNUM.sub("", value.lower())


def document_words(entry: Entry) -> list[str]:
    """What is searchable about an entry: its folded words, in order (worked out in advance
    by ``chronik import``'s parser processes where they could: ``search.prepared``)."""
    # attachment_text: search/attachments.py; phone_forms: search/phones.py
    text = searchable_text(entry.subject, entry.body, (a.name for a in entry.attachments),
                           [entry.meta.get(k) for k in (
                               "search_text", "attachment_text", "phone_forms")])
    known = taken_words(text)
    return known if known is not None else words_of(text)


def document_text(entry: Entry) -> str:
    """What is searchable about an entry, folded (its words joined by single spaces)."""
    return " ".join(document_words(entry))


def document_forms(entry: Entry, text: str) -> str:
    """The other forms ``text`` (the entry's :func:`document_text`) is found by: stems in the
    entry's language (``meta["language"]`` when set, else detected) and compound heads."""
    words = text.split(" ")
    return " ".join(index_forms(words, languages_of(words, entry.meta.get("language"))))


def document_scope(entry: Entry) -> str:
    """Filter tokens. Automatic bookkeeping (``SYSTEM_CHANNELS``) carries its office as
    ``so…`` instead of ``o…``, so the default office filter leaves it out at no cost."""
    office = "so" if entry.channel in SYSTEM_CHANNELS else "o"
    return " ".join([
        scope_token(office, entry.office_id),
        scope_token("c", entry.customer_id),
        scope_token("ch", entry.channel.value),
        scope_token("k", entry.kind),
        scope_token("v", entry.visibility.value),
    ])
