"""Customer portal sessions: a bearer token (``cpt_…``) that names one customer of one
office. Only its SHA-256 is stored (``InboundRepository.add_customer_token``, purpose
``portal_session``); the customer never chooses who they are — the token does."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from timeline.models import utcnow
from timeline.repositories import InboundRepository

PURPOSE = "portal_session"
PREFIX = "cpt_"


@dataclass(frozen=True)
class PortalSession:
    office_id: str
    customer_id: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_session(store: InboundRepository, office_id: str, customer_id: str,
                        valid_for: timedelta) -> tuple[str, datetime]:
    """A new session token for the customer, and when it expires."""
    token = PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + valid_for
    await store.add_customer_token(office_id, customer_id, PURPOSE, token_hash(token),
                                   expires_at)
    return token, expires_at


async def resolve_session(store: InboundRepository, token: str) -> PortalSession | None:
    """The session of a valid, unexpired token; ``None`` for anything else."""
    token = token.strip()
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    found = await store.resolve_customer_token(token_hash(token), PURPOSE)
    return None if found is None else PortalSession(office_id=found[0], customer_id=found[1])
