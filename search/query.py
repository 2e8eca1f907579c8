"""The user's query language, parsed once into a tree every backend can translate.

Words (all must match), ``"phrases in quotes"``, prefixes (``kündig*``), words holding a
word (``*versicher*``: ``Hausratversicherung``; ``*vertrag``: ``Mietvertrag``), ``-word`` to
exclude, ``OR`` between two terms (and as typed elsewhere: ``ODER``, ``|``, ``AND``/
``UND``, ``NOT``/``NICHT``, ``!word``, ``+word``, ``-"a phrase"``). A reference number
also matches its other spelling (``HR-20391`` / ``HR20391``). Everything is folded like the
index (``Kündigung`` = ``Kuendigung`` = ``kundigung``), and no input can reach a backend as
raw syntax. A bare word also finds its other forms (``Verträge`` finds ``Vertrag``, see
``search.analysis``); a word in quotes (``"Verträge"``) finds only itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from search import phones, references
from timeline.errors import InvalidInput
from timeline.models import Channel, Visibility
from timeline.text import fold_tokens

MAX_QUERY_CHARS = 500
MAX_TERMS = 32


class QueryError(InvalidInput):
    """A query that cannot be searched. ``message`` is the API's (English); ``reason``
    names the problem for a page to say it in the reader's language, with ``values`` to
    fill in (``too_long``, ``unbalanced_quote``, ``or_alone``, ``short_prefix``,
    ``not_alone``, ``no_words``, ``too_many_terms``, ``wildcards_off``: an engine set to refuse
    them; ``invalid`` when not named)."""

    code = "bad_query"

    def __init__(self, message: str, reason: str = "invalid", **values: str | int) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    """Folded words; more than one is a phrase."""
    prefix: bool = False
    exact: bool = False
    """Quoted by the user: this spelling only, no other word forms."""
    phone: frozenset[str] = frozenset()
    """A phone number's token (``search.phones``): the digits it is written with, for
    marking it in a text however it is written there."""
    translated: bool = False
    """Not typed: the other language's word for a typed one (``search.translations``);
    ranked with the other word forms, after the words as typed."""
    contains: bool = False
    """Typed with a ``*`` in front (``*versicher*``, ``*vertrag``): every word of the index
    that holds this one anywhere (``Hausratversicherung``, ``Mietvertrag``) -- the many
    words of the index that do, shortest first, up to a bound (``search.fts_forms``)."""

    @property
    def stemmable(self) -> bool:
        """One bare word: it also matches the word's other forms."""
        return len(self.words) == 1 and not (self.prefix or self.exact or self.contains)


@dataclass(frozen=True)
class Clause:
    """Alternatives joined by OR; a document must match one of them."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class ParsedQuery:
    must: tuple[Clause, ...]
    must_not: tuple[Term, ...] = ()

    def all_terms(self) -> list[Term]:
        return [t for c in self.must for t in c.terms]


SYSTEM_CHANNELS: tuple[Channel, ...] = (Channel.NOTIFICATION,)
"""Automatic bookkeeping ("Notification sent …", delivery outcomes): on the timeline, but
left out of a search unless asked for (``include_system`` or an explicit channel filter)."""


@dataclass(frozen=True)
class SearchFilters:
    office_id: str
    customer_id: str | None = None
    channels: tuple[Channel, ...] = ()
    kinds: tuple[str, ...] = ()
    visibility: Visibility | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_system: bool = False

    @property
    def hidden_channels(self) -> tuple[Channel, ...]:
        """Channels a backend must leave out: the system channels, unless the request asks
        for them (``include_system``) or names its channels itself."""
        if self.include_system or self.channels:
            return ()
        return SYSTEM_CHANNELS


@dataclass(frozen=True)
class SearchRequest:
    query: ParsedQuery
    filters: SearchFilters
    order: str = "newest"
    limit: int = 20
    cursor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    count_up_to: int = 0
    """Count the query's matches (all pages) up to this many, more only as "more than"
    (``HitPage.total``); 0: no count."""


_TOKEN = re.compile(r'([-!]?)"([^"]*)"(\*?)|(\S+)')
# Operators as people type them from other search boxes (written in capitals, so the
# ordinary words "oder", "und", "nicht" stay words): OR, AND (what every word does), NOT;
# "-word", "!word" exclude, "+word" requires.
_OR = frozenset({"OR", "ODER", "|", "||"})
_AND = frozenset({"AND", "UND", "&", "&&", "+"})
_NOT = frozenset({"NOT", "NICHT", "!"})


_LETTERS_OR_DIGITS = re.compile(r"[a-z]+|[0-9]+")


def _other_spellings(words: list[str]) -> list[tuple[str, ...]]:
    """A reference number written the other ways: ``HR-20391`` (or ``HR/20391``) also as
    ``HR20391`` and ``HR 20391``, and the reverse, so an agent finds a contract, claim or
    invoice number however it was typed there and here. Only for a bare word whose parts
    mix letters and digits (``erika.mustermann`` stays as it is); digits in parts
    (``4711-22``) also written together. The index holds each reference number written
    together too (``search.references``), so ``VS2026123`` finds ``VS-2026/123``."""
    joined = "".join(words)
    if not (joined.isascii() and joined.isalnum() and len(joined) <= 40):
        return []
    split = tuple(p for w in words for p in _LETTERS_OR_DIGITS.findall(w))
    if not any(p.isdigit() for p in split):
        return []
    if not any(p.isalpha() for p in split):  # 4711-22: also 471122 (held for 4711/22)
        return [(joined,)] if len(words) > 1 else []
    return [w for w in dict.fromkeys([split, (joined,)]) if w != tuple(words)]


_HYPHENATED_LETTERS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
"""A word of letters joined by hyphens (``E-Mail``): also searched written together, as
the index holds it too (``search.analysis.hyphen_joins``)."""

_SLASHED_LETTERS = re.compile(r"[^\W\d_]+(?:/[^\W\d_]+)+[.,;:!?]?")
"""Words of letters joined by slashes (``Hausrat/Kfz``, ``Kunde/Kundin``): alternatives,
each searched on its own (written together, they are a phrase too)."""

_QUOTES = str.maketrans({"\u201e": '"', "\u201c": '"', "\u201d": '"', "\u00ab": '"',
                         "\u00bb": '"', "\u201f": '"', "\uff02": '"'})
"""Typographic double quotes (German „…“, English “…”, French «…») are phrase quotes too
when they pair up: keyboards and word processors put them in for the agent."""


_MAIL_PREFIX = re.compile(r"(?i)(?:re|aw|wg|fw|fwd|antw|sv|vs|tr|rif|enc)(?:\[\d+\]|\(\d+\))?:")
"""A reply or forward mark as a subject line copied into the search box writes it (``Re:``,
``AW:``, ``WG:``, ``Fwd:``, ``Re[2]:``): not a word to look for."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters (a NUL sent as ``%00``, a tab, a line break): word separators."""
_PHONE = "\ue000"
"""Stands for a phone number found in the query (private use: never typed)."""
_QUOTED = re.compile(r'"[^"]*"')


def _phones(text: str, region: str | None) -> tuple[str, list[list[Term]]]:
    """``text`` with each phone number written outside quotes (``0171 123 45 67``,
    ``+49 171 1234567``) replaced by a placeholder word, and each number's terms: its token
    (an entry writing it in any format) or its words as typed (entries indexed before)."""
    if region is None or not any(c.isdigit() for c in text):
        return text, []
    out: list[list[Term]] = []
    parts: list[str] = []
    pos = 0
    quoted = [m.span() for m in _QUOTED.finditer(text)]
    for start, span in phones.candidates(text, region):
        end = start + len(span)
        if any(a <= start < b for a, b in quoted) or \
                (start and text[start - 1] in "-!"):  # excluded: as typed
            continue
        found = phones.numbers(span, region)
        if len(found) != 1:  # several numbers in one stretch: searched as typed
            continue
        e164 = found[0]
        typed = fold_tokens(span)
        terms = [Term(words=(phones.token(e164),), exact=True,
                      phone=phones.written_forms(e164, region))]
        if typed:
            terms.append(Term(words=tuple(typed), exact=True))
        parts += [text[pos:start], f" {_PHONE}{len(out)} "]
        out.append(terms)
        pos = end
    return "".join(parts) + text[pos:], out


def _numbers(text: str, out: list[list[Term]]) -> str:
    """``text`` with each IBAN typed in groups (``DE89 3704 0044 0532 0130 00``) and each
    date (``3.2.25``, ``2025-02-03``, ``3. Februar 2025``) outside quotes replaced by a
    placeholder word (as :func:`_phones`, appending to ``out``): found as the index holds
    them however written (``search.references``), or as typed."""
    if not any(c.isdigit() for c in text):
        return text
    quoted = [m.span() for m in _QUOTED.finditer(text)]
    parts: list[str] = []
    pos = 0
    found = sorted([*references.ibans(text), *references.dates(text)])
    for start, end, compact in found:
        if start < pos:
            continue
        if any(a <= start < b for a, b in quoted) or (start and text[start - 1] in "-!"):
            continue
        parts += [text[pos:start], f" {_PHONE}{len(out)} "]
        out.append([Term(words=(compact,), exact=True),
                    Term(words=tuple(fold_tokens(text[start:end])), exact=True)])
        pos = end
    return "".join(parts) + text[pos:]


_NUMBER_MARKS = frozenset({"nr", "no", "az"})
"""``Nr.``, ``No.``, ``Az.`` written before a number: a label, not a word to look for."""


def _is_number_mark(word: str, following: list[re.Match[str]]) -> bool:
    """Is ``word`` a label of the number that follows it (``Nr. 4711/22``, ``Az 123``)?"""
    return (word.rstrip(".:").casefold() in _NUMBER_MARKS and bool(following)
            and any(c.isdigit() for c in following[0].group(0)))


def parse(text: str, region: str | None = None) -> ParsedQuery:
    """The query tree; with the office's ``region``, phone numbers are found in any
    format (``search.phones``)."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query is longer than {MAX_QUERY_CHARS} characters", "too_long",
                         limit=MAX_QUERY_CHARS)
    text = _CONTROL.sub(" ", text)  # a NUL or tab pasted in separates words, as a space
    typographic = text.translate(_QUOTES)
    if typographic.count('"') % 2 == 0:  # a lone „ stays a character, as before
        text = typographic
    if text.count('"') % 2:
        raise QueryError('unbalanced quote: close the phrase with another "',
                         "unbalanced_quote")
    text, numbers = _phones(text, region)
    text = _numbers(text, numbers)
    clauses: list[list[Term]] = []
    must_not: list[Term] = []
    pending_or = False
    pending_not = False
    tokens = list(_TOKEN.finditer(text))
    for i, m in enumerate(tokens):
        phrase_not, phrase, phrase_star, word = m.group(1), m.group(2), m.group(3), m.group(4)
        terms: list[Term] = []
        negate, pending_not = pending_not or bool(phrase_not), False
        if word is not None and not negate and _is_number_mark(word, tokens[i + 1:i + 2]):
            continue  # "Vertrag Nr. 4711/22": the note may write "Vertrag 4711/22"
        if word is not None:
            if word in _OR:
                if not clauses or pending_or or negate:
                    raise QueryError("OR needs a term on each side", "or_alone")
                pending_or = True
                continue
            if word in _AND:  # what all words do anyway
                pending_not = negate
                continue
            if word in _NOT:
                pending_not = True
                continue
            if _MAIL_PREFIX.fullmatch(word) and not negate:
                continue  # "AW: Kündigung" copied from a subject: the mail's own lacks it
            if word.startswith(_PHONE) and word[1:].isdigit():
                terms = list(numbers[int(word[1:])])
                prefix, words = False, list(terms[0].words)
            elif word[:1] in ("-", "!") and len(word) > 1:
                negate, word = True, word[1:]
            elif word[:1] == "+" and len(word) > 1:  # "must contain", as every word must
                word = word[1:]
            contains = False
            if not terms:
                prefix = word.endswith("*")
                words = fold_tokens(word)
                contains = word.startswith("*") and len(words) == 1
                if (prefix or contains) and (not words or len(words[-1]) < 2):
                    raise QueryError(f"a wildcard needs at least two letters: {word!r}",
                                     "short_prefix", word=word)
                prefix = prefix and not contains
        else:
            prefix = bool(phrase_star)
            words = fold_tokens(phrase)
        if not words:
            continue
        if not terms and word is not None and contains:
            terms = [Term(words=tuple(words), contains=True)]
        if not terms:
            terms = [Term(words=tuple(words), prefix=prefix, exact=word is None)]
            if word is not None and not prefix:
                terms += [Term(words=other) for other in _other_spellings(words)]
                if len(words) > 1 and _HYPHENATED_LETTERS.fullmatch(word):
                    terms.append(Term(words=("".join(words),)))  # E-Mail: also Email
                elif 1 < len(words) <= 4 and _SLASHED_LETTERS.fullmatch(word):
                    terms += [Term(words=(w,)) for w in words]  # Hausrat/Kfz: either
        if negate:
            must_not.extend(terms)
            continue
        if pending_or:
            clauses[-1].extend(terms)
            pending_or = False
        else:
            clauses.append(terms)
    if pending_or:
        raise QueryError("OR needs a term on each side", "or_alone")
    if pending_not:
        raise QueryError("NOT needs a term after it", "not_alone")
    if not clauses:
        raise QueryError("the query has no words to search for", "no_words")
    if sum(len(c) for c in clauses) + len(must_not) > MAX_TERMS:
        raise QueryError(f"at most {MAX_TERMS} terms per query", "too_many_terms",
                         limit=MAX_TERMS)
    return ParsedQuery(must=tuple(Clause(tuple(c)) for c in clauses), must_not=tuple(must_not))
