"""The Telegram connector: python-telegram-bot embedded in our lifecycle.

``run()`` builds a PTB ``Application`` (with an ``Updater`` for long polling, or with
``.updater(None)`` for webhooks, whose HTTP route hands updates to :meth:`receive_webhook`),
initialises and starts it, and stops and shuts it down when cancelled. It never calls
``run_polling()``: the loop is ours. Failures raise, and the supervisor retries with backoff.

Every update goes through :meth:`TelegramConnector._process`: messages become an
``InboundMessage`` for the one ingest service; edits revise the entry with the same source id
(history kept); ``/start``/``/stop`` are handled in :mod:`connectors.telegram.linking`. What
cannot be handled is quarantined as the raw update JSON (channel ``telegram-update``), which
:meth:`reprocess` can parse again."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from telegram import Bot, Message, Update
from telegram import error as tg_error
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from connectors.telegram.context import TelegramConfig, TelegramServices
from connectors.telegram.errors import (
    TelegramConfigError,
    TelegramConnectorError,
    TelegramNotReady,
    TelegramRejected,
    scrub,
    translate,
)
from connectors.telegram.linking import REPLIES, Commands
from connectors.telegram.messages import (
    Missing,
    command,
    download,
    file_refs,
    is_private,
    language,
    source_id,
    text_of,
    to_inbound,
)
from timeline.errors import InvalidInput
from timeline.ingest import InboundAttachment, IngestResult
from timeline.models import Channel, Direction, Office

log = logging.getLogger(__name__)

RAW_CHANNEL = "telegram-update"
"""Quarantine channel of raw update JSON (reprocessed by :meth:`TelegramConnector.reprocess`)."""
ALLOWED_UPDATES = ("message", "edited_message")
POLL_ERRORS_BEFORE_RESTART = 3

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class _WatchedRequest(HTTPXRequest):
    """The ``getUpdates`` transport; tells the connector the HTTP status of every poll."""

    def __init__(self, on_status: Callable[[int], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_status = on_status

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        self._on_status(code)
        return code, payload


class TelegramConnector:
    kind = "connector"

    def __init__(self, config: TelegramConfig, services: TelegramServices,
                 name: str = "telegram",
                 redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.name = name
        self._redact = redact or (lambda values: values)
        self.config = config
        self.services = services
        self._app: AnyApplication | None = None
        self._office: Office | None = None
        self._failed: asyncio.Future[TelegramConnectorError] | None = None
        self._lock = asyncio.Lock()
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._poll_errors = 0
        self._last_poll_error: str | None = None
        self._connected_since: float | None = None
        self._webhook_registered = False
        self.counters: dict[str, int] = dict.fromkeys((
            "updates", "messages", "duplicates", "edits", "quarantined", "linked",
            "links_refused", "consent_changes", "ignored", "reply_failures"), 0)

    # ------------------------------------------------------------------ facts for the API
    @property
    def connected(self) -> bool:
        return self._connected_since is not None

    @property
    def office_id(self) -> str | None:
        return self._office.id if self._office else self.config.office_id

    @property
    def bot_username(self) -> str | None:
        if self._app is not None and self._app.bot.username:
            return str(self._app.bot.username)
        return self.config.bot_username

    def diagnostics(self) -> dict[str, Any]:
        """State and counters; the token and the webhook secret are never shown."""
        webhook_url = self.config.webhook_url
        if webhook_url:
            webhook_url = webhook_url.replace(self.config.webhook_secret, "***")
        return self._redact({
            "mode": self.config.mode,
            "office_id": self.office_id,
            "bot_username": self.bot_username,
            "bot_token": "***",
            "api_base_url": scrub(self.config.api_base_url, self.config.token),
            "connected": self.connected,
            "connected_since": self._connected_since,
            "poll_timeout": self.config.poll_timeout if self.config.mode == "polling" else None,
            "last_poll_error": self._last_poll_error,
            "webhook": {"url": webhook_url, "registered": self._webhook_registered}
            if self.config.mode == "webhook" else None,
            "counters": dict(self.counters),
        })

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        office = await self._resolve_office()
        app = self._build()
        self._failed = asyncio.get_running_loop().create_future()
        self._poll_errors, self._last_poll_error = 0, None
        try:
            await app.initialize()
        except BaseException as exc:
            await app.bot.shutdown()  # the HTTP clients are open even when getMe failed
            if isinstance(exc, tg_error.TelegramError):
                raise translate(exc, self.config.token) from None
            raise
        self._office, self._app = office, app  # updates may arrive as soon as we start
        try:
            await app.start()
            if app.updater is not None:
                await app.updater.start_polling(
                    poll_interval=0, timeout=dtm.timedelta(seconds=self.config.poll_timeout),
                    allowed_updates=ALLOWED_UPDATES, error_callback=self._on_poll_error)
            else:
                await self._register_webhook(app.bot)
            self._connected_since = time.time()
            log.info("telegram bot @%s connected (%s) for office %s", app.bot.username,
                     self.config.mode, office.id)
            raise await self._failed
        except tg_error.TelegramError as exc:
            raise translate(exc, self.config.token) from None
        finally:
            await self._stop(app)  # queued updates are still handled with the bot open
            self._app, self._connected_since, self._webhook_registered = None, None, False

    def _build(self) -> AnyApplication:
        builder = (ApplicationBuilder().token(self.config.token)
                   .base_url(self.config.api_base_url)
                   .base_file_url(self.config.api_file_url))
        if self.config.mode == "webhook":
            builder = builder.updater(None)
        else:
            builder = builder.get_updates_request(
                _WatchedRequest(self._on_poll_status, connection_pool_size=1))
        app: AnyApplication = builder.build()
        app.add_handler(TypeHandler(Update, self._on_ptb_update))
        return app

    async def _stop(self, app: AnyApplication) -> None:
        """Stop polling (confirming the last offset), finish queued updates, close."""
        steps = []
        if app.updater is not None and app.updater.running:
            steps.append(app.updater.stop)
        if app.running:
            steps.append(app.stop)
        steps.append(app.shutdown)
        for step in steps:
            try:
                await step()
            except Exception as exc:
                log.warning("telegram: %s while stopping: %s", step.__name__,
                            scrub(str(exc), self.config.token))

    async def _resolve_office(self) -> Office:
        store = self.services.store
        if self.config.office_id:
            office = await store.get_office(self.config.office_id)
            if office is None:
                raise TelegramConfigError(f"no office {self.config.office_id} "
                                          "(CHRONIK_TELEGRAM_OFFICE_ID)")
            return office
        offices = await store.list_offices()
        if len(offices) != 1:
            raise TelegramConfigError(
                f"there are {len(offices)} offices; set CHRONIK_TELEGRAM_OFFICE_ID to the one "
                "this bot belongs to")
        return offices[0]

    async def _register_webhook(self, bot: Bot) -> None:
        url = self.config.webhook_url
        if url is None:
            log.info("telegram webhook mode without a public URL: register the webhook "
                     "yourself (setWebhook with secret_token)")
            return
        await bot.set_webhook(url, secret_token=self.config.webhook_secret,
                              allowed_updates=ALLOWED_UPDATES)
        self._webhook_registered = True

    def _fail(self, error: TelegramConnectorError) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_result(error)

    def _on_poll_status(self, code: int) -> None:
        if 200 <= code <= 299:
            self._poll_errors = 0
        elif code in (401, 404):  # PTB ends its polling loop on InvalidToken without a word
            self._fail(TelegramRejected("the Bot API rejected the bot token while polling"))

    def _on_poll_error(self, exc: tg_error.TelegramError) -> None:
        error = translate(exc, self.config.token)
        self._poll_errors += 1
        self._last_poll_error = str(error)
        log.warning("telegram polling failed (%d in a row): %s", self._poll_errors, error)
        if self._poll_errors >= POLL_ERRORS_BEFORE_RESTART:
            self._fail(error)

    # ------------------------------------------------------------------ updates in
    async def _on_ptb_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update):
            await self._process_safely(update, None)

    async def receive_webhook(self, body: bytes) -> None:
        """One update POSTed by Telegram. Returns once it is stored or quarantined; raises
        :class:`TelegramNotReady` (answer 503, Telegram retries) when not connected or when
        even the quarantine failed."""
        app, office = self._app, self._office
        if app is None or office is None:
            raise TelegramNotReady("the Telegram connector is not connected")
        try:
            update = Update.de_json(json.loads(body), app.bot)
        except Exception as exc:  # untrusted JSON: whatever PTB makes of it
            self.counters["updates"] += 1
            await self._quarantine(office, body, f"unparseable update: {type(exc).__name__}",
                                   "telegram:webhook")
            return
        if not await self._process_safely(update, body):
            raise TelegramNotReady("the update could neither be stored nor quarantined")

    async def _process_safely(self, update: Update, raw: bytes | None) -> bool:
        """Process; on failure keep the raw update in the quarantine. ``False`` if even
        that failed (then polling loses it to the log and a webhook answers 503)."""
        office = self._office
        if office is None:
            log.error("telegram update %s arrived before the connector knew its office",
                      update.update_id)
            return False
        async with self._lock:
            if update.update_id in self._recent:
                self.counters["duplicates"] += 1
                return True
            self.counters["updates"] += 1
            try:
                await self._process(office, update, None)
            except Exception as exc:
                reason = (str(exc) if isinstance(exc, TelegramConnectorError)
                          else str(translate(exc, self.config.token))
                          if isinstance(exc, tg_error.TelegramError)
                          else f"failed: {type(exc).__name__}")
                log.warning("telegram update %s not processed: %s", update.update_id, reason,
                            exc_info=not isinstance(exc, (TelegramConnectorError,
                                                          tg_error.TelegramError)))
                try:
                    await self._quarantine(office, raw or update.to_json().encode("utf-8"),
                                           reason, f"telegram:update:{update.update_id}")
                except Exception:
                    log.exception("telegram update %s could not be quarantined",
                                  update.update_id)
                    return False
            self._remember(update.update_id)
            return True

    def _remember(self, update_id: int) -> None:
        self._recent[update_id] = None
        while len(self._recent) > 1000:
            self._recent.popitem(last=False)

    async def _quarantine(self, office: Office, raw: bytes, reason: str, origin: str) -> None:
        await self.services.ingest.quarantine(office.id, RAW_CHANNEL, raw, reason, origin)
        self.counters["quarantined"] += 1

    async def reprocess(self, office: Office, raw: bytes, origin: str,
                        customer_id: str | None) -> IngestResult:
        """Parse a quarantined update again (registered with the ingest service)."""
        app, own = self._app, self._office
        if app is None or own is None:
            raise InvalidInput("the Telegram connector is not connected; try again later")
        if own.id != office.id:
            raise InvalidInput("this update belongs to another office's bot")
        try:
            update = Update.de_json(json.loads(raw), app.bot)
        except Exception as exc:  # whatever was quarantined as unparseable still is
            raise InvalidInput(f"unparseable update: {type(exc).__name__}") from None
        try:
            result = await self._process(own, update, customer_id)
        except tg_error.TelegramError as exc:
            raise InvalidInput(str(translate(exc, self.config.token))) from None
        except TelegramConnectorError as exc:
            raise InvalidInput(str(exc)) from None
        if result is None:
            raise InvalidInput("this update holds nothing to store")
        return result

    # ------------------------------------------------------------------ translation
    async def _process(self, office: Office, update: Update, customer_id: str | None
                       ) -> IngestResult | None:
        if update.edited_message is not None:
            return await self._edit(office, update.edited_message, customer_id)
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            self.counters["ignored"] += 1
            return None
        existing = await self.services.store.find_entry_by_source(
            office.id, source_id(message), Channel.CHAT)
        if existing is not None:
            self.counters["duplicates"] += 1
            return IngestResult(entry=existing, created=False, customer=None)
        if customer_id is None and not is_private(message):
            raise TelegramRejected("unsupported chat: only private chats with the bot are "
                                   "taken in")
        cmd = command(message) if customer_id is None else None
        if cmd is not None:
            await self._command(office, message, *cmd)
            return None
        return await self._ingest(office, message, customer_id, edited=False)

    async def _ingest(self, office: Office, message: Message, customer_id: str | None, *,
                      edited: bool) -> IngestResult:
        app = self._app
        if app is None:
            raise TelegramNotReady("the Telegram connector is not connected")
        attachments: list[InboundAttachment] = []
        missing: list[Missing] = []
        for ref in file_refs(message):
            got = await download(app.bot, ref, self.config.token)
            if isinstance(got, Missing):
                missing.append(got)
            else:
                attachments.append(got)
        inbound = to_inbound(office.id, message, attachments, missing,
                             customer_id=customer_id, edited=edited)
        result = await self.services.ingest.ingest(inbound, origin=f"telegram:{inbound.source_id}")
        if result.quarantined is not None:
            self.counters["quarantined"] += 1
        elif result.created:
            self.counters["messages"] += 1
        else:
            self.counters["duplicates"] += 1
        return result

    async def _edit(self, office: Office, message: Message, customer_id: str | None
                    ) -> IngestResult | None:
        if message.from_user is None or command(message) is not None:
            self.counters["ignored"] += 1
            return None
        entry = await self.services.store.find_entry_by_source(
            office.id, source_id(message), Channel.CHAT)
        if entry is None:  # the original never reached us: keep the edited text as a message
            return await self._ingest(office, message, customer_id, edited=True)
        if entry.kind != "message" or entry.direction is not Direction.INBOUND:
            self.counters["ignored"] += 1
            return None
        text = text_of(message)
        if text == entry.body:
            self.counters["duplicates"] += 1
            return IngestResult(entry=entry, created=False, customer=None)
        edited_at = message.edit_date or message.date
        revised = await self.services.timeline.revise(
            office.id, entry.id, body=text, meta={"edited_at": edited_at.isoformat()})
        self.counters["edits"] += 1
        return IngestResult(entry=revised, created=False, customer=None)

    async def _command(self, office: Office, message: Message, name: str, arg: str) -> None:
        commands = Commands(self.services, office)
        outcome = (await commands.start(message, arg) if name == "start"
                   else await commands.stop(message))
        if outcome.reply == "linked":
            self.counters["linked"] += 1
        elif outcome.reply == "link_refused":
            self.counters["links_refused"] += 1
        elif outcome.customers:
            self.counters["consent_changes"] += 1
        await self._reply(message, REPLIES[outcome.reply][language(message.from_user)])

    async def _reply(self, message: Message, text: str) -> None:
        """Answer a command; a failed answer is logged, never retried into a loop."""
        app = self._app
        if app is None:
            return
        try:
            await app.bot.send_message(message.chat.id, text)
        except tg_error.TelegramError as exc:
            self.counters["reply_failures"] += 1
            log.warning("telegram reply to a chat failed: %s",  # the chat id is the person
                        translate(exc, self.config.token))
