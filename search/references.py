"""Numbers people type in other groupings than the text writes them: reference numbers
(``HV-2024-00123`` typed ``HV202400123``, ``4711/22`` typed ``471122``) and IBANs
(``DE89 3704 0044 0532 0130 00`` typed ``DE89370400440532013000``, and the reverse).

The index holds, beside a text's words, each such number written together
(:func:`reference_joins`): a reference number of letters and digits joined by ``-``, ``/``
or ``.`` with at least one digit, and an IBAN written in groups (only a valid one: its
ISO 7064 check digits hold, so amounts and dates are never read as one). A query's IBAN
typed in groups is searched written together (:func:`query_ibans`); a reference number typed
together needs nothing more (it is one word, the index holds it). Pure functions: one regex
pass over a text, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from timeline.text import fold, fold_tokens

MAX_JOINED = 40
"""Characters of a number written together at most (longer runs are not references)."""
MAX_PARTS = 8

_REFERENCE = re.compile(r"[^\W_]+(?:[-/.][^\W_]+)+")
"""Letters and digits joined by ``-``, ``/``, ``.`` (no spaces): ``HV-2024-00123``,
``KV-2022/0815``, ``12/345678-9``; one with a digit is a reference number."""

_IBAN = re.compile(r"(?<![^\W_])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}"
                   r"(?: ?[A-Za-z0-9]{1,3})?(?![^\W_])")
"""An IBAN as people write it: country, check digits, then groups of four (the last
shorter), with single spaces or none. Validated by :func:`_valid_iban`."""


def _valid_iban(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _iban(text: str) -> tuple[int, str] | None:
    """The longest valid IBAN at the start of ``text`` (a match of :data:`_IBAN`, which may
    have run on into a following group): its length in ``text`` and folded compact form."""
    parts = text.split(" ")
    for n in range(len(parts), 0, -1):
        compact = "".join(parts[:n]).upper()
        if _valid_iban(compact):
            return len(" ".join(parts[:n])), compact.lower()
    return None


def ibans(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, compact)`` of each valid IBAN in ``text`` written in groups
    (``DE89 3704 0044 0532 0130 00`` -> ``de89370400440532013000``)."""
    if " " not in text:
        return
    for m in _IBAN.finditer(text):
        if " " not in m.group(0):
            continue  # one word already: the index holds it as it is
        found = _iban(m.group(0))
        if found is not None and " " in m.group(0)[:found[0]]:
            yield m.start(), m.start() + found[0], found[1]


_MONTHS = {name: n for n, names in enumerate([
    "januar jan january", "februar feb february", "marz mar march mrz", "april apr",
    "mai may", "juni jun june", "juli jul july", "august aug", "september sep sept",
    "oktober okt october oct", "november nov", "dezember dez december dec"], 1)
    for name in names.split()}
_DATE = re.compile(
    r"(?<![\w.,/-])(?:"
    r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}|\d{2})"  # 03.02.2025, 3.2.25
    r"|(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"  # 2025-02-03
    r"|(?P<sd>\d{1,2})/(?P<sm>\d{1,2})/(?P<sy>\d{4})"  # 03/02/2025 (day first)
    r"|(?P<nd>\d{1,2})\.? ?(?P<nm>[^\W\d_]{3,9})\.? (?P<ny>\d{4})"  # 3. Februar 2025
    r")(?![\w]|[.,/-]\d)")
"""A date as offices write it; read by :func:`_date` (a real day, or no date)."""
DATE_PREFIX = "dt"


def _date(m: re.Match[str]) -> str | None:
    """The ``dtYYYYMMDD`` token of a :data:`_DATE` match, if it is a real day."""
    g = m.groupdict()
    if g["d"]:
        day, month, year = int(g["d"]), int(g["m"]), int(g["y"])
        if len(g["y"]) == 2:
            year += 2000 if year < 70 else 1900
    elif g["iy"]:
        day, month, year = int(g["id"]), int(g["im"]), int(g["iy"])
    elif g["sd"]:
        day, month, year = int(g["sd"]), int(g["sm"]), int(g["sy"])
    else:
        found = _MONTHS.get(fold(g["nm"]))
        if found is None:
            return None
        day, month, year = int(g["nd"]), found, int(g["ny"])
    try:
        when = date(year, month, day)
    except ValueError:
        return None
    return f"{DATE_PREFIX}{when:%Y%m%d}"


def dates(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, token)`` of each date in ``text``, however written (``03.02.2025``,
    ``3.2.25``, ``2025-02-03``, ``3. Februar 2025``, ``3 Feb 2025``): one token per day,
    ``dt20250203``, so each finds the others."""
    if not any(c.isdigit() for c in text):
        return
    for m in _DATE.finditer(text):
        token = _date(m)
        if token is not None:
            yield m.start(), m.end(), token


def reference_joins(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, word)`` for each number in ``text`` the index also holds written
    together: a reference number's parts (``HV-2024-00123`` -> ``hv202400123``), an IBAN
    written in groups, and a date's day (``03.02.2025`` -> ``dt20250203``)."""
    for m in _REFERENCE.finditer(text):
        written = m.group(0)
        if len(written) > MAX_JOINED + MAX_PARTS or not any(c.isdigit() for c in written):
            continue
        words = fold_tokens(written)
        joined = "".join(words)
        if 2 <= len(words) <= MAX_PARTS and len(joined) <= MAX_JOINED:
            yield m.start(), m.end(), joined
    yield from ibans(text)
    yield from dates(text)


def reference_words(text: str) -> list[str]:
    """The words of :func:`reference_joins`, each once, in order."""
    return list(dict.fromkeys(w for _, _, w in reference_joins(text)))
