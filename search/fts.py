"""Embedded search: SQLite FTS5 in its own file next to the store.

Documents are keyed by the entry's ``seq`` (time-ordered), so newest-first is the index's
own order and a date range is a key range. Filters are tokens in a ``scope`` column, so the
office/customer/channel restriction is a posting-list intersection inside FTS5.

Word forms (``search.analysis``) cost the index nothing per document: a small table
``word_forms`` maps each form (stem, compound head) to the index's words that have it, and
is written only when a word is new to the index. A bare query word is expanded, at query
time, to the index's words sharing one of its forms (``vertrag`` -> ``vertrage``,
``mietvertrag``), so only forms that occur cost anything; quoted and prefix terms are not.
Words that leave the index (erasure, edits) leave the table too. Automatic bookkeeping carries
its office as ``so…`` (``document_scope``), so the default office filter leaves it out at no
cost. An index from an earlier version is brought up to date on :meth:`FtsBackend.open` (one
pass over its own folded text; no store, no manual step); one whose *text* is older
(``search_meta.text`` below ``TEXT_VERSION``: folding or tokens changed) is rebuilt from the
store by the indexer in the background (:meth:`FtsBackend.rebuild`, ``search.indexer``).

A rebuild fills ``entry_fts_rebuild`` and swaps it in with one transaction. Meanwhile every
process writes to both tables; a document written live wins over the snapshot being loaded
(the snapshot skips it), and a live delete leaves a tombstone (``entry_fts_rebuild_gone``)
so the snapshot cannot bring it back. ``search_meta.rebuild`` names the rebuild loading now
(host, process, heartbeat): a rebuild started later takes over (the earlier one stops
without swapping), an automatic one leaves a running one alone, and one whose process is gone
is dropped on open (search never left the old table).

The office token is in nearly every document, so intersecting with it is most of what a
short query costs. ``search_meta.offices`` lists every office the index has held documents
of; while that is one office, its searches leave the office token out (bookkeeping is left
out by its own, much shorter, ``so…`` token), and relevance ranks in one pass.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from search.analysis import (
    ANALYSIS_VERSION,
    TEXT_VERSION,
    best_corrections,
    close_words,
    correctable_words,
    corrected_queries,
)
from search.backend import (
    RELEVANCE_CANDIDATES,
    HitPage,
    RebuildBusy,
    RebuildSource,
    SearchHit,
    Total,
    document_scope,
    document_words,
    scope_token,
)
from search.cursor import RelevanceCursor, relevance_cursor
from search.fts_forms import CONTAINS, CREATE_FORMS, FORMS, FORMS_REBUILD, Row, WordForms
from search.fts_forms import start_rebuild as forms_start_rebuild
from search.fts_forms import swap_rebuild as forms_swap_rebuild
from search.fts_forms import tables as forms_tables
from search.fts_rebuild import KEY as REBUILD_KEY
from search.fts_rebuild import RUNNING
from search.fts_rebuild import claim as claim_rebuild
from search.fts_rebuild import owner as rebuild_owner
from search.fts_rebuild import running as rebuild_running
from search.query import (
    SYSTEM_CHANNELS,
    ParsedQuery,
    QueryError,
    SearchFilters,
    SearchRequest,
    Term,
)
from timeline.errors import InvalidInput
from timeline.ids import SEQ_SLOTS, parse_seq, seq_base
from timeline.models import Entry
from timeline.sqlite_db import Migration, SqliteDb

log = logging.getLogger(__name__)
T = TypeVar("T")

_TABLE = "entry_fts"
_REBUILD = "entry_fts_rebuild"
_GONE = "entry_fts_rebuild_gone"
"""Tombstones: documents deleted while a rebuild loads (its snapshot must not restore them)."""
_VOCAB = "entry_fts_vocab"
_CREATE = ("CREATE VIRTUAL TABLE {name} USING fts5(body, scope, "
           "tokenize = 'unicode61 remove_diacritics 2')")

MIGRATIONS: list[Migration] = [
    (1, _CREATE.format(name=_TABLE) + ";"),
    # v2: word forms (filled by FtsBackend.open from the index itself) and the vocabulary
    # view that spelling suggestions read.
    (2, "CREATE TABLE search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
        + CREATE_FORMS.format(name=FORMS) + ";\n"
        f"CREATE VIRTUAL TABLE {_VOCAB} USING fts5vocab({_TABLE}, 'col');"),
]

_LAYOUT = f"analysis {ANALYSIS_VERSION}; word_forms of every word; bookkeeping office so"
"""What ``search_meta.analysis`` says of an index this code wrote (else: upgrade on open)."""
ONE_PASS_FROM = 256
"""Matches from which relevance ranks in one pass (see ``FtsBackend._relevance``)."""
UPGRADE_BATCH = 2000
SUGGEST_CANDIDATES = 10
"""Close words per unknown query word checked against the office's documents."""
SUGGEST_DF_CAP = 1000
"""Office documents counted per candidate word (enough to rank; bounded work)."""

_OFFICES = "offices"
"""``search_meta`` key: the office tokens (``o…``) of every office the index has held
documents of, sorted, space-separated. Only ever grows; written in the transaction that adds
the documents, read in the same snapshot as a search (see :func:`_only_office`)."""

_OFFICES_SQL = f"SELECT value FROM search_meta WHERE key = '{_OFFICES}'"

_TEXT = "text"
"""``search_meta`` key: the ``TEXT_VERSION`` the index's text was written with."""

Variants = Mapping[str, Sequence[str]]
"""A bare query word -> the other index words it matches."""


def _quote(words: Sequence[str]) -> str:
    return '"' + " ".join(w.replace('"', '""') for w in words) + '"'


def _phrase(column: str, words: Sequence[str], prefix: bool = False) -> str:
    return f"{column} : {_quote(words)}" + (" *" if prefix else "")


def _term(term: Term, variants: Variants) -> str:
    """One term, column-qualified; a bare word also matches its ``variants``."""
    spelled = _phrase("body", term.words, term.prefix)
    if term.contains:  # the words holding it (none known: the word itself, found nowhere)
        holding = variants.get(CONTAINS + term.words[0], ())
        return _phrase_any("body", holding) if holding else spelled
    others = variants.get(term.words[0], ()) if term.stemmable else ()
    if not others:
        return spelled
    return "(" + " OR ".join([spelled, *(_phrase("body", [v]) for v in others)]) + ")"


def _must(query: ParsedQuery, variants: Variants, *, translations: bool = True) -> str:
    return " AND ".join("(" + " OR ".join(_term(t, variants) for t in c.terms
                                          if translations or not t.translated) + ")"
                        for c in query.must)


def body_expression(query: ParsedQuery, variants: Variants | None = None, *,
                    translations: bool = True) -> str:
    """The query's words alone (for ranking; filtering is done by the scoped expression).
    Without ``variants``: the typed spellings only (the exact-match tier; no translations);
    without ``translations``: the typed words and their forms only."""
    return _must(query, variants or {}, translations=translations and variants is not None)


def _has_other_forms(query: ParsedQuery, variants: Variants) -> bool:
    """Does the query match more than its typed spellings (other word forms, translations)?"""
    return any(t.translated or (t.stemmable and bool(variants.get(t.words[0])))
               or (t.contains and bool(variants.get(CONTAINS + t.words[0])))
               for t in query.all_terms())


def _phrase_any(column: str, words: Sequence[str]) -> str:
    return f"{column} : (" + " OR ".join(_quote([w]) for w in words) + ")"


def _scope(token: str) -> str:
    return _phrase("scope", [token])


def match_expression(query: ParsedQuery, filters: SearchFilters,
                     variants: Variants | None = None, *, only_office: bool = False) -> str:
    """FTS5 MATCH text built only from folded words, each quoted: no user syntax leaks.

    ``only_office``: the index holds documents of ``filters.office_id`` alone (see
    :func:`_only_office`), so the office token (in nearly every document: intersecting with
    it is most of a query's cost) is left out; bookkeeping is left out, unless wanted, by
    excluding the office's much shorter bookkeeping token instead."""
    variants = variants or {}
    bookkeeping = _scope(scope_token("so", filters.office_id))
    scope: list[str] = []
    if not only_office:
        office = _scope(scope_token("o", filters.office_id))
        if not filters.hidden_channels:  # bookkeeping wanted too (see document_scope)
            office = f"({office} OR {bookkeeping})"
        scope.append(office)
    if filters.customer_id:
        scope.append(_scope(scope_token("c", filters.customer_id)))
    if filters.channels:
        scope.append("(" + " OR ".join(_scope(scope_token("ch", c.value))
                                       for c in filters.channels) + ")")
    if filters.kinds:
        scope.append("(" + " OR ".join(_scope(scope_token("k", k)) for k in filters.kinds) + ")")
    if filters.visibility:
        scope.append(_scope(scope_token("v", filters.visibility.value)))
    expr = f"({_must(query, variants)})"
    if scope:
        expr += f" AND ({' AND '.join(scope)})"
    if only_office and filters.hidden_channels:
        expr = f"({expr}) NOT {bookkeeping}"
    excluded = [_term(t, variants) for t in query.must_not]
    if excluded:
        expr = f"({expr}) NOT ({' OR '.join(excluded)})"
    return expr


def _stemmable_words(query: ParsedQuery) -> set[str]:
    """The words to expand (``WordForms.expand``): bare words to their other forms,
    ``*word*`` (as ``CONTAINS + word``) to the words holding it."""
    return {CONTAINS + t.words[0] if t.contains else t.words[0]
            for t in [*query.all_terms(), *query.must_not] if t.stemmable or t.contains}


def _row(entry: Entry) -> Row:
    words = document_words(entry)
    return (entry.seq, " ".join(words), document_scope(entry), entry.meta.get("language"),
            frozenset(words))


class FtsBackend:
    name = "sqlite-fts5"

    def __init__(self, path: Path, *, readers: int = 4) -> None:
        self.db = SqliteDb(path, MIGRATIONS, readers=readers, name="search")
        self.forms = WordForms()

    async def open(self) -> None:
        await self.db.open()
        # deleted documents' cells and pages are zeroed, not just unlinked (erasure)
        await self.db.write_raw(lambda c: c.execute("PRAGMA secure_delete=ON"))
        await self._upgrade_if_old()
        await self.db.write(lambda c: _note_offices(c, set()))  # an index without the list
        await self._note_text_version()
        await self._drop_dead_rebuild()

    async def close(self) -> None:
        await self.db.close()

    # ------------------------------------------------------------------ writing
    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result = await self.db.write(fn)
        self.forms.committed()
        return result

    def _old_words(self, conn: sqlite3.Connection, seqs: Sequence[int],
                   table: str = _TABLE) -> dict[int, set[str]]:
        """The words of those of ``seqs`` already in ``table`` (replaced or deleted now)."""
        top = conn.execute(f"SELECT rowid FROM {table} ORDER BY rowid DESC LIMIT 1").fetchone()
        out: dict[int, set[str]] = {}
        for seq in seqs:  # one rowid at a time: FTS5 scans the whole table for "rowid IN"
            if top is None or seq > top[0]:
                continue  # newer than anything indexed (the usual case: new entries)
            row = conn.execute(f"SELECT body FROM {table} WHERE rowid=?", (seq,)).fetchone()
            if row is not None:
                out[seq] = set(row[0].split(" "))
        return out

    async def index(self, entries: Sequence[Entry]) -> None:
        rows = [_row(e) for e in entries]
        offices = _office_tokens(entries)

        def run(conn: sqlite3.Connection) -> None:
            _note_offices(conn, offices)
            tables = _tables(conn)
            replaced = {table: self._old_words(conn, [r[0] for r in rows], table)
                        for table in tables}
            for table in tables:
                if replaced[table] or table != _TABLE:
                    conn.executemany(f"DELETE FROM {table} WHERE rowid=?",
                                     [(r[0],) for r in rows])
                conn.executemany(f"INSERT INTO {table} (rowid, body, scope) VALUES (?,?,?)",
                                 [r[:3] for r in rows])
            self.forms.add(conn, rows, forms_tables(conn), everything=len(tables) > 1)
            new = {r[0]: r[4] or frozenset() for r in rows}
            for table, old in replaced.items():
                if old:  # each table's word forms follow that table's words
                    self.forms.forget(conn, {w for seq, words in old.items()
                                             for w in words - new[seq]},
                                      _indexed(conn, table), into=[_FORMS_OF[table]])
        await self._write(run)

    async def delete(self, seqs: Sequence[int]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            tables = _tables(conn)
            if len(tables) > 1:  # a rebuild is loading: its snapshot must not restore them
                conn.execute(f"CREATE TABLE IF NOT EXISTS {_GONE} (seq INTEGER PRIMARY KEY)")
                conn.executemany(f"INSERT OR IGNORE INTO {_GONE} (seq) VALUES (?)",
                                 [(s,) for s in seqs])
            for table in tables:
                old = self._old_words(conn, list(seqs), table)
                conn.executemany(f"DELETE FROM {table} WHERE rowid=?", [(s,) for s in seqs])
                self.forms.forget(conn, set().union(*old.values()) if old else (),
                                  _indexed(conn, table), into=[_FORMS_OF[table]])
        await self._write(run)

    async def rebuild(self, batches: RebuildSource, *, automatic: bool = False) -> int:
        """Load ``entry_fts_rebuild`` from ``batches`` and swap it in (see the module
        docstring: live writes win, live deletes stay deleted, a later rebuild takes over;
        ``automatic``: raise :class:`RebuildBusy` instead of taking over a running one)."""
        me = uuid.uuid4().hex

        def start(conn: sqlite3.Connection) -> None:
            owner = rebuild_owner(conn)
            if automatic and owner is not None and rebuild_running(owner):
                raise RebuildBusy(f"process {owner.get('pid')} on {owner.get('host')} is "
                                  "rebuilding the search index")
            claim_rebuild(conn, me)
            _start_rebuild(conn)
            self.forms.start_rebuild()
        RUNNING.add(me)
        try:
            await self.db.write(start)
            count = 0
            async for batch in batches:
                rows = [_row(e) for e in batch]
                offices = _office_tokens(batch)

                def add(conn: sqlite3.Connection, rows: list[Row] = rows,
                        offices: set[str] = offices) -> None:
                    claim_rebuild(conn, me, still=True)
                    _note_offices(conn, offices)
                    fresh = _not_written_live(conn, rows)
                    conn.executemany(f"INSERT INTO {_REBUILD} (rowid, body, scope) "
                                     "VALUES (?,?,?)", [r[:3] for r in fresh])
                    self.forms.add(conn, fresh, [FORMS_REBUILD], rebuilding=True)
                await self._write(add)
                count += len(rows)

            def swap(conn: sqlite3.Connection) -> None:
                claim_rebuild(conn, me, still=True)
                _swap_rebuild(conn)
                conn.execute("DELETE FROM search_meta WHERE key=?", (REBUILD_KEY,))
                conn.execute("INSERT OR REPLACE INTO search_meta (key, value) VALUES (?, ?)",
                             (_TEXT, str(TEXT_VERSION)))
                self.forms.reset()
            await self._write(swap)
        finally:
            RUNNING.discard(me)
        await self.db.write_raw(lambda c: c.execute(
            f"INSERT INTO {_TABLE}({_TABLE}) VALUES ('optimize')"))
        return count

    async def text_version(self) -> int:
        row = await self.db.read(lambda c: c.execute(
            "SELECT value FROM search_meta WHERE key=?", (_TEXT,)).fetchone())
        return int(row[0]) if row is not None and str(row[0]).isdigit() else 1

    async def _note_text_version(self) -> None:
        """An index without a text version: an empty one is as this code writes it, one with
        documents was written before versions were kept (version 1)."""
        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM search_meta WHERE key=?", (_TEXT,)).fetchone():
                return
            empty = conn.execute(f"SELECT rowid FROM {_TABLE} LIMIT 1").fetchone() is None
            conn.execute("INSERT INTO search_meta (key, value) VALUES (?, ?)",
                         (_TEXT, str(TEXT_VERSION) if empty else "1"))
        await self.db.write(run)

    async def _drop_dead_rebuild(self) -> None:
        """A rebuild whose process is gone (killed, crashed halfway) left its half-built
        tables: drop them (search kept answering from the old table throughout)."""
        def run(conn: sqlite3.Connection) -> bool:
            owner = rebuild_owner(conn)
            if owner is None or rebuild_running(owner):
                return False
            conn.execute("DELETE FROM search_meta WHERE key=?", (REBUILD_KEY,))
            _drop_rebuild(conn)
            return True
        if await self._write(run):
            log.warning("search index: a rebuild from the store was interrupted (its process "
                        "ended); its half-built copy is dropped, search kept the old index")

    async def _upgrade_if_old(self) -> None:
        """Fill ``word_forms`` from the index's own folded text when it was written by an
        older analysis (or before word forms existed). A crash halfway starts over."""
        def current(conn: sqlite3.Connection) -> tuple[bool, int]:
            row = conn.execute("SELECT value FROM search_meta WHERE key='analysis'").fetchone()
            total = conn.execute(f"SELECT count(*) FROM {_TABLE}").fetchone()[0]
            return row is not None and row[0] == _LAYOUT, int(total)

        up_to_date, total = await self.db.read(current)
        if up_to_date:
            return
        if total:
            log.warning("search index: re-analysing %d documents for word forms "
                        "(one-time upgrade to analysis v%d)", total, ANALYSIS_VERSION)
        await self.db.write(_mark_system_scope)
        def clear(conn: sqlite3.Connection) -> None:
            conn.execute(f"DELETE FROM {FORMS}")
            self.forms.reset()
        await self._write(clear)
        after: int | None = -(2**63)
        while after is not None:
            def batch(conn: sqlite3.Connection, after: int = after) -> int | None:
                rows = conn.execute(f"SELECT rowid, body, scope FROM {_TABLE} WHERE rowid > ? "
                                    "ORDER BY rowid LIMIT ?", (after, UPGRADE_BATCH)).fetchall()
                self.forms.add(conn, [(r[0], r[1], r[2], None, None) for r in rows], [FORMS])
                return int(rows[-1][0]) if rows else None
            after = await self._write(batch)
        await self.db.write(lambda c: c.execute(
            "INSERT OR REPLACE INTO search_meta (key, value) VALUES ('analysis', ?)",
            (_LAYOUT,)))
        if total:
            log.warning("search index: re-analysis done")

    async def compact(self) -> None:
        """Merge every FTS5 segment into one (deleted documents' terms are dropped, the old
        segments' pages zeroed by ``secure_delete``) and truncate the WAL."""
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA secure_delete=ON")
            for table in _tables(conn):
                conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
            for _ in range(50):
                if not conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                    return
        await self.db.write_raw(run)

    # ------------------------------------------------------------------ reading
    async def search(self, request: SearchRequest) -> HitPage:
        lo, hi = _key_range(request.filters)
        if request.order == "relevance":
            return await self._relevance(lo, hi, request)
        end = hi  # the count covers every page, the page only what follows the cursor
        if request.cursor:
            try:
                hi = min(hi, parse_seq(request.cursor))
            except InvalidInput as exc:
                raise QueryError("invalid cursor", "invalid_cursor") from exc
        limit = request.limit
        # one statement, one snapshot: the office check and the search it chooses
        matching = (f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH (CASE WHEN "
                    f"({_OFFICES_SQL}) = ? THEN ? ELSE ? END) AND rowid >= ? AND rowid < ?")

        def run(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], int | None]:
            variants = self.forms.expand(conn, _stemmable_words(request.query))
            scoped = (scope_token("o", request.filters.office_id),
                      *(match_expression(request.query, request.filters, variants,
                                         only_office=only) for only in (True, False)))
            with _snapshot(conn):
                rows = _run(conn, f"{matching} ORDER BY rowid DESC LIMIT ?",
                            (*scoped, lo, hi, limit + 1))
                found = (_count(conn, matching, (*scoped, lo, end), request.count_up_to)
                         if request.count_up_to else None)
            return rows, found

        rows, found = await self.db.read(run)
        hits = [SearchHit(seq=r[0]) for r in rows[:limit]]
        nxt = str(hits[-1].seq) if len(rows) > limit else None
        return HitPage(hits=hits, next_cursor=nxt, total=_total(found, request.count_up_to))

    async def _relevance(self, lo: int, hi: int, request: SearchRequest) -> HitPage:
        """Exact spellings first, then BM25, over the newest ``RELEVANCE_CANDIDATES`` matches.

        Step 1 finds the candidates with the scoped expression (newest first, cheap).
        Step 2 ranks them with a body-only expression: bm25() computes an IDF for every
        phrase of its query, and the office/customer scope tokens are in (nearly) every
        document, which would make ranking cost a full posting-list scan each time.
        When a word has other forms in the index, the candidates that match the query as
        typed form the first tier (scored on the typed words), word-form-only matches the
        second: a one-word query scores its spelling and its other forms separately, a longer
        one scores the typed words and then everything.

        One pass instead, when the index holds this office alone, no other filter is set and
        no tier is needed (no other word forms, no ``-word``): the scoped expression is then
        the typed words plus, at most, ``NOT`` the office's bookkeeping token, whose IDF scan
        is cheaper than step 1 once a query has :data:`ONE_PASS_FROM` candidates (a first
        look at that many newest matches tells); the scores are the same (a phrase no
        matching document holds adds nothing to bm25)."""
        query = request.query
        filters = request.filters
        step1 = (f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ? AND rowid >= ? AND "
                 "rowid < ? ORDER BY rowid DESC LIMIT ?")

        cursor = relevance_cursor(request.cursor, 3)  # typed, other forms, translations
        if cursor is not None and cursor.below is not None:
            hi = min(hi, cursor.below)  # what the first page ranked (search/cursor.py)

        def run(conn: sqlite3.Connection) -> tuple[list[tuple[int, float, int]], int | None]:
            """Sort keys ``(tier, bm25 score, -seq)`` (bm25: lower is better) and the count
            of matches (``request.count_up_to``)."""
            variants = self.forms.expand(conn, _stemmable_words(query))
            plain = not query.must_not and not _has_other_forms(query, variants)
            with _snapshot(conn):
                only = _only_office(conn, filters)
                expr = match_expression(query, filters, variants, only_office=only)
                one_pass = only and plain and not (filters.customer_id or filters.channels
                                                    or filters.kinds or filters.visibility)
                look = ONE_PASS_FROM if one_pass else RELEVANCE_CANDIDATES
                candidates = _run(conn, step1, (expr, lo, hi, look))
                found = None
                if request.count_up_to and (len(candidates) < look
                                            or len(candidates) > request.count_up_to):
                    found = len(candidates)  # all of them, or already more than asked
                elif request.count_up_to:
                    found = _count(conn, f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ? "
                                   "AND rowid >= ? AND rowid < ?", (expr, lo, hi),
                                   request.count_up_to)
                if len(candidates) == look and one_pass:
                    return _run(conn, (
                        f"SELECT 0, bm25({_TABLE}, 1.0, 0.0), -rowid FROM {_TABLE} WHERE "
                        f"{_TABLE} MATCH ? AND rowid >= ? AND rowid < ? ORDER BY rowid DESC "
                        "LIMIT ?"), (expr, lo, hi, RELEVANCE_CANDIDATES)), found
            if not candidates:
                return [], found
            return ranking(conn, candidates, variants), found

        def ranking(conn: sqlite3.Connection, candidates: list[tuple[Any, ...]],
                    variants: Variants) -> list[tuple[int, float, int]]:
            wanted = {int(r[0]) for r in candidates}
            span = (min(wanted), max(wanted))

            def scores(expression: str) -> dict[int, float]:
                return {int(seq): float(score) for seq, score in _run(conn, (
                    f"SELECT rowid, bm25({_TABLE}, 1.0, 0.0) FROM {_TABLE} WHERE {_TABLE} "
                    "MATCH ? AND rowid >= ? AND rowid <= ?"), (expression, *span))
                    if seq in wanted}

            typed = body_expression(query)
            if not _has_other_forms(query, variants):
                return [(0, score, -seq) for seq, score in scores(typed).items()]
            terms = query.all_terms()
            if len(terms) == 1:  # one word: its spelling, then its other forms (no overlap)
                exact = scores(typed)
                one = terms[0]
                others = scores(_phrase_any("body", variants[
                    CONTAINS + one.words[0] if one.contains else one.words[0]]))
                return [*((0, sc, -seq) for seq, sc in exact.items()),
                        *((1, sc, -seq) for seq, sc in others.items() if seq not in exact)]
            exact = scores(typed)
            # the typed words' forms (tier 1) before the other language's words (tier 2)
            own = scores(body_expression(query, variants, translations=False)) if any(
                t.translated for t in terms) else None
            return [(0, exact[seq], -seq) if seq in exact else
                    (1, sc, -seq) if own is None or seq in own else (2, sc, -seq)
                    for seq, sc in scores(body_expression(query, variants)).items()]

        keys, found = await self.db.read(run)
        below = (cursor.below if cursor is not None and cursor.below is not None
                 else max((-k[2] for k in keys), default=hi - 1) + 1)
        if cursor is not None:  # after the last hit as the index scores it now
            anchor = next((k for k in keys if -k[2] == cursor.seq),
                          (cursor.tier, cursor.score, -cursor.seq))
            keys = [k for k in keys if k > anchor]
        # keys are unique (seq): the same order as sorting them all, for a page's worth
        ranked = heapq.nsmallest(request.limit + 1, keys)
        page = ranked[: request.limit]
        hits = [SearchHit(seq=-neg, score=-score) for _tier, score, neg in page]
        nxt = None
        if len(ranked) > request.limit:
            tier, score, neg = page[-1]
            nxt = str(RelevanceCursor(tier, score, -neg, below))
        return HitPage(hits=hits, next_cursor=nxt, total=_total(found, request.count_up_to))

    async def suggest(self, office_id: str, text: str, limit: int = 3) -> list[str]:
        """Replace each query word that finds nothing in the office by close words of the
        office's own documents. Candidates come from the whole index's vocabulary (words
        with the same first letter, ``fts5vocab``), but each is kept only if a document of
        ``office_id`` contains it, and ranked by its document count there: no word of
        another office is ever returned."""
        words = correctable_words(text)
        if not words or limit <= 0:
            return []
        office = _scope(scope_token("o", office_id))

        def run(conn: sqlite3.Connection) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            variants = self.forms.expand(conn, words)
            for word in words:
                known = _run(conn, f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ? LIMIT 1",
                             (f"({_term(Term((word,)), variants)}) AND {office}",))
                if known:
                    continue
                start = word[0]
                vocabulary = conn.execute(
                    f"SELECT term, doc FROM {_VOCAB} WHERE term >= ? AND term < ? "
                    "AND col = 'body'", (start, chr(ord(start) + 1))).fetchall()
                in_office = []
                for candidate, distance in close_words(word, vocabulary, SUGGEST_CANDIDATES):
                    (docs,) = conn.execute(
                        f"SELECT count(*) FROM (SELECT rowid FROM {_TABLE} WHERE {_TABLE} "
                        "MATCH ? LIMIT ?)", (f"{_phrase('body', [candidate])} AND {office}",
                                             SUGGEST_DF_CAP)).fetchone()
                    in_office.append((candidate, distance, int(docs)))
                out[word] = best_corrections(in_office, limit)
            return out

        corrections = await self.db.read(run)
        return corrected_queries(text, corrections, limit)


def _office_tokens(entries: Sequence[Entry]) -> set[str]:
    return {scope_token("o", e.office_id) for e in entries}


def _note_offices(conn: sqlite3.Connection, tokens: set[str]) -> None:
    """Add ``tokens`` to the ``search_meta`` office list (writer). An index without the list
    (written before it existed) gets it from its own scope vocabulary first."""
    row = conn.execute("SELECT value FROM search_meta WHERE key=?", (_OFFICES,)).fetchone()
    if row is not None:
        known = set(row[0].split())
    else:
        known = set()
        for start in ("o", "so"):  # scope prefixes: o, so, c, ch, k, v (document_scope)
            known.update("o" + term.removeprefix(start) for (term,) in conn.execute(
                f"SELECT DISTINCT term FROM {_VOCAB} WHERE term >= ? AND term < ? "
                "AND col = 'scope'", (start, start[:-1] + chr(ord(start[-1]) + 1))))
    if row is None or not tokens <= known:
        conn.execute("INSERT OR REPLACE INTO search_meta (key, value) VALUES (?, ?)",
                     (_OFFICES, " ".join(sorted(known | tokens))))


def _only_office(conn: sqlite3.Connection, filters: SearchFilters) -> bool:
    """Has the index only ever held documents of ``filters.office_id``? Read inside the
    search's own snapshot (:func:`_snapshot`): a document of another office committed
    between this check and the search cannot slip through."""
    row = conn.execute(_OFFICES_SQL).fetchone()
    return row is not None and row[0] == scope_token("o", filters.office_id)


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction (the reader connections are in autocommit mode)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _mark_system_scope(conn: sqlite3.Connection) -> None:
    """Give bookkeeping documents of an older index their ``so…`` office token."""
    channels = " OR ".join(_scope(scope_token("ch", c.value)) for c in SYSTEM_CHANNELS)
    rows = conn.execute(f"SELECT rowid, scope FROM {_TABLE} WHERE {_TABLE} MATCH ?",
                        (channels,)).fetchall()
    for seq, scope in rows:
        first, _, rest = scope.partition(" ")
        if first.startswith("o"):
            conn.execute(f"UPDATE {_TABLE} SET scope=? WHERE rowid=?", (f"s{first} {rest}", seq))


def _start_rebuild(conn: sqlite3.Connection) -> None:
    _drop_rebuild(conn)
    conn.execute(_CREATE.format(name=_REBUILD))
    conn.execute(f"CREATE TABLE {_GONE} (seq INTEGER PRIMARY KEY)")
    forms_start_rebuild(conn)


def _drop_rebuild(conn: sqlite3.Connection) -> None:
    for table in (_REBUILD, _GONE, FORMS_REBUILD):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _swap_rebuild(conn: sqlite3.Connection) -> None:
    conn.execute(f"DROP TABLE {_TABLE}")
    conn.execute(f"ALTER TABLE {_REBUILD} RENAME TO {_TABLE}")
    conn.execute(f"DROP TABLE IF EXISTS {_GONE}")
    forms_swap_rebuild(conn)


def _not_written_live(conn: sqlite3.Connection, rows: list[Row]) -> list[Row]:
    """The snapshot's ``rows`` that no live write or delete has touched since the rebuild
    began (a live write is newer than the snapshot; a live delete stays deleted)."""
    if not rows:
        return rows
    span = (min(r[0] for r in rows), max(r[0] for r in rows))
    live = {seq for (seq,) in conn.execute(
        f"SELECT rowid FROM {_REBUILD} WHERE rowid >= ? AND rowid <= ?", span)}
    live.update(seq for (seq,) in conn.execute(
        f"SELECT seq FROM {_GONE} WHERE seq >= ? AND seq <= ?", span))
    return [r for r in rows if r[0] not in live] if live else rows


def _indexed(conn: sqlite3.Connection, table: str = _TABLE) -> Callable[[str], bool]:
    """Does any document of ``table`` still hold this word?"""
    def check(word: str) -> bool:
        return conn.execute(f"SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT 1",
                            (_phrase("body", [word]),)).fetchone() is not None
    return check


_FORMS_OF = {_TABLE: FORMS, _REBUILD: FORMS_REBUILD}
"""Each document table's word forms."""


def _tables(conn: sqlite3.Connection) -> list[str]:
    rebuilding = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name=?", (_REBUILD,)).fetchone()
    return [_TABLE, _REBUILD] if rebuilding else [_TABLE]


def _key_range(filters: SearchFilters) -> tuple[int, int]:
    lo = seq_base(filters.since) if filters.since else -(2**63)
    hi = seq_base(filters.until) + SEQ_SLOTS if filters.until else 2**63 - 1
    return lo, hi


def _count(conn: sqlite3.Connection, matching: str, args: tuple[object, ...],
           up_to: int) -> int:
    """How many rows ``matching`` (a ``SELECT rowid …``) finds, counting at most
    ``up_to + 1`` (bounded work for a common word: enough to say "more than")."""
    return int(_run(conn, f"SELECT count(*) FROM ({matching} LIMIT ?)",
                    (*args, up_to + 1))[0][0])


def _total(found: int | None, up_to: int) -> Total | None:
    return None if found is None else Total.counted(found, up_to)


def _run(conn: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:  # defensive: our expression should always parse
        raise QueryError("the query could not be run: rephrase it") from exc
