"""What the Telegram connector is given: its configuration and the services it hands over to.

The connector imports nothing of the composition root; ``chronik/glue/telegram.py`` builds
these two objects from the settings and the running app and passes them in."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from timeline.ingest import IngestService
from timeline.models import Customer
from timeline.repositories import IngestStore
from timeline.service import TimelineService

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_API_FILE_URL = "https://api.telegram.org/file/bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header name)
SECRET_PATTERN = r"^[A-Za-z0-9_-]{16,256}$"  # noqa: S105  (a pattern)
"""Telegram allows 1-256 of these characters; we ask for at least 16."""

Mode = Literal["polling", "webhook"]
CLOUD_API_HOST = "api.telegram.org"
WEBHOOK_PORTS = (80, 88, 443, 8443)
"""The only ports Telegram's cloud sends webhooks to (a local Bot API server takes any)."""
WEBHOOK_MAX_CONNECTIONS = 10
"""Parallel webhook deliveries we ask Telegram for (its default is 40): enough to keep up
(each is answered after one database write), few enough to keep reordering short."""


def webhook_url_problem(url: str) -> str | None:
    """Why Telegram's cloud would refuse ``url`` as a webhook (``None``: it would not)."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "Telegram sends webhooks only to https:// URLs"
    try:
        port = parts.port
    except ValueError:
        return "the port is not a number"
    if port is not None and port not in WEBHOOK_PORTS:
        return f"Telegram sends webhooks only to ports 80, 88, 443 or 8443, not {port}"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "there is no host name"
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} cannot be reached from Telegram"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return f"the IP address {host} is private or reserved; Telegram cannot reach it"
    return None


def derive_webhook_secret(token: str) -> str:
    """A stable secret for the webhook path when none is configured (not the token itself)."""
    return hmac.new(token.encode("utf-8"), b"chronik-telegram-webhook",
                    hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    mode: Mode = "polling"
    api_base_url: str = DEFAULT_API_BASE_URL
    """PTB appends the token: ``https://api.telegram.org/bot`` + ``123:abc``."""
    api_file_url: str = DEFAULT_API_FILE_URL
    poll_timeout: float = 30.0
    """Seconds one long-polling ``getUpdates`` may wait for news."""
    office_id: str | None = None
    """The office this bot belongs to; ``None``: the only office there is."""
    webhook_base_url: str | None = None
    """Public base URL of this server; in webhook mode the connector registers
    ``<base>/api/v1/telegram/webhook/<secret>`` with Telegram. ``None``: set it yourself."""
    webhook_secret: str = ""
    bot_username: str | None = None
    """Used for link URLs until the bot has connected and learnt its own username."""
    reorder_seconds: float = 0.5
    """Webhook mode: an update waits this long after it arrived before it is processed, so
    that an earlier one of the same chat delivered in parallel can overtake it."""

    def __post_init__(self) -> None:
        if not self.webhook_secret:
            object.__setattr__(self, "webhook_secret", derive_webhook_secret(self.token))
        elif not re.match(SECRET_PATTERN, self.webhook_secret):
            raise ValueError("the webhook secret must be 16-256 characters of A-Z a-z 0-9 _ -")
        if self.mode == "webhook" and self.webhook_base_url and self.cloud_api:
            problem = webhook_url_problem(self.webhook_base_url)
            if problem:
                raise ValueError(f"CHRONIK_PUBLIC_URL {self.webhook_base_url!r} cannot receive "
                                 f"Telegram webhooks: {problem}")

    @property
    def cloud_api(self) -> bool:
        """Talking to Telegram's own servers (not a local Bot API server, whose webhooks may
        use any URL)."""
        return urlsplit(self.api_base_url).hostname == CLOUD_API_HOST

    @property
    def bot_id(self) -> int:
        """The bot's user id: the part of the token before the colon."""
        head = self.token.partition(":")[0]
        return int(head) if head.isascii() and head.isdigit() and len(head) < 19 else 0

    @property
    def webhook_path(self) -> str:
        return f"/api/v1/telegram/webhook/{self.webhook_secret}"

    @property
    def webhook_url(self) -> str | None:
        if self.webhook_base_url is None:
            return None
        return self.webhook_base_url.rstrip("/") + self.webhook_path

    def secret_matches(self, path_secret: str, header: str | None) -> bool:
        """The path must carry the secret; the header, when sent, must carry it too."""
        expected = self.webhook_secret.encode("utf-8")
        ok = hmac.compare_digest(path_secret.encode("utf-8"), expected)
        if header is not None:
            ok = hmac.compare_digest(header.encode("utf-8"), expected) and ok
        return ok


PortalLink = Callable[[Customer, str], Awaitable[tuple[str, int] | None]]
"""A one-time sign-in link to the customer portal for a customer, in a language: (URL,
minutes it is valid); ``None`` when no more may be sent now."""


@dataclass(frozen=True)
class TelegramServices:
    """The one ingest service (which carries the timeline service and the store), and the
    portal's sign-in links (``/portal``; ``None``: no portal to sign in to)."""

    ingest: IngestService
    portal_link: PortalLink | None = None

    @property
    def timeline(self) -> TimelineService[IngestStore]:
        return self.ingest.timeline

    @property
    def store(self) -> IngestStore:
        return self.ingest.store
