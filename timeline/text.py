"""German-friendly folding shared by search, the tone guard and name filters.

``fold("Kündigung") == fold("Kuendigung") == fold("kundigung")``; ``Müller``/``Mueller``/
``Muller`` and ``ß``/``ss`` likewise. Folding maps every word to exactly one folded word, so
positions (phrases) survive. The price: ``ae``/``oe``/``ue`` inside any word fold too
(``Michael`` ~ ``Michal``), a false positive we accept for recall on umlaut spellings.

Latin letters that do not decompose into a letter and a mark are written as people type them
on a German or English keyboard: ``ł``->``l``, ``ø``->``o``, ``đ``/``ð``->``d``, ``ı``->``i``,
``æ``->``ae``, ``œ``->``oe``, ``þ``->``th`` (so ``Łukasz Wójcik`` is found by ``Lukasz
Wojcik``, ``Søren Ærø`` by ``Soren Aeroe``, ``Œuvre`` by ``Oeuvre``). Which letters: every one
Unicode names ``LATIN … LETTER <base> WITH …`` (a stroke, bar, hook, middle dot: a mark that
is part of the letter), the ligatures and digraph letters (``LIGATURE OE``, ``LETTER AE``,
``DZ DIGRAPH``), small capitals and dotless ``i``/``j``, plus the few named letters of living
languages in :data:`_NAMED` (eth, thorn, eng, kra). Other Latin letters (IPA's turned and
reversed letters, schwa) stay as they are. Every such mapping gives ASCII letters only, so a
word stays one word.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"[^\W_]+")
_DIGRAPH = re.compile(r"([aou])e")
"""``ae``/``oe``/``ue`` -> their first letter."""


_LATIN_NAME = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?(?:LETTER|LIGATURE) (?:SMALL CAPITAL |CAPITAL |DOTLESS )?"
    r"([A-Z]{1,2})(?: DIGRAPH)?(?: WITH .*| PRECEDED BY APOSTROPHE)?")
"""A Latin letter whose base is one or two plain letters (``L WITH STROKE``, ``AE``)."""
_NAMED = {"ETH": "d", "THORN": "th", "ENG": "ng", "KRA": "k"}
"""Latin letters of living languages named by a word: how a German keyboard writes them."""


def latin_base(ch: str) -> str | None:
    """The plain lower-case letters a Latin letter is typed as (``Ł`` -> ``l``, ``æ`` ->
    ``ae``, ``þ`` -> ``th``), or ``None`` when it has none (not a Latin letter, or one of the
    phonetic letters that stand for no plain one)."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    m = _LATIN_NAME.fullmatch(name)
    if m is not None:
        return m.group(1).lower()
    return _NAMED.get(name.removeprefix("LATIN SMALL LETTER ")
                      .removeprefix("LATIN CAPITAL LETTER "))


class _Letters(dict[int, str | int | None]):
    """``str.translate`` table: combining marks dropped, Latin letters written in plain
    letters (:func:`latin_base`), capitals lower-cased; filled as characters are met (a table
    of all of Unicode took 0.4 s at every start)."""

    def __missing__(self, cp: int) -> str | int | None:
        ch = chr(cp)
        kept: str | int | None
        if unicodedata.combining(ch):
            kept = None
        elif cp < 0x80:
            kept = ord(ch.lower())
        else:
            kept = latin_base(ch) or cp
        self[cp] = kept
        return kept


_LETTERS = _Letters()
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=1 << 12)
def _strip_marks(run: str) -> str:
    # before decomposing too: ``ŀ`` decomposes to ``l·`` (two words), ``ǿ`` to ``ø`` + mark
    return unicodedata.normalize("NFKD", run.translate(_LETTERS)).translate(_LETTERS)


def _fold_chars(text: str) -> str:
    """Casefold, Latin letters in plain letters, decompose (NFKD), drop combining marks,
    then ``ae``/``oe``/``ue``.

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


_CHUNKS: dict[str, list[str]] = {}
"""Folded words of whitespace-free stretches (``"Kündigung,"`` -> ``["kundigung"]``)."""
_CHUNKS_MAX = 1 << 16
"""Stretches remembered at most (then all forgotten at once: a dict, not an LRU, because
a lookup is all the hot path may cost). 65,536 stretches take ~10 MB and hold the words an
office writes again and again; four times as many cost ~30 MB more per process of a mail
import and saved ~1 % of the folding time (``bench/RESULTS.md``)."""


def _fold_chunk(chunk: str) -> list[str]:
    words = WORD.findall(_fold_chars(chunk))
    if len(_CHUNKS) >= _CHUNKS_MAX:
        _CHUNKS.clear()
    _CHUNKS[chunk] = words
    return words


def fold_tokens(text: str) -> list[str]:
    """The folded words of ``text`` in order.

    Folded per whitespace-free stretch, each stretch once (remembered): folding never
    turns whitespace into a word character or the reverse, and decomposition reorders marks
    only within a stretch, so this is the same as folding the whole text, and most
    stretches of a text are seen before."""
    chunks = _CHUNKS
    out: list[str] = []
    for chunk in text.split():
        words = chunks.get(chunk)
        out += words if words is not None else _fold_chunk(chunk)
    return out


def fold_once(text: str) -> list[str]:
    """``fold_tokens`` for text seen once (a reference number, a date): not remembered, so
    the stretches of ordinary words stay in the cache instead of being pushed out."""
    return WORD.findall(_fold_chars(text))


def fold(text: str) -> str:
    """Folded words joined by single spaces: what the search index and matchers see."""
    return " ".join(fold_tokens(text))
