"""The FTS5 backend's word forms: a side table ``word_forms (form, word)`` that maps each form
(a stem in the document's language, a compound head, see ``search.analysis``) to the index's
words that have it. Written when a word is new to the index, cleaned when a word leaves it
(erasure, edits); read to expand a bare query word to the words sharing one of its forms.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence

from search.analysis import LANGUAGES, forms_of, languages_of, query_forms, stem

FORMS = "word_forms"
FORMS_REBUILD = "word_forms_rebuild"
CREATE_FORMS = ("CREATE TABLE {name} (form TEXT NOT NULL, word TEXT NOT NULL, "
                "PRIMARY KEY (form, word)) WITHOUT ROWID")
MAX_VARIANTS = 64
"""Words one query word expands to at most (a generic head like ``versicherung`` may end
hundreds of compounds): the shortest ones, so the closest forms are always in."""
EXPANSIONS_CACHED = 10_000
"""Query words whose expansion is remembered (all forgotten at once beyond that)."""
EXPANSION_SECONDS = 30.0
"""How long an expansion is trusted: another process (``chronik import``) may add words."""
SEEN_WORDS = 500_000
"""Words per language remembered as already in ``word_forms`` (then forgotten at once)."""

Row = tuple[int, str, str, object, "frozenset[str] | None"]
"""seq, folded text, scope, declared language, distinct words (None: split the text)."""


CONTAINS = "*"
"""Key prefix of a ``*word*`` query word (``Term.contains``) in :func:`variants`."""


def _containing(conn: sqlite3.Connection, fragment: str) -> list[str]:
    """The index's words holding ``fragment`` (a folded word), shortest first, at most
    :data:`MAX_VARIANTS`. ``word_forms`` holds every word of the index once or more (not the
    number tokens): one scan of it (tens of ms for a million rows)."""
    pattern = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [w for (w,) in conn.execute(
        f"SELECT word FROM (SELECT DISTINCT word FROM {FORMS} WHERE word LIKE ? ESCAPE '\\')"
        " ORDER BY length(word), word LIMIT ?", (f"%{pattern}%", MAX_VARIANTS))]


def variants(conn: sqlite3.Connection, words: Iterable[str]) -> dict[str, list[str]]:
    """For each folded query word: the index's other words that share one of its forms;
    for ``*word`` (:data:`CONTAINS`): the index's words that hold it."""
    words = list(words)
    out: dict[str, list[str]] = {}
    for key in [w for w in words if w.startswith(CONTAINS)]:
        holding = _containing(conn, key[len(CONTAINS):])
        if holding:
            out[key] = holding
    wanted = {w: query_forms(w) for w in words if not w.startswith(CONTAINS)}
    forms = sorted({f for fs in wanted.values() for f in fs})
    if not forms:
        return out
    by_form: dict[str, list[str]] = {}
    for form, word in conn.execute(
            f"SELECT form, word FROM {FORMS} WHERE form IN ({','.join('?' * len(forms))})",
            forms):
        by_form.setdefault(form, []).append(word)
    for w, fs in wanted.items():
        found = {x for f in fs for x in by_form.get(f, ())} - {w}
        if found:
            out[w] = sorted(found, key=lambda x: (len(x), x))[:MAX_VARIANTS]
    return out


def tables(conn: sqlite3.Connection) -> list[str]:
    rebuilding = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name=?", (FORMS_REBUILD,)).fetchone()
    return [FORMS, FORMS_REBUILD] if rebuilding else [FORMS]


def start_rebuild(conn: sqlite3.Connection) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {FORMS_REBUILD}")
    conn.execute(CREATE_FORMS.format(name=FORMS_REBUILD))


def swap_rebuild(conn: sqlite3.Connection) -> None:
    conn.execute(f"DELETE FROM {FORMS}")
    conn.execute(f"INSERT INTO {FORMS} (form, word) SELECT form, word FROM {FORMS_REBUILD}")
    conn.execute(f"DROP TABLE {FORMS_REBUILD}")


class WordForms:
    """Writes (writer thread) and expansions (reader threads) of one backend."""

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
        """Words known to be in ``word_forms`` already (writer thread only)."""
        self._rebuilt: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
        """Words this process's running rebuild has put into ``word_forms_rebuild`` (a
        rebuild writes each word's forms once, not once per document holding it)."""
        self._changed = False
        """Set by the writer thread when ``word_forms`` changed in the running write."""
        self._generation = 0
        """Bumped after each committed change of ``word_forms``: older expansions are stale."""
        self._expansions: dict[str, tuple[int, list[str], float]] = {}

    def add(self, conn: sqlite3.Connection, rows: Sequence[Row], into: Sequence[str], *,
            everything: bool = False, rebuilding: bool = False) -> None:
        """Record the forms of the words of ``rows`` new to the index (``everything``: of
        all their words, for a table being built from scratch by another writer;
        ``rebuilding``: ``into`` is the table this process's rebuild is building, see
        :meth:`start_rebuild`)."""
        pairs: list[tuple[str, str]] = []
        for _seq, text, _scope, declared, distinct in rows:
            words = distinct if distinct is not None else frozenset(text.split(" "))
            for lang in languages_of(words, declared):
                seen = self._rebuilt[lang] if rebuilding else self._seen[lang]
                new = words if everything and not rebuilding else words - seen
                # numbers, dates, IBANs and phone tokens have no other forms (a query finds
                # them as typed) and are never suggested: remembering each distinct one cost
                # memory and writes in proportion to the mail imported, for nothing
                new = frozenset(w for w in new if w.isalpha())
                if not new:
                    continue
                if len(seen) > SEEN_WORDS:
                    seen.clear()
                seen.update(new)
                pairs += [(f, w) for w in new for f in {stem(w, lang), *forms_of(w, lang)}]
        for table in into:
            conn.executemany(f"INSERT OR IGNORE INTO {table} (form, word) VALUES (?,?)", pairs)
        self._changed = self._changed or bool(pairs)

    def forget(self, conn: sqlite3.Connection, words: Iterable[str],
               indexed: Callable[[str], bool], *, into: Sequence[str] | None = None) -> None:
        """Drop the ``words`` that are no longer ``indexed`` (erasure, edits) from the word
        form tables ``into`` (default: all of them)."""
        gone = [w for w in words if w and not indexed(w)]
        if not gone:
            return
        existing = tables(conn)
        for table in [t for t in into if t in existing] if into is not None else existing:
            # one pass (no index on word: writes stay cheap)
            for i in range(0, len(gone), 500):
                chunk = gone[i:i + 500]
                conn.execute(f"DELETE FROM {table} WHERE word IN ({','.join('?' * len(chunk))})",
                             chunk)
        for seen in (*self._seen.values(), *self._rebuilt.values()):
            seen.difference_update(gone)
        self._changed = True

    def reset(self) -> None:
        """``word_forms`` was rewritten as a whole (rebuild, upgrade)."""
        for seen in (*self._seen.values(), *self._rebuilt.values()):
            seen.clear()
        self._changed = True

    def start_rebuild(self) -> None:
        """This process starts filling a fresh ``word_forms_rebuild``."""
        for seen in self._rebuilt.values():
            seen.clear()

    def committed(self) -> None:
        """After a write's commit: retire the cached expansions if ``word_forms`` changed
        (only then: a reader never caches a pre-commit expansion as current)."""
        if self._changed:
            self._changed = False
            self._generation += 1
            self._expansions.clear()

    def expand(self, conn: sqlite3.Connection, words: Iterable[str]) -> dict[str, list[str]]:
        """:func:`variants`, remembered until ``word_forms`` changes here, or for
        ``EXPANSION_SECONDS`` (reader threads)."""
        generation = self._generation
        now = time.monotonic()
        out: dict[str, list[str]] = {}
        missing = []
        for w in words:
            hit = self._expansions.get(w)
            if hit is not None and hit[0] == generation and now - hit[2] < EXPANSION_SECONDS:
                if hit[1]:
                    out[w] = hit[1]
            else:
                missing.append(w)
        if missing:
            found = variants(conn, missing)
            if len(self._expansions) > EXPANSIONS_CACHED:
                self._expansions.clear()
            for w in missing:
                self._expansions[w] = (generation, found.get(w, []), now)
            out.update(found)
        return out
