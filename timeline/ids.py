"""Sortable identifiers (ULID, Crockford base32) and time-ordered sequence keys."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

from timeline.errors import InvalidInput

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
"""Every 10-bit value as its two base32 characters: a ULID is 13 table look-ups."""
_SHIFTS = tuple(range(120, -1, -10))


def _encode_ulid(ms: int, rand: int) -> str:
    """26 Crockford base32 characters: 10 for the 48-bit time, 16 for the 80 random bits
    (most significant first)."""
    value = ((ms & ((1 << 50) - 1)) << 80) | rand
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


def new_ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID; monotonic within one process for the same millisecond."""
    global _last_ms, _last_rand
    ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last_ms and now_ms is None:
            ms = _last_ms
            rand = (_last_rand + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_rand = ms, rand
    return _encode_ulid(ms, rand)


SEQ_SLOTS = 1 << 16
"""Entries get an integer key ``occurred_ms * SEQ_SLOTS + n``: ordering by it is ordering by
time of occurrence, and it doubles as the search index's document id (so a date range is a
key range)."""


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""The window every stored date lies in, [EARLIEST, LATEST). The key ``ms * SEQ_SLOTS`` fits
a signed 64-bit integer only up to the year 6429; outside this window a date is a clock or
parser error, not history. Inbound messages dated outside it are stored at the time of
receipt (the original kept in ``meta.original_date``); agents and query filters get a 400."""


def in_window(value: datetime) -> bool:
    """Whether ``value`` (naive means UTC) lies in [EARLIEST, LATEST)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return EARLIEST <= aware < LATEST
    except OverflowError:  # an offset pushes it past datetime's range
        return False


def window_text() -> str:
    return f"{EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"


def seq_base(occurred_at: datetime) -> int:
    if not in_window(occurred_at):
        raise InvalidInput(f"dates must lie between {window_text()}: {occurred_at.isoformat()}")
    return int(occurred_at.timestamp() * 1000) * SEQ_SLOTS


def seq_to_ms(seq: int) -> int:
    return seq // SEQ_SLOTS


SEQ_MAX = (1 << 63) - 1


def parse_seq(raw: str) -> int:
    """A cursor that is an entry key: canonical digits, 0 .. 2**63-1 (a SQLite INTEGER);
    anything else is ``InvalidInput``."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > SEQ_MAX:
        raise InvalidInput("cursor is not valid; use next_cursor")
    return int(raw)
