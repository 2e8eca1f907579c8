"""The HTTP API under ``/api/v1``: every module contributes ``OPERATIONS``."""

from __future__ import annotations

from chronik.api import (
    customers,
    entries,
    events,
    inbound,
    lookup,
    meta,
    policy,
    search,
    waiting,
)
from chronik.api.base import Operation
from chronik.api.cti import OPERATIONS as CTI_OPERATIONS
from chronik.api.notifications import OPERATIONS as NOTIFICATION_OPERATIONS
from chronik.api.portal import OPERATIONS as PORTAL_OPERATIONS
from chronik.api.preferences import OPERATIONS as PREFERENCE_OPERATIONS
from chronik.api.privacy import OPERATIONS as PRIVACY_OPERATIONS
from chronik.api.telegram import OPERATIONS as TELEGRAM_OPERATIONS

OPERATIONS: list[Operation] = [
    *meta.OPERATIONS,
    *customers.OPERATIONS,
    *entries.OPERATIONS,
    *waiting.OPERATIONS,
    *lookup.OPERATIONS,
    *search.OPERATIONS,
    *policy.OPERATIONS,
    *inbound.OPERATIONS,
    *events.OPERATIONS,
    *CTI_OPERATIONS,
    *PORTAL_OPERATIONS,
    *TELEGRAM_OPERATIONS,
    *PREFERENCE_OPERATIONS,
    *NOTIFICATION_OPERATIONS,
    *PRIVACY_OPERATIONS,
]
