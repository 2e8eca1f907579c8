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
_DIGRAPH = re.compile(r"([aou])e")
"""``ae``/``oe``/``ue`` -> their first letter."""
_COMBINING = {
    cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=1 << 12)
def _strip_marks(run: str) -> str:
    return unicodedata.normalize("NFKD", run).translate(_COMBINING)


def _fold_chars(text: str) -> str:
    """Casefold, decompose (NFKD), drop combining marks, then ``ae``/``oe``/``ue``.

    Decomposition and mark removal run on the non-ASCII stretches only (ASCII is already
    decomposed and bounds every reordering of marks, so the result is the same as for the
    whole text) and are cached: texts are many, their umlaut stretches few."""
    text = text.casefold()
    if not text.isascii():
        text = _NON_ASCII.sub(lambda m: _strip_marks(m.group(0)), text)
    return _DIGRAPH.sub(r"\1", text)


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
