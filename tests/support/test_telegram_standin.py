"""The Telegram Bot API stand-in, exercised through the REAL python-telegram-bot library."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import struct
import warnings
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from tests.support.telegram_standin import BotApiStandIn

AnyApp = Application[Any, Any, Any, Any, Any, Any]
CHAT = 4711


def make_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def tg() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn(webhook_retry_delay=0.05) as standin:
        yield standin


@pytest.fixture
async def bot(tg: BotApiStandIn) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as b:
        yield b


def build_app(tg: BotApiStandIn) -> AnyApp:
    return (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )


@contextlib.asynccontextmanager
async def polling(app: AnyApp) -> AsyncIterator[list[BaseException]]:
    """Run the application with a polling updater inside the current event loop."""
    errors: list[BaseException] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.error is not None:
            errors.append(context.error)

    app.add_error_handler(on_error)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield errors
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


# ------------------------------------------------------------------------------------------------
# plain Bot
# ------------------------------------------------------------------------------------------------


async def test_base_urls_follow_ptb_conventions(tg: BotApiStandIn, bot: Bot) -> None:
    # PTB appends the token to base_url/base_file_url (no "{token}" placeholder used).
    assert tg.base_url == f"{tg.url}/bot"
    assert bot.base_url == f"{tg.url}/bot{tg.token}"
    assert bot.base_file_url == f"{tg.url}/file/bot{tg.token}"


async def test_get_me(bot: Bot, tg: BotApiStandIn) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "chronik_test_bot"
    assert bot.username == "chronik_test_bot"  # cached by Bot.initialize()
    assert tg.calls[:2] == ["getMe", "getMe"]


async def test_send_message_is_recorded(bot: Bot, tg: BotApiStandIn) -> None:
    tg.push_text(CHAT, "Hallo")  # message 1 in this chat
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Details", callback_data="case:17")]])
    message = await bot.send_message(
        CHAT, "Ihr <b>Fall</b> wurde angelegt", parse_mode="HTML", reply_markup=markup
    )
    assert message.message_id == 2  # ids are per chat and shared by both directions
    assert message.chat.id == CHAT
    assert message.chat.type == "private"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.text == "Ihr Fall wurde angelegt"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 4, 4)]
    assert message.reply_markup == markup

    [sent] = await tg.wait_sent(1)
    assert sent["method"] == "sendMessage"
    assert sent["chat_id"] == CHAT
    assert sent["text"] == "Ihr <b>Fall</b> wurde angelegt"
    assert sent["parse_mode"] == "HTML"
    assert sent["reply_markup"] == {
        "inline_keyboard": [[{"text": "Details", "callback_data": "case:17"}]]
    }
    assert sent["message_id"] == 2


async def test_send_message_validates_like_telegram(bot: Bot, tg: BotApiStandIn) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "niemand da")
    tg.add_chat(CHAT)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(CHAT, "")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "a" * 4097)
    await bot.send_message(CHAT, "a" * 4096)
    # the limit applies to the text after entity parsing
    await bot.send_message(CHAT, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: character '\.' is reserved"):
        await bot.send_message(CHAT, "Preis: 5.00 EUR", parse_mode="MarkdownV2")
    escaped = await bot.send_message(CHAT, "*Preis:* 5\\.00 EUR", parse_mode="MarkdownV2")
    assert escaped.text == "Preis: 5.00 EUR"
    assert [(e.type, e.offset, e.length) for e in escaped.entities] == [("bold", 0, 6)]
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "br"'):
        await bot.send_message(CHAT, "Zeile<br>Zeile", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(CHAT, "<b>offen", parse_mode="HTML")
    html_entities = await bot.send_message(CHAT, "a &lt; b &amp;&amp; c", parse_mode="HTML")
    assert html_entities.text == "a < b && c"
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(CHAT, "Antwort", reply_to_message_id=12345)
    too_much_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(CHAT, "Knopf", reply_markup=too_much_data)
    assert [s["text"][:5] for s in tg.sent] == ["aaaaa", "<b>aa", "*Prei", "a &lt"]


async def test_reply_to_an_inbound_message(bot: Bot, tg: BotApiStandIn) -> None:
    question = tg.push_text(CHAT, "Wann kommt mein Paket?")
    answer = await bot.send_message(CHAT, "Morgen.", reply_to_message_id=question["message_id"])
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "Wann kommt mein Paket?"
    assert tg.sent[0]["reply_parameters"] == {"message_id": question["message_id"]}


async def test_send_document_and_download_round_trip(bot: Bot, tg: BotApiStandIn) -> None:
    tg.add_chat(CHAT)
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40
    message = await bot.send_document(
        CHAT, InputFile(data, filename="rechnung-2024.pdf"), caption="Ihre Rechnung"
    )
    assert message.document is not None
    assert message.document.file_name == "rechnung-2024.pdf"
    assert message.document.mime_type == "application/pdf"
    assert message.document.file_size == len(data)
    assert message.caption == "Ihre Rechnung"

    [sent] = tg.sent
    assert sent["method"] == "sendDocument"
    assert sent["document"]["file_name"] == "rechnung-2024.pdf"
    assert sent["document"]["data"] == data
    assert sent["caption"] == "Ihre Rechnung"

    file = await bot.get_file(message.document.file_id)
    assert file.file_path is not None and file.file_path.startswith(tg.base_file_url)
    assert bytes(await file.download_as_bytearray()) == data

    # re-sending by file_id does not upload again and yields the same file
    again = await bot.send_document(CHAT, message.document.file_id)
    assert again.document is not None
    assert again.document.file_unique_id == message.document.file_unique_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(CHAT, "no-such-file-id")
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("no-such-file-id")


async def test_send_photo_has_telegram_like_sizes(bot: Bot, tg: BotApiStandIn) -> None:
    tg.add_chat(CHAT)
    png = make_png(400, 300)
    message = await bot.send_photo(CHAT, png, caption="Foto")
    assert [(p.width, p.height) for p in message.photo] == [(90, 68), (320, 240), (400, 300)]
    largest = await bot.get_file(message.photo[-1].file_id)
    assert bytes(await largest.download_as_bytearray()) == png
    thumbnail = await bot.get_file(message.photo[0].file_id)
    assert bytes(await thumbnail.download_as_bytearray()) != png  # not the original!
    assert tg.sent[0]["photo"]["data"] == png
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(CHAT, b"%PDF-1.4 not an image")


async def test_blocked_chat_raises_forbidden(bot: Bot, tg: BotApiStandIn) -> None:
    tg.block_chat(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "Hallo?")
    assert tg.sent == []
    tg.unblock_chat(CHAT)
    await bot.send_message(CHAT, "Hallo!")
    assert len(tg.sent) == 1


async def test_flood_control_raises_retry_after(
    bot: Bot, tg: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    tg.add_chat(CHAT)
    # PTB >= 22.2: RetryAfter.retry_after is a timedelta with PTB_TIMEDELTA=1, else an int plus a
    # PTBDeprecationWarning - emitted already while PTB *constructs* the exception.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    tg.fail_next(1, status=429, retry_after=2)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "zu schnell")
    assert caught.value.retry_after == dtm.timedelta(seconds=2)
    await bot.send_message(CHAT, "jetzt geht's")  # only the next n calls fail
    assert [s["text"] for s in tg.sent] == ["jetzt geht's"]
    assert tg.calls[-2:] == ["sendMessage", "sendMessage"]


async def test_retry_after_without_ptb_timedelta_warns(
    bot: Bot, tg: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    tg.add_chat(CHAT)
    tg.fail_next(2, status=429, retry_after=2)
    with pytest.warns(PTBDeprecationWarning), pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "zu schnell")
    with pytest.warns(PTBDeprecationWarning):
        assert caught.value.retry_after == 2
    # With warnings as errors (our pytest config) the warning replaces the RetryAfter!
    with warnings.catch_warnings():
        warnings.simplefilter("error", PTBDeprecationWarning)
        with pytest.raises(PTBDeprecationWarning):
            await bot.send_message(CHAT, "zu schnell")


async def test_server_errors_raise_network_error(bot: Bot, tg: BotApiStandIn) -> None:
    tg.add_chat(CHAT)
    tg.fail_next(1, status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(CHAT, "eins")
    tg.fail_next(1, status=502)  # HTML page from the front-end proxy, not JSON
    with pytest.raises(NetworkError, match=r"Bad Gateway \(502\)"):
        await bot.send_message(CHAT, "zwei")
    assert tg.sent == []


async def test_wrong_token_is_rejected(tg: BotApiStandIn) -> None:
    other = Bot("999:wrong-token", base_url=tg.base_url, base_file_url=tg.base_file_url)
    try:
        with pytest.raises(InvalidToken):
            await other.initialize()
    finally:
        await other.shutdown()


async def test_raw_http_envelopes(tg: BotApiStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{tg.base_url}999:wrong/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{tg.base_url}{tg.token}/frobnicate") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        # method names are case-insensitive; JSON bodies and query strings work
        tg.add_chat(CHAT)
        async with http.post(
            f"{tg.base_url}{tg.token}/SENDMESSAGE", json={"chat_id": CHAT, "text": "json"}
        ) as response:
            body = await response.json()
            assert body["ok"] is True and body["result"]["text"] == "json"
        async with http.get(
            f"{tg.base_url}{tg.token}/sendMessage", params={"chat_id": str(CHAT)}
        ) as response:
            assert response.status == 400
            assert (await response.json())["description"] == "Bad Request: message text is empty"
        async with http.get(f"{tg.base_file_url}{tg.token}/documents/nothing.pdf") as response:
            assert response.status == 404
    assert tg.calls == ["getMe", "frobnicate", "sendMessage", "sendMessage"]
    assert tg.downloads == ["documents/nothing.pdf"]


async def test_wait_sent_times_out_with_a_useful_message(tg: BotApiStandIn) -> None:
    with pytest.raises(TimeoutError, match="expected 1 sent message"):
        await tg.wait_sent(1, timeout=0.1)


# ------------------------------------------------------------------------------------------------
# getUpdates
# ------------------------------------------------------------------------------------------------


async def test_get_updates_offset_and_limit(bot: Bot, tg: BotApiStandIn) -> None:
    for text in ("eins", "zwei", "drei"):
        tg.push_text(CHAT, text)
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["eins", "zwei", "drei"]
    assert [u.update_id for u in updates] == list(
        range(updates[0].update_id, updates[0].update_id + 3)
    )
    # without confirming, the same updates come again; limit is honoured
    assert len(await bot.get_updates(limit=2)) == 2
    # offset confirms everything below it
    rest = await bot.get_updates(offset=updates[1].update_id + 1)
    assert [u.update_id for u in rest] == [updates[2].update_id]
    assert await bot.get_updates(offset=updates[2].update_id + 1) == ()
    assert tg.pending_updates == []
    # negative offset: only the last -offset updates are kept
    for text in ("vier", "fünf", "sechs"):
        tg.push_text(CHAT, text)
    last = await bot.get_updates(offset=-1)
    assert [u.message.text for u in last if u.message] == ["sechs"]
    assert len(tg.pending_updates) == 1


async def test_long_poll_waits_for_the_timeout(bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=2) == ()
    assert 1.5 <= loop.time() - started < 4


async def test_long_poll_returns_early_on_new_update(bot: Bot, tg: BotApiStandIn) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)
    tg.push_text(CHAT, "ping")
    updates = await asyncio.wait_for(poll, 5)
    assert [u.message.text for u in updates if u.message] == ["ping"]
    assert loop.time() - started < 2


async def test_second_poller_terminates_the_first(bot: Bot, tg: BotApiStandIn) -> None:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as second:
        first_poll = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.3)
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first_poll, 5)


# ------------------------------------------------------------------------------------------------
# Application with a polling Updater
# ------------------------------------------------------------------------------------------------


async def test_application_polling_text_photo_edit(tg: BotApiStandIn) -> None:
    png = make_png(640, 480)
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        entry: dict[str, Any] = {
            "text": message.text or message.caption,
            "edited": update.edited_message is not None,
            "message_id": message.message_id,
        }
        if message.photo:
            file = await context.bot.get_file(message.photo[-1].file_id)
            entry["photo"] = bytes(await file.download_as_bytearray())
        await seen.put(entry)

    app = build_app(tg)
    app.add_handler(MessageHandler(filters.ALL, on_message))
    async with polling(app) as errors:
        first = tg.push_text(CHAT, "Hallo, ich habe eine Frage")
        got = await asyncio.wait_for(seen.get(), 5)
        assert got == {"text": "Hallo, ich habe eine Frage", "edited": False, "message_id": 1}

        tg.push_photo(CHAT, png, caption="Schaden am Gerät")
        got = await asyncio.wait_for(seen.get(), 5)
        assert got["text"] == "Schaden am Gerät"
        assert got["photo"] == png

        tg.push_edit(CHAT, first["message_id"], "Hallo, ich habe zwei Fragen")
        got = await asyncio.wait_for(seen.get(), 5)
        assert got == {"text": "Hallo, ich habe zwei Fragen", "edited": True, "message_id": 1}

        await asyncio.sleep(1.5)  # more poll cycles: nothing is delivered twice
        assert seen.empty()
        assert errors == []

    # Updater.stop() confirmed the last offset: nothing pending, and a new poller gets only
    # new updates.
    assert tg.pending_updates == []
    app2 = build_app(tg)
    app2.add_handler(MessageHandler(filters.ALL, on_message))
    async with polling(app2) as errors:
        tg.push_text(CHAT, "Noch da?")
        got = await asyncio.wait_for(seen.get(), 5)
        assert got["text"] == "Noch da?"
        await asyncio.sleep(0.5)
        assert seen.empty()
        assert errors == []
    offsets = [p.get("offset") for m, p in tg.requests if m == "getUpdates"]
    assert offsets[0] in (None, "0")
    assert offsets[-1] is not None and int(offsets[-1]) > 0


async def test_application_command_handler_replies(tg: BotApiStandIn) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"Willkommen, {update.message.chat.first_name}!")

    app = build_app(tg)
    app.add_handler(CommandHandler("start", start))  # needs the bot_command entity
    async with polling(app) as errors:
        tg.push_text(CHAT, "/start", first_name="Max")
        [sent] = await tg.wait_sent(1)
        assert errors == []
    assert sent["chat_id"] == CHAT
    assert sent["text"] == "Willkommen, Max!"


async def test_inbound_document_and_voice_download(
    bot: Bot, tg: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # Voice.duration warns otherwise
    tg.push_document(CHAT, b"a;b\n1;2\n", "liste.csv", "text/csv", caption="Liste")
    tg.push_voice(CHAT, b"OggS fake voice", duration=7)
    document_update, voice_update = await bot.get_updates()
    assert document_update.message and document_update.message.document
    assert voice_update.message and voice_update.message.voice
    document = document_update.message.document
    assert (document.file_name, document.mime_type) == ("liste.csv", "text/csv")
    voice = voice_update.message.voice
    assert voice.duration == dtm.timedelta(seconds=7)
    assert voice.mime_type == "audio/ogg"
    for file_id, expected in (
        (document.file_id, b"a;b\n1;2\n"),
        (voice.file_id, b"OggS fake voice"),
    ):
        file = await bot.get_file(file_id)
        assert bytes(await file.download_as_bytearray()) == expected


# ------------------------------------------------------------------------------------------------
# webhook mode
# ------------------------------------------------------------------------------------------------


class WebhookReceiver:
    """A tiny aiohttp server standing in for our webhook endpoint."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()
        self.statuses = list(statuses or [])
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
            await self.received.put((secret, await request.json()))
        return web.Response(status=status)

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/telegram/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/telegram/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_webhook_delivery_with_secret(bot: Bot, tg: BotApiStandIn) -> None:
    async with WebhookReceiver() as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cr3t-Token_1")
        assert tg.webhook_url == receiver.url
        info = await bot.get_webhook_info()
        assert info.url == receiver.url
        assert info.pending_update_count == 0

        pushed = tg.push_text(CHAT, "per Webhook")
        secret, payload = await asyncio.wait_for(receiver.received.get(), 5)
        assert secret == "s3cr3t-Token_1"
        update = Update.de_json(payload, bot)
        assert update.message is not None
        assert update.message.text == "per Webhook"
        assert update.message.message_id == pushed["message_id"]

        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()

        assert await bot.delete_webhook()
        assert tg.webhook_url is None
        tg.push_text(CHAT, "wieder per getUpdates")
        updates = await bot.get_updates(timeout=1)
        assert [u.message.text for u in updates if u.message] == ["wieder per getUpdates"]
    with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="nicht erlaubt!")


async def test_webhook_failures_are_retried_in_order(bot: Bot, tg: BotApiStandIn) -> None:
    async with WebhookReceiver(statuses=[500]) as receiver:
        tg.push_text(CHAT, "eins")  # queued before the webhook exists: delivered later
        await bot.set_webhook(receiver.url, max_connections=1)  # one at a time: in order
        tg.push_text(CHAT, "zwei")
        texts = []
        for _ in range(2):
            secret, payload = await asyncio.wait_for(receiver.received.get(), 5)
            assert secret is None
            texts.append(payload["message"]["text"])
        assert texts == ["eins", "zwei"]
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert [d["status"] for d in tg.webhook_deliveries] == [500, 200, 200]
        await bot.delete_webhook()


async def test_webhook_delivers_up_to_max_connections_in_parallel(bot: Bot,
                                                                  tg: BotApiStandIn) -> None:
    waiting: list[int] = []
    three_at_once = asyncio.Event()
    done = asyncio.Event()
    got: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        waiting.append(1)
        if len(waiting) == 3:
            three_at_once.set()
        await asyncio.wait_for(three_at_once.wait(), 5)  # one at a time would never get here
        got.append((await request.json())["update_id"])
        if len(got) == 3:
            done.set()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        pushed = [tg.push_text(CHAT, text) for text in ("eins", "zwei", "drei")]
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook",
                              max_connections=3)
        await asyncio.wait_for(done.wait(), 5)
        assert len(got) == 3 and len(waiting) == 3
        assert len(set(got)) == len(pushed)
    finally:
        await runner.cleanup()


async def test_webhook_delivers_out_of_order() -> None:
    async with BotApiStandIn(webhook_order="reversed") as tg, Bot(
        tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url
    ) as bot, WebhookReceiver() as receiver:
        for text in ("eins", "zwei", "drei"):
            tg.push_text(CHAT, text)
        await bot.set_webhook(receiver.url, max_connections=3)
        got = [(await asyncio.wait_for(receiver.received.get(), 5))[1] for _ in range(3)]
        assert [u["message"]["text"] for u in got] == ["drei", "zwei", "eins"]
        assert [u["update_id"] for u in got] == sorted((u["update_id"] for u in got), reverse=True)
        assert (await bot.get_webhook_info()).max_connections == 3


async def test_webhook_gives_up_after_some_attempts() -> None:
    async with BotApiStandIn(webhook_retry_delay=0.01, webhook_max_attempts=3) as tg, Bot(
        tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url
    ) as bot, WebhookReceiver(statuses=[503] * 3) as receiver:
        await bot.set_webhook(receiver.url, max_connections=1)
        lost = tg.push_text(CHAT, "geht verloren")
        tg.push_text(CHAT, "kommt an")
        _, payload = await asyncio.wait_for(receiver.received.get(), 5)
        assert payload["message"]["text"] == "kommt an"  # once the other was given up
        [dropped] = tg.dropped_updates
        assert dropped["message"]["message_id"] == lost["message_id"]
        assert (await bot.get_webhook_info()).pending_update_count == 0
        tries = [d["status"] for d in tg.webhook_deliveries
                 if d["update_id"] == dropped["update_id"]]
        assert tries == [503, 503, 503]


@pytest.mark.parametrize(
    "url,error",
    [
        ("http://chronik.example/hook", "An HTTPS URL must be provided"),
        ("https://chronik.example:8080/hook", "only on ports 80, 88, 443 or 8443"),
        ("https://127.0.0.1/hook", "IP address 127.0.0.1 is reserved"),
        ("https://192.168.1.20:8443/hook", "IP address 192.168.1.20 is reserved"),
    ],
    ids=["http", "port", "loopback", "private"],
)
async def test_cloud_webhook_url_rules(url: str, error: str) -> None:
    async with BotApiStandIn(cloud_webhook_rules=True) as tg, Bot(
        tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url
    ) as bot:
        with pytest.raises(BadRequest, match=f"(?i){error}"):
            await bot.set_webhook(url)
        assert tg.webhook_url is None
        for good in ("https://chronik.example/hook", "https://chronik.example:8443/hook",
                     "https://chronik.example:88/hook"):
            assert await bot.set_webhook(good)
            assert tg.webhook_url == good


async def test_uploads_over_50_mb_are_refused(bot: Bot, tg: BotApiStandIn) -> None:
    tg.add_chat(CHAT)
    big = b"\0" * (50 * 1024 * 1024 + 1)
    with pytest.raises(NetworkError, match="Request Entity Too Large"):
        await bot.send_document(CHAT, InputFile(big, filename="gross.bin"))
    assert tg.sent == []
    await bot.send_document(CHAT, InputFile(big[:-1], filename="genau50.bin"))
    assert tg.sent[0]["document"]["file_name"] == "genau50.bin"


async def test_get_file_and_downloads_can_fail(bot: Bot, tg: BotApiStandIn,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    tg.add_chat(CHAT)
    message = await bot.send_document(CHAT, InputFile(b"inhalt", filename="a.txt"))
    assert message.document is not None
    file_id = message.document.file_id
    tg.fail_next(1, status=429, retry_after=3, method="getFile")
    with pytest.raises(RetryAfter):
        await bot.get_file(file_id)
    tg.fail_next(1, status=500, method="getFile")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.get_file(file_id)
    file = await bot.get_file(file_id)
    tg.fail_downloads(1, status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await file.download_as_bytearray()
    assert bytes(await file.download_as_bytearray()) == b"inhalt"
    assert tg.sent[-1]["method"] == "sendDocument"  # failures of getFile never touch send*


async def test_a_stalled_answer_times_out_after_the_message_was_sent(tg: BotApiStandIn) -> None:
    from telegram.error import TimedOut
    from telegram.request import HTTPXRequest

    tg.add_chat(CHAT)
    tg.stall_next(1, 2.0)
    async with Bot(tg.token, base_url=tg.base_url,
                   request=HTTPXRequest(read_timeout=0.2)) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "kam trotzdem an")
        assert [s["text"] for s in tg.sent] == ["kam trotzdem an"]
        tg.drop_next(1)
        with pytest.raises(NetworkError, match="RemoteProtocolError"):
            await bot.send_message(CHAT, "auch das kam an")
        assert [s["text"] for s in tg.sent] == ["kam trotzdem an", "auch das kam an"]
        await bot.send_message(CHAT, "und weiter")
        assert len(tg.sent) == 3
