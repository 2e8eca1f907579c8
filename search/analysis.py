"""Word forms and spelling suggestions, shared by every search backend.

Everything here works on *folded* words (``timeline.text.fold``): folding first, stemming
after, at index and at query time alike.

* **Word forms.** A document's words are stemmed with the Snowball stemmer of its language
  (German unless the entry says or its wording shows it is English). A query word is stemmed
  both ways, since the query alone rarely shows its language: ``Kündigungen`` and
  ``Kündigung`` share ``kundig``, ``Verträge`` and ``Vertrag`` share ``vertrag``. A word
  matches another if one's form is the other word, or both share a form.
* **Compounds.** A long German word whose tail is one of :data:`COMPOUND_HEADS` is also
  indexed under that tail's stem and the stem of the part before it, so ``Versicherung``
  and ``Hausrat`` both find ``Hausratversicherung``.
* **Suggestions.** For a query without hits, words close to the unknown query words (edit
  distance, :mod:`rapidfuzz`) from the office's own vocabulary replace them; see
  :func:`corrected_queries`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

import Stemmer  # type: ignore[import-not-found]  # PyStemmer: a C module without stubs
from rapidfuzz import process
from rapidfuzz.distance import OSA

from search.query import _AND, _MAIL_PREFIX, _NOT, _OR, _QUOTES
from search.query import _TOKEN as _QUERY_TOKEN
from timeline.text import fold_tokens, fold_word


def _combining_marks() -> str:
    """The combining marks of the Basic Multilingual Plane that folding drops, as the body of
    a regex character class (ranges); 3 ms at import, the whole of Unicode would take 50."""
    marks = [c for c in range(0x300, 0x10000) if unicodedata.combining(chr(c))]
    runs: list[tuple[int, int]] = []
    for c in marks:
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "")
                   for a, b in runs)


WRITTEN_WORD = re.compile(rf"[^\W_]+(?:[{_combining_marks()}]+[^\W_]*)*")
"""A word as written: letters and digits with the combining marks in and after them, so
decomposed text (``Mu\u0308ller``, as macOS and PDF copies write it) is one word, as folding
makes it (``timeline.text.WORD`` would split it at the mark). ``fold_word`` of a match is the
word the index holds."""

_HYPHENATED = re.compile(rf"{WRITTEN_WORD.pattern}(?:-{WRITTEN_WORD.pattern})+")
"""Words joined by hyphens (``E-Mail``, ``Kfz-Versicherung``, ``E-Mail-Adresse``), matched
where one starts (a search for it through a whole text would cost more than folding it)."""
MAX_PARTS = 5


def hyphen_joins(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, word)`` for every run of two or more parts of a hyphenated word of
    letters in ``text``, folded and written together: ``E-Mail-Adresse`` gives ``email``,
    ``mailadresse`` and ``emailadresse``. German and English write the same word with and
    without the hyphen (``E-Mail``/``Email``, ``Online-Banking``/``Onlinebanking``); the
    index holds these beside the parts, so either spelling finds the other."""
    pos = text.find("-")
    while pos != -1:
        if not (0 < pos < len(text) - 1 and _wordish(text[pos - 1])
                and text[pos + 1].isalpha()):
            pos = text.find("-", pos + 1)
            continue
        start = pos - 1
        while start > 0 and _wordish(text[start - 1]):
            start -= 1
        m = _HYPHENATED.match(text, start)
        if m is None or (start and text[start - 1] in "-_") or (
                m.end() < len(text) and text[m.end()] in "-_"):
            pos = text.find("-", pos + 1)
            continue
        parts = [(p.start(), p.end(), fold_word(p.group(0)))
                 for p in WRITTEN_WORD.finditer(text, m.start(), m.end())]
        if len(parts) <= MAX_PARTS and all(w.isalpha() for _, _, w in parts):
            # (a reference number, HR-2039-A, is read by the query's other spellings)
            for i, j in itertools.combinations(range(len(parts) + 1), 2):
                if j - i >= 2:
                    yield parts[i][0], parts[j - 1][1], "".join(w for _, _, w in parts[i:j])
        pos = text.find("-", m.end())


def _wordish(ch: str) -> bool:
    return ch.isalnum() or bool(unicodedata.combining(ch))


def joined_words(text: str) -> list[str]:
    """The words of :func:`hyphen_joins`, each once, in order."""
    return list(dict.fromkeys(w for _, _, w in hyphen_joins(text)))


ANALYSIS_VERSION = 6
"""Bump when what is indexed *for a word* changes (stems, compound heads: forms derived from
the folded words alone): an older index is re-analysed on open from its own folded text."""

TEXT_VERSION = 2
"""Bump when the words an entry's text gives change (folding, ``timeline.text``; tokens such
as hyphen joins here or numbers, dates and IBANs in ``search.references``). That cannot be
derived from an index's already-folded text: an index written by an older version is rebuilt
from the store, in the background, by the indexer (``search.indexer``), search answering
from the old index meanwhile. 1: before Latin letters without marks folded (``ł``, ``ø``,
``æ``, ``þ``) and before the number, date and IBAN tokens (indexes without a version)."""

LANGUAGES = ("de", "en")
_STEMMERS: dict[str, Any] = {"de": Stemmer.Stemmer("german"), "en": Stemmer.Stemmer("english")}

# Function words, folded like the index (``für`` -> ``fur``); words both languages use
# (``in``, ``an``, ``so``, ``was``, ``will``, ``also``, ``hat``) are left out.
_EN_MARKERS = frozenset("""
the and you your for with this that have are is we our please thank thanks would could of
to on at from by my me it be been has had can do if there they their what when which about
dear regards kind best hello hi not any all but as or sincerely yours attached find
""".split())
_DE_MARKERS = frozenset("""
der die das und ist nicht sie ich wir mit fur den dem des ein eine einen einem einer zu auf
bitte vielen dank sehr auch es von im sich noch wie aber oder wenn mein meine meinen ihr
ihre ihren ihnen uns unser unsere haben wird werden kann konnen nach bei aus uber zum zur
sind war hallo gruss grussen geehrte geehrter herren damen freundlichen viele beste
""".split())

COMPOUND_HEADS = frozenset("""
versicherung vertrag police rechnung kundigung beitrag schaden meldung antrag vollmacht
erklarung bescheinigung bestatigung abrechnung zahlung erstattung forderung mahnung
anderung kundigungsfrist frist termin gutachten unterlagen nachweis schein ausweis
zuschuss rente pramie tarif leistung vorsorge anfrage beschwerde auskunft
erhohung anpassung erinnerung mitteilung uberweisung lastschrift widerruf einwilligung
unterschrift haftpflicht kasko schutz unfall diebstahl wasser fahrzeug gebaude angebot
auftrag wechsel storno adresse konto kopie beleg quittung formular bericht protokoll makler
vertreter nummer schreiben summe betrag kosten gebuhr bescheid mandat strasse platz allee gasse
""".split())
"""Nouns that often end a German insurance/office compound (folded). Closed list on purpose:
a general splitter needs a dictionary and errs on names; these heads are where agents
search by the generic word (``Versicherung``, ``Vertrag``, ``Schaden``, ``Rechnung``)."""
_MIN_MODIFIER = 3
"""Letters before a head for a word to count as a compound (``Kfzversicherung`` yes)."""


def languages_of(words: Iterable[str], known: object = None) -> tuple[str, ...]:
    """The languages a document's folded ``words`` are stemmed in: the one whose function
    words more of them are (each counted once), or the entry's declared language ``known``
    (e.g. ``meta["language"]``) when it is one of :data:`LANGUAGES`; both when the words
    show neither (a short note, "Policy cancelled, callback wanted", is as likely English
    as German: its words are found by either language's forms)."""
    if isinstance(known, str) and known[:2].lower() in LANGUAGES:
        return (known[:2].lower(),)
    seen = words if isinstance(words, (set, frozenset)) else set(words)
    en, de = len(_EN_MARKERS.intersection(seen)), len(_DE_MARKERS.intersection(seen))
    return ("en",) if en > de else ("de",) if de > en else LANGUAGES


_GERMAN_IRREGULAR = {"herrn": "herr"}
"""Forms Snowball leaves apart that letters use all the time (``an Herrn Müller``)."""


@lru_cache(maxsize=1 << 17)
def stem(word: str, language: str) -> str:
    """The Snowball stem of a folded word (cached: vocabularies are small, texts many)."""
    if language == "de":
        word = _GERMAN_IRREGULAR.get(word, word)
    return str(_STEMMERS[language].stemWord(word))


@lru_cache(maxsize=1 << 16)
def compound_head(word: str) -> str | None:
    """The longest tail of a German compound that is an inflected :data:`COMPOUND_HEADS`
    noun (``hausratversicherungen`` -> ``versicherungen``), if any."""
    for cut in range(_MIN_MODIFIER, len(word) - 4):
        tail = word[cut:]
        if tail in _HEAD_FORMS:
            return tail
    return None


_HEAD_FORMS = frozenset(h + end for h in COMPOUND_HEADS
                        for end in ("", "e", "en", "n", "s", "es", "er", "ern"))


_SEPARABLE = ("zusammen", "zuruck", "wieder", "weiter", "heraus", "durch", "nach", "fest",
              "ab", "an", "auf", "aus", "bei", "ein", "mit", "vor", "weg", "zu", "um")
"""Separable verb prefixes before a participle's ``ge`` (``angemeldet``, ``eingereicht``)."""
_PARTICIPLE = re.compile(rf"({'|'.join(_SEPARABLE)})?ge([a-z]{{3,}}(?:t|te|ten|tet|et))")
_VERBISH = re.compile(r"[a-z]+(?:ung|ungen|t|te|ten|tet|et|en|ern|eln)")
_NOT_VERBS = frozenset("""
gesicht gedicht gewicht gericht gehalt gewalt gebiet geburt gesamt gestalt geschaft gerucht
gerust gemut gebet gesetz gewinnt gehirn gestern gelten gegen zeitung achtung richtung
""".split())
"""Words that look like a verb form and are not (``Gericht``, ``Gehalt``, ``Zeitung``)."""
_VERB_MIN = 6
"""Letters a word needs before its verb ending is read (``Markt``, ``Arzt`` are not)."""
_NOUN_BEFORE_T = ("t", "d", "f", "k", "p", "ch")
"""Before a final ``-t`` without ``ge``, these end nouns (``Werkstatt``, ``Auskunft``,
``Kontakt``, ``Konzept``, ``Bericht``, a name ``Brandt``), not verb forms."""
_FINITE_MIN = 5
"""Letters before a ``-t``/``-te`` ending without ``ge`` (``erhoh-te`` yes, ``seit-te`` no)."""


@lru_cache(maxsize=1 << 16)
def verb_form(word: str) -> str | None:
    """For a German verb form or a noun made from one, the stem of its infinitive, so that
    they find each other: ``gekundigt``, ``kundigt``, ``kundigte`` and ``kundigung`` all give
    ``kundig`` (of ``kundigen``); ``gemeldet``/``meldung``/``melden`` ``meld``,
    ``storniert``/``stornierung`` ``storni``, ``angemeldet``/``anmeldung`` ``anmeld``,
    ``erhoht``/``erhohung`` ``erhoh``, ``bestatigt``/``bestatigung`` ``bestat``. Read from
    a regular (weak) verb's endings (participle ``ge…t``, ``-t``, ``-et``, past ``-te``,
    infinitive ``-en``) and an ``-ung`` noun; ``None`` for any other word, and where the
    infinitive's stem would be shorter than four letters."""
    if len(word) < _VERB_MIN or not word.isalpha() or word in _NOT_VERBS or \
            word.endswith("st") or not _VERBISH.fullmatch(word):
        return None
    if word.endswith(("ung", "ungen")):
        infinitive = word[:word.rindex("ung")] + "en"
    else:
        m = _PARTICIPLE.fullmatch(word)
        if m is not None:  # (an)ge-meld-et: anmeldet
            word = (m.group(1) or "") + m.group(2)
        for ending in ("eten", "ete", "et", "en", "te", "t"):
            if word.endswith(ending):
                break
        else:
            ending = ""
        base = word[:len(word) - len(ending)]
        if m is None and ending != "en" and (len(base) < _FINITE_MIN
                                             or base.endswith(_NOUN_BEFORE_T)):
            return None  # "seitte" is no past of "seiten", "Werkstatt" no verb
        infinitive = word if ending == "en" else base + "en"
    form = stem(infinitive, "de")
    return form if len(form) >= 4 and form != word else None


def forms_of(word: str, language: str) -> tuple[str, ...]:
    """The other forms a document word in ``language`` is found under: its stem when that
    differs from it, and for German the stems of its compound's head and of the part before
    it (``hausratversicherung``: ``versicher`` and ``hausrat``; ``beitragserhohung``:
    ``erhoh`` and ``beitrag``, the linking ``s`` going with the stem)."""
    s = stem(word, language)
    out: tuple[str, ...] = (s,) if s != word else ()
    if language == "de":
        verb = verb_form(word)
        if verb is not None and verb not in out:
            out += (verb,)
        for form in _compound_forms(word):
            if len(form) >= _MIN_MODIFIER and form not in out and form != word:
                out += (form,)
    return out


_MAX_DEPTH = 3
"""Heads read from the end of a compound at most (``Privat|haftpflicht|versicherung``)."""


def _compound_forms(word: str) -> list[str]:
    """A German compound's forms, head by head from its end: each head's and modifier's
    stem and their :func:`compound_key`, and for a modifier that ends in a head itself,
    the tail compound it starts (``privathaftpflichtversicherung``: ``versicher``,
    ``privathaftpflicht``, then ``haftpflich``, ``privat`` and ``haftpflichtversicher``,
    ``haftpflicht+versicher``), so ``Haftpflicht`` and ``Haftpflichtversicherung`` find
    ``Privathaftpflichtversicherung``."""
    out: list[str] = []
    part = word
    for _ in range(_MAX_DEPTH):
        head = compound_head(part)
        if head is None:
            break
        modifier = part[:len(part) - len(head)]
        out += [stem(head, "de"), stem(modifier, "de"), compound_key(part, head)]
        if part != word:  # the whole word's tail from this head on is a compound too
            tail = word[len(modifier):]
            tail_head = compound_head(tail)
            out += [stem(tail, "de"), *([compound_key(tail, tail_head)] if tail_head else [])]
        part = modifier
    return out


def compound_key(word: str, head: str) -> str:
    """A compound's parts as one form, its linking ``s``/``es`` dropped and each part
    stemmed: ``schadensmeldung`` and ``schadenmeldung`` both ``schad+meldung``,
    ``beitragserhohungen`` and ``beitragerhohung`` both ``beitrag+erhoh`` (the two
    spellings people write find each other; ``+`` is never part of a word)."""
    modifier = word[:len(word) - len(head)]
    for link in ("es", "s"):
        if modifier.endswith(link) and len(modifier) - len(link) >= _MIN_MODIFIER:
            modifier = modifier[:-len(link)]
            break
    return f"{stem(modifier, 'de')}+{stem(head, 'de')}"


def index_forms(words: Iterable[str], language: str | tuple[str, ...]) -> list[str]:
    """All of :func:`forms_of` for a document's words in its ``language`` (or each of
    several, :func:`languages_of`), each once (for a backend that indexes forms as a field
    of the document)."""
    distinct = set(words)
    langs = (language,) if isinstance(language, str) else language
    return list(dict.fromkeys(f for lang in langs for w in distinct
                              for f in forms_of(w, lang)))


@lru_cache(maxsize=1 << 16)
def query_forms(word: str) -> tuple[str, ...]:
    """The stems a query word may be indexed under (German and English, and a German verb
    form's: :func:`verb_form`; a compound's parts: :func:`compound_key`), best first."""
    head = compound_head(word)
    return tuple(dict.fromkeys([*(stem(word, lang) for lang in LANGUAGES),
                                *filter(None, [verb_form(word)]),
                                *([compound_key(word, head)] if head else [])]))


# ---------------------------------------------------------------------------- suggestions
SUGGEST_MIN_LETTERS = 3
"""Shorter query words are never corrected (too many neighbours)."""
EDIT_COST = 20.0
"""One edit weighs as much as a 20 times higher document frequency when ranking words."""


def typo_budget(word: str) -> int:
    """Edits tolerated for a word of this length (Lucene's ``AUTO``: 1 up to 5 letters, 2
    beyond; words shorter than :data:`SUGGEST_MIN_LETTERS` get none)."""
    if len(word) < SUGGEST_MIN_LETTERS:
        return 0
    return 1 if len(word) <= 5 else 2


def _correctable_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where in ``text`` the terms a suggestion may correct are, read as ``search.query.parse``
    reads a query: words and phrases that must (or may, ``OR``) match, not operators (``OR``,
    ``ODER``, ``|``, ``AND``, ``UND``, ``+``, ``NOT``, ``NICHT``, ``!``), not excluded terms
    (``-x``, ``!x``, ``NOT x``, ``-"a b"``), not prefixes (``x*``); ``+x`` without its ``+``."""
    typographic = text.translate(_QUOTES)
    if typographic.count('"') % 2 == 0:  # as parse: paired „…“ are quotes (same positions)
        text = typographic
    pending_not = False
    for m in _QUERY_TOKEN.finditer(text):
        negate, pending_not = pending_not or bool(m.group(1)), False
        word = m.group(4)
        if word is None:  # a phrase
            if not (negate or m.group(3)):
                yield m.span(2)
            continue
        if word in _OR:
            continue
        if word in _AND:
            pending_not = negate
            continue
        if word in _NOT:
            pending_not = True
            continue
        if _MAIL_PREFIX.fullmatch(word):  # "AW:", "Fwd:": not searched, not corrected
            continue
        start = m.start(4)
        if word[0] in "-!" and len(word) > 1:
            negate = True
        elif word[0] == "+" and len(word) > 1:
            start += 1
        if not (negate or word.endswith("*")):
            yield start, m.end(4)


def _correctable(text: str) -> Iterator[tuple[re.Match[str], int, str]]:
    """Each word a suggestion may replace: its match (in its term), the term's offset in
    ``text`` and the folded word."""
    for start, end in _correctable_spans(text):
        for m in WRITTEN_WORD.finditer(text[start:end]):
            folded = fold_tokens(m.group(0))
            if len(folded) == 1:
                yield m, start, folded[0]


def correctable_words(text: str) -> list[str]:
    """The folded words of a query that a suggestion may replace (see
    :func:`_correctable_spans`), long enough to be corrected, unique, in order."""
    return list(dict.fromkeys(folded for _, _, folded in _correctable(text)
                              if folded.isalpha() and typo_budget(folded)))


def close_words(word: str, vocabulary: Iterable[tuple[str, int]], limit: int = 10
                ) -> list[tuple[str, int]]:
    """Up to ``limit`` ``(candidate, distance)`` from ``(word, document count)`` pairs within
    :func:`typo_budget` edits (transpositions count once), best first: few edits, then many
    documents."""
    budget = typo_budget(word)
    counts = {w: n for w, n in vocabulary if w != word and abs(len(w) - len(word)) <= budget}
    if not budget or not counts:
        return []
    found = process.extract(word, list(counts), scorer=OSA.distance, score_cutoff=budget,
                            limit=None)
    ranked = sorted(((str(c), int(d)) for c, d, _ in found),
                    key=lambda cd: (-counts[cd[0]] / EDIT_COST ** cd[1], cd[0]))
    return ranked[:limit]


def best_corrections(candidates: Iterable[tuple[str, int, int]], limit: int) -> list[str]:
    """``(word, edits, documents of this office)`` -> the words worth suggesting, best
    first; words with no document in the office are dropped."""
    kept = [(-docs / EDIT_COST ** edits, word) for word, edits, docs in candidates if docs > 0]
    return [word for _, word in sorted(kept)][:limit]


def corrected_queries(text: str, corrections: Mapping[str, Sequence[str]], limit: int
                      ) -> list[str]:
    """``text`` with its unknown words replaced: ``corrections`` maps a folded query word to
    its replacements (best first). Everything else the user typed (other words, quotes,
    operators, excluded words and prefixes) stays as it was. Best combinations first, at
    most ``limit``."""
    words = [w for w in correctable_words(text) if corrections.get(w)]
    if not words or limit <= 0:
        return []
    choices = [list(corrections[w])[:limit] for w in words]
    combos = sorted(itertools.product(*(range(len(c)) for c in choices)),
                    key=lambda ranks: (sum(ranks), ranks))
    out: list[str] = []
    for ranks in combos[:limit]:
        swap = {w: choices[i][r] for i, (w, r) in enumerate(zip(words, ranks, strict=True))}
        out.append(_replace_words(text, swap))
    return out


def _replace_words(text: str, swap: Mapping[str, str]) -> str:
    out: list[str] = []
    pos = 0
    for m, offset, folded in _correctable(text):
        if folded in swap:
            out += [text[pos:offset + m.start()], swap[folded]]
            pos = offset + m.end()
    return "".join(out) + text[pos:]


def corrected_words(suggestion: str, typed: str) -> list[str]:
    """The folded words of ``suggestion`` that the user did not type (the corrections)."""
    own = set(fold_tokens(typed))
    return list(dict.fromkeys(w for w in fold_tokens(suggestion) if w not in own))


def written_spelling(word: str, texts: Iterable[str]) -> str | None:
    """How ``texts`` most often write the folded ``word`` (``kundigung`` -> ``Kündigung``),
    the first of equally frequent spellings; ``None`` if they do not contain it."""
    seen: Counter[str] = Counter()
    for text in texts:
        for m in WRITTEN_WORD.finditer(text):
            if fold_word(m.group(0)) == word:
                seen[m.group(0)] += 1
    return seen.most_common(1)[0][0] if seen else None


def spelled_as_written(suggestion: str, typed: str, spellings: Mapping[str, str]) -> str:
    """``suggestion`` with each word the user did not type spelled as ``spellings`` (folded
    word -> as the office's entries write it) say: the index holds ``kundigung``, the agent
    reads ``Kündigung``. The user's own words stay exactly as typed."""
    own = set(fold_tokens(typed))

    def one(m: re.Match[str]) -> str:
        word = m.group(0)
        folded = fold_word(word)
        return word if folded in own else spellings.get(folded, word)
    return WRITTEN_WORD.sub(one, suggestion)
