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

from timeline.text import fold, fold_once

MAX_JOINED = 40
"""Characters of a number written together at most (longer runs are not references)."""
MAX_PARTS = 8

_DIGITS = re.compile(r"[0-9]+")
"""Every number below holds a digit: the scan goes from digit run to digit run (a text's
words without digits cost one fast search), matching the patterns at the start of the
whitespace-free stretch around each run."""
_STRETCH = re.compile(r"[^\W_]+(?:[-/.][^\W_]+)*")
"""Letters and digits joined by ``-``, ``/``, ``.`` (no spaces): ``HV-2024-00123``,
``KV-2022/0815``, ``12/345678-9``; one with a digit and a separator is a reference
number."""

_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
"""A file name's extension after a reference number (``HV-2024-00123.pdf``)."""

_IBAN = re.compile(r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?"
                   r"(?![^\W_])")
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


def _iban(written: str) -> tuple[int, str] | None:
    """The longest valid IBAN at the start of ``written`` (a match of :data:`_IBAN`, which
    may have run on into a following group) written in groups: its length and folded
    compact form."""
    parts = written.split(" ")
    for n in range(len(parts), 1, -1):
        compact = "".join(parts[:n]).upper()
        if _valid_iban(compact):
            return len(" ".join(parts[:n])), compact.lower()
    return None


_MONTHS = {name: n for n, names in enumerate([
    "januar jan january", "februar feb february", "marz mar march mrz", "april apr",
    "mai may", "juni jun june", "juli jul july", "august aug", "september sep sept",
    "oktober okt october oct", "november nov", "dezember dez december dec"], 1)
    for name in names.split()}
_DATE = re.compile(
    r"(?:(?P<d>[0-9]{1,2})\.(?P<m>[0-9]{1,2})\.(?P<y>[0-9]{4}|[0-9]{2})"  # 03.02.2025, 3.2.25
    r"|(?P<iy>[0-9]{4})-(?P<im>[0-9]{1,2})-(?P<id>[0-9]{1,2})"  # 2025-02-03
    r"|(?P<sd>[0-9]{1,2})/(?P<sm>[0-9]{1,2})/(?P<sy>[0-9]{4})"  # 03/02/2025 (day first)
    r"|(?P<nd>[0-9]{1,2})\.? ?(?P<nm>[^\W\d_]{3,9})\.? (?P<ny>[0-9]{4})"  # 3. Februar 2025
    r")(?!\w|[.,][0-9])")
"""A date as offices write it, where a number starts; read by :func:`_date` (a real day,
or no date)."""
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


def _numbers(text: str, *, references: bool = True, ibans: bool = True,
             dates: bool = True) -> Iterator[tuple[int, int, str]]:
    """The scan behind :func:`reference_joins` (see there), from digit run to digit run."""
    stretch_end = 0  # the stretch last read: its other digit runs belong to it
    taken = 0  # the end of the last IBAN or date: the digit runs inside belong to it
    for run in _DIGITS.finditer(text):
        at = run.start()
        if at < taken:
            continue
        if at >= stretch_end:
            start = at
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "-/."):
                start -= 1
            while text[start] in "-/.":
                start += 1
            stretch = _STRETCH.match(text, start)
            stretch_end = stretch.end() if stretch is not None else run.end()
            if stretch is not None and references and stretch.end() - start <= \
                    MAX_JOINED + MAX_PARTS and any(c in stretch.group(0) for c in "-/."):
                written = stretch.group(0)
                end = stretch.end()
                words = fold_once(written)  # (unique: not worth remembering)
                joined = "".join(words)
                if 2 <= len(words) <= MAX_PARTS and len(joined) <= MAX_JOINED:
                    yield start, end, joined
                ext = _EXTENSION.search(written)
                if ext is not None and len(words) > 2:  # Police_HV-2024-00123.pdf
                    words = words[:-1]
                    yield start, end - len(ext.group(0)), "".join(words)
            if ibans and text[start:start + 2].isalpha():
                m = _IBAN.match(text, start)
                found = _iban(m.group(0)) if m is not None and " " in m.group(0) else None
                if found is not None:
                    yield start, start + found[0], found[1]
                    taken = start + found[0]
                    continue
        if dates and (not at or not (text[at - 1].isalnum() or text[at - 1] in ".,/")):
            m = _DATE.match(text, at)
            token = _date(m) if m is not None else None
            if m is not None and token is not None:
                yield at, m.end(), token
                taken = m.end()


def ibans(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, compact)`` of each valid IBAN in ``text`` written in groups
    (``DE89 3704 0044 0532 0130 00`` -> ``de89370400440532013000``)."""
    return _numbers(text, references=False, dates=False)


def dates(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, token)`` of each date in ``text``, however written (``03.02.2025``,
    ``3.2.25``, ``2025-02-03``, ``3. Februar 2025``, ``3 Feb 2025``): one token per day,
    ``dt20250203``, so each finds the others."""
    return _numbers(text, references=False, ibans=False)


def reference_joins(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, word)`` for each number in ``text`` the index also holds written
    together: a reference number's parts (``HV-2024-00123`` -> ``hv202400123``), an IBAN
    written in groups, and a date's day (``03.02.2025`` -> ``dt20250203``)."""
    return _numbers(text)


def reference_words(text: str) -> list[str]:
    """The words of :func:`reference_joins`, each once, in order."""
    return list(dict.fromkeys(w for _, _, w in reference_joins(text)))
