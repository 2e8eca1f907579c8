"""Phone numbers in full text, found in any format.

A note says ``Rückruf unter 0171 / 123 45 67``, a signature ``+49 (0)171 1234567``, a mail
``01711234567``; the agent searches ``+49 171 1234567``. Written words cannot match those
(``0171`` is not ``49``, ``171``), so every valid number in an entry's text is also indexed as
one token, ``tel`` + its E.164 digits (``tel491711234567``, :func:`token`), and a query
word group that is a valid number searches that token — or the number as typed, which
finds entries indexed before this existed. Numbers are read as the caller lookup reads them
(``timeline.identity.normalise_phone``, the office's region for national numbers: only
valid numbers; a local number without its area code is none).

Reading every document's text with phonenumbers' matcher would cost more than the rest of
its indexing; a regular expression finds the few stretches of digits and separators that
could be a number (:data:`CANDIDATE`), and only those are read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import lru_cache

import phonenumbers

from timeline.identity import written_number
from timeline.models import Entry

PHONE_META = "phone_forms"
"""The entry meta key the indexer puts the numbers' tokens under (index only: never
stored)."""
PREFIX = "tel"
_SEP = " \t\u00a0\u202f\u2009-/.()"
CANDIDATE = re.compile(rf"\d[\d{re.escape(_SEP)}]{{5,40}}")
"""A stretch that may write one or more numbers: digits, blanks and the separators people
put between them (``-``, ``/``, ``.``, brackets). From a digit, so that the regular
expression skips the rest of a text fast; a ``+`` or ``(`` before it is read by
:func:`candidates`."""
_DIGIT = re.compile(r"\d")
_RUNS = re.compile(r"\d+")
_BETWEEN = re.compile(r"[ \t\u00a0\u202f\u2009\-/.()]{0,3}")
"""What may stand between two digit groups of one number in a snippet."""
_DATE = re.compile(r"\d{1,2}\.\d{1,2}\.(?:\d{2}|\d{4})")
_SEVERAL = re.compile(r"\s+/\s*|\s*/\s+|\s{2,}")
"""Where a stretch writing several numbers is cut (``0171 1234567 / 030 2345678``)."""
MIN_DIGITS, MAX_DIGITS = 7, 17
"""Digits of a written number: a national number with area code has at least 7; E.164
allows 15, written with ``00`` and a ``(0)`` 17."""
MAX_GROUPS = 8


def candidates(text: str, region: str) -> Iterator[tuple[int, str]]:
    """``(start, stretch)`` for the stretches of ``text`` that may write a number: at least
    seven digits, not inside a word or another number, with the ``+`` or ``(`` written
    before them; in a region whose national numbers start with a trunk prefix (Germany's
    ``0``), only those starting with it, ``+`` or ``(`` — dates and reference numbers are
    not read."""
    trunk = _trunk(region.upper())
    for m in CANDIDATE.finditer(text):
        start, span = m.start(), m.group(0).rstrip(_SEP)
        before = text[start - 1] if start else ""
        if before in ("+", "("):
            start, span = start - 1, before + span
            before = text[start - 1] if start else ""
        if (before and (before.isalnum() or before in "+-./,_")) or not span[-1].isdigit():
            continue
        end = start + len(span)
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            continue
        if len(_DIGIT.findall(span)) < MIN_DIGITS or _DATE.fullmatch(span):
            continue
        if trunk and not span.startswith(("+", "(", trunk, "00")):
            continue
        yield start, span


@lru_cache(maxsize=1 << 14)
def _number(span: str, region: str) -> str | None:
    """:func:`written_number`, remembered: signatures write the same numbers again and
    again."""
    return written_number(span, region)


def numbers(text: str, region: str) -> list[str]:
    """The valid numbers written in ``text``, E.164, each once, in order."""
    found: list[str] = []
    for _, span in candidates(text, region):
        one = _number(span, region)
        here = [one] if one is not None else [
            n for part in _SEVERAL.split(span)
            if len(_DIGIT.findall(part)) >= MIN_DIGITS
            and (n := _number(part, region)) is not None]
        found += [n for n in here if n not in found]
    return found


def token(e164: str) -> str:
    """The index token of a number (``+491711234567`` -> ``tel491711234567``)."""
    return PREFIX + e164.lstrip("+")


def written_forms(e164: str, region: str) -> frozenset[str]:
    """The digits a number is written with, separators left out: international
    (``491711234567``, ``00491711234567``, ``4901711234567`` for ``+49 (0)171 …``) and
    national in ``region`` (``01711234567``) — what a snippet marks."""
    number = phonenumbers.parse(e164)
    intl = e164.lstrip("+")
    out = {intl, "00" + intl}
    national = re.sub(r"\D", "", phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.NATIONAL))
    trunk = _trunk(phonenumbers.region_code_for_number(number))
    if trunk:
        nsn = str(number.national_number)
        out.add(f"{number.country_code}{trunk}{nsn}")
    if phonenumbers.region_code_for_number(number) == region.upper() or \
            number.country_code == phonenumbers.country_code_for_region(region.upper()):
        out.add(national)
    return frozenset(out)


def _trunk(region: str | None) -> str | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region or "")
    return metadata.national_prefix if metadata else None


def spans(text: str, forms: frozenset[str]) -> list[tuple[int, int]]:
    """Where ``text`` writes one of the numbers whose digits are ``forms`` (from
    :func:`written_forms`): consecutive digit groups, separated only by blanks and
    separators, whose digits together are one of them."""
    if not forms:
        return []
    groups = list(_RUNS.finditer(text))
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        digits = ""
        end = None
        for j in range(i, min(i + MAX_GROUPS, len(groups))):
            if j > i and not _BETWEEN.fullmatch(text, groups[j - 1].end(), groups[j].start()):
                break
            digits += groups[j].group(0)
            if len(digits) > MAX_DIGITS:
                break
            if digits in forms:
                end = j
        start = groups[i].start()
        if end is not None and (start == 0 or not text[start - 1].isalnum()) and (
                groups[end].end() == len(text) or not text[groups[end].end()].isalnum()):
            out.append((start, groups[end].end()))
            i = end + 1
        else:
            i += 1
    return out


RegionOf = Callable[[str], Awaitable[str | None]]


class PhoneForms:
    """Adds the number tokens to entries before they are indexed, with each office's region
    (looked up once, then trusted for ``ttl`` seconds)."""

    def __init__(self, region_of: RegionOf, *, ttl: float = 300.0) -> None:
        self._region_of = region_of
        self._ttl = ttl
        self._regions: dict[str, tuple[str, float]] = {}

    async def region(self, office_id: str) -> str:
        hit = self._regions.get(office_id)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self._ttl:
            return hit[0]
        region = (await self._region_of(office_id)) or "DE"
        self._regions[office_id] = (region, now)
        return region

    async def annotate(self, entries: Sequence[Entry]) -> list[Entry]:
        """``entries`` with their numbers' tokens under ``meta[PHONE_META]`` (those that
        write none as they are)."""
        from search.prepared import phone_text, taken_phones  # (it imports search.query)

        out: list[Entry] = []
        for entry in entries:
            text = phone_text(entry.subject, entry.body, [
                entry.meta.get(k) for k in ("search_text", "attachment_text")])
            region = await self.region(entry.office_id)
            tokens = taken_phones(text, region)  # worked out by chronik import's parsers
            if tokens is None:
                tokens = " ".join(token(n) for n in numbers(text, region)) if text else ""
            if tokens:
                entry = Entry.model_construct(**{**entry.__dict__, "meta": {  # stores build
                    **entry.meta, PHONE_META: tokens}})  # them bare
            out.append(entry)
        return out
