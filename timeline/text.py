"""German-friendly folding shared by search, the tone guard and name filters.

``fold("Kündigung") == fold("Kuendigung") == fold("kundigung")``; ``Müller``/``Mueller``/
``Muller`` and ``ß``/``ss`` likewise. Folding maps every word to exactly one folded word, so
positions (phrases) survive. The price: ``ae``/``oe``/``ue`` inside any word fold too
(``Michael`` ~ ``Michal``), a false positive we accept for recall on umlaut spellings.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

WORD = re.compile(r"[^\W_]+")
_DIGRAPH = re.compile(r"ae|oe|ue")
_DIGRAPH_MAP = {"ae": "a", "oe": "o", "ue": "u"}
_COMBINING = {
    cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))
}


def _fold_chars(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold()).translate(_COMBINING)
    return _DIGRAPH.sub(lambda m: _DIGRAPH_MAP[m.group(0)], text)


@lru_cache(maxsize=1 << 16)
def fold_word(word: str) -> str:
    """One word, folded (cached: vocabularies are small, texts are many)."""
    return _fold_chars(word)


def fold_tokens(text: str) -> list[str]:
    """The folded words of ``text`` in order."""
    return WORD.findall(_fold_chars(text))


def fold(text: str) -> str:
    """Folded words joined by single spaces: what the search index and matchers see."""
    return " ".join(fold_tokens(text))
