"""Index settings, mapping and request bodies for ``search.engine``: pure data, no I/O.

One definition for OpenSearch and Elasticsearch alike. Queries are built only from the parsed
tree's folded words, passed as values of ``term``/``match``/``match_phrase``/``prefix``/
``fuzzy`` (never ``query_string``), so no user input reaches the engine as syntax.
Semantics follow ``search.fts`` (the contract suite runs both):

* ``body`` holds the entry's folded text (``document_text``: the same folding as FTS5, so
  Müller = Mueller = Muller, ß = ss, accents dropped); a quoted or prefix term matches it only.
* ``body.german`` is the same text through the engine's German analysis
  (``german_normalization`` + the light German stemmer): ``Kündigungen`` finds ``Kündigung``.
* ``forms`` holds the word forms of ``search.analysis`` (Snowball stems of the entry's
  language, compound heads), exactly what FTS5 indexes in its ``forms`` column.

A bare query word matches its spelling in ``body``, its ``query_forms`` in ``forms``/``body``,
or its German stem in ``body.german``.
"""

from __future__ import annotations

from typing import Any

from search.analysis import ANALYSIS_VERSION, TEXT_VERSION, query_forms
from search.backend import document_forms, document_text, scope_token
from search.query import Clause, ParsedQuery, QueryError, SearchFilters, Term
from timeline.errors import InvalidInput
from timeline.ids import SEQ_SLOTS, parse_seq, seq_base
from timeline.models import Entry

Json = dict[str, Any]

SCHEMA_VERSION = 1
"""Bump when SETTINGS/MAPPINGS change; with ``ANALYSIS_VERSION`` it is stored in the
index's ``_meta``, and an index written by another version is rebuilt on open."""

PHRASE_PREFIX_EXPANSIONS = 200
"""Terms a phrase's last word may expand to when it is longer than the indexed prefixes."""
FORMS_BOOST = 0.5
"""Weight of a match through another word form, against 1.0 for the typed spelling (as the
FTS5 ``forms`` column weight)."""
TRANSLATION_BOOST = 0.25
"""Weight of a match through the other language's word (``search.translations``): below
the typed word's other forms."""
SETTINGS: Json = {
    # One shard: BM25 statistics are index-wide, so relevance pages rank consistently.
    "number_of_shards": 1,
    # Newest first is the common order: segments sorted by seq let it stop early.
    "sort.field": "seq",
    "sort.order": "desc",
    # compact() after an erasure must merge away every deleted document, not only segments
    # with more than 10 % deletions (the default).
    "merge.policy.expunge_deletes_allowed": 0,
    "analysis": {
        "filter": {"chronik_light_german": {"type": "stemmer", "language": "light_german"}},
        "analyzer": {
            # document_text() already folded the text to words joined by spaces.
            "chronik_folded": {"type": "custom", "tokenizer": "whitespace",
                               "filter": ["lowercase"]},
            # german_normalization is a no-op on folded text; it keeps the analyzer right for
            # anything else run through it (e.g. a query typed in OpenSearch Dashboards).
            "chronik_german": {"type": "custom", "tokenizer": "whitespace",
                               "filter": ["lowercase", "german_normalization",
                                          "chronik_light_german"]},
        },
    },
}

MAPPINGS: Json = {
    "dynamic": "strict",
    "_meta": {"chronik_schema": SCHEMA_VERSION, "chronik_analysis": ANALYSIS_VERSION,
              "chronik_text": TEXT_VERSION},
    # forms are derived from body: not kept in the stored source.
    "_source": {"excludes": ["forms"]},
    "properties": {
        "seq": {"type": "long"},
        # Positions (the text default) serve phrases. No index_prefixes: they made bulk
        # indexing 2.3 times slower, and a prefix query over the term dictionary is fast.
        "body": {"type": "text", "analyzer": "chronik_folded",
                 "fields": {"german": {"type": "text", "analyzer": "chronik_german"}}},
        "forms": {"type": "text", "analyzer": "chronik_folded", "index_options": "freqs"},
        "office": {"type": "keyword"},
        "customer": {"type": "keyword"},
        "channel": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "visibility": {"type": "keyword"},
        # A delete that reached an index while it was being rebuilt: keeps the rebuild's
        # snapshot from bringing the document back; removed before the alias swap.
        "deleted": {"type": "boolean"},
    },
}

NEWEST_FIRST: list[Json] = [{"seq": {"order": "desc"}}]
BEST_FIRST: list[Json] = [{"_score": {"order": "desc"}}, {"seq": {"order": "desc"}}]


def meta_matches(meta: object) -> bool:
    """Was an index with this mapping ``_meta`` written by the current schema and analysis?
    (Its text version is another matter: :func:`meta_text_version`.)"""
    return isinstance(meta, dict) and meta.get("chronik_schema") == SCHEMA_VERSION and \
        meta.get("chronik_analysis") == ANALYSIS_VERSION


def meta_text_version(meta: object) -> int:
    """The ``TEXT_VERSION`` an index with this mapping ``_meta`` holds text of (1: written
    before the version was kept)."""
    version = meta.get("chronik_text") if isinstance(meta, dict) else None
    return version if isinstance(version, int) else 1


def mappings_for(text_version: int, loader: Json | None = None) -> Json:
    """:data:`MAPPINGS`, saying the index holds text of ``text_version`` (and, while a
    rebuild loads it, which process does: ``loader``)."""
    meta = {**MAPPINGS["_meta"], "chronik_text": text_version}
    if loader is not None:
        meta["chronik_loader"] = loader
    return {**MAPPINGS, "_meta": meta}


def _key(value: str) -> str:
    """Filter values match like fts.py's scope tokens (case- and punctuation-blind)."""
    return scope_token("", value)


def document(entry: Entry) -> Json:
    text = document_text(entry)
    return {
        "seq": entry.seq,
        "body": text,
        "forms": document_forms(entry, text),
        "office": _key(entry.office_id),
        "customer": _key(entry.customer_id),
        "channel": _key(entry.channel.value),
        "kind": _key(entry.kind),
        "visibility": _key(entry.visibility.value),
    }


def tombstone(seq: int) -> Json:
    return {"seq": seq, "deleted": True}


def _spelled(term: Term) -> Json:
    text = " ".join(term.words)
    if term.contains:  # folded words hold letters and digits only: nothing to escape
        return {"wildcard": {"body": {"value": f"*{text}*"}}}
    if term.prefix and len(term.words) == 1:
        return {"prefix": {"body": {"value": text}}}
    if term.prefix:
        return {"match_phrase_prefix": {"body": {
            "query": text, "max_expansions": PHRASE_PREFIX_EXPANSIONS}}}
    if len(term.words) == 1:
        return {"term": {"body": {"value": text}}}
    return {"match_phrase": {"body": {"query": text, "slop": 0}}}


def term_query(term: Term, *, forms: bool = True) -> Json:
    """One term; a bare word (``forms``) also matches its other forms."""
    spelled = _spelled(term)
    if not (forms and term.stemmable):
        return spelled
    word = term.words[0]
    alternatives = [spelled]
    for s in query_forms(word):
        alternatives.append({"term": {"forms": {"value": s, "boost": FORMS_BOOST}}})
        if s != word:
            alternatives.append({"term": {"body": {"value": s, "boost": FORMS_BOOST}}})
    alternatives.append({"match": {"body.german": {"query": word, "boost": FORMS_BOOST}}})
    return {"bool": {"should": alternatives, "minimum_should_match": 1}}


def _weighed(term: Term, *, forms: bool) -> Json:
    query = term_query(term, forms=forms)
    if not term.translated:
        return query
    return {"bool": {"should": [query], "boost": TRANSLATION_BOOST}}


def _clause(clause: Clause, *, forms: bool, translations: bool = True) -> Json:
    """One clause; without ``forms``, its typed spellings only (no translations)."""
    terms = [t for t in clause.terms if (forms and translations) or not t.translated]
    if len(terms) == 1:
        return _weighed(terms[0], forms=forms)
    return {"bool": {"should": [_weighed(t, forms=forms) for t in terms],
                     "minimum_should_match": 1}}


def _filters(filters: SearchFilters) -> list[Json]:
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
    if filters.until:
        seq_range["lt"] = seq_base(filters.until) + SEQ_SLOTS
    if seq_range:
        out.append({"range": {"seq": seq_range}})
    return out


def _exclusions(query: ParsedQuery, filters: SearchFilters) -> list[Json]:
    out = [term_query(t) for t in query.must_not]
    hidden = filters.hidden_channels
    if hidden:
        out.append({"terms": {"channel": [_key(c.value) for c in hidden]}})
    return out


def search_query(query: ParsedQuery, filters: SearchFilters) -> Json:
    """The ``query`` of a search request."""
    clauses: Json = {"must": [_clause(c, forms=True) for c in query.must],
                     "filter": _filters(filters)}
    excluded = _exclusions(query, filters)
    if excluded:
        clauses["must_not"] = excluded
    return {"bool": clauses}


def relevance_tiers(query: ParsedQuery, filters: SearchFilters) -> list[Json]:
    """Relevance order ranks hits matching the query as typed (tier 0) before hits found
    only through other word forms (tier 1) and those found only through the other
    language's words (tier 2, ``search.translations``), like FTS5; BM25 (of the whole
    query) within a tier. One tier when no term has other forms."""
    main = search_query(query, filters)
    if not any(t.stemmable for t in query.all_terms()):
        return [main]
    exact = {"bool": {"filter": [_clause(c, forms=False) for c in query.must]}}
    first = {"bool": {**main["bool"], "filter": [*main["bool"]["filter"], exact]}}
    second = {"bool": {**main["bool"],
                       "must_not": [*main["bool"].get("must_not", []), exact]}}
    if not any(t.translated for t in query.all_terms()):
        return [first, second]
    # the typed words' other forms before the other language's words (search.translations)
    own = {"bool": {"filter": [_clause(c, forms=True, translations=False)
                               for c in query.must]}}
    third = {"bool": {**second["bool"], "must_not": [*second["bool"]["must_not"], own]}}
    second = {"bool": {**second["bool"], "filter": [*second["bool"]["filter"], own]}}
    return [first, second, third]


def newest_cursor(cursor: str | None) -> list[int] | None:
    """``search_after`` of a newest-first page: the last hit's ``seq``."""
    if not cursor:
        return None
    try:  # the same keys as FTS5 takes (a negative or oversized number is no cursor)
        return [parse_seq(cursor)]
    except InvalidInput as exc:
        raise QueryError("invalid cursor", "invalid_cursor") from exc


def bounded(query: Json, below: int) -> Json:
    """``query`` (a ``bool``) for entries below the key ``below`` only (a filter: the
    scores stay as they are)."""
    clauses = query["bool"]
    return {"bool": {**clauses, "filter": [*clauses.get("filter", []),
                                           {"range": {"seq": {"lt": below}}}]}}


def only_seq(query: Json, seq: int) -> Json:
    """``query`` (a ``bool``) for the one entry ``seq``: its score under the query now."""
    clauses = query["bool"]
    return {"bool": {**clauses, "filter": [*clauses.get("filter", []),
                                           {"term": {"seq": seq}}]}}


def page_body(query: Json, *, relevance: bool, size: int,
              after: list[float | int] | list[int] | None, count_up_to: int = 0) -> Json:
    """A search request for ``size`` hits after ``after`` (``search_after``); with
    ``count_up_to``, ``hits.total`` counts the query's hits (``search_after`` or not) up to
    one more than that (:func:`count_body`)."""
    body: Json = {"query": query, "sort": BEST_FIRST if relevance else NEWEST_FIRST,
                  "size": size, "_source": False,
                  "track_total_hits": count_up_to + 1 if count_up_to else False}
    if after is not None:
        body["search_after"] = after
    return body


def count_body(query: Json, up_to: int) -> Json:
    """``hits.total`` of ``query``, exact up to ``up_to + 1`` hits (the engine stops counting
    there: one more than ``up_to`` says "more than ``up_to``" at bounded cost)."""
    return {"query": query, "size": 0, "track_total_hits": up_to + 1}


# ---------------------------------------------------------------------------- suggestions
SUGGEST_DOCS = 50
"""Office documents whose highlighted near-misses give a query word's candidates."""
SUGGEST_EXPANSIONS = 100
"""Index terms a fuzzy query word may expand to."""
_MARK = ("[[", "]]")  # never in folded text: it holds only word characters


def known_body(office_id: str, word: str) -> Json:
    """Does any document of the office match ``word`` (with its forms)?"""
    return {"size": 0, "terminate_after": 1, "track_total_hits": 1, "query": {"bool": {
        "filter": [{"term": {"office": _key(office_id)}}, term_query(Term((word,)))]}}}


def near_words_body(office_id: str, word: str, edits: int) -> Json:
    """Office documents with a word within ``edits`` of ``word`` (same first letter, like
    the FTS5 vocabulary scan), the near words marked in their highlighted text."""
    return {
        "size": SUGGEST_DOCS, "_source": False, "track_total_hits": False,
        "query": {"bool": {
            "filter": [{"term": {"office": _key(office_id)}}],
            "must": [{"fuzzy": {"body": {"value": word, "fuzziness": edits, "prefix_length": 1,
                                         "max_expansions": SUGGEST_EXPANSIONS,
                                         "transpositions": True}}}]}},
        "highlight": {"fields": {"body": {
            "type": "unified", "number_of_fragments": 20, "fragment_size": 1,
            "boundary_scanner": "word", "pre_tags": [_MARK[0]], "post_tags": [_MARK[1]]}}},
    }


def marked_words(hit: Json) -> set[str]:
    """The highlighted words of one hit of ``near_words_body``."""
    out: set[str] = set()
    for fragment in hit.get("highlight", {}).get("body", []):
        for piece in str(fragment).split(_MARK[0])[1:]:
            word, _, _ = piece.partition(_MARK[1])
            if word:
                out.add(word)
    return out


def counts_body(office_id: str, words: list[str]) -> Json:
    """Documents of the office containing each word (``filters`` aggregation)."""
    return {
        "size": 0, "track_total_hits": False,
        "query": {"bool": {"filter": [{"term": {"office": _key(office_id)}},
                                      {"terms": {"body": words}}]}},
        "aggs": {"words": {"filters": {"filters": {
            str(i): {"term": {"body": w}} for i, w in enumerate(words)}}}},
    }
