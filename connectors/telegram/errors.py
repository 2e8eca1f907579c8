"""Errors of the Telegram connector, and the one place ``telegram.error`` is translated.

Grouped by what the supervisor (or an operator) should do about them:

* :class:`TelegramUnavailable` - transient (network, timeouts, flood control, Telegram's own
  server errors): retry later with backoff.
* :class:`TelegramRejected` - the Bot API refuses us or this request (another process polls
  the same bot, a bad webhook URL): retrying helps only after someone fixes the
  configuration; :class:`TelegramTokenRejected` when it is the bot token.
* :class:`TelegramConfigError` - our own settings do not fit (no such office, several offices
  and none chosen).

Messages never contain the bot token (PTB puts it into ``InvalidToken``'s text).
"""

from __future__ import annotations

import datetime as dtm

from telegram import error as tg_error


class TelegramConnectorError(Exception):
    """Base of everything the connector raises; ``str()`` is safe to show to an admin."""


class TelegramUnavailable(TelegramConnectorError):
    """Telegram cannot be reached right now, or asks us to slow down."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TelegramRejected(TelegramConnectorError):
    """The Bot API refuses this bot or this request; fix the configuration."""


class TelegramTokenRejected(TelegramRejected):
    """The bot token is wrong or was revoked: nothing works until it is replaced."""


class TelegramConfigError(TelegramConnectorError):
    """The connector's settings do not fit the data (office unknown or ambiguous)."""


class TelegramNotReady(TelegramConnectorError):
    """An update arrived while the connector is not connected (Telegram retries webhooks)."""


TOKEN_REJECTED = ("the Bot API rejected the bot token (check CHRONIK_TELEGRAM_BOT_TOKEN "  # noqa: S105
                  "and CHRONIK_TELEGRAM_API_BASE_URL)")


def scrub(text: str, token: str) -> str:
    """``text`` with the bot token (and its secret half) masked."""
    if token:
        text = text.replace(token, "***")
        secret = token.partition(":")[2]
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def seconds(value: dtm.timedelta | float | int) -> float:
    """``RetryAfter.retry_after`` is a timedelta with ``PTB_TIMEDELTA=1``, else a number."""
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


def translate(exc: tg_error.TelegramError, token: str) -> TelegramConnectorError:
    """Map one ``telegram.error`` exception to ours (order matters: subclasses first)."""
    if isinstance(exc, tg_error.InvalidToken):
        return TelegramTokenRejected(TOKEN_REJECTED)
    if isinstance(exc, tg_error.EndPointNotFound):
        return TelegramRejected(f"unknown Bot API method: {scrub(exc.message, token)}")
    if isinstance(exc, tg_error.RetryAfter):
        wait = seconds(exc.retry_after)
        return TelegramUnavailable(f"flood control: retry after {wait:g}s", retry_after=wait)
    if isinstance(exc, tg_error.TimedOut):
        return TelegramUnavailable("the Bot API did not answer in time")
    if isinstance(exc, tg_error.Conflict):
        return TelegramRejected("conflict: another process uses this bot (getUpdates or a "
                                f"webhook): {scrub(exc.message, token)}")
    if isinstance(exc, tg_error.Forbidden):
        return TelegramRejected(f"forbidden: {scrub(exc.message, token)}")
    if isinstance(exc, tg_error.BadRequest):
        return TelegramRejected(f"bad request: {scrub(exc.message, token)}")
    if isinstance(exc, tg_error.ChatMigrated):
        return TelegramRejected(f"chat migrated to {exc.new_chat_id}")
    if isinstance(exc, tg_error.NetworkError):
        return TelegramUnavailable(f"network error: {scrub(exc.message, token)}")
    return TelegramUnavailable(f"{type(exc).__name__}: {scrub(exc.message, token)}")
