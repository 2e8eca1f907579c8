"""Highlighted snippets, computed on the original text with the query's folded terms."""

from __future__ import annotations

import html
import re

from search.query import ParsedQuery
from timeline.text import WORD, fold_word

WINDOW = 24
_SPACE = re.compile(r"\s+")


def _matches(folded: str, query: ParsedQuery) -> bool:
    for term in query.all_terms():
        for i, word in enumerate(term.words):
            last = i == len(term.words) - 1
            if folded == word or (last and term.prefix and folded.startswith(word)):
                return True
    return False


def snippet(text: str, query: ParsedQuery, window: int = WINDOW) -> str:
    """About ``window`` words around the first hit; hits in ``<mark>``, the rest escaped."""
    tokens = list(WORD.finditer(text))
    if not tokens:
        return ""
    hits = [i for i, m in enumerate(tokens) if _matches(fold_word(m.group(0)), query)]
    first = hits[0] if hits else 0
    start = max(0, first - window // 3)
    end = min(len(tokens), start + window)
    hit_set = set(hits)
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
