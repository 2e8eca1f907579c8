"""Highlighted snippets, computed on the original text with the query's folded terms."""

from __future__ import annotations

import html
import re
from collections import deque
from functools import lru_cache

from search.analysis import compound_head, query_forms, stem
from search.query import ParsedQuery
from timeline.text import WORD, fold_word

WINDOW = 24
_SPACE = re.compile(r"\s+")


class _Terms:
    """The query's folded words, prepared once per snippet call."""

    def __init__(self, query: ParsedQuery) -> None:
        self.exact: set[str] = set()
        self.forms: set[str] = set()
        """Stems of the bare words: a document word sharing one is another form of it."""
        prefixes: list[str] = []
        for term in query.all_terms():
            *body, last = term.words
            self.exact.update(body)
            (prefixes if term.prefix else body).append(last)
            if not term.prefix:
                self.exact.add(last)
            if term.stemmable:
                self.forms.update(query_forms(last))
        self.prefixes = tuple(prefixes)

    def hit(self, word: str) -> bool:
        folded, forms = _analysis(word)
        if folded in self.exact or (bool(self.prefixes) and folded.startswith(self.prefixes)):
            return True
        return bool(self.forms) and not self.forms.isdisjoint(forms)


@lru_cache(maxsize=1 << 17)
def _analysis(word: str) -> tuple[str, frozenset[str]]:
    """A text word folded, and every form that makes it a hit for a query sharing one: the
    word itself, its stems (``query_forms``) and the stem of its compound head
    ("Hausratversicherung" for "Versicherung")."""
    folded = fold_word(word)
    forms = {folded, *query_forms(folded)}
    head = compound_head(folded)
    if head is not None:
        forms.add(stem(head, "de"))
    return folded, frozenset(forms)


class Highlighter:
    """Snippets of many texts for one query (a page of search results): the query's terms
    are prepared once per page; each word's analysis is cached for the process
    (``_analysis``)."""

    def __init__(self, query: ParsedQuery) -> None:
        self.hit = _Terms(query).hit

    def snippet(self, text: str, window: int = WINDOW) -> str:
        """About ``window`` words around the first hit; hits in ``<mark>``, the rest
        escaped. Reads the words lazily, only up to the end of the window."""
        hit = self.hit
        before = window // 3
        words = WORD.finditer(text)
        recent: deque[re.Match[str]] = deque(maxlen=before + 1)
        seen = 0
        for m in words:
            seen += 1
            recent.append(m)
            if hit(m.group(0)):
                break
        else:  # no hit (the match was in metadata): the window starts at the first word
            if not recent:
                return ""
            words = WORD.finditer(text)
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
        out: list[str] = ["…" if start > 0 else ""]
        pos = shown[0].start()
        for m in shown:
            out.append(html.escape(_SPACE.sub(" ", text[pos:m.start()])))
            word = html.escape(m.group(0))
            out.append(f"<mark>{word}</mark>" if hit(m.group(0)) else word)
            pos = m.end()
        if following is not None:
            out.append(html.escape(_SPACE.sub(" ", text[pos:following.start()]).rstrip())
                       + " …")
        else:
            out.append(html.escape(_SPACE.sub(" ", text[pos:]).rstrip()))
        return "".join(out).strip()


def snippet(text: str, query: ParsedQuery, window: int = WINDOW) -> str:
    """One text's snippet (see :class:`Highlighter` for a page of them)."""
    return Highlighter(query).snippet(text, window)
