"""When a message was written: its ``Date`` header as RFC 5322 says, else as mail programs
really write it, else when the first mail server received it.

A date that cannot be read would otherwise become "now" -- wrong for every message of an
imported mailbox, which then sorts above the whole history. Besides RFC 5322, programs send
Apple Mail's ``16 May 2016 at 09:30:32 GMT+1``, Outlook's ``Monday, May 03, 2010 4:21 PM``,
localised names (``Di, 03 Mär 2020``, ``16. Mai 2016 um 09:30 MESZ``), ISO 8601 and zone
names the standard parser does not know (``CEST`` read as UTC). Those are read with
``dateutil`` after the names and offsets are put into a form it reads the same way mail
means them (``GMT+1`` is one hour *ahead* of UTC in mail, behind it in POSIX).
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

_ZONES = {  # abbreviations mail programs write, with their offset from UTC in hours
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "BST": 1, "IST": 1, "WEST": 1,
    "CET": 1, "MEZ": 1, "CEST": 2, "MESZ": 2, "EET": 2, "OEZ": 2, "EEST": 3, "OESZ": 3,
    "MSK": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "JST": 9, "KST": 9,
    "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}
_TZINFOS = {name: hours * 3600 for name, hours in _ZONES.items()}
_MONTHS = {  # other languages' month names and abbreviations -> English
    "januar": "Jan", "jänner": "Jan", "jän": "Jan", "februar": "Feb", "märz": "Mar",
    "mär": "Mar", "mrz": "Mar", "maerz": "Mar", "mai": "May", "juni": "Jun", "juli": "Jul",
    "oktober": "Oct", "okt": "Oct", "dezember": "Dec", "dez": "Dec",
    "janvier": "Jan", "janv": "Jan", "février": "Feb", "févr": "Feb", "fevrier": "Feb",
    "mars": "Mar", "avril": "Apr", "avr": "Apr", "juin": "Jun", "juillet": "Jul",
    "juil": "Jul", "août": "Aug", "aout": "Aug", "septembre": "Sep", "octobre": "Oct",
    "novembre": "Nov", "décembre": "Dec", "déc": "Dec", "decembre": "Dec",
    "enero": "Jan", "ene": "Jan", "febrero": "Feb", "marzo": "Mar", "abril": "Apr",
    "abr": "Apr", "mayo": "May", "junio": "Jun", "julio": "Jul", "agosto": "Aug",
    "ago": "Aug", "septiembre": "Sep", "setiembre": "Sep", "octubre": "Oct",
    "noviembre": "Nov", "diciembre": "Dec", "dic": "Dec",
    "gennaio": "Jan", "gen": "Jan", "febbraio": "Feb", "aprile": "Apr", "maggio": "May",
    "mag": "May", "giugno": "Jun", "giu": "Jun", "luglio": "Jul", "lug": "Jul",
    "settembre": "Sep", "set": "Sep", "ottobre": "Oct", "ott": "Oct", "dicembre": "Dec",
    "januari": "Jan", "februari": "Feb", "maart": "Mar", "mei": "May", "augustus": "Aug",
    "oktober.": "Oct", "mrt": "Mar",
}
_WORD = re.compile(r"[^\W\d_]+\.?", re.UNICODE)
_OFFSET = re.compile(r"\b(?:GMT|UTC|UT)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?\b", re.IGNORECASE)
_NOISE = re.compile(r"(?i)\s+(?:at|um|à|a las|alle|om|de)\s+|\s*\([^)]*\)\s*$|\s+Uhr\b")
_DEFAULTS = (datetime(2001, 2, 3), datetime(2002, 4, 5))  # dateutil fills gaps from these
_WEEKDAY = re.compile(r"^\s*[^\W\d_]+\.?,?\s+(?=\d)", re.UNICODE)


def message_date(msg: Message, values: list[str], notes: list[str]) -> datetime | None:
    """The message's date (timezone-aware) from its ``Date`` header values, else the time
    its newest ``Received`` header gives; ``None`` when neither says. What was not read
    as sent is noted."""
    value = values[0].strip() if values else ""
    if value:
        found = rfc_date(value)
        if found is not None:
            if _OLD_YEAR.match(value):
                notes.append(f"the Date header {value!r} has a three-digit year (years "
                             f"after 1999 as some programs wrote them): read as "
                             f"{found.isoformat()}")
            return found
        found = lenient_date(value)
        if found is not None:
            notes.append(f"the Date header {value!r} is not in the standard form: read as "
                         f"{found.isoformat()}")
            return found
    received = _received(msg)
    if received is not None:
        notes.append(("the Date header " + repr(value) + " could not be read" if value
                      else "no Date header") + ": the time the first mail server received "
                     "the message was used")
    return received


def rfc_date(value: str) -> datetime | None:
    """An RFC 5322 date with a known zone (``-0000``, a numeric offset or a US/UT name).

    A three-digit year is 1900 plus it (RFC 5322, 4.3): programs that counted years from
    1900 wrote 2003 as ``103``, which the standard parser reads as the year 103."""
    if _OLD_YEAR.match(value):
        value = _OLD_YEAR.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + 1900}", value)
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # a zone name the standard parser does not know, or -0000
        if re.search(r"(?:^|\s)-0000\b", value):
            return parsed.replace(tzinfo=UTC)
        return None
    return parsed  # a date far off is the ingest's to judge (it keeps it as original_date)


_OLD_YEAR = re.compile(r"^(\s*(?:[A-Za-z]{3},?\s*)?\d{1,2}\s+[A-Za-z]{3}\s+)(\d{3})(?=\s)")


def lenient_date(value: str) -> datetime | None:
    """A date as mail programs write it outside RFC 5322; ``None`` when it cannot be read
    or is implausible (before 1970, more than a day ahead)."""
    text = _NOISE.sub(" ", value).strip()
    text = _WEEKDAY.sub("", text)
    text = _OFFSET.sub(_numeric_offset, text)
    text = _WORD.sub(_english_month, text)
    dayfirst = re.search(r"\d{1,2}\.\s*\d{1,2}\.\s*\d{2,4}", text) is not None
    try:
        with warnings.catch_warnings():  # an unknown zone name: read as UTC, noted by caller
            warnings.simplefilter("ignore")
            parsed, other = (dateutil_parser.parse(text, dayfirst=dayfirst, tzinfos=_TZINFOS,
                                                   default=default) for default in _DEFAULTS)
    except (ValueError, OverflowError, TypeError):
        return None
    if parsed.date() != other.date():  # no year, month or day in it: filled in, not read
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if _plausible(parsed) else None


def _received(msg: Message) -> datetime | None:
    """The date of the newest (topmost) ``Received`` header that has one."""
    for header in (msg.get_all("received") or [])[:3]:
        _, semicolon, when = str(header).rpartition(";")
        if semicolon:
            found = rfc_date(" ".join(when.split())) or lenient_date(when)
            if found is not None:
                return found
    return None


def _numeric_offset(match: re.Match[str]) -> str:
    return f" {match.group(1)}{int(match.group(2)):02d}{match.group(3) or '00'}"


def _english_month(match: re.Match[str]) -> str:
    word = match.group(0)
    return _MONTHS.get(word.lower(), _MONTHS.get(word.lower().rstrip("."), word))


def _plausible(when: datetime) -> bool:
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) <= when <= datetime.now(UTC) + timedelta(days=1)
    except (OverflowError, TypeError, ValueError):  # (an offset beyond ±24 h: ValueError)
        return False
