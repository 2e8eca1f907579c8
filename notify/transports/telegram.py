"""Telegram with python-telegram-bot's ``Bot``: a message to the customer's linked private
chat (the Telegram identity's value is the user id, which is the chat id)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import ClassVar

from telegram import Bot
from telegram import error as tg

from notify.errors import Bug, Permanent, Transient, TransportError
from notify.message import OutgoingMessage, Receipt
from notify.ratelimit import RateLimiter
from notify.transports import Transport, describe

log = logging.getLogger(__name__)

MAX_TEXT = 4096


def retry_after_seconds(value: object) -> float:
    """PTB gives ``retry_after`` as int seconds or (with PTB_TIMEDELTA) a timedelta."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return 1.0


class TelegramTransport(Transport):
    channel: ClassVar[str] = "telegram"

    def __init__(self, token: str, *, base_url: str | None = None,
                 base_file_url: str | None = None, limiter: RateLimiter | None = None) -> None:
        # Telegram: about 30 messages/s overall, 1/s per chat.
        super().__init__(limiter or RateLimiter(per_second=30, per_key_interval=1.0))
        self.base_url = base_url
        self._token = token
        self._base_file_url = base_file_url
        self._bot: Bot | None = None
        self._lock = asyncio.Lock()
        self.sent = 0

    async def _ensure_ready(self) -> Bot:
        # Lazily, so a Telegram outage never stops e-mail and the portal inbox.
        if self._bot is not None:
            return self._bot
        async with self._lock:
            if self._bot is None:
                bot = Bot(self._token,
                          base_url=self.base_url or "https://api.telegram.org/bot",
                          base_file_url=self._base_file_url or
                          "https://api.telegram.org/file/bot")
                try:
                    await bot.initialize()
                except BaseException:
                    await bot.shutdown()
                    raise
                self._bot = bot
            return self._bot

    async def deliver(self, message: OutgoingMessage) -> Receipt:
        bot = await self._ensure_ready()
        chat_id = int(message.address)
        text = message.text if len(message.text) <= MAX_TEXT else \
            message.text[: MAX_TEXT - 1] + "…"
        sent = await bot.send_message(chat_id=chat_id, text=text)
        self.sent += 1
        for att in message.attachments:
            # The text is out: a failing attachment must not make us send the text again.
            try:
                await self.limiter.acquire(message.address)
                await bot.send_document(chat_id=chat_id, document=att.data,
                                             filename=att.name)
            except tg.TelegramError as exc:
                log.warning("telegram attachment for entry %s not sent: %s", message.entry_id,
                            describe(exc))
        return Receipt(str(sent.message_id))

    async def shutdown(self) -> None:
        bot, self._bot = self._bot, None
        if bot is not None:
            await bot.shutdown()

    def translate(self, exc: Exception) -> TransportError:
        return translate_telegram_error(exc)

    def diagnostics(self) -> dict[str, object]:
        return {"channel": self.channel, "base_url": self.base_url, "ready": self._bot is not None,
                "sent": self.sent}


def translate_telegram_error(exc: Exception) -> TransportError:
    if isinstance(exc, tg.InvalidToken):  # its message quotes the token: never repeat it
        return Transient("Telegram rejected the bot token")
    text = describe(exc)
    if isinstance(exc, tg.RetryAfter):
        return Transient(text, retry_after=retry_after_seconds(exc.retry_after))
    if isinstance(exc, tg.Forbidden):
        return Permanent(f"Telegram refused the chat (bot blocked?): {text}")
    if isinstance(exc, tg.ChatMigrated):
        return Permanent(f"the chat moved: {text}")
    if isinstance(exc, tg.BadRequest):
        return Permanent(f"Telegram cannot deliver this: {text}")
    if isinstance(exc, tg.EndPointNotFound | tg.PassportDecryptionError):
        return Bug(text)
    if isinstance(exc, tg.TelegramError | OSError | asyncio.TimeoutError):
        return Transient(text)
    return Bug(text)
