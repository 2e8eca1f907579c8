"""Tone guard: find derogatory wording about people before an entry is published.

The lexicon is data (``data/tone_lexicon.json`` plus each office's own words). A pattern is
one or more words; ``*`` at a word's start or end matches any prefix or suffix. Matching
runs on folded words, so umlaut spellings and case do not matter. German piles intensifiers
onto an insult in one word ("Riesenidiot", "Volldepp", "stockdumm"): the lexicon's
``intensifiers`` may stand directly before a pattern's first word — only there, so a word
that merely ends like a listed one ("Barsch", "genervt") is still no hit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from timeline.text import WORD, fold_tokens, fold_word


@dataclass(frozen=True)
class ToneHit:
    pattern: str
    text: str
    """The words as written in the entry."""


@dataclass(frozen=True)
class Lexicon:
    patterns: tuple[str, ...]
    hint: str
    intensifiers: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def shipped_lexicon() -> Lexicon:
    raw = json.loads(
        resources.files("timeline").joinpath("data/tone_lexicon.json").read_text("utf-8")
    )
    return Lexicon(patterns=tuple(raw["de"]) + tuple(raw["en"]), hint=str(raw["hint"]),
                   intensifiers=tuple(raw.get("intensifiers", ())))


def _word_regex(word: str) -> str:
    core = re.escape(fold_word(word.strip("*")))
    pre = "[a-z0-9]*" if word.startswith("*") else ""
    post = "[a-z0-9]*" if word.endswith("*") else ""
    return pre + core + post


@dataclass(frozen=True)
class _Compiled:
    patterns: list[tuple[str, re.Pattern[str], re.Pattern[str] | None, int]]
    """(pattern, its search regex, its regex for the rest of a word after an intensifier
    (None when its first word takes any prefix anyway), number of words)."""
    intensifier: re.Pattern[str] | None
    """Where a word starts with an intensifier (``voll…``, ``riesen…``)."""


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...], intensifiers: tuple[str, ...] = ()) -> _Compiled:
    """Each pattern's regex starts with its literal first word, so the search is quick; an
    intensifier in front is looked for once per text (one regex of all of them), and the
    patterns are tried only right after each one found."""
    prefixes = sorted({fold_word(w) for w in intensifiers if w.strip()}, key=len, reverse=True)
    out = []
    for pattern in patterns:
        words = [w for w in re.split(r"[\s\-'’]+", pattern.strip()) if w]  # as text splits
        if not words:
            continue
        body = " ".join(_word_regex(w) for w in words) + r"\b"
        after = None if words[0].startswith("*") else re.compile(body)
        out.append((pattern, re.compile(r"\b" + body), after, len(words)))
    marker = (re.compile(r"\b(?:" + "|".join(map(re.escape, prefixes)) + r")(?=[a-z0-9])")
              if prefixes else None)
    return _Compiled(out, marker)


MIN_LETTERS = 3


def too_broad(pattern: str) -> bool:
    """A pattern without a word of three letters or digits (``*``, ``* *``, ``a*``): it
    would match nearly every text, so each published entry would warn, and agents would
    learn to confirm every warning."""
    return not any(sum(ch.isalnum() for ch in word) >= MIN_LETTERS for word in pattern.split())


_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
"""A hyphen inside a word of letters (``Bild-Leser``, ``Problem-Kunde``)."""
_HYPHENATED = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")


def check(text: str, extra_patterns: tuple[str, ...] = ()) -> list[ToneHit]:
    """Every lexicon hit in ``text``, in order of appearance, each once. A word written
    with a hyphen is also read written together (``Problem-Kunde`` as ``Problemkunde``,
    ``typischer Bild-Leser`` as ``typischer Bildleser``), as German spells compounds both
    ways; the hit shows it as written."""
    found = _check(text, extra_patterns)
    if _HYPHEN.search(text):
        written = {m.group(0).replace("-", ""): m.group(0) for m in _HYPHENATED.finditer(text)}
        joined = _check(_HYPHEN.sub("", text), extra_patterns)
        seen = {h.text.casefold() for _, h in found}
        for at, h in joined:
            shown = " ".join(written.get(w, w) for w in h.text.split(" "))
            if shown.casefold() not in seen and not any(
                    shown.casefold() in s or s in shown.casefold() for s in seen):
                seen.add(shown.casefold())
                found.append((at, ToneHit(pattern=h.pattern, text=shown)))
        found.sort(key=lambda pair: pair[0])
    return [h for _, h in found]


def _check(text: str, extra_patterns: tuple[str, ...]) -> list[tuple[int, ToneHit]]:
    lexicon = shipped_lexicon()
    folded_tokens = fold_tokens(text)
    if not folded_tokens:
        return []
    folded = " ".join(folded_tokens)
    originals = WORD.findall(text)
    # Map character offsets in ``folded`` back to token positions.
    starts = []
    pos = 0
    for token in folded_tokens:
        starts.append(pos)
        pos += len(token) + 1
    hits: dict[str, ToneHit] = {}
    found: list[tuple[int, ToneHit]] = []

    def hit(pattern: str, at: int, nwords: int) -> None:
        index = _token_index(starts, at)
        words = originals[index:index + nwords] if len(originals) == len(folded_tokens) \
            else folded_tokens[index:index + nwords]
        shown = " ".join(words)
        if shown.casefold() not in hits:
            hits[shown.casefold()] = ToneHit(pattern=pattern, text=shown)
            found.append((at, hits[shown.casefold()]))

    compiled = _compile(lexicon.patterns + extra_patterns, lexicon.intensifiers)
    for pattern, regex, _after, nwords in compiled.patterns:
        for m in regex.finditer(folded):
            hit(pattern, m.start(), nwords)
    if compiled.intensifier is not None:
        for m in compiled.intensifier.finditer(folded):
            for pattern, _regex, after, nwords in compiled.patterns:
                if after is not None and after.match(folded, m.end()):
                    hit(pattern, m.start(), nwords)
    return sorted(found, key=lambda pair: pair[0])


def _token_index(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo
