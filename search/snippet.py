"""Highlighted snippets, computed on the original text with the query's folded terms.

A text word is a hit when the index would match it for a query term: its folded spelling,
a prefix, or a shared word form (``search.analysis``: stems, a compound's head and the part
before it, so ``Hausrat`` marks ``Hausratversicherung``). Words are read as written
(``WRITTEN_WORD``): decomposed umlauts (``Mu\u0308ller``) stay one word, as the index folds them.
"""

from __future__ import annotations

import html
import re
from collections import deque
from collections.abc import Callable, Sequence
from functools import lru_cache
from unicodedata import combining

from search import phones
from search.analysis import WRITTEN_WORD, forms_of, hyphen_joins, joined_words, query_forms
from search.query import ParsedQuery, Term
from search.references import reference_joins, reference_words
from timeline.text import fold_tokens, fold_word

WINDOW = 24
LEAD = 80
"""Characters before the first word of a text shown at most (a sign, a quote, ``<``)."""
_SPACE = re.compile(r"\s+")
_STOP = re.compile(r"[\s\w]")
"""Characters a snippet's lead does not reach back over: spaces and the word before."""


class _Terms:
    """The query's folded words, prepared once per snippet call."""

    def __init__(self, query: ParsedQuery) -> None:
        self.exact: set[str] = set()
        self.forms: set[str] = set()
        """Stems of the bare words: a document word sharing one is another form of it."""
        prefixes: list[str] = []
        self.inside = tuple(t.words[0] for t in query.all_terms() if t.contains)
        """``*word*``: a document word holding one of these is a hit."""
        self.phones: frozenset[str] = frozenset().union(
            *(t.phone for t in query.all_terms()))
        """The digits the query's phone numbers are written with (``search.phones``)."""
        for term in query.all_terms():
            if term.contains:
                continue
            *body, last = term.words
            self.exact.update(body)
            (prefixes if term.prefix else body).append(last)
            if not term.prefix:
                self.exact.add(last)
            if term.stemmable:
                self.forms.update(query_forms(last))
        self.prefixes = tuple(prefixes)
        self.clauses = [c.terms for c in query.must]
        self.numbers = any(c.isdigit() for w in self.exact for c in w)
        """Does a word hold a digit (a number written together, a date's token)? Only then
        is a text read for them (``search.references``)."""

    def hit(self, word: str) -> bool:
        folded = fold_word(word)
        if folded in self.exact or (bool(self.prefixes) and folded.startswith(self.prefixes)):
            return True
        if any(part in folded for part in self.inside):
            return True
        return bool(self.forms) and not self.forms.isdisjoint(_forms(folded))

    def held(self, text: str) -> frozenset[int]:
        """The query's required clauses (by index) that ``text`` satisfies: one of the
        clause's terms is in it, as the index matches them."""
        words = fold_tokens(text)
        distinct = set(words)
        distinct.update(joined_words(text))  # E-Mail holds "email" too, as indexed
        if self.numbers:  # HV-2024-00123 holds "hv202400123" too, as indexed
            distinct.update(reference_words(text))
        return frozenset(i for i, terms in enumerate(self.clauses)
                         if any(_term_in(t, words, distinct) or
                                (bool(t.phone) and bool(phones.spans(text, t.phone)))
                                for t in terms))


def _term_in(term: Term, words: Sequence[str], distinct: set[str]) -> bool:
    *body, last = term.words
    if term.contains:
        return any(last in w for w in distinct)
    if not body:
        if term.prefix:
            return any(w.startswith(last) for w in distinct)
        if last in distinct:
            return True
        if not term.stemmable:
            return False
        wanted = set(query_forms(last))
        return any(not wanted.isdisjoint(_forms(w)) for w in distinct)
    n = len(body)
    return any(list(words[i:i + n]) == body
               and (words[i + n].startswith(last) if term.prefix else words[i + n] == last)
               for i in range(len(words) - n) if words[i] == body[0])


@lru_cache(maxsize=1 << 17)
def _forms(folded: str) -> frozenset[str]:
    """Every form that makes a folded text word a hit for a query word sharing one: the word
    itself, its stems (``query_forms``) and, for a German compound, the stems of its head and
    of the part before it (``Hausratversicherung`` for ``Versicherung`` and ``Hausrat``:
    ``forms_of``, what the index holds)."""
    return frozenset({folded, *query_forms(folded), *forms_of(folded, "de")})


class Highlighter:
    """Snippets of many texts for one query (a page of search results): the query's terms
    are prepared once per page; each word's forms are cached for the process (``_forms``)."""

    def __init__(self, query: ParsedQuery) -> None:
        self._terms = _Terms(query)
        self.hit = self._terms.hit
        self.clauses = len(query.must)
        self._single_words = self.clauses == 1 and all(
            len(t.words) == 1 for t in query.must[0].terms)

    def held(self, text: str) -> frozenset[int]:
        """Which of the query's required clauses (words, phrases, ``a OR b``; by index)
        ``text`` holds, as the index matches them."""
        return self._terms.held(text)

    def held_by_snippet(self, shown: str) -> frozenset[int] | None:
        """What :meth:`held` says of a text, read off its snippet ``shown`` where that is
        certain without reading the whole text again: a query of one clause of single
        words, and a word of the snippet marked. None: ask :meth:`held`."""
        if self._single_words and "<mark>" in shown:
            return frozenset({0})
        return None

    def _hit_in(self, text: str) -> Callable[[re.Match[str]], bool]:
        """Whether a word of ``text`` is a hit: as a word, as a part of one of the query's
        phone numbers written there, or of a hyphenated word or a number that is a hit written
        together (``E-Mail`` for ``Email``, ``HV-2024-00123`` for ``HV202400123``)."""
        word_hit = self.hit
        marked = phones.spans(text, self._terms.phones)
        marked += [(a, b) for a, b, joined in hyphen_joins(text) if word_hit(joined)]
        if self._terms.numbers:
            marked += [(a, b) for a, b, joined in reference_joins(text)
                       if joined in self._terms.exact]
        if not marked:
            return lambda m: word_hit(m.group(0))
        return lambda m: word_hit(m.group(0)) or any(a <= m.start() < b for a, b in marked)

    def snippet(self, text: str, window: int = WINDOW) -> str:
        """About ``window`` words around the first hit; hits in ``<mark>``, the rest
        escaped. Reads the words lazily, only up to the end of the window."""
        hit = self._hit_in(text)
        before = window // 3
        words = WRITTEN_WORD.finditer(text)
        recent: deque[re.Match[str]] = deque(maxlen=before + 1)
        seen = 0
        for m in words:
            seen += 1
            recent.append(m)
            if hit(m):
                break
        else:  # no hit (the match was in metadata): the window starts at the first word
            if not recent:
                return ""
            words = WRITTEN_WORD.finditer(text)
            recent.clear()
            seen = 0
        start = seen - len(recent)
        shown = list(recent)
        following: re.Match[str] | None = None
        for m in words:
            if len(shown) >= window:
                following = m
                break
            shown.append(m)
        pos = _lead(text, shown[0].start(), first=start == 0)
        out: list[str] = ["…" if text[:pos].strip() else ""]
        for m in shown:
            out.append(html.escape(_SPACE.sub(" ", text[pos:m.start()])))
            word = html.escape(m.group(0))
            out.append(f"<mark>{word}</mark>" if hit(m) else word)
            pos = m.end()
        if following is not None:
            out.append(html.escape(_SPACE.sub(" ", text[pos:following.start()]).rstrip())
                       + " …")
        else:
            out.append(html.escape(_SPACE.sub(" ", text[pos:]).rstrip()))
        return "".join(out).strip()


def _lead(text: str, word: int, *, first: bool) -> int:
    """Where a snippet whose first word starts at ``word`` begins: before the signs, quotes
    and brackets written in front of it (``-150,00``, ``„Nicht``, ``<script>``) -- the
    text's very beginning for its first word, else the start of the word's whitespace-free
    stretch (not reaching back into the word before it) -- at most :data:`LEAD` characters
    back."""
    limit = max(0, word - LEAD)
    if first and limit == 0:
        return 0
    pos = word
    while pos > limit and not _STOP.match(text[pos - 1]) and not combining(text[pos - 1]):
        pos -= 1
    return pos


def snippet(text: str, query: ParsedQuery, window: int = WINDOW) -> str:
    """One text's snippet (see :class:`Highlighter` for a page of them)."""
    return Highlighter(query).snippet(text, window)
