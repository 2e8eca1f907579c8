"""What should not reach a customer, checked before an entry is published (beside the tone
guard): colleagues' names, internal addresses, words that mark a text as internal, and
payment data (IBANs that pass the mod-97 check, card numbers that pass Luhn).

A hit is a warning, not a ban: the agent rephrases, keeps the entry internal, or confirms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from timeline.text import fold

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
)
_MARKERS = {fold(m): m for m in INTERNAL_MARKERS}
"""Folded marker -> the marker as listed (what a hit shows: "nicht für den kunden", not
its folded "nicht fur den kunden")."""
_MARKER_RE = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(m) for m in
                           sorted(_MARKERS, key=len, reverse=True)) + r")(?!\w)")
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

    folded = fold(text)
    for m in _MARKER_RE.finditer(folded):
        add("internal_marker", _MARKERS[m.group(1)])
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
