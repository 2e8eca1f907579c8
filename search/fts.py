"""Embedded search: SQLite FTS5 in its own file next to the store.

Documents are keyed by the entry's ``seq`` (time-ordered), so newest-first is the index's
own order and a date range is a key range. Filters are tokens in a ``scope`` column, so the
office/customer/channel restriction is a posting-list intersection inside FTS5.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from search.backend import (
    RELEVANCE_CANDIDATES,
    HitPage,
    RebuildSource,
    SearchHit,
    document_scope,
    document_text,
    scope_token,
)
from search.query import ParsedQuery, QueryError, SearchFilters, SearchRequest, Term
from timeline.errors import InvalidInput
from timeline.ids import SEQ_SLOTS, parse_seq, seq_base
from timeline.models import Entry
from timeline.sqlite_db import Migration, SqliteDb

_TABLE = "entry_fts"
_REBUILD = "entry_fts_rebuild"
_CREATE = ("CREATE VIRTUAL TABLE {name} USING fts5(body, scope, "
           "tokenize = 'unicode61 remove_diacritics 2')")

MIGRATIONS: list[Migration] = [(1, _CREATE.format(name=_TABLE) + ";")]


def _quote(words: Sequence[str]) -> str:
    return '"' + " ".join(w.replace('"', '""') for w in words) + '"'


def _term(term: Term) -> str:
    return _quote(term.words) + (" *" if term.prefix else "")


def _must(query: ParsedQuery) -> str:
    return " AND ".join("(" + " OR ".join(_term(t) for t in c.terms) + ")" for c in query.must)


def body_expression(query: ParsedQuery) -> str:
    """The query's words alone (for ranking; filtering is done by the scoped expression)."""
    return f"body : ({_must(query)})"


def match_expression(query: ParsedQuery, filters: SearchFilters) -> str:
    """FTS5 MATCH text built only from folded words, each quoted: no user syntax leaks."""
    must = _must(query)
    scope = [_quote([scope_token("o", filters.office_id)])]
    if filters.customer_id:
        scope.append(_quote([scope_token("c", filters.customer_id)]))
    if filters.channels:
        scope.append("(" + " OR ".join(_quote([scope_token("ch", c.value)])
                                       for c in filters.channels) + ")")
    if filters.kinds:
        scope.append("(" + " OR ".join(_quote([scope_token("k", k)])
                                       for k in filters.kinds) + ")")
    if filters.visibility:
        scope.append(_quote([scope_token("v", filters.visibility.value)]))
    expr = f"(body : ({must})) AND (scope : ({' AND '.join(scope)}))"
    if query.must_not:
        expr = f"({expr}) NOT (body : ({' OR '.join(_term(t) for t in query.must_not)}))"
    return expr


class FtsBackend:
    name = "sqlite-fts5"

    def __init__(self, path: Path, *, readers: int = 4) -> None:
        self.db = SqliteDb(path, MIGRATIONS, readers=readers, name="search")

    async def open(self) -> None:
        await self.db.open()
        # deleted documents' cells and pages are zeroed, not just unlinked (erasure)
        await self.db.write_raw(lambda c: c.execute("PRAGMA secure_delete=ON"))

    async def close(self) -> None:
        await self.db.close()

    async def index(self, entries: Sequence[Entry]) -> None:
        rows = [(e.seq, document_text(e), document_scope(e)) for e in entries]

        def run(conn: sqlite3.Connection) -> None:
            for table in _tables(conn):
                conn.executemany(f"DELETE FROM {table} WHERE rowid=?", [(r[0],) for r in rows])
                conn.executemany(f"INSERT INTO {table} (rowid, body, scope) VALUES (?,?,?)",
                                 rows)
        await self.db.write(run)

    async def delete(self, seqs: Sequence[int]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for table in _tables(conn):
                conn.executemany(f"DELETE FROM {table} WHERE rowid=?", [(s,) for s in seqs])
        await self.db.write(run)

    async def rebuild(self, batches: RebuildSource) -> int:
        def start(conn: sqlite3.Connection) -> None:
            conn.execute(f"DROP TABLE IF EXISTS {_REBUILD}")
            conn.execute(_CREATE.format(name=_REBUILD))
        await self.db.write(start)
        count = 0
        async for batch in batches:
            rows = [(e.seq, document_text(e), document_scope(e)) for e in batch]

            def add(conn: sqlite3.Connection, rows: list[tuple[int, str, str]] = rows) -> None:
                conn.executemany(f"INSERT OR REPLACE INTO {_REBUILD} (rowid, body, scope) "
                                 "VALUES (?,?,?)", rows)
            await self.db.write(add)
            count += len(rows)

        def swap(conn: sqlite3.Connection) -> None:
            conn.execute(f"DROP TABLE {_TABLE}")
            conn.execute(f"ALTER TABLE {_REBUILD} RENAME TO {_TABLE}")
        await self.db.write(swap)
        await self.db.write_raw(lambda c: c.execute(
            f"INSERT INTO {_TABLE}({_TABLE}) VALUES ('optimize')"))
        return count

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

    async def search(self, request: SearchRequest) -> HitPage:
        expr = match_expression(request.query, request.filters)
        lo, hi = _key_range(request.filters)
        if request.order == "relevance":
            return await self._relevance(expr, lo, hi, request)
        if request.cursor:
            try:
                hi = min(hi, parse_seq(request.cursor))
            except InvalidInput as exc:
                raise QueryError("invalid cursor") from exc
        limit = request.limit
        rows = await self.db.read(lambda c: _run(c, (
            f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ? AND rowid >= ? AND rowid < ? "
            "ORDER BY rowid DESC LIMIT ?"), (expr, lo, hi, limit + 1)))
        hits = [SearchHit(seq=r[0]) for r in rows[:limit]]
        nxt = str(hits[-1].seq) if len(rows) > limit else None
        return HitPage(hits=hits, next_cursor=nxt)

    async def _relevance(self, expr: str, lo: int, hi: int, request: SearchRequest) -> HitPage:
        """BM25 over the newest ``RELEVANCE_CANDIDATES`` matches.

        Step 1 finds the candidates with the scoped expression (newest first, cheap).
        Step 2 ranks them with a body-only expression: bm25() computes an IDF for every
        phrase of its query, and the office/customer scope tokens are in (nearly) every
        document, which would make ranking cost a full posting-list scan each time."""
        ranked_expr = body_expression(request.query)

        def run(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            candidates = _run(conn, (
                f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ? AND rowid >= ? AND "
                "rowid < ? ORDER BY rowid DESC LIMIT ?"), (expr, lo, hi, RELEVANCE_CANDIDATES))
            if not candidates:
                return []
            wanted = {int(r[0]) for r in candidates}
            scored = _run(conn, (
                f"SELECT rowid, bm25({_TABLE}, 1.0, 0.0) FROM {_TABLE} WHERE {_TABLE} MATCH ? "
                "AND rowid >= ? AND rowid <= ?"),
                (ranked_expr, min(wanted), max(wanted)))
            return [(int(seq), float(score)) for seq, score in scored if seq in wanted]

        rows = await self.db.read(run)
        ranked = sorted((score, -seq) for seq, score in rows)
        if request.cursor:
            try:
                score_s, seq_s = request.cursor.split(":", 1)
                after = (float(score_s), -parse_seq(seq_s))
            except (ValueError, InvalidInput) as exc:
                raise QueryError("invalid cursor") from exc
            ranked = [k for k in ranked if k > after]
        page = ranked[: request.limit]
        hits = [SearchHit(seq=-neg, score=-score) for score, neg in page]
        nxt = None
        if len(ranked) > request.limit:
            score, neg = page[-1]
            nxt = f"{score!r}:{-neg}"
        return HitPage(hits=hits, next_cursor=nxt)


def _tables(conn: sqlite3.Connection) -> list[str]:
    rebuilding = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name=?", (_REBUILD,)).fetchone()
    return [_TABLE, _REBUILD] if rebuilding else [_TABLE]


def _key_range(filters: SearchFilters) -> tuple[int, int]:
    lo = seq_base(filters.since) if filters.since else -(2**63)
    hi = seq_base(filters.until) + SEQ_SLOTS if filters.until else 2**63 - 1
    return lo, hi


def _run(conn: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> list[tuple[int, float]]:
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:  # defensive: our expression should always parse
        raise QueryError("the query could not be run: rephrase it") from exc
