"""Signed unsubscribe tokens: ``<payload>.<mac>``, both URL-safe base64, HMAC-SHA256 over
the payload with the installation's secret key. No expiry: an unsubscribe link in an old
e-mail must keep working."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class UnsubscribeTarget:
    office_id: str
    customer_id: str
    channel: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, b"unsubscribe:" + payload.encode("ascii"), hashlib.sha256).digest()[:18]


def sign_unsubscribe(key: bytes, office_id: str, customer_id: str, channel: str = "email"
                     ) -> str:
    payload = _b64(f"{office_id}:{customer_id}:{channel}".encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def verify_unsubscribe(key: bytes, token: str) -> UnsubscribeTarget | None:
    """The target of a genuine token; None for anything forged, garbled or truncated."""
    payload, _, mac = token.partition(".")
    if not payload or not mac or len(token) > 400:
        return None
    try:
        given = _unb64(mac)
        expected = _mac(key, payload)
        if not hmac.compare_digest(given, expected):
            return None
        office_id, customer_id, channel = _unb64(payload).decode("utf-8").split(":")
    except (ValueError, UnicodeError):
        return None
    return UnsubscribeTarget(office_id, customer_id, channel)
