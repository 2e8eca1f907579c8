"""The search-backend boundary. Every backend passes ``tests/search/test_backend_contract``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from search.query import SearchRequest
from timeline.models import Entry
from timeline.text import fold

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
class HitPage:
    hits: list[SearchHit]
    next_cursor: str | None


class SearchBackend(Protocol):
    name: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def index(self, entries: Sequence[Entry]) -> None:
        """Add or replace documents (idempotent)."""
        ...
    async def delete(self, seqs: Sequence[int]) -> None: ...
    async def search(self, request: SearchRequest) -> HitPage: ...
    async def rebuild(self, batches: RebuildSource) -> int:
        """Build a fresh index from ``batches`` and swap it in at once; returns the count."""
        ...
    async def compact(self) -> None:
        """Physically drop deleted documents (after an erasure), so no index file keeps
        their text: FTS5 ``optimize`` + WAL truncation, Elasticsearch ``forcemerge``."""
        ...


class RebuildSource(Protocol):
    def __aiter__(self) -> RebuildSource: ...
    async def __anext__(self) -> Sequence[Entry]: ...


_NON_ALNUM = re.compile(r"[^0-9a-z]")


def scope_token(prefix: str, value: str) -> str:
    """Filter values as single index tokens (``o01J…``, ``chemail``, ``kphonenote``)."""
    return prefix + _NON_ALNUM.sub("", value.lower())


def document_text(entry: Entry) -> str:
    """What is searchable about an entry, folded."""
    parts = [entry.subject, entry.body, *(a.name for a in entry.attachments)]
    extra = entry.meta.get("search_text")
    if isinstance(extra, str):
        parts.append(extra)
    return fold("\n".join(parts))


def document_scope(entry: Entry) -> str:
    return " ".join([
        scope_token("o", entry.office_id),
        scope_token("c", entry.customer_id),
        scope_token("ch", entry.channel.value),
        scope_token("k", entry.kind),
        scope_token("v", entry.visibility.value),
    ])
