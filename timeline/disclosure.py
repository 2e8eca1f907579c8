"""What should not reach a customer, checked before an entry is published (beside the tone
guard): colleagues' names, internal addresses, words that mark a text as internal, and
payment data (IBANs that pass the mod-97 check, card numbers that pass Luhn).

A hit is a warning, not a ban: the agent rephrases, keeps the entry internal, or confirms."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from timeline.text import fold
from timeline.tone import folded_words

INTERNAL_MARKERS: tuple[str, ...] = (
    "intern", "interne", "interner", "internes", "internen", "internem", "nur intern",
    "nicht weitergeben", "nicht weiterleiten", "nicht an den kunden", "nicht an die kundin",
    "nicht an kunden", "nicht für den kunden", "nicht für die kundin", "nicht für kunden",
    "darf das nicht wissen", "darf das nicht erfahren", "unter uns gesagt", "vertraulich",
    "streng vertraulich", "streng geheim", "ganz unter uns", "unter vier augen",
    "inoffiziell", "nicht dem kunden sagen", "nicht der kundin sagen", "nicht erwähnen",
    "internal", "internally", "internal only", "do not forward", "not for the customer",
    "not for the client", "confidential", "do not share", "don't share", "not to be shared",
    "do not tell the customer", "don't tell the customer", "do not tell the client",
    "don't tell the client", "staff only", "just between us", "strictly between us",
    "between you and me", "between ourselves", "keep this between us",
    "keep it between us", "off the record", "do not mention", "don't mention",
    # added after a review with phrasings of its own (tests/timeline/test_tone_review_*.py)
    "unter uns", "between us", "nicht weitersagen", "nicht weiter sagen",
    "nicht weitererzählen", "ganz im vertrauen", "im vertrauen gesagt", "im vertrauen",
    "nicht zur weitergabe", "nicht zur veröffentlichung", "nicht für kundenaugen",
    "hausintern", "teamintern", "interna", "nur für uns", "nur fürs team",
    "nur für das team", "unter uns pastorentöchtern", "nicht dem kunden",
    "nicht der kundin", "dem kunden nichts", "der kundin nichts", "darf davon nichts wissen",
    "darf davon nichts erfahren", "darf nichts davon wissen", "darf nichts davon erfahren",
    "not for distribution", "do not distribute", "don't pass this on",
    "do not pass this on", "don't pass it on", "do not pass it on",
    "not for the customer's eyes", "for your eyes only", "strictly confidential",
    "internal use", "internal note", "internal memo", "unter uns gesprochen",
    "soll davon nichts wissen", "soll das nicht wissen", "soll das nicht erfahren",
    "soll davon nichts erfahren", "muss das nicht wissen", "muss davon nichts wissen",
    "nur für den innendienst", "between you and i", "nicht an den vn", "nicht an die vn",
    "nicht an den versicherungsnehmer", "nicht an die versicherungsnehmerin",
    "nicht an den mandanten", "nicht an die mandantin", "not to be forwarded",
    "do not send to the customer", "do not send to the client", "nicht versenden",
    "nicht rausschicken", "nicht rausgeben", "psst", "pssst", "keep this to yourself",
    "keep it to yourself", "behalte das für dich", "behalt das für dich", "für dich behalten",
    "für sich behalten", "not for external use", "nicht für externe",
    "nicht nach außen geben", "nicht nach außen kommunizieren", "nicht nach außen tragen",
    "dienstgebrauch", "do not show", "don't show", "for our eyes only", "eyes only",
    "hinter vorgehaltener hand", "on the down-low", "on the down low", "hush-hush",
    "weiß davon nichts", "weiß nichts davon", "do not send this", "don't send this",
    "not for the policyholder", "do not send to the policyholder", "between the two of us",
    "zwischen uns beiden", "off record", "vertrauliche", "vertraulicher", "vertrauliches",
    "vertraulichen",
)
_ADDRESSED = re.compile(
    r"(?<!\w)((?:bitte )?(?:nicht |nichts |nix )?(?:an )?(?:den|dem|die|der) "
    r"(?:kunden|kundin|kunde|vn|versicherungsnehmer\w*|mandant\w*|client|customer) "
    r"(?:bitte )?(?:nicht|nichts|nix|keinesfalls)(?: davon| das| es)? "
    r"(?:sagen|erzahlen|verraten|mitteilen|zeigen|weitergeben|weiterleiten|schicken|senden))"
    r"(?!\w)")
"""``dem VN bitte nichts sagen``, ``der Kundin nichts davon erzählen``: the party's word
varies (Kunde, VN, Mandant), the shape does not (folded text)."""
_ADDRESSED_NOT = re.compile(
    r"(?<!\w)(nicht (?:an )?(?:den|dem|die|der) "
    r"(?:kunden|kundin|kunde|vn|versicherungsnehmer\w*|mandant\w*) "
    r"(?:sagen|erzahlen|verraten|mitteilen|zeigen|weitergeben|weiterleiten|schicken|senden))"
    r"(?!\w)")
_MARKERS = {fold(m): m for m in INTERNAL_MARKERS}
"""Folded marker -> the marker as listed (what a hit shows: "nicht für den kunden", not
its folded "nicht fur den kunden")."""
_MARKER_RE = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(m) for m in
                           sorted(_MARKERS, key=len, reverse=True)) + r")(?!\w)")

# Markers that are ordinary words in other places; each is a hit only where its rule says.
_LABEL_WORDS = {fold(w) for w in ("intern", "interne", "interner", "internes", "internen",
                                  "internem", "internal", "interna", "internally",
                                  "vertrauliche", "vertraulicher", "vertrauliches",
                                  "vertraulichen")}
""""internal bleeding", "die interne Festplatte", "an intern at the hospital": a marker only
as a label (``Intern:``, ``(intern)``, ``nur intern``, ``interne Notiz``, ``internal use``),
not as an adjective of something else."""
_NOTE_NOUNS = {fold(w) for w in (
    "notiz", "notizen", "vermerk", "vermerke", "hinweis", "hinweise", "info", "infos",
    "information", "informationen", "anmerkung", "anmerkungen", "kommentar", "bemerkung",
    "gebrauch", "verwendung", "zwecke", "absprache", "absprachen", "einschätzung",
    "bewertung", "kalkulation", "memo", "mail", "nachricht", "diskussion", "abstimmung",
    "note", "notes", "memo", "comment", "comments", "remark", "remarks", "use", "purposes",
    "only", "discussion", "assessment", "email", "message", "communication", "matter",
    "klären", "besprechen", "behandeln", "bleiben", "bleibt", "halten", "prüfen")}
_ENGLISH_NOUN_BEFORE = {"an", "the", "a", "our", "his", "her", "their", "my", "summer", "new",
                        "unpaid", "medical", "as", "your"}
_ENGLISH_NOUN_AFTER = {"application", "position", "program", "programme", "at", "with",
                       "from", "interview", "contract", "s"}
"""``an intern``: the English noun, a person, no marker."""
_OWN_CLAUSE = {fold(w) for w in ("unter uns", "between us", "im vertrauen",
                                 "nicht dem kunden", "nicht der kundin",
                                 "dem kunden nichts", "der kundin nichts")}
"""Markers that are ordinary words inside a sentence ("die Wohnung unter uns", "the wall
between us and the neighbours", "nicht dem Kunden zuzurechnen"): a hit when they stand as
a clause of their own ("Unter uns: …", "Das bleibt unter uns.") or after a word that makes
them one ("bleibt unter uns", "unter uns gesagt" is listed apart)."""
_OWN_CLAUSE_LEAD = {fold(w) for w in ("bitte", "bleibt", "bleiben", "ganz", "nur", "rein",
                                      "streng", "strictly", "just", "keep", "stays",
                                      "remains", "psst", "sag", "sage", "sagt", "sagen",
                                      "erzähl", "erzählen", "verrate", "es", "das", "davon")}
_OWN_CLAUSE_TAIL = {fold(w) for w in ("sagen", "erzählen", "verraten", "sagen!", "mitteilen",
                                      "zeigen", "davon", "gesagt", "bleiben", "bleibt")}
_ASSURANCES = {fold(w) for w in ("behandelt", "wir", "we", "treated", "handled", "kept",
                                 "ihre", "ihr", "ihren", "ihrer", "ihrem", "your", "yours",
                                 "schweigepflicht", "anyone", "niemandem", "niemanden",
                                 "unknown", "unbekannten", "phishing", "passwort",
                                 "password", "pin", "tan")}
_ADDRESSEE = {fold(w) for w in ("ihre", "ihr", "ihren", "ihrer", "ihrem", "ihnen", "your",
                                "yours", "you")}
"""``Wir leiten Ihre Nachricht intern weiter``: said to the customer, about our own desk."""
""""Ihre Daten behandeln wir vertraulich", "Your data will be treated as confidential",
"Please do not share your password with anyone": what an office tells a customer, in the
same clause as the marker."""
_ASSURED = {fold(w) for w in ("vertraulich", "streng vertraulich", "confidential",
                              "do not share", "don't share", "not to be shared",
                              "strictly confidential", "do not forward", "nicht weitergeben",
                              "nicht weiterleiten", "do not show", "don't show")}
_SHOW = {fold("do not show"), fold("don't show")}
_PASSIVE = {"wurde", "worden", "wird", "werden", "hat", "haben", "was", "were"}
_CLAUSE_END = re.compile(r"[.,;:!?()\[\]\"“”„«»–—]|\s-\s|\n")


class _Tokens:
    """The folded words of a text with the raw text between them (punctuation ends a
    clause), for the markers that depend on their neighbours."""

    def __init__(self, text: str) -> None:
        self.words, spans = folded_words(text)
        gaps = [text[spans[i][1]:spans[i + 1][0]] if spans[i] != spans[i + 1] else ""
                for i in range(len(spans) - 1)]
        self.end = [bool(_CLAUSE_END.search(g)) for g in gaps] + [True]
        self.starts: list[int] = []
        pos = 0
        for w in self.words:
            self.starts.append(pos)
            pos += len(w) + 1
        self.folded = " ".join(self.words)

    def index(self, offset: int) -> int:
        return max(0, bisect_right(self.starts, offset) - 1)

    def clause(self, i: int, j: int) -> list[str]:
        a = i
        while a > 0 and not self.end[a - 1]:
            a -= 1
        b = j
        while b < len(self.words) - 1 and not self.end[b]:
            b += 1
        return self.words[a:b + 1]

    def marker_holds(self, marker: str, i: int, j: int) -> bool:
        """Whether the marker found at words i..j marks the text as internal here."""
        w = self.words
        before = w[i - 1] if i > 0 and not self.end[i - 1] else None
        after = w[j + 1] if j + 1 < len(w) and not self.end[j] else None
        if marker in _LABEL_WORDS:
            if marker == "intern" and (before in _ENGLISH_NOUN_BEFORE
                                       or after in _ENGLISH_NOUN_AFTER):
                return False
            if marker in {"intern", "internally"} and any(
                    x in _ADDRESSEE for x in self.clause(i, j)):
                return False
            if marker in {"intern", "internally"} or after is None:
                return True
            return after in _NOTE_NOUNS
        if marker in _OWN_CLAUSE:
            return (before is None or before in _OWN_CLAUSE_LEAD) and (
                after is None or after in _OWN_CLAUSE_TAIL)
        if marker == fold("unter uns gesagt") and after in _PASSIVE:
            return False  # "unter uns gesagt wurde nichts": what was said among people
        if marker in _SHOW and after == "up":
            return False  # "please do not show up without an appointment"
        if marker in _ASSURED:
            return not any(x in _ASSURANCES for x in self.clause(i, j))
        return True


_IBAN_RE = re.compile(r"\b([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?)\b")
_CARD_RE = re.compile(r"(?<!\d)(\d(?:[ -]?\d){12,18})(?!\d)")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class DisclosureHit:
    kind: str
    """``colleague``, ``internal_address``, ``internal_marker``, ``iban``, ``card``."""
    text: str


def _iban_ok(raw: str) -> bool:
    iban = raw.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


def _iban_at_start(raw: str) -> str | None:
    """The IBAN ``raw`` starts with: the pattern also takes the groups of what follows (an
    amount, a year, a word), so shorter cuts at its spaces are tried too."""
    while not _iban_ok(raw):
        if " " not in raw:
            return None
        raw = raw.rsplit(" ", 1)[0]
    return raw


_CARD_GROUPS = frozenset({(4, 4, 4, 4), (4, 4, 4, 4, 1), (4, 4, 4, 4, 2), (4, 4, 4, 4, 3),
                          (4, 6, 5), (4, 6, 4), (4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2)})
"""How card numbers are written when not as one run of digits: in fours (Visa, Mastercard,
Maestro up to 19 digits) or 4-6-5 / 4-6-4 (Amex, Diners)."""


def _card_like(raw: str) -> bool:
    """Written as a card number: one run of digits starting as cards do (2-6: Mastercard,
    Amex/Diners/JCB, Visa, Maestro/Discover), or in a card's groups with one kind of
    separator -- not a date and time (``2026-12-05 00-07-00``, a screenshot's name) or a
    reference number that happens to pass Luhn."""
    if raw[0] not in "23456":
        return False
    groups = re.split(r"[ -]", raw)
    if len(groups) == 1:
        return True
    if len({c for c in raw if not c.isdigit()}) != 1:
        return False
    return tuple(len(g) for g in groups) in _CARD_GROUPS


def _luhn_ok(raw: str) -> bool:
    digits = [int(d) for d in re.sub(r"\D", "", raw)]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def check(text: str, colleagues: Iterable[str] = (), internal_addresses: Iterable[str] = (),
          internal_domains: Iterable[str] = (), customer_names: Iterable[str] = ()
          ) -> list[DisclosureHit]:
    """Everything in ``text`` that should not reach a customer. A colleague who shares a
    name with the customer is not flagged (the customer's own name is fine)."""
    hits: list[DisclosureHit] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, found: str) -> None:
        if (kind, found.lower()) not in seen:
            seen.add((kind, found.lower()))
            hits.append(DisclosureHit(kind, found))

    tokens = _Tokens(text)
    folded = tokens.folded
    for m in _MARKER_RE.finditer(folded):
        marker = m.group(1)
        if tokens.marker_holds(marker, tokens.index(m.start()), tokens.index(m.end() - 1)):
            add("internal_marker", _MARKERS[marker])
    for regex in (_ADDRESSED, _ADDRESSED_NOT):
        for m in regex.finditer(folded):
            add("internal_marker", m.group(1))
    own = {fold(n) for n in customer_names}
    for name in colleagues:
        name_f = fold(name).strip()
        if len(name_f) < 4 or name_f in own:
            continue
        if re.search(r"(?<!\w)" + re.escape(name_f) + r"(?!\w)", folded):
            add("colleague", name)
    addresses = {a.lower() for a in internal_addresses}
    domains = {d.lower().lstrip("@") for d in internal_domains}
    for m in _EMAIL_RE.finditer(text):
        address = m.group(0).lower()
        if address in addresses or address.rsplit("@", 1)[1] in domains:
            add("internal_address", m.group(0))
    for m in _IBAN_RE.finditer(text.upper()):
        iban = _iban_at_start(m.group(1))
        if iban is not None:
            add("iban", iban)
    for m in _CARD_RE.finditer(text):
        if _card_like(m.group(1)) and _luhn_ok(m.group(1)):
            add("card", m.group(1))
    return hits
