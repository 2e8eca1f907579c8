"""The HTTP API under ``/api/v1``: every module contributes ``OPERATIONS``."""

from __future__ import annotations

from chronik.api import customers, entries, events, inbound, lookup, meta, policy, search
from chronik.api.base import Operation

OPERATIONS: list[Operation] = [
    *meta.OPERATIONS,
    *customers.OPERATIONS,
    *entries.OPERATIONS,
    *lookup.OPERATIONS,
    *search.OPERATIONS,
    *policy.OPERATIONS,
    *inbound.OPERATIONS,
    *events.OPERATIONS,
]
