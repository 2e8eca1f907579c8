"""The narrow client a search engine backend talks through: JSON in, JSON out.

``search.engine.EngineBackend`` holds everything OpenSearch and Elasticsearch share (one
mapping, one query builder, one bulk and reindex path); an ``EngineClient`` only moves
requests over its library (``opensearch-py`` for OpenSearch, ``elasticsearch`` for
Elasticsearch) and translates that library's errors once, at this boundary (STYLE 6/7):

* unreachable, timing out, overloaded (HTTP 429/502/503/504) -> ``SearchUnavailable``;
* HTTP 400 to a search -> ``QueryError`` (the user rephrases; a search with ``*`` on an
  engine set to refuse "expensive" queries says so);
* anything else (TLS or credentials wrong, unknown index, mapping rejected) -> ``EngineError``:
  a misconfiguration or a bug, never retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from search.backend import SearchUnavailable
from search.query import QueryError

Json = dict[str, Any]

TRANSIENT = frozenset({429, 502, 503, 504})


class EngineError(RuntimeError):
    """The engine refused a request for a reason retrying will not fix."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def status_error(engine: str, status: int, reason: str, *, query: bool = False,
                 retry_after: float | None = None) -> Exception:
    """The exception for an HTTP error answer of the engine (see the module docstring)."""
    if status in TRANSIENT:
        return SearchUnavailable(f"{engine} answered HTTP {status}", retry_after=retry_after)
    if query and status == 400 and "allow_expensive_queries" in reason:
        return QueryError("this search engine does not run searches with * (its setting "
                          "search.allow_expensive_queries is false): search whole words",
                          "wildcards_off")
    if query and status == 400:
        return QueryError("the query could not be run: rephrase it")
    return EngineError(f"{engine} answered HTTP {status}: {reason}", status=status)


def error_reason(body: object) -> str:
    """The short reason of an error body (``error.root_cause[0].reason`` or the text)."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            causes = err.get("root_cause")
            if isinstance(causes, list) and causes and isinstance(causes[0], dict):
                return f"{causes[0].get('type')}: {causes[0].get('reason')}"
            return f"{err.get('type')}: {err.get('reason')}"
        if isinstance(err, str):
            return err
    return str(body)[:300]


class EngineClient(Protocol):
    """One per backend, opened with it; every method raises only the errors above."""

    engine: str
    """``opensearch`` or ``elasticsearch``."""

    async def close(self) -> None: ...
    async def info(self) -> Json: ...
    async def alias_indices(self, alias: str) -> list[str]:
        """The indices behind ``alias``; [] when there is no such alias."""
        ...
    async def mapping_meta(self, index: str) -> Json:
        """The ``_meta`` of the index's mapping ({} when it has none)."""
        ...
    async def create_index(self, name: str, body: Json) -> None: ...
    async def delete_indices(self, names: Sequence[str]) -> None:
        """Missing indices are ignored."""
        ...
    async def put_settings(self, index: str, settings: Json) -> None: ...
    async def update_aliases(self, actions: list[Json]) -> None: ...
    async def refresh(self, index: str) -> None: ...
    async def expunge_deletes(self, index: str) -> None:
        """A forced ``_flush`` (soft deletes newer than the last commit are kept whatever
        the retention leases say), ``_forcemerge?only_expunge_deletes=true`` waiting until
        it is done, then a forced ``_flush`` that commits the merged segments."""
        ...
    async def shard_stats(self, index: str) -> Json:
        """``_stats?level=shards`` (docs, seq_no, retention_leases)."""
        ...
    async def search(self, index: str, body: Json, *, preference: str | None = None) -> Json: ...
    async def bulk(self, ndjson: bytes, *, refresh: bool) -> Json:
        """``_bulk`` with a ready NDJSON body; the answer lists each item's status.
        ``refresh``: the written shards refresh before it returns (``refresh=true``, not
        ``wait_for``, which would wait forever on an index loading with refresh off)."""
        ...
