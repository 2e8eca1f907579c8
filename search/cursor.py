"""The cursor of a relevance-ordered page, shared by both backends.

BM25 scores depend on the whole index (how many documents, their mean length, how many
hold each word), so every write anywhere shifts every score a little: a cursor that only
carried the last hit's score would skip or repeat hits once anything is written between two
pages (a review lost 30 of 43 hits to 20 notes written in another office). So the cursor
also carries

* ``below``: the entry keys the first page ranked lie below it -- entries written later
  never enter the ranking (they are on the newest-first pages), and
* the last hit's ``seq``: the next page scores that hit again under the index as it is now
  and goes on after it (the stored tier and score are the fallback when it is gone).

Format ``<tier>:<score>:<seq>:<below>``; a cursor of the older form ``<tier>:<score>:<seq>``
still works (no ``below``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from search.query import QueryError
from timeline.errors import InvalidInput
from timeline.ids import parse_seq


@dataclass(frozen=True)
class RelevanceCursor:
    tier: int
    score: float
    seq: int
    below: int | None
    """Entry keys from here on are not ranked (None: an older cursor, no bound)."""

    def __str__(self) -> str:
        return f"{self.tier}:{self.score!r}:{self.seq}:{self.below}"


def relevance_cursor(raw: str | None, tiers: int = 2) -> RelevanceCursor | None:
    """Parse ``raw`` (``QueryError`` for anything that is not a cursor of ours)."""
    if not raw:
        return None
    parts = raw.split(":")
    if len(parts) not in (3, 4):
        raise QueryError("invalid cursor", "invalid_cursor")
    try:
        tier, score, seq = int(parts[0]), float(parts[1]), parse_seq(parts[2])
        below = parse_seq(parts[3]) if len(parts) == 4 else None
    except (ValueError, InvalidInput) as exc:
        raise QueryError("invalid cursor", "invalid_cursor") from exc
    if not (math.isfinite(score) and 0 <= tier < tiers) or (below is not None
                                                            and seq >= below):
        raise QueryError("invalid cursor", "invalid_cursor")
    return RelevanceCursor(tier, score, seq, below)
