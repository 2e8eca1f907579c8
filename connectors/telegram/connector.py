"""The Telegram connector: python-telegram-bot embedded in our lifecycle.

``run()`` builds a PTB ``Application`` (with an ``Updater`` for long polling, or with
``.updater(None)`` for webhooks, whose HTTP route hands updates to :meth:`receive_webhook`),
initialises and starts it, and stops and shuts it down when cancelled. It never calls
``run_polling()``: the loop is ours. Failures raise, and the supervisor retries with backoff.

Every update, polled or POSTed, is first stored (:class:`~connectors.telegram.inbox.
UpdateInbox`; a webhook is answered 200 then, even while the bot reconnects) and then
processed in ``update_id`` order per chat by :meth:`TelegramConnector._handle`: messages
become an ``InboundMessage`` for the one ingest service; edits revise the entry with the same
source id (history kept); ``/start``/``/stop`` are handled in
:mod:`connectors.telegram.linking`. A transient failure (a file download meeting Telegram's
429/5xx or a timeout) is retried; what can never be handled is quarantined as the raw update
JSON (channel ``telegram-update``), which :meth:`reprocess` can parse again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Message, Update
from telegram import error as tg_error
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from connectors.telegram.context import (
    WEBHOOK_MAX_CONNECTIONS,
    TelegramConfig,
    TelegramServices,
)
from connectors.telegram.errors import (
    TOKEN_REJECTED,
    TelegramConfigError,
    TelegramConnectorError,
    TelegramNotReady,
    TelegramRejected,
    TelegramTokenRejected,
    TelegramUnavailable,
    scrub,
    seconds,
    translate,
)
from connectors.telegram.inbox import UpdateInbox
from connectors.telegram.linking import REPLIES, Commands, Outcome
from connectors.telegram.messages import (
    Missing,
    body_of,
    command,
    download,
    file_refs,
    ids_of,
    is_private,
    language,
    missing_of,
    own_phone,
    raw_update,
    reply_of,
    source_id,
    stop_word,
    to_inbound,
    update_data,
)
from timeline.errors import Conflict, InvalidInput, NotFound
from timeline.ingest import InboundAttachment, IngestResult
from timeline.models import Channel, Direction, IdentityKind, Office, Preferences, utcnow
from timeline.repositories import ReceivedUpdate

log = logging.getLogger(__name__)

RAW_CHANNEL = "telegram-update"
"""Quarantine channel of raw update JSON (reprocessed by :meth:`TelegramConnector.reprocess`)."""
ALLOWED_UPDATES = ("message", "edited_message")
POLL_ERRORS_BEFORE_RESTART = 3
GIVE_UP_AFTER = dtm.timedelta(hours=24)
"""An update still failing for a transient reason after this long goes to the quarantine
(kept there for an admin; Telegram itself would no longer know about it)."""
STOP_GRACE_SECONDS = 5.0
REPLY_ATTEMPTS = 3
REPLY_MAX_WAIT = 60.0
"""A command's answer waits out Telegram's flood control this long at most, this often."""
WEBHOOK_IDLE_SECONDS = 1.0
"""In webhook mode the updates Telegram POSTs to another process (``serve --processes N``,
an API process beside ``chronik worker --all``) are stored there: the bot's process looks
for them this often (its own are processed at once)."""

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class _WatchedRequest(HTTPXRequest):
    """The ``getUpdates`` transport: tells the connector the HTTP status of every poll and
    hands it the raw updates of a successful one *before* PTB sees them. PTB is given only
    their ``update_id`` (all it needs to confirm them with the next ``getUpdates``), so an
    update PTB cannot parse never stops polling: PTB would log the whole batch (personal
    data) and ask for the same batch again and again; here it is stored like any other and
    quarantined when it is processed."""

    def __init__(self, on_status: Callable[[int], None],
                 on_updates: Callable[[bytes], Awaitable[bytes]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_status = on_status
        self._on_updates = on_updates

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        self._on_status(code)
        if 200 <= code <= 299:
            # a failure to store raises: PTB reports a network error, confirms nothing and
            # polls again after its back-off
            payload = await self._on_updates(payload)
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
        webhook = config.mode == "webhook"
        self.inbox = UpdateInbox(services.store, config.bot_id,
                                 reorder_seconds=config.reorder_seconds if webhook else 0.0,
                                 # webhook updates may be stored by another process
                                 idle_seconds=WEBHOOK_IDLE_SECONDS if webhook else None)
        self._app: AnyApplication | None = None
        self._office: Office | None = None
        self._failed: asyncio.Future[TelegramConnectorError] | None = None
        self._poll_errors = 0
        self._last_poll_error: str | None = None
        self._connected_since: float | None = None
        self._webhook_registered = False
        self._token_rejected: str | None = None
        self._asked_username: str | None = None
        self._replies: set[asyncio.Task[None]] = set()
        """Answers to commands waiting out Telegram's flood control."""
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

    async def username(self) -> str | None:
        """The bot's username for ``t.me`` links: learned when the bot connected here, or
        set (``CHRONIK_TELEGRAM_BOT_USERNAME``); in a process that does not run the bot,
        asked from Telegram once (``getMe``). ``None`` when Telegram cannot tell now."""
        if self.bot_username:
            return self.bot_username
        if self._asked_username is None:
            try:
                async with Bot(self.config.token, base_url=self.config.api_base_url,
                               base_file_url=self.config.api_file_url) as bot:
                    self._asked_username = bot.username
            except (tg_error.TelegramError, RuntimeError) as exc:
                log.warning("telegram: getMe for the bot's username failed: %s",
                            scrub(str(exc), self.config.token))
        return self._asked_username

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
            "webhook": {"url": webhook_url, "registered": self._webhook_registered,
                        "max_connections": WEBHOOK_MAX_CONNECTIONS}
            if self.config.mode == "webhook" else None,
            "refused": self._token_rejected,
            "received": self.inbox.diagnostics(),
            "counters": dict(self.counters),
        })

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        office = await self._resolve_office()
        self._office = office
        app = self._build()
        self._failed = asyncio.get_running_loop().create_future()
        self._poll_errors, self._last_poll_error = 0, None
        try:
            await app.initialize()
        except BaseException as exc:
            await app.bot.shutdown()  # the HTTP clients are open even when getMe failed
            if isinstance(exc, tg_error.TelegramError):
                error = translate(exc, self.config.token)
                if isinstance(error, TelegramTokenRejected):
                    self._token_rejected = str(error)
                raise error from None
            raise
        self._token_rejected = None
        self._app = app  # updates may arrive as soon as we start
        drainer = asyncio.create_task(self.inbox.run(office.id, self._handle),
                                      name=f"{self.name}-updates")
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
            self._connected_since = None
            await self._stop(app, drainer)
            self._app, self._webhook_registered = None, False

    def _build(self) -> AnyApplication:
        builder = (ApplicationBuilder().token(self.config.token)
                   .base_url(self.config.api_base_url)
                   .base_file_url(self.config.api_file_url))
        if self.config.mode == "webhook":
            builder = builder.updater(None)
        else:
            builder = builder.get_updates_request(
                _WatchedRequest(self._on_poll_status, self._store_polled,
                                connection_pool_size=1))
        app: AnyApplication = builder.build()  # no handlers: updates go through the inbox
        return app

    async def _stop(self, app: AnyApplication, drainer: asyncio.Task[None]) -> None:
        """Stop polling (storing what was fetched), let the update being processed finish,
        close."""
        steps = []
        if app.updater is not None and app.updater.running:
            steps.append(app.updater.stop)
        if app.running:
            steps.append(app.stop)
        for step in steps:
            try:
                await step()
            except Exception as exc:
                log.warning("telegram: %s while stopping: %s", step.__name__,
                            scrub(str(exc), self.config.token))
        self.inbox.stop_soon()
        for reply in list(self._replies):  # a late answer is not worth holding the stop
            reply.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(drainer), STOP_GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        try:
            await app.shutdown()
        except Exception as exc:
            log.warning("telegram: shutdown while stopping: %s",
                        scrub(str(exc), self.config.token))

    async def _resolve_office(self) -> Office:
        if self._office is not None:
            return self._office
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
                              allowed_updates=ALLOWED_UPDATES,
                              max_connections=WEBHOOK_MAX_CONNECTIONS)
        self._webhook_registered = True

    def _fail(self, error: TelegramConnectorError) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_result(error)

    def token_rejected(self, reason: str) -> None:
        """Another part of Chronik (the notifier) found the bot token rejected: show it
        and reconnect (which fails, visibly, until the token is fixed)."""
        self._token_rejected = reason
        self._fail(TelegramTokenRejected(TOKEN_REJECTED))

    def _on_poll_status(self, code: int) -> None:
        if 200 <= code <= 299:
            self._poll_errors = 0
        elif code in (401, 404):  # PTB ends its polling loop on InvalidToken without a word
            self._token_rejected = TOKEN_REJECTED
            self._fail(TelegramTokenRejected("the Bot API rejected the bot token while "
                                             "polling"))

    def _on_poll_error(self, exc: tg_error.TelegramError) -> None:
        error = translate(exc, self.config.token)
        self._poll_errors += 1
        self._last_poll_error = str(error)
        log.warning("telegram polling failed (%d in a row): %s", self._poll_errors, error)
        if self._poll_errors >= POLL_ERRORS_BEFORE_RESTART:
            self._fail(error)

    # ------------------------------------------------------------------ updates in
    async def _store_polled(self, payload: bytes) -> bytes:
        """The answer of one ``getUpdates``: every update in it is stored as Telegram sent it
        (before the next ``getUpdates`` confirms it); PTB gets back only the update ids.
        Anything but a successful answer goes to PTB unchanged (its errors are PTB's)."""
        office = self._office
        try:
            data = json.loads(payload)
        except ValueError:
            return payload
        if (office is None or not isinstance(data, dict) or data.get("ok") is not True
                or not isinstance(data.get("result"), list)):
            return payload
        ids: list[dict[str, int]] = []
        for item in data["result"]:
            raw = raw_update(item)
            try:
                update_id, chat_id = ids_of(raw)
            except Exception as exc:  # no update id: nothing PTB could confirm it by either
                await self._quarantine(office, raw, f"unparseable update: {type(exc).__name__}",
                                       "telegram:polling")
                continue
            await self._accept(office, update_id, chat_id, raw)
            ids.append({"update_id": update_id})
        return json.dumps({"ok": True, "result": ids}).encode("utf-8")

    async def receive_webhook(self, body: bytes) -> None:
        """One update POSTed by Telegram. Returns once it is stored (or, unparseable,
        quarantined) - also while the bot is reconnecting; raises :class:`TelegramNotReady`
        (answer 503, Telegram retries) only when it cannot be stored at all."""
        try:
            office = await self._resolve_office()
        except TelegramConfigError as exc:
            raise TelegramNotReady(str(exc)) from None
        try:
            update_id, chat_id = ids_of(body)
        except Exception as exc:  # untrusted JSON
            self.counters["updates"] += 1
            try:
                await self._quarantine(office, body,
                                       f"unparseable update: {type(exc).__name__}",
                                       "telegram:webhook")
            except Exception:
                log.exception("an unparseable telegram update could not be quarantined")
                raise TelegramNotReady("the update could not be stored") from None
            return
        try:
            await self._accept(office, update_id, chat_id, body)
        except Exception:
            log.exception("telegram update %s could not be stored", update_id)
            raise TelegramNotReady("the update could not be stored") from None

    async def _accept(self, office: Office, update_id: int, chat_id: int | None, raw: bytes
                      ) -> None:
        if await self.inbox.accept(office.id, update_id, chat_id, raw):
            self.counters["updates"] += 1
        else:
            self.counters["duplicates"] += 1

    async def _handle(self, row: ReceivedUpdate) -> None:
        """Process one stored update (called in order per chat). Raises
        :class:`TelegramUnavailable` to be called again later; quarantines the rest."""
        app, office = self._app, self._office
        if app is None or office is None:
            raise TelegramUnavailable("the Telegram connector is not connected")
        origin = f"telegram:update:{row.update_id}"
        try:
            update = Update.de_json(update_data(row.raw), app.bot)
        except Exception as exc:  # whatever was stored from the wire
            await self._quarantine(office, row.raw, f"unparseable update: {type(exc).__name__}",
                                   origin)
            return
        try:
            await self._process(office, update, None)
        except (TelegramUnavailable, TelegramNotReady, TelegramTokenRejected) as exc:
            if isinstance(exc, TelegramTokenRejected):
                self.token_rejected(str(exc))
            if utcnow() - row.received_at < GIVE_UP_AFTER:
                raise TelegramUnavailable(str(exc), getattr(exc, "retry_after", None)
                                          ) from None
            await self._quarantine(office, row.raw, f"gave up after {row.attempts + 1} "
                                   f"attempts: {exc}", origin)
        except Exception as exc:
            reason = (str(exc) if isinstance(exc, TelegramConnectorError)
                      else str(translate(exc, self.config.token))
                      if isinstance(exc, tg_error.TelegramError)
                      else f"failed: {type(exc).__name__}")
            log.warning("telegram update %s not processed: %s", row.update_id, reason,
                        exc_info=not isinstance(exc, (TelegramConnectorError,
                                                      tg_error.TelegramError)))
            await self._quarantine(office, row.raw, reason, origin)

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
            update = Update.de_json(update_data(raw), app.bot)
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
            cmd = command(message)
            if cmd is not None:  # answered (private chats only), a link spent
                await self._answer(message, await Commands(self.services, office).in_group(
                    message, cmd[1] if cmd[0] == "start" else ""))
                return None
            raise TelegramRejected("unsupported chat: only private chats with the bot are "
                                   "taken in")
        cmd = command(message) if customer_id is None else None
        if cmd is not None:
            await self._command(office, message, *cmd)
            return None
        if customer_id is None and stop_word(message):
            outcome = await Commands(self.services, office).stop_by_word(message)
            if outcome is not None:
                await self._answer(message, outcome,
                                   await self._chosen_language(office, outcome))
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
            await self._add_own_phone(office, message, result)
        else:
            self.counters["duplicates"] += 1
        return result

    async def _add_own_phone(self, office: Office, message: Message, result: IngestResult
                             ) -> None:
        """A customer who shares their own contact gives the office their number: it
        becomes their phone identity, so the caller lookup knows them when they call."""
        phone = own_phone(message)
        if phone is None or result.entry is None:
            return
        try:
            await self.services.timeline.add_identity(office, result.entry.customer_id,
                                                      IdentityKind.PHONE, phone)
        except (InvalidInput, Conflict, NotFound) as exc:
            log.info("telegram: a shared phone number was not added: %s", type(exc).__name__)

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
        text = body_of(message, missing_of(entry.meta), files=bool(entry.attachments),
                       reply_to=reply_of(entry.meta))
        if text == entry.body:
            self.counters["duplicates"] += 1
            return IngestResult(entry=entry, created=False, customer=None)
        edited_at = message.edit_date or message.date
        # a live location is "edited" with every move, for up to 8 hours (or for good):
        # the entry shows where it is now, without a revision per move
        revised = await self.services.timeline.revise(
            office.id, entry.id, body=text, meta={"edited_at": edited_at.isoformat()},
            keep_history=message.location is None)
        self.counters["edits"] += 1
        return IngestResult(entry=revised, created=False, customer=None)

    async def _command(self, office: Office, message: Message, name: str, arg: str) -> None:
        commands = Commands(self.services, office)
        if name == "start":
            outcome = await commands.start(message, arg)
        elif name == "stop":
            outcome = await commands.stop(message)
        else:  # portal, login, anmelden
            outcome = await commands.portal(message)
        await self._answer(message, outcome, await self._chosen_language(office, outcome))

    async def _chosen_language(self, office: Office, outcome: Outcome) -> str | None:
        """The language the customer chose (portal, an agent), which their notifications
        are written in too; ``None``: none chosen, the chat's own then."""
        if not outcome.customers:
            return None
        prefs = await self.services.store.get_preferences(office.id, outcome.customers[0])
        if (prefs.language_chosen or prefs.language != Preferences().language) and \
                prefs.language in ("de", "en"):
            return prefs.language
        return None

    async def _answer(self, message: Message, outcome: Outcome,
                      lang: str | None = None) -> None:
        if outcome.reply.startswith("linked"):
            self.counters["linked"] += 1
        elif outcome.reply in ("link_refused", "link_burnt"):
            self.counters["links_refused"] += 1
        elif outcome.reply.startswith(("resumed", "stopped")):
            self.counters["consent_changes"] += 1
        text = REPLIES[outcome.reply][lang or language(message.from_user)]
        await self._reply(message, text.format(**dict(outcome.values)) if outcome.values
                          else text)

    async def _reply(self, message: Message, text: str) -> None:
        """Answer a command. Telegram's flood control (say, a notification went to the chat
        the same second) is waited out in the background, so the customer still hears that
        their ``/stop`` worked and other chats' updates are not held up; any other failure
        is logged, never retried."""
        retry_in = await self._try_reply(message.chat.id, text, last=False)
        if retry_in is not None:
            task = asyncio.create_task(self._reply_later(message.chat.id, text, retry_in),
                                       name=f"{self.name}-reply")
            self._replies.add(task)
            task.add_done_callback(self._replies.discard)

    async def _reply_later(self, chat_id: int, text: str, wait: float) -> None:
        for attempt in range(2, REPLY_ATTEMPTS + 1):
            await asyncio.sleep(wait)
            retry_in = await self._try_reply(chat_id, text, last=attempt == REPLY_ATTEMPTS)
            if retry_in is None:
                return
            wait = retry_in

    async def _try_reply(self, chat_id: int, text: str, *, last: bool) -> float | None:
        """One try; the seconds to wait before the next when Telegram asks for a pause
        (``None``: sent, or given up)."""
        app = self._app
        if app is None:
            return None
        failure: tg_error.TelegramError
        try:
            await app.bot.send_message(chat_id, text)
            return None
        except tg_error.RetryAfter as exc:
            wait = seconds(exc.retry_after)
            if not last and wait <= REPLY_MAX_WAIT:
                return wait
            failure = exc
        except tg_error.TelegramError as exc:
            failure = exc
        self.counters["reply_failures"] += 1
        log.warning("telegram reply to a chat failed: %s",  # the chat id is the person
                    translate(failure, self.config.token))
        return None
