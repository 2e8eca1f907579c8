"""Sortable identifiers (ULID, Crockford base32) and time-ordered sequence keys."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


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
    return _encode(ms, 10) + _encode(rand, 16)


SEQ_SLOTS = 1 << 16
"""Entries get an integer key ``occurred_ms * SEQ_SLOTS + n``: ordering by it is ordering by
time of occurrence, and it doubles as the search index's document id (so a date range is a
key range)."""


def seq_base(occurred_at: datetime) -> int:
    return int(occurred_at.timestamp() * 1000) * SEQ_SLOTS


def seq_to_ms(seq: int) -> int:
    return seq // SEQ_SLOTS
