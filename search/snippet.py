"""Highlighted snippets, computed on the original text with the query's folded terms."""

from __future__ import annotations

import html
import re

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
        folded = fold_word(word)
        if folded in self.exact or (bool(self.prefixes) and folded.startswith(self.prefixes)):
            return True
        if not self.forms:
            return False
        if folded in self.forms or not self.forms.isdisjoint(query_forms(folded)):
            return True
        head = compound_head(folded)
        return head is not None and stem(head, "de") in self.forms


def snippet(text: str, query: ParsedQuery, window: int = WINDOW) -> str:
    """About ``window`` words around the first hit; hits in ``<mark>``, the rest escaped."""
    tokens = list(WORD.finditer(text))
    if not tokens:
        return ""
    terms = _Terms(query)
    first = next((i for i, m in enumerate(tokens) if terms.hit(m.group(0))), 0)
    start = max(0, first - window // 3)
    end = min(len(tokens), start + window)
    hit_set = {i for i in range(start, end) if terms.hit(tokens[i].group(0))}
    out: list[str] = ["…" if start > 0 else ""]
    pos = tokens[start].start()
    for i in range(start, end):
        m = tokens[i]
        out.append(html.escape(_SPACE.sub(" ", text[pos:m.start()])))
        word = html.escape(m.group(0))
        out.append(f"<mark>{word}</mark>" if i in hit_set else word)
        pos = m.end()
    if end < len(tokens):
        out.append(html.escape(_SPACE.sub(" ", text[pos:tokens[end].start()]).rstrip()) + " …")
    else:
        out.append(html.escape(_SPACE.sub(" ", text[pos:]).rstrip()))
    return "".join(out).strip()
