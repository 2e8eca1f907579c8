"""Telegram with python-telegram-bot's ``Bot``: a message to the customer's linked private
chat (the Telegram identity's value is the user id, which is the chat id).

What real Telegram does and how it is treated here:

* A text over 4096 characters is refused: it goes as several messages, split at paragraph
  or line ends, the footer (``/stop``) always whole in the last one.
* Files over 50 MB cannot be uploaded: the worker links them instead
  (``max_attachment_bytes``); a file that fails anyway is replaced by its portal link and
  the failure is recorded on the delivery (``Receipt.note``).
* A request that timed out or lost its connection after it was sent may have been
  delivered: :class:`OutcomeUnknown` (never resent automatically), as for e-mail.
* A rejected bot token makes the channel unusable at once: :class:`Permanent` (fall back)
  and ``on_token_rejected`` tells the connector health.
* An address that is not a numeric chat id, a blocked bot or an unknown chat: Permanent.
* A group chat that became a supergroup: Telegram names the new chat id; the message goes
  there, and the receipt's note asks to change the stored identity.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import ClassVar, TypeVar

import httpx
from telegram import Bot, ReplyParameters
from telegram import error as tg
from telegram.request import HTTPXRequest

from notify.errors import Bug, OutcomeUnknown, Permanent, Transient, TransportError
from notify.message import OutgoingAttachment, OutgoingMessage, Receipt
from notify.ratelimit import RateLimiter
from notify.transports import Transport, describe

log = logging.getLogger(__name__)

MAX_TEXT = 4096
"""Telegram's limit for one message, counted here in UTF-16 code units (the stricter count)."""
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
FOLLOW_UP_ATTEMPTS = 3
"""Tries for a part or file after the first part is out (the job cannot be redone then)."""
FOLLOW_UP_MAX_WAIT = 30.0
TOKEN_REJECTED = ("Telegram rejected the bot token: Telegram notifications are off until "  # noqa: S105
                  "CHRONIK_TELEGRAM_BOT_TOKEN is fixed")
T = TypeVar("T")

# A request that failed like this may have reached Telegram (it was written, the answer got
# lost); one that failed to connect or waited for a pooled connection never left.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
               httpx.RemoteProtocolError)


def retry_after_seconds(value: object) -> float:
    """PTB gives ``retry_after`` as int seconds or (with PTB_TIMEDELTA) a timedelta."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return 1.0


def chat_id_of(address: str) -> int:
    """The numeric chat id an identity stands for; :class:`Permanent` for anything else
    (identities stored before input was checked)."""
    text = address.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 20 or int(digits) == 0:
        raise Permanent(f"not a Telegram chat id: {address[:40]!r}")
    return int(text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` as messages of at most ``limit`` (UTF-16 units), cut at paragraph, line or
    word ends; the footer (from the last ``--`` line on) stays whole in the last one."""
    text = text.strip()
    if utf16_len(text) <= limit:
        return [text] if text else []
    body, sep, footer = text.rpartition("\n--\n")
    if sep:
        footer = "--\n" + footer
    else:
        body, footer = text, ""
    parts = _chunks(body, limit)
    if footer:
        if parts and utf16_len(parts[-1]) + 2 + utf16_len(footer) <= limit:
            parts[-1] += "\n\n" + footer
        else:
            parts += _chunks(footer, limit)
    return parts


def _chunks(text: str, limit: int) -> list[str]:
    out: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        fits, used = 0, 0
        for char in rest:  # the longest prefix within the limit
            used += 2 if ord(char) > 0xFFFF else 1
            if used > limit:
                break
            fits += 1
        cut = fits
        for mark in ("\n\n", "\n", " "):
            at = rest.rfind(mark, 0, fits)
            if at >= fits // 2:
                cut = at
                break
        piece = rest[:cut].rstrip()
        if piece:
            out.append(piece)
        rest = rest[cut:].strip()
    if rest:
        out.append(rest)
    return out


class TelegramTransport(Transport):
    channel: ClassVar[str] = "telegram"
    max_attachment_bytes: ClassVar[int | None] = MAX_UPLOAD_BYTES

    def __init__(self, token: str, *, base_url: str | None = None,
                 base_file_url: str | None = None, limiter: RateLimiter | None = None,
                 timeout: float = 10.0,
                 on_token_rejected: Callable[[str], None] | None = None) -> None:
        # Telegram: about 30 messages/s overall, 1/s per chat.
        super().__init__(limiter or RateLimiter(per_second=30, per_key_interval=1.0))
        self.base_url = base_url
        self.timeout = timeout
        self._token = token
        self._base_file_url = base_file_url
        self._on_token_rejected = on_token_rejected
        self._bot: Bot | None = None
        self._lock = asyncio.Lock()
        self.sent = 0
        self.token_rejected_at: float | None = None

    async def _ensure_ready(self) -> Bot:
        # Lazily, so a Telegram outage never stops e-mail and the portal inbox.
        if self._bot is not None:
            return self._bot
        async with self._lock:
            if self._bot is None:
                request = HTTPXRequest(connection_pool_size=8, read_timeout=self.timeout,
                                       write_timeout=self.timeout, connect_timeout=self.timeout,
                                       media_write_timeout=max(self.timeout, 60.0))
                bot = Bot(self._token,
                          base_url=self.base_url or "https://api.telegram.org/bot",
                          base_file_url=self._base_file_url or
                          "https://api.telegram.org/file/bot", request=request)
                try:
                    await bot.initialize()
                except BaseException as exc:
                    await bot.shutdown()
                    if isinstance(exc, tg.InvalidToken):
                        self._token_rejected()
                    raise
                self._bot = bot
            return self._bot

    def _token_rejected(self) -> None:
        self.token_rejected_at = time.time()
        log.error("%s", TOKEN_REJECTED)
        if self._on_token_rejected is not None:
            try:
                self._on_token_rejected(TOKEN_REJECTED)
            except Exception:
                log.exception("reporting the rejected Telegram token failed")

    async def deliver(self, message: OutgoingMessage) -> Receipt:
        chat_id = chat_id_of(message.address)
        bot = await self._ensure_ready()
        parts = split_text(message.text)
        if not parts:
            raise Bug("an empty notification text")
        answering = (None if message.reply_to_chat_message is None else ReplyParameters(
            message.reply_to_chat_message, allow_sending_without_reply=True))
        notes: list[str] = []
        try:
            sent = await self._call(partial(bot.send_message, chat_id, parts[0],
                                            reply_parameters=answering))
        except Permanent as exc:
            if not isinstance(exc.__cause__, tg.ChatMigrated):
                raise
            # a group that became a supergroup: Telegram names its new id; nothing arrived
            chat_id = int(exc.__cause__.new_chat_id)
            log.info("telegram chat for entry %s moved to a supergroup", message.entry_id)
            notes.append(f"the group chat moved to a supergroup, chat id {chat_id}: sent "
                         "there; change the customer's Telegram identity to it")
            sent = await self._call(partial(bot.send_message, chat_id, parts[0]))
        for i, part in enumerate(parts[1:], start=1):
            await self._follow_up(message, partial(bot.send_message, chat_id, part),
                                  f"{i} of {len(parts)} parts were delivered")
        self.sent += 1
        self.token_rejected_at = None
        notes += [note for att in message.attachments
                  if (note := await self._document(bot, chat_id, message, att))]
        return Receipt(str(sent.message_id), note="; ".join(notes) or None)

    async def _call(self, send: Callable[[], Awaitable[T]]) -> T:
        """One send; its failure translated, a rejected token reported."""
        try:
            return await send()
        except tg.InvalidToken:
            self._token_rejected()
            raise Permanent(TOKEN_REJECTED) from None
        except TransportError:
            raise
        except Exception as exc:
            raise translate_send_error(exc) from exc

    async def _follow_up(self, message: OutgoingMessage, send: Callable[[], Awaitable[T]],
                         done: str) -> T:
        """A send after something already reached the chat: a short in-place retry of a
        transient failure (the job must not be redone: that would repeat what arrived);
        anything else makes the outcome unknown."""
        for attempt in range(1, FOLLOW_UP_ATTEMPTS + 1):
            await self.limiter.acquire(message.address)
            try:
                return await self._call(send)
            except Transient as exc:
                wait = exc.retry_after or float(attempt)
                if attempt == FOLLOW_UP_ATTEMPTS or wait > FOLLOW_UP_MAX_WAIT:
                    raise OutcomeUnknown(f"{done}, then: {exc}") from exc
                await asyncio.sleep(wait)
            except TransportError as exc:
                raise OutcomeUnknown(f"{done}, then: {exc}") from exc
        raise AssertionError("unreachable")

    async def _document(self, bot: Bot, chat_id: int, message: OutgoingMessage,
                        att: OutgoingAttachment) -> str | None:
        """Send one file after the text; ``None`` when it arrived, else what to record. A
        file Telegram cannot take is replaced by its portal link."""
        if len(att.data) > MAX_UPLOAD_BYTES:
            problem = "larger than Telegram's 50 MB limit"
        else:
            try:
                await self._follow_up(message, partial(
                    bot.send_document, chat_id, document=att.data, filename=att.name),
                    "the text was delivered")
            except OutcomeUnknown as exc:
                cause = exc.__cause__
                if isinstance(cause, OutcomeUnknown):  # it may well have arrived
                    log.warning("telegram file for entry %s: %s", message.entry_id, exc)
                    return f"file {att.name!r}: outcome unknown ({cause}); not sent again"
                problem = str(cause)
            else:
                return None
        log.warning("telegram file for entry %s not sent: %s", message.entry_id, problem)
        if message.entry_url is None:
            return f"file {att.name!r} not sent via Telegram: {problem}"
        try:
            await self._follow_up(message, partial(
                bot.send_message, chat_id, f"📎 {att.name}: {message.entry_url}"),
                "the text was delivered")
        except OutcomeUnknown as exc:
            return (f"file {att.name!r} not sent via Telegram ({problem}), and its portal "
                    f"link failed too: {exc.__cause__}")
        return f"file {att.name!r} not sent via Telegram ({problem}); sent its portal link"

    async def shutdown(self) -> None:
        bot, self._bot = self._bot, None
        if bot is not None:
            await bot.shutdown()

    def translate(self, exc: Exception) -> TransportError:
        if isinstance(exc, tg.InvalidToken):  # getMe while starting the bot
            return Permanent(TOKEN_REJECTED)
        return translate_telegram_error(exc)

    def diagnostics(self) -> dict[str, object]:
        return {"channel": self.channel, "base_url": self.base_url, "ready": self._bot is not None,
                "sent": self.sent, "refused_at": self.token_rejected_at}


def translate_send_error(exc: Exception) -> TransportError:
    """Like :func:`translate_telegram_error`, for a request that delivers something: when it
    may have reached Telegram and only the answer was lost, the outcome is unknown."""
    cause = exc.__cause__
    if isinstance(exc, tg.TimedOut | tg.NetworkError) and isinstance(cause, _MAYBE_SENT):
        return OutcomeUnknown(f"Telegram's answer was lost ({type(cause).__name__}); the "
                              "message may have arrived, so it is not sent again automatically")
    return translate_telegram_error(exc)


def translate_telegram_error(exc: Exception) -> TransportError:
    if isinstance(exc, tg.InvalidToken):  # its message quotes the token: never repeat it
        return Permanent(TOKEN_REJECTED)
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
    if isinstance(exc, tg.NetworkError) and ("(413)" in exc.message
                                            or "Request Entity Too Large" in exc.message):
        return Permanent(f"Telegram refused the size: {text}")
    if isinstance(exc, tg.TelegramError | OSError | asyncio.TimeoutError):
        return Transient(text)
    return Bug(text)
