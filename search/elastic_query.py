"""Elasticsearch request bodies for ``search.elastic``: pure data, no I/O.

Queries are built only from the parsed tree's folded words, passed as values of
``match``/``match_phrase``/``match_phrase_prefix``/``prefix`` (never ``query_string``), so no
user input reaches Elasticsearch as syntax. Semantics follow ``search.fts``.
"""

from __future__ import annotations

import math
from typing import Any

from search.backend import HitPage, SearchHit, document_text, scope_token
from search.query import Clause, ParsedQuery, QueryError, SearchFilters, Term
from timeline.ids import SEQ_SLOTS, seq_base
from timeline.models import Entry

Json = dict[str, Any]

PHRASE_PREFIX_EXPANSIONS = 200
"""Terms a phrase's last word may expand to when it is longer than the indexed prefixes."""

SETTINGS: Json = {
    # One shard: BM25 statistics are index-wide, so relevance pages rank consistently.
    "number_of_shards": 1,
    "analysis": {"analyzer": {"folded": {
        # document_text() already folded the text to words joined by spaces: no stemming.
        "type": "custom", "tokenizer": "whitespace", "filter": ["lowercase"]}}},
}

MAPPINGS: Json = {
    "dynamic": "strict",
    "properties": {
        "seq": {"type": "long"},
        # Positions (the text default) serve phrases; _index_prefix serves short prefixes.
        "body": {"type": "text", "analyzer": "folded",
                 "index_prefixes": {"min_chars": 2, "max_chars": 5}},
        "office": {"type": "keyword"},
        "customer": {"type": "keyword"},
        "channel": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "visibility": {"type": "keyword"},
    },
}

NEWEST_FIRST: list[Json] = [{"seq": {"order": "desc"}}]


def _key(value: str) -> str:
    """Filter values match like fts.py's scope tokens (case- and punctuation-blind)."""
    return scope_token("", value)


def document(entry: Entry) -> Json:
    return {
        "seq": entry.seq,
        "body": document_text(entry),
        "office": _key(entry.office_id),
        "customer": _key(entry.customer_id),
        "channel": _key(entry.channel.value),
        "kind": _key(entry.kind),
        "visibility": _key(entry.visibility.value),
    }


def term_query(term: Term) -> Json:
    text = " ".join(term.words)
    if term.prefix and len(term.words) == 1:
        # Not analysed: lowercase like the index does (the word is folded already).
        return {"prefix": {"body": {"value": text.lower()}}}
    if term.prefix:
        return {"match_phrase_prefix": {"body": {
            "query": text, "max_expansions": PHRASE_PREFIX_EXPANSIONS}}}
    if len(term.words) == 1:
        return {"match": {"body": {"query": text}}}
    return {"match_phrase": {"body": {"query": text, "slop": 0}}}


def _clause(clause: Clause) -> Json:
    if len(clause.terms) == 1:
        return term_query(clause.terms[0])
    return {"bool": {"should": [term_query(t) for t in clause.terms],
                     "minimum_should_match": 1}}


def _filters(filters: SearchFilters, below: int | None) -> list[Json]:
    out: list[Json] = [{"term": {"office": _key(filters.office_id)}}]
    if filters.customer_id:
        out.append({"term": {"customer": _key(filters.customer_id)}})
    if filters.channels:
        out.append({"terms": {"channel": [_key(c.value) for c in filters.channels]}})
    if filters.kinds:
        out.append({"terms": {"kind": [_key(k) for k in filters.kinds]}})
    if filters.visibility:
        out.append({"term": {"visibility": _key(filters.visibility.value)}})
    seq_range: Json = {}
    if filters.since:
        seq_range["gte"] = seq_base(filters.since)
    hi = seq_base(filters.until) + SEQ_SLOTS if filters.until else None
    if below is not None:
        hi = below if hi is None else min(hi, below)
    if hi is not None:
        seq_range["lt"] = hi
    if seq_range:
        out.append({"range": {"seq": seq_range}})
    return out


def search_query(query: ParsedQuery, filters: SearchFilters, *, below: int | None = None) -> Json:
    """The ``query`` of a search request; ``below`` keeps only ``seq < below`` (a cursor)."""
    clauses: Json = {"must": [_clause(c) for c in query.must],
                     "filter": _filters(filters, below)}
    if query.must_not:
        clauses["must_not"] = [term_query(t) for t in query.must_not]
    return {"bool": clauses}


def newest_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError as exc:
        raise QueryError("invalid cursor") from exc


def relevance_cursor(cursor: str | None) -> tuple[float, int] | None:
    """``"<score>:<seq>"`` of the last hit of the previous page."""
    if not cursor:
        return None
    try:
        score_s, seq_s = cursor.split(":", 1)
        after = (float(score_s), int(seq_s))
    except ValueError as exc:
        raise QueryError("invalid cursor") from exc
    if not math.isfinite(after[0]):
        raise QueryError("invalid cursor")
    return after


def rank(scored: list[tuple[float, int]], after: tuple[float, int] | None,
         limit: int) -> HitPage:
    """Order ``(score, seq)`` candidates by score, then newest; page after ``after``."""
    ranked = sorted((-score, -seq) for score, seq in scored)
    if after is not None:
        key = (-after[0], -after[1])
        ranked = [k for k in ranked if k > key]
    page = ranked[:limit]
    hits = [SearchHit(seq=-neg_seq, score=-neg_score) for neg_score, neg_seq in page]
    nxt = None
    if len(ranked) > limit:
        nxt = f"{hits[-1].score!r}:{hits[-1].seq}"
    return HitPage(hits=hits, next_cursor=nxt)
