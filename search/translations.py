"""An English query word also finds the German word of an insurance office for it, and the
reverse: ``cancellation`` finds ``Kündigung``, ``Lastschrift`` finds "direct debit",
``household`` finds ``Hausrat``. Offices write to customers in both languages, and an agent
types the word of the language they think in.

A closed list of the office's own nouns and verbs (:data:`PAIRS`), not a general dictionary:
each pair was chosen because one side is what agents search and the other what the texts
write. A bare query word (not quoted, not a prefix, not excluded) whose stem is one side's
gets the other side's words as alternatives (``word OR translation``), each with its own
word forms; the query's other words stay as they are. Used by ``search.service`` (both
backends alike); ``parse`` alone leaves queries untranslated.
"""

from __future__ import annotations

from functools import lru_cache

from search.analysis import stem
from search.query import Clause, ParsedQuery, Term

PAIRS: tuple[tuple[str, str], ...] = (
    # German (folded) | English
    ("kundigung kundigen storno stornierung", "cancellation cancel termination terminate"),
    ("vertrag", "contract"),
    ("police versicherungsschein", "policy"),
    ("schaden schadensmeldung schadenmeldung", "claim damage"),
    ("beitrag pramie", "premium"),
    ("erhohung beitragserhohung steigerung", "increase"),
    ("lastschrift", "debit"),
    ("hausrat", "household contents"),
    ("haftpflicht", "liability"),
    ("berufsunfahigkeit", "disability"),
    ("unfall", "accident"),
    ("kfz auto fahrzeug", "car vehicle motor"),
    ("rechnung", "invoice bill"),
    ("zahlung", "payment"),
    ("mahnung", "reminder dunning"),
    ("kunde kundin", "customer client"),
    ("versicherung", "insurance"),
    ("versicherer", "insurer"),
    ("antrag", "application"),
    ("adresse anschrift", "address"),
    ("umzug", "relocation move"),
    ("wasser", "water"),
    ("einbruch diebstahl", "burglary theft"),
    ("rente", "pension"),
    ("gebaude", "building"),
    ("sturm", "storm"),
    ("glas", "glass"),
    ("erstattung", "refund reimbursement"),
    ("bestatigung", "confirmation"),
    ("widerruf", "revocation withdrawal"),
    ("angebot", "offer quote"),
    ("termin", "appointment"),
    ("unterlagen dokumente", "documents"),
    ("gutachten", "appraisal"),
    ("konto", "account"),
    ("uberweisung", "transfer"),
    ("brief", "letter"),
    ("ruckruf", "callback"),
    ("frist", "deadline"),
    ("mieter", "tenant"),
    ("vermieter", "landlord"),
    ("beschwerde", "complaint"),
    ("unterschrift", "signature"),
    ("reise", "travel trip"),
    ("zahnarzt", "dentist"),
    ("kundigungsfrist", "notice"),
    ("ubersicht", "overview"),
    ("anfrage", "request inquiry"),
    ("nachricht", "message"),
    ("anruf", "call"),
    ("kopie", "copy"),
    ("betrag", "amount"),
    ("gebuhr", "fee charge"),
    ("wohnung", "apartment flat"),
    ("fahrrad", "bicycle bike"),
    ("schmuck", "jewellery jewelry"),
    ("krankenhaus", "hospital"),
    ("arzt", "doctor"),
    ("krankheit", "illness sickness"),
    ("anpassung", "adjustment"),
    ("nummer", "number"),
    ("nachweis", "proof evidence"),
    ("bescheinigung", "certificate"),
    ("formular", "form"),
    ("vollmacht", "attorney"),
    ("makler", "broker"),
    ("vertreter", "agent representative"),
    ("selbstbeteiligung", "deductible excess"),
    ("vollkasko kasko", "comprehensive"),
    ("rechtsschutz", "legal"),
    ("krankenversicherung", "health"),
    ("zahn", "dental tooth teeth"),
    ("lebensversicherung", "life"),
    ("motorrad", "motorcycle motorbike"),
    ("feuer", "fire"),
    ("hochwasser uberschwemmung", "flood"),
    ("hagel", "hail"),
    ("windschutzscheibe scheibe", "windscreen windshield"),
    ("reparatur", "repair"),
    ("werkstatt", "workshop garage"),
    ("gutachter sachverstandiger", "assessor expert"),
    ("mietwagen", "rental"),
    ("zulassung", "registration"),
    ("kennzeichen", "plate"),
    ("falligkeit", "due"),
    ("beratung", "advice consultation"),
    ("altersvorsorge", "retirement"),
    ("todesfall tod", "death"),
    ("ruckkaufswert", "surrender"),
    ("arbeitgeber", "employer"),
    ("steuer", "tax"),
    ("kosten", "cost costs expenses"),
    ("kundennummer", "customer number"),
)
MAX_ADDED = 3
"""Translations one query word gets at most (its pair's first words)."""
MAX_TERMS_ADDED = 24
"""Translated words one query gets at most (bounded work for a long English sentence)."""


def _table() -> dict[tuple[str, str], tuple[str, ...]]:
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for german, english in PAIRS:
        for lang, words, other in (("de", german, english), ("en", english, german)):
            # one word per stem of the other language (cancel, not also cancellation)
            by_stem = {stem(w, "en" if lang == "de" else "de"): w for w in reversed(
                other.split())}
            distinct = sorted(by_stem.values(), key=other.split().index)
            for word in words.split():
                key = (lang, stem(word, lang))
                out[key] = tuple(dict.fromkeys([*out.get(key, ()), *distinct]))
    return out


_TABLE = _table()


@lru_cache(maxsize=1 << 12)
def translations(word: str) -> tuple[str, ...]:
    """The other language's words for a folded query word (``kundigung`` -> ``cancellation``,
    ``cancel``, ``termination``), at most :data:`MAX_ADDED`; ``()`` when it has none."""
    found: list[str] = []
    for lang in ("de", "en"):
        found += _TABLE.get((lang, stem(word, lang)), ())
    return tuple(w for w in dict.fromkeys(found) if w != word)[:MAX_ADDED]


def translated(query: ParsedQuery) -> ParsedQuery:
    """``query`` with each bare word's translations as alternatives in its clause."""
    budget = MAX_TERMS_ADDED
    clauses: list[Clause] = []
    for clause in query.must:
        terms = list(clause.terms)
        have = {t.words for t in terms}
        for term in clause.terms:
            if not term.stemmable or budget <= 0:
                continue
            for word in translations(term.words[0])[:budget]:
                if (word,) not in have:
                    terms.append(Term(words=(word,), translated=True))
                    have.add((word,))
                    budget -= 1
        clauses.append(Clause(tuple(terms)))
    if budget == MAX_TERMS_ADDED:
        return query
    return ParsedQuery(must=tuple(clauses), must_not=query.must_not)
