"""Telegram connector: python-telegram-bot (long polling or webhook) -> ``InboundMessage``."""

from .connector import RAW_CHANNEL, TelegramConnector
from .context import TelegramConfig, TelegramServices
from .errors import (
    TelegramConfigError,
    TelegramConnectorError,
    TelegramNotReady,
    TelegramRejected,
    TelegramTokenRejected,
    TelegramUnavailable,
)
from .linking import LINK_PURPOSE, hash_link_token, new_link_token

__all__ = [
    "LINK_PURPOSE",
    "RAW_CHANNEL",
    "TelegramConfig",
    "TelegramConfigError",
    "TelegramConnector",
    "TelegramConnectorError",
    "TelegramNotReady",
    "TelegramRejected",
    "TelegramServices",
    "TelegramTokenRejected",
    "TelegramUnavailable",
    "hash_link_token",
    "new_link_token",
]
