"""The outbound boundary: one base class with a lifecycle. ``send()`` is final and holds the
shared policy (rate limit, error translation); each channel implements ``deliver()`` and
``translate()``."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import ClassVar, final

from notify.errors import Bug, TransportError
from notify.message import OutgoingMessage, Receipt
from notify.ratelimit import RateLimiter


class Transport(ABC):
    channel: ClassVar[str]
    idempotent: ClassVar[bool] = False
    """True when delivering twice has the effect of delivering once (the portal inbox):
    a send interrupted by a crash is then simply redone."""
    max_attachment_bytes: ClassVar[int | None] = None
    """The largest file the channel carries (Telegram: 50 MB); bigger ones go as a link."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter()

    def attachment_cost(self, size: int) -> int:
        """What a file of ``size`` bytes takes of a message's budget for files (e-mail:
        its base64 form and its part's headers)."""
        return size

    def attachment_budget(self, configured: int) -> int:
        """How many bytes of files one message may carry: ``configured``, or less where the
        server takes less (a mail server's announced ``SIZE``)."""
        return configured

    async def initialize(self) -> None:
        """Open shared resources (connection pools, HTTP sessions)."""
        return None

    async def shutdown(self) -> None:
        """Close them."""
        return None

    @final
    async def send(self, message: OutgoingMessage) -> Receipt:
        await self.limiter.acquire(message.address)
        try:
            return await self.deliver(message)
        except (TransportError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise self.translate(exc) from exc

    @abstractmethod
    async def deliver(self, message: OutgoingMessage) -> Receipt:
        """Send one message; raise foreign exceptions freely (``translate`` maps them)."""

    def translate(self, exc: Exception) -> TransportError:
        """Map a foreign exception to Transient / Permanent / Bug."""
        return Bug(describe(exc))

    def diagnostics(self) -> dict[str, object]:
        return {"channel": self.channel}


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
