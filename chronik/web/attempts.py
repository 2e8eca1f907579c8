"""Limits on sign-in attempts, counted in the store (``AccountStore.take_attempt``): every
process serving the same store -- ``chronik serve --processes N``, several servers behind a
proxy -- shares one count, so N processes do not allow N times the attempts.

What is stored is a scope, a key and a time -- no address: the key is an HMAC of what was
typed, keyed with the server's secret key, so the table names no one to whoever reads it
without the key. An attempt is forgotten once its window has passed (at the next attempt of
its scope, and after ``timeline.accounts.ATTEMPTS_KEPT`` in any case)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from chronik.privacy import service as privacy_service
from chronik.state import AppState
from timeline.models import utcnow


async def server_key(state: AppState) -> bytes:
    """``CHRONIK_SECRET_KEY``, or the key kept in the data folder: read once, when the state
    was opened (``chronik.privacy.install``), not at every sign-in."""
    return (await privacy_service(state)).key


async def attempt_key(state: AppState, scope: str, typed: str) -> str:
    """The key an attempt at ``typed`` (an address, a number) is counted under."""
    digest = hmac.new(await server_key(state), f"{scope}\n{typed}".encode(), hashlib.sha256)
    return digest.hexdigest()


async def take(state: AppState, scope: str, key: str, window: timedelta, limit: int) -> bool:
    """Count one attempt at ``key``; False (and nothing counted) when ``limit`` attempts
    were counted within the last ``window``."""
    now = utcnow()
    return await state.store.take_attempt(scope, key, now, now - window, limit)


async def over(state: AppState, scope: str, key: str, window: timedelta, limit: int) -> bool:
    """Whether ``limit`` attempts at ``key`` were counted within the last ``window``."""
    return await state.store.count_attempts(scope, key, utcnow() - window) >= limit
