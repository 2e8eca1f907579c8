"""Tone guard: find derogatory wording about people before an entry is published.

The lexicon is data (``data/tone_lexicon.json`` plus each office's own words). A pattern is
one or more words; ``*`` at a word's start or end matches any prefix or suffix. Matching
runs on folded words, so umlaut spellings and case do not matter. German piles intensifiers
onto an insult in one word ("Riesenidiot", "Volldepp", "stockdumm"): the lexicon's
``intensifiers`` may stand directly before a pattern's first word — only there, so a word
that merely ends like a listed one ("Barsch", "genervt") is still no hit.

Context decides what a word list cannot (the lexicon's ``context`` lists the words):

- a hit right after a negation ("nicht dumm", "kein Querulant", "not stupid at all", "by no
  means a troublemaker") is no hit, unless the negation is part of the pattern ("nicht ganz
  richtig im Kopf") or only widens it ("nicht nur dumm");
- the customer's own words, quoted or reported ("Kunde sagt, der Handwerker sei ein
  Betrüger", "Customer complained: \"useless\"", "…, sagt der Kunde"), are no hit;
- words with an everyday meaning for things (``about_people``: "verkalkt", "gestört",
  "crazy", "useless", "nicht ganz dicht") are hits only about a person: in front of a person
  word ("verkalkter Opa", "crazy old lady") or said of one ("der Rentner ist halt verkalkt",
  "the customer is useless") -- "verkalkter Boiler", "the crazy weather" stay ordinary;
- an accusation ("Betrüger", "scammer") in a sentence about a crime against the customer
  ("Der Betrüger gab sich als Bankmitarbeiter aus, Anzeige erstattet") is no hit;
- a few emoji mock a person whatever the words ("🤡", "🙄", "🖕").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    about_people: frozenset[str] = frozenset()
    """Patterns (also in ``patterns``) that are hits only when said about a person."""
    emoji: tuple[str, ...] = ()
    context: dict[str, frozenset[str]] = field(default_factory=dict)
    """Folded word sets the context rules read (``negators``, ``person_nouns``, …)."""


@lru_cache(maxsize=1)
def shipped_lexicon() -> Lexicon:
    raw = json.loads(
        resources.files("timeline").joinpath("data/tone_lexicon.json").read_text("utf-8")
    )
    people = tuple(raw.get("about_people", ()))
    context = {key: frozenset(" ".join(fold_tokens(w)) for w in words)
               for key, words in raw.get("context", {}).items() if not key.startswith("_")}
    return Lexicon(patterns=tuple(raw["de"]) + tuple(raw["en"]) + people,
                   hint=str(raw["hint"]), intensifiers=tuple(raw.get("intensifiers", ())),
                   about_people=frozenset(people), emoji=tuple(raw.get("emoji", ())),
                   context=context)


def _word_regex(word: str) -> str:
    core = re.escape(fold_word(word.strip("*")))
    pre = "[a-z0-9]*" if word.startswith("*") else ""
    post = "[a-z0-9]*" if word.endswith("*") else ""
    return pre + core + post


@dataclass(frozen=True)
class _Compiled:
    patterns: list[tuple[str, re.Pattern[str], re.Pattern[str] | None, int, str]]
    """(pattern, its search regex, its regex for the rest of a word after an intensifier
    (None when its first word takes any prefix anyway), number of words, its longest literal
    word: a text without it cannot match, and ``in`` is a tenth of a regex search)."""
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
        literal = max((fold_word(w.strip("*")) for w in words), key=len)
        out.append((pattern, re.compile(body), after, len(words), literal))
    marker = (re.compile(r"\b(?:" + "|".join(map(re.escape, prefixes)) + r")(?=[a-z0-9])")
              if prefixes else None)
    return _Compiled(out, marker)


MIN_LETTERS = 3


def too_broad(pattern: str) -> bool:
    """A pattern without a word of three letters or digits (``*``, ``* *``, ``a*``): it
    would match nearly every text, so each published entry would warn, and agents would
    learn to confirm every warning."""
    return not any(sum(ch.isalnum() for ch in word) >= MIN_LETTERS for word in pattern.split())


_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?:[ \t]*\r?\n[ \t]*)?(?=[^\W\d_])")
"""A hyphen inside a word of letters (``Bild-Leser``, ``Problem-Kunde``), also one that
breaks a word at the end of a line (``Quer-\\nulant``, pasted from a letter or a PDF)."""
_HYPHENATED = re.compile(r"[^\W\d_]+(?:-(?:[ \t]*\r?\n[ \t]*)?[^\W\d_]+)+")


_SCARE_QUOTED = re.compile(r"[\"'„“‚‘»«]([^\W\d_]+)[\"'“”‘’«»]\s+([^\W\d_]+)")
"""A single word in quotation marks right before another (``der "nette" Herr``)."""
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")
"""A letter written three times or more: no German or English word has that but a few
compounds ("Schifffahrt"), which no pattern contains."""


def check(text: str, extra_patterns: tuple[str, ...] = ()) -> list[ToneHit]:
    """Every lexicon hit in ``text``, in order of appearance, each once. A word written
    with a hyphen is also read written together (``Problem-Kunde`` as ``Problemkunde``,
    ``typischer Bild-Leser`` as ``typischer Bildleser``), as German spells compounds both
    ways; the hit shows it as written."""
    found = _check(text, extra_patterns)
    if _HYPHEN.search(text):
        written = {_HYPHEN.sub("", m.group(0)): m.group(0)
                   for m in _HYPHENATED.finditer(text)}
        joined = _check(_HYPHEN.sub("", text), extra_patterns)
        # "Loser-Button", "Psycho-Test": a word in front of a hyphen is a hit only if the
        # whole compound is one ("Idioten-Familie") or names people ("Assi-Familie")
        people = shipped_lexicon().context.get("person_nouns", frozenset()) | \
            shipped_lexicon().context.get("groups", frozenset())
        fronts = {part.casefold() for m in _HYPHENATED.finditer(text)
                  if fold_word(_HYPHEN.split(m.group(0))[-1]) not in people
                  for part in _HYPHEN.split(m.group(0))[:-1]}
        wholes = [" ".join(written.get(w, w) for w in h.text.split(" ")).casefold()
                  for _, h in joined]
        found = [(at, h) for at, h in found if h.text.casefold() not in fronts
                 or any(h.text.casefold() in whole and whole != h.text.casefold()
                        for whole in wholes)]
        seen = {h.text.casefold() for _, h in found}
        for at, h in joined:
            shown = " ".join(written.get(w, w) for w in h.text.split(" "))
            if shown.casefold() not in seen and not any(
                    shown.casefold() in s or s in shown.casefold() for s in seen):
                seen.add(shown.casefold())
                found.append((at, ToneHit(pattern=h.pattern, text=shown)))
        found.sort(key=lambda pair: pair[0])
    if _STRETCHED.search(text):
        # "Idiooot", "stuuupid", "doooof": a letter held for emphasis, read once and twice
        seen = {h.text.casefold() for _, h in found}
        # only the lines that have one: a long mail is not read three times over
        lines = "\n".join(line for line in text.splitlines() if _STRETCHED.search(line))
        for short in (r"\1", r"\1\1"):
            written = {_STRETCHED.sub(short, w): w for w in WORD.findall(lines)
                       if _STRETCHED.search(w)}
            for at, h in _check(_STRETCHED.sub(short, lines), extra_patterns):
                shown = " ".join(written.get(w, w) for w in h.text.split(" "))
                if shown.casefold() not in seen:
                    seen.add(shown.casefold())
                    found.append((at, ToneHit(pattern=h.pattern, text=shown)))
        found.sort(key=lambda pair: pair[0])
    lexicon = shipped_lexicon()
    for m in _SCARE_QUOTED.finditer(text):
        # 'der "nette" Herr', "our 'helpful' customer": praise in quotes, meant the other way
        praise, person = fold_word(m.group(1)), fold_word(m.group(2))
        if praise in lexicon.context.get("praise", ()) and \
                person in lexicon.context.get("person_nouns", ()):
            found.append((len(text) + m.start(), ToneHit(pattern="„…“ " + m.group(2),
                                                         text=m.group(0))))
    for mark in lexicon.emoji:
        at = text.find(mark)
        if at >= 0:
            found.append((len(text) + at, ToneHit(pattern=mark, text=mark)))
    return [h for _, h in found]


def _check(text: str, extra_patterns: tuple[str, ...]) -> list[tuple[int, ToneHit]]:
    lexicon = shipped_lexicon()
    words, spans = folded_words(text)
    folded_tokens = [_unleet(w) for w in words]
    if not folded_tokens:
        return []
    folded = " ".join(folded_tokens)
    context = _Context(text, folded_tokens, spans, lexicon)
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
        if not context.keeps(pattern, index, nwords):
            return
        shown = " ".join(dict.fromkeys(text[a:b] for a, b in spans[index:index + nwords]))
        if shown.casefold() not in hits:
            hits[shown.casefold()] = ToneHit(pattern=pattern, text=shown)
            found.append((at, hits[shown.casefold()]))

    compiled = _compile(lexicon.patterns + extra_patterns, lexicon.intensifiers)
    for pattern, regex, _after, nwords, literal in compiled.patterns:
        if literal in folded:
            for at in _word_starts(regex, folded):
                hit(pattern, at, nwords)
    if compiled.intensifier is not None:
        for m in compiled.intensifier.finditer(folded):
            for pattern, _regex, after, nwords, _literal in compiled.patterns:
                if after is not None and after.match(folded, m.end()):
                    hit(pattern, m.start(), nwords)
    return sorted(found, key=lambda pair: pair[0])


_CLAUSE_END = re.compile(r"[.,;:!?()\[\]\"“”„«»–—]|\s-\s|\n")
_QUOTE = re.compile(r"[\"“”„«»‚‘']")
_SENTENCE_END = re.compile(r"[.;!?–—]|\s-\s|\n")


class _Context:
    """What the words around a hit say: negated, quoted from the customer, about a thing
    rather than a person, about a crime against the customer. Works on the folded tokens and
    the raw text between them (punctuation ends a clause)."""

    def __init__(self, text: str, tokens: list[str], spans: list[tuple[int, int]],
                 lexicon: Lexicon) -> None:
        self.tokens = tokens
        self.text = text
        self.spans = spans
        self.lexicon = lexicon
        self.words = lexicon.context
        gaps = [text[spans[i][1]:spans[i + 1][0]] if spans[i] != spans[i + 1] else ""
                for i in range(len(spans) - 1)]
        self.clause_end = [bool(_CLAUSE_END.search(g)) for g in gaps] + [True]
        """After token i a clause ends."""
        self.sentence_end = [bool(_SENTENCE_END.search(g)) for g in gaps] + [True]
        self.quote_after = [":" in g and bool(_QUOTE.search(g)) for g in gaps] + [False]
        """``Kunde: "…"``: a colon and a quotation mark after token i."""

    def _set(self, name: str) -> frozenset[str]:
        return self.words.get(name, frozenset())

    def keeps(self, pattern: str, index: int, nwords: int) -> bool:
        if pattern in self.lexicon.about_people and not self._about_a_person(index, nwords):
            return False
        if self._name(index) or self._harmless(index, nwords) or self._negated(index):
            return False
        if self._reported(index, nwords):
            return False
        return not (" ".join(fold_tokens(pattern)) in self._set("accusations")
                    and self._crime_victim(index, nwords))

    def _name(self, index: int) -> bool:
        """A surname after a title: "Familie Dumm", "Mr Fool", "Herr Narr"."""
        return (index > 0 and not self.clause_end[index - 1]
                and self.tokens[index - 1] in self._set("titles")
                and self.text[self.spans[index][0]].isupper())

    def _harmless(self, index: int, nwords: int) -> bool:
        """Inside an idiom that says nothing about a person ("dumm gelaufen", "dumb luck")."""
        t = self.tokens
        for phrase in self._set("harmless"):
            words = phrase.split()
            for a in range(max(0, index - len(words) + 1), index + 1):
                if t[a:a + len(words)] == words and a + len(words) >= index + min(nwords, 1):
                    return True
        return False

    def _negated(self, index: int) -> bool:
        negators = self._set("negators")
        fillers = self._set("negation_fillers")
        j = index - 1
        skipped = 0
        while j >= 0 and not self.clause_end[j]:
            word = self.tokens[j]
            if word in negators or self._negation_phrase_ends(j):
                return True
            if word in fillers and skipped < 3:
                skipped += 1
                j -= 1
                continue
            return False
        return False

    def _negation_phrase_ends(self, j: int) -> bool:
        """``isn't`` (``isn`` ``t``), ``alles andere als``, ``far from``, ``anything but``."""
        t = self.tokens
        if t[j] == "t" and j > 0 and t[j - 1].endswith("n") and not self.clause_end[j - 1]:
            return True
        for phrase in self._set("negation_phrases"):
            words = phrase.split()
            k = j - len(words) + 1
            if k >= 0 and t[k:j + 1] == words and not any(self.clause_end[k:j]):
                return True
        return False

    def _sentence(self, index: int) -> tuple[int, int]:
        a = index
        while a > 0 and not self.sentence_end[a - 1]:
            a -= 1
        b = index
        while b < len(self.tokens) - 1 and not self.sentence_end[b]:
            b += 1
        return a, b

    def _reported(self, index: int, nwords: int) -> bool:
        """The customer's own words: ``Kunde sagt, …``, ``Kunde: "…"``, ``Zitat Kunde: …``,
        ``…, sagt der Kunde``, ``laut Kunde …``, ``Customer says …``."""
        speakers = self._set("speakers")
        verbs = self._set("reporting_verbs")
        attributions = self._set("attributions")
        insults = self._set("insult_reports")
        a, b = self._sentence(index)
        t = self.tokens
        for j in range(a, index):
            if t[j] in self._set("quote_words"):
                return True
            if t[j] in speakers and self.quote_after[j]:
                return True
            if t[j] in verbs and any(t[k] in speakers for k in range(max(a, j - 3), j)):
                return True
            if t[j] in insults or " ".join(t[j:j + 2]) in insults:
                return True
            if t[j] in attributions and any(  # "laut Kunde", "according to the customer"
                    t[k] in speakers for k in range(j + 1, min(index, j + 4))):
                return True
        # "im Internet als Idiot beschimpft", "als Betrüger bezeichnet"
        if index >= 1 and t[index - 1] == "als" and any(
                t[k] in insults for k in range(index + nwords, min(b, index + nwords + 2) + 1)):
            return True
        # "beschwert sich über den Spinner im Bus", "complained about the idiot next door"
        if index >= 2 and " ".join(t[index - 2:index]) in self._set("complaint_objects") \
                and any(t[k] in verbs for k in range(a, b + 1)):
            return True
        after = verbs | attributions | self._set("trailing_attributions")
        for j in range(index + nwords, b + 1):  # "…, sagt der Kunde", "…, so die Kundin"
            if t[j] in after and any(
                    t[k] in speakers for k in range(j + 1, min(b, j + 2) + 1)):
                return True
        return False

    def _about_a_person(self, index: int, nwords: int) -> bool:
        t = self.tokens
        people = self._set("person_nouns")
        # in front of a person: "verkalkter Opa", "crazy old lady", "pest of a client"
        end = index + nwords - 1
        for k in range(end + 1, min(len(t), end + 4)):
            if self.clause_end[k - 1] or t[k] in self._set("person_stop"):
                break
            if t[k] in people:
                return True
        # said of one: "der Rentner ist halt verkalkt", "the customer is useless"
        j = index - 1
        skipped = 0
        while j >= 0 and not self.clause_end[j] and t[j] not in self._set("copulas"):
            if t[j] not in self._set("adverbs") or skipped >= 3:
                return False
            skipped += 1
            j -= 1
        if j < 0 or self.clause_end[j]:
            return False
        if not self.clause_end[end] and t[end + 1] not in self._set("clause_continuers"):
            return False  # "der Kunde war primitiv untergebracht": said of something else
        subjects = people | self._set("pronouns")
        for k in range(j - 1, max(-1, j - 4), -1):
            if self.clause_end[k]:
                break
            if t[k] in subjects:
                # "the customer's mental health": a possessive 's, not "he's mental"
                return not (t[j] == "s" and skipped == 0 and t[k] not in self._set("pronouns"))
        # "Der ist nicht ganz dicht": a demonstrative opening the clause
        k = j - 1
        return k >= 0 and t[k] in self._set("demonstratives") and (k == 0 or self.clause_end[k - 1])

    def _crime_victim(self, index: int, nwords: int) -> bool:
        """The entry tells of a crime or a lawsuit (police, report, victim, court,
        witness): a note about the fraudster or the other side, not about the customer --
        unless the accusation is said of the customer ("Der Kunde ist ein Betrüger, die
        Polizei ermittelt")."""
        t = self.tokens
        for k in range(index - 1, max(-1, index - 5), -1):
            if self.clause_end[k]:
                break
            if t[k] in self._set("accused_customers"):
                return False
        crime = self._set("crime_words")
        return any(w in crime for i, w in enumerate(self.tokens)
                   if not index <= i < index + nwords)


def folded_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The folded words of ``text`` (as ``fold_tokens``) and, for each, where it stands in
    ``text``: its own word where folding kept the words of a stretch one to one, else the
    whole whitespace-free stretch (``Mu\\u0308ller`` in decomposed form, ``½``)."""
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for chunk in re.finditer(r"\S+", text):
        folded = fold_tokens(chunk.group(0))
        raw = [(chunk.start() + m.start(), chunk.start() + m.end())
               for m in WORD.finditer(chunk.group(0))]
        words += folded
        if len(raw) == len(folded):
            spans += raw
        else:
            spans += [(raw[0][0], raw[-1][1]) if raw else chunk.span()] * len(folded)
    return words, spans


_LEET = re.compile(r"(?<=[a-z])[01345](?=[a-z])")
_LEET_LETTERS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s"}


def _unleet(word: str) -> str:
    """``arschl0ch`` -> ``arschloch``: a digit between letters, written for a letter."""
    if word.isalpha():
        return word
    return _LEET.sub(lambda m: _LEET_LETTERS[m.group(0)], word)


def _word_starts(regex: re.Pattern[str], folded: str) -> list[int]:
    """Where ``regex`` matches from the start of a word of ``folded`` (words joined by single
    spaces). The word start is checked here, not by a leading ``\\b`` in the regex: that
    keeps the regex's literal prefix, which makes a search about 25 times faster."""
    found = []
    pos = 0
    while (m := regex.search(folded, pos)) is not None:
        if m.start() == 0 or folded[m.start() - 1] == " ":
            found.append(m.start())
            pos = m.end()
        else:
            pos = m.start() + 1
    return found


def _token_index(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo
