"""The Telegram connector end to end: the REAL python-telegram-bot, embedded in a running
Chronik, talks to the Bot API stand-in (long polling here; webhooks in
``test_telegram_webhook.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer, unused_port
from telegram import User
from telegram import error as tg_error

from chronik.api.base import hash_token, new_token
from chronik.app import create_app, make_store
from chronik.settings import Settings
from chronik.state import STATE
from connectors.telegram import (
    TelegramRejected,
    TelegramTokenRejected,
    TelegramUnavailable,
    hash_link_token,
)
from connectors.telegram.errors import translate
from connectors.telegram.linking import REPLIES
from connectors.telegram.messages import language
from tests.conftest import Api, Hub
from tests.support.telegram_standin import BotApiStandIn
from timeline.models import Consent, IdentityKind, Role, utcnow

CHAT = 4711
T = TypeVar("T")


class StandIn(BotApiStandIn):
    """The stand-in, plus what Telegram does when our confirmation of an update got lost
    (a crash, a restart): it delivers the same update again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.updates: list[dict[str, Any]] = []

    def _push_update(self, kind: str, message: dict[str, Any]) -> dict[str, Any]:
        out = super()._push_update(kind, message)
        self.updates.append(copy.deepcopy(self._pending[-1]))
        return out

    def redeliver(self, update: dict[str, Any]) -> None:
        self._pending.append(copy.deepcopy(update))
        self._notify()


def make_png(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x10\x80\x40" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 8.0,
                     what: str = "condition") -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def telegram_hub(data_dir: Path, monkeypatch: pytest.MonkeyPatch, tg: BotApiStandIn,
                       *, port: int | None = None, public_url: str | None = None,
                       unknown_sender: str = "create", pin_office: bool = False, **env: str
                       ) -> AsyncIterator[Hub]:
    """A running Chronik whose Telegram connector talks to the stand-in. The office and its
    agents exist before the server starts (the connector looks its office up on start); a
    second start on the same ``data_dir`` is a restart. ``pin_office`` names the office in
    CHRONIK_TELEGRAM_OFFICE_ID (else the connector takes the only office there is)."""
    settings = Settings(data_dir=data_dir, http_port=0, max_upload_bytes=64 * 1024,
                        public_url=public_url, unknown_sender=unknown_sender)
    store = make_store(settings)  # the store the app runs on (CHRONIK_TEST_STORE)
    await store.open()
    try:
        offices = await store.list_offices()
        office = offices[0] if offices else await store.create_office("Büro Test", "DE")
        admin_token, agent_token = new_token(), new_token()
        await store.create_agent(office.id, "Anna Admin", Role.ADMIN, hash_token(admin_token))
        await store.create_agent(office.id, "Tom Agent", Role.AGENT, hash_token(agent_token))
    finally:
        await store.close()
    values = {"BOT_TOKEN": tg.token, "API_BASE_URL": tg.base_url,
              "API_FILE_URL": tg.base_file_url, "POLL_TIMEOUT": "1", **env}
    if pin_office:
        values["OFFICE_ID"] = office.id
    for key, value in values.items():
        monkeypatch.setenv(f"CHRONIK_TELEGRAM_{key}", value)
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with ClientSession() as session:
            base = str(server.make_url("/api/v1"))
            yield Hub(server=server, state=app[STATE], office=office,
                      admin=Api(session, base, admin_token), agent=Api(session, base, agent_token),
                      anon=Api(session, base, None))
    finally:
        await server.close()


async def connector_report(hub: Hub) -> dict[str, Any]:
    status, body = await hub.admin.get("/connectors")
    assert status == 200
    [item] = [i for i in body["items"] if i["name"] == "telegram"]
    return dict(item)


async def customer_of(hub: Hub, user_id: int) -> dict[str, Any] | None:
    found = await hub.state.store.find_customers(hub.office.id, IdentityKind.TELEGRAM,
                                                 str(user_id))
    if not found:
        return None
    status, body = await hub.agent.get(f"/customers/{found[0].id}")
    assert status == 200
    return dict(body)


async def timeline(hub: Hub, customer_id: str, **query: str) -> list[dict[str, Any]]:
    status, body = await hub.agent.get(f"/customers/{customer_id}/timeline", params=query)
    assert status == 200
    return list(body["items"])


async def messages_of(hub: Hub, user_id: int, n: int) -> tuple[dict[str, Any], list[dict]]:
    """Wait for ``n`` chat messages from this Telegram user; (customer, entries newest first)."""
    async def check() -> tuple[dict[str, Any], list[dict]] | None:
        customer = await customer_of(hub, user_id)
        if customer is None:
            return None
        items = await timeline(hub, customer["id"], kind="message")
        return (customer, items) if len(items) >= n else None
    return await eventually(check, what=f"{n} message(s) from {user_id}")


async def new_customer(hub: Hub, name: str = "Erika Mustermann") -> dict[str, Any]:
    status, body = await hub.agent.post("/customers", json={
        "name": name, "emails": ["erika@example.org"]})
    assert status == 201
    return dict(body)


async def link_token(hub: Hub, customer_id: str) -> str:
    status, body = await hub.agent.post(f"/customers/{customer_id}/telegram-link")
    assert status == 201, body
    return str(body["token"])


async def telegram_consent(hub: Hub, customer_id: str) -> Consent | None:
    return (await hub.state.store.consents(hub.office.id, customer_id)).get("telegram")


# ------------------------------------------------------------------------------------------
# messages
# ------------------------------------------------------------------------------------------


async def test_text_lands_once_even_when_redelivered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn) -> None:
    data_dir = tmp_path / "data"
    async with telegram_hub(data_dir, monkeypatch, tg) as hub:
        tg.push_text(CHAT, "Hallo, ich habe eine Frage zu meinem Vertrag")
        customer, [entry] = await messages_of(hub, CHAT, 1)
        assert customer["name"] == "Erika Mustermann"
        assert customer["status"] == "unverified"
        assert entry["channel"] == "chat" and entry["direction"] == "inbound"
        assert entry["body"] == "Hallo, ich habe eine Frage zu meinem Vertrag"
        assert entry["source_id"] == f"{CHAT}:1"
        first_update = tg.updates[0]
        tg.redeliver(first_update)  # same update id, same process
        await eventually(lambda: _pending_empty(tg), what="redelivery consumed")
        await asyncio.sleep(0.2)
        assert len(await timeline(hub, customer["id"])) == 1

    tg.redeliver(first_update)  # delivered again after a restart: nothing in memory helps
    async with telegram_hub(data_dir, monkeypatch, tg) as hub:
        async def counted() -> bool:
            return (await connector_report(hub))["diagnostics"]["counters"]["duplicates"] >= 1
        await eventually(counted, what="the duplicate to be seen")
        assert len(await timeline(hub, customer["id"])) == 1
        assert await customer_of(hub, CHAT) == customer


async def _pending_empty(tg: BotApiStandIn) -> bool:
    return tg.pending_updates == []


async def test_an_album_keeps_its_group(thub: Hub, tg: StandIn) -> None:
    """Several photos sent at once come as one message each; each keeps the album's id, for
    the console to show them as one item."""
    for n in range(3):
        tg.push_photo(CHAT, make_png(64 + n, 48), caption="Wasserschaden Keller" if n == 0
                      else None, media_group_id="13579")
    _, entries = await messages_of(thub, CHAT, 3)
    assert {e["meta"]["telegram"]["media_group_id"] for e in entries} == {"13579"}
    assert sorted(e["body"] for e in entries) == ["", "", "Wasserschaden Keller"]


async def test_photo_document_and_voice_become_attachments(thub: Hub, tg: StandIn) -> None:
    png = make_png(640, 480)
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8
    voice = b"OggS\x00\x02" + bytes(range(200))
    tg.push_photo(CHAT, png, caption="Schaden am Gerät")
    tg.push_document(CHAT, pdf, "vertrag.pdf", "application/pdf")
    tg.push_voice(CHAT, voice, duration=4)
    _, entries = await messages_of(thub, CHAT, 3)
    by_id = {e["source_id"]: e for e in entries}
    expected = {f"{CHAT}:1": ("photo-1.png", "image/png", png, "Schaden am Gerät"),
                f"{CHAT}:2": ("vertrag.pdf", "application/pdf", pdf, ""),
                f"{CHAT}:3": ("voice-3.ogg", "audio/ogg", voice, "")}
    for sid, (name, content_type, data, body) in expected.items():
        entry = by_id[sid]
        assert entry["body"] == body
        [att] = entry["attachments"]
        assert (att["name"], att["content_type"], att["size"]) == (name, content_type,
                                                                  len(data))
        status, got = await thub.agent.get(f"/entries/{entry['id']}/attachments/0")
        assert status == 200
        assert got == data  # the largest photo size, not a thumbnail


async def test_an_edit_updates_the_same_entry_and_keeps_history(thub: Hub, tg: StandIn
                                                                ) -> None:
    tg.push_text(CHAT, "Termin am Montag?")
    customer, [entry] = await messages_of(thub, CHAT, 1)
    tg.push_edit(CHAT, 1, "Termin am Dienstag?")

    async def revised() -> dict[str, Any] | None:
        status, body = await thub.agent.get(f"/entries/{entry['id']}")
        assert status == 200
        return dict(body) if body["body"] == "Termin am Dienstag?" else None
    now = await eventually(revised, what="the edit")
    assert [r["body"] for r in now["meta"]["revisions"]] == ["Termin am Montag?"]
    assert "edited_at" in now["meta"]
    assert [e["id"] for e in await timeline(thub, customer["id"])] == [entry["id"]]
    await thub.indexed()
    status, found = await thub.agent.get("/search", params={"q": "Dienstag"})
    assert [i["entry"]["id"] for i in found["items"]] == [entry["id"]]


async def test_group_chat_is_quarantined_and_can_be_reprocessed(thub: Hub, tg: StandIn
                                                                ) -> None:
    tg.push_text(-100123, "Hallo aus der Gruppe", user_id=CHAT)

    async def quarantined() -> list[dict[str, Any]] | None:
        _, body = await thub.admin.get("/quarantine")
        return list(body["items"]) or None
    [item] = await eventually(quarantined, what="the quarantine")
    assert item["channel"] == "telegram-update"
    assert item["reason"].startswith("unsupported chat")
    status, raw = await thub.admin.get(f"/quarantine/{item['id']}/raw")
    assert json.loads(raw)["message"]["text"] == "Hallo aus der Gruppe"

    customer = await new_customer(thub)
    status, done = await thub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                         json={"customer_id": customer["id"]})
    assert status == 200, done
    assert done["status"] == "processed"
    [entry] = await timeline(thub, customer["id"])
    assert entry["id"] == done["entry_id"] and entry["body"] == "Hallo aus der Gruppe"


async def test_unknown_sender_waits_in_quarantine_when_policy_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn) -> None:
    async with telegram_hub(tmp_path / "data", monkeypatch, tg,
                            unknown_sender="unassigned") as hub:
        tg.push_document(CHAT, b"a;b\n1;2\n", "liste.csv", "text/csv", caption="Liste")

        async def quarantined() -> list[dict[str, Any]] | None:
            _, body = await hub.admin.get("/quarantine")
            return list(body["items"]) or None
        [item] = await eventually(quarantined, what="the quarantine")
        assert item["reason"].startswith("unknown_sender")
        assert await customer_of(hub, CHAT) is None
        customer = await new_customer(hub)
        status, done = await hub.admin.post(f"/quarantine/{item['id']}/reprocess",
                                            json={"customer_id": customer["id"]})
        assert status == 200 and done["status"] == "processed"
        [entry] = await timeline(hub, customer["id"])
        assert entry["body"] == "Liste"
        status, got = await hub.agent.get(f"/entries/{entry['id']}/attachments/0")
        assert got == b"a;b\n1;2\n"


# ------------------------------------------------------------------------------------------
# linking and consent
# ------------------------------------------------------------------------------------------


async def test_start_with_a_link_token_links_the_chat(thub: Hub, tg: StandIn) -> None:
    customer = await new_customer(thub)
    status, link = await thub.agent.post(f"/customers/{customer['id']}/telegram-link")
    assert status == 201
    assert link["url"] == f"https://t.me/chronik_test_bot?start={link['token']}"
    valid_for = datetime.fromisoformat(link["expires_at"]) - utcnow()
    assert timedelta(days=6, hours=23) < valid_for <= timedelta(days=7)

    tg.push_text(CHAT, f"/start {link['token']}")
    [reply] = await tg.wait_sent(1)
    assert reply["chat_id"] == CHAT
    assert "verbunden" in reply["text"]
    assert customer["name"] not in reply["text"]  # nothing internal is echoed

    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert {"kind": "telegram", "value": str(CHAT)} in [
        {"kind": i["kind"], "value": i["value"]} for i in now["identities"]]
    consent = await telegram_consent(thub, customer["id"])
    assert consent is not None and consent.granted
    assert (consent.actor, consent.route) == ("customer", "telegram_start")
    [note] = await timeline(thub, customer["id"])
    assert (note["kind"], note["visibility"]) == ("telegram_linked", "internal")

    tg.push_text(CHAT, "Danke, das ging schnell!")
    items = await eventually(lambda: _timeline_len(thub, customer["id"], 2),
                             what="the message on the linked customer")
    assert items[0]["body"] == "Danke, das ging schnell!"
    _, unverified = await thub.agent.get("/customers", params={"status": "unverified"})
    assert unverified["items"] == []


async def _timeline_len(hub: Hub, customer_id: str, n: int) -> list[dict[str, Any]] | None:
    items = await timeline(hub, customer_id)
    return items if len(items) >= n else None


@pytest.mark.parametrize("case", ["expired", "used", "forged", "other-office"])
async def test_bad_link_tokens_are_refused_politely(thub: Hub, tg: StandIn, case: str
                                                    ) -> None:
    customer = await new_customer(thub)
    store = thub.state.store
    sent_before = 0
    if case == "expired":
        token = "expired-token-0123456789abcdef"
        await store.add_customer_token(thub.office.id, customer["id"], "telegram_link",
                                       hash_link_token(token), utcnow() - timedelta(minutes=1))
    elif case == "used":
        token = await link_token(thub, customer["id"])
        tg.push_text(4712, f"/start {token}", first_name="Max")
        await tg.wait_sent(1)
        sent_before = 1
    elif case == "forged":
        token = "this-token-was-never-issued-xyz"
    else:
        other_office, _ = await thub.new_office()
        other = await store.create_customer(other_office.id, "Fremd", [])
        token = "other-office-token-0123456789ab"
        await store.add_customer_token(other_office.id, other.id, "telegram_link",
                                       hash_link_token(token), utcnow() + timedelta(days=1))
    tg.push_text(CHAT, f"/start {token}")
    sent = await tg.wait_sent(sent_before + 1)
    assert sent[-1]["chat_id"] == CHAT
    assert "ungültig" in sent[-1]["text"]
    assert await customer_of(thub, CHAT) is None  # linked nothing, created nothing
    _, now = await thub.agent.get(f"/customers/{customer['id']}")
    assert str(CHAT) not in [i["value"] for i in now["identities"]]


async def test_stop_and_start_change_consent(thub: Hub, tg: StandIn) -> None:
    customer = await new_customer(thub)
    status, _ = await thub.agent.post(f"/customers/{customer['id']}/identities",
                                      json={"kind": "telegram", "value": str(CHAT)})
    assert status in (200, 201)

    tg.push_text(CHAT, "/stop")
    [stopped] = await tg.wait_sent(1)
    assert "keine Benachrichtigungen mehr" in stopped["text"]
    consent = await telegram_consent(thub, customer["id"])
    assert consent is not None and not consent.granted and consent.route == "telegram_stop"

    tg.push_text(CHAT, "/start")
    sent = await tg.wait_sent(2)
    assert "wieder Benachrichtigungen" in sent[-1]["text"]
    consent = await telegram_consent(thub, customer["id"])
    assert consent is not None and consent.granted and consent.route == "telegram_start"
    history = await thub.state.store.consent_history(thub.office.id, customer["id"])
    assert [c.granted for c in history][-2:] == [False, True]
    kinds = [e["kind"] for e in await timeline(thub, customer["id"])]
    assert kinds == ["telegram_consent", "telegram_consent"]

    tg.push_text(4712, "/stop", first_name="Max")  # a stranger: nothing to opt out of
    sent = await tg.wait_sent(3)
    assert sent[-1]["chat_id"] == 4712
    assert "keine Benachrichtigungen" in sent[-1]["text"]
    assert await customer_of(thub, 4712) is None


@pytest.mark.parametrize("word", ["STOP", "Stopp!", " stop ", "Abmelden.", "unsubscribe"])
async def test_a_customer_writing_only_stop_opts_out(thub: Hub, tg: StandIn, word: str) -> None:
    """The SMS habit: a message that says nothing but "STOP" is ``/stop`` for a known chat."""
    customer = await new_customer(thub)
    await thub.agent.post(f"/customers/{customer['id']}/identities",
                          json={"kind": "telegram", "value": str(CHAT)})
    tg.push_text(CHAT, word)
    [stopped] = await tg.wait_sent(1)
    assert "keine Benachrichtigungen mehr" in stopped["text"]
    consent = await telegram_consent(thub, customer["id"])
    assert consent is not None and not consent.granted and consent.route == "telegram_stop"
    entries = await timeline(thub, customer["id"])
    assert [e["kind"] for e in entries] == ["telegram_consent"]
    assert word.strip() in entries[0]["subject"]


async def test_stop_inside_a_sentence_or_from_a_stranger_is_a_message(thub: Hub,
                                                                      tg: StandIn) -> None:
    customer = await new_customer(thub)
    await thub.agent.post(f"/customers/{customer['id']}/identities",
                          json={"kind": "telegram", "value": str(CHAT)})
    tg.push_text(CHAT, "Stopp, ich meinte den anderen Vertrag")
    tg.push_text(4713, "Stop", first_name="Max")  # no customer yet: the start of a chat
    _, [stranger] = await messages_of(thub, 4713, 1)
    assert stranger["body"] == "Stop"
    _, [sentence] = await messages_of(thub, CHAT, 1)
    assert sentence["body"] == "Stopp, ich meinte den anderen Vertrag"
    assert await telegram_consent(thub, customer["id"]) is None
    assert tg.sent == []


# ------------------------------------------------------------------------------------------
# the API around it
# ------------------------------------------------------------------------------------------


async def test_link_endpoint_errors(thub: Hub) -> None:
    customer = await new_customer(thub)
    status, body = await thub.agent.post(f"/customers/{customer['id']}/telegram-link",
                                         json={"valid_days": 0})
    assert status == 400 and body["error"]["code"] == "invalid_input"
    status, body = await thub.agent.post("/customers/nope/telegram-link")
    assert status == 404 and body["error"]["code"] == "not_found"
    _, other = await thub.new_office()
    status, body = await other.post(f"/customers/{customer['id']}/telegram-link")
    assert status == 404
    # in polling mode there is no webhook, whatever the secret
    connector = next(c for c in thub.state.supervisor.components if c.name == "telegram")
    secret = connector.config.webhook_secret  # type: ignore[attr-defined]
    status, body = await thub.anon.post(f"/telegram/webhook/{secret}", json={"update_id": 1})
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_link_endpoint_without_telegram(hub: Hub) -> None:
    plain = await new_customer(hub)
    status, body = await hub.agent.post(f"/customers/{plain['id']}/telegram-link")
    assert status == 409 and body["error"]["code"] == "telegram_not_configured"
    status, body = await hub.anon.post("/telegram/webhook/some-secret-0123456789",
                                       json={"update_id": 1})
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_connector_reports_running_with_redacted_diagnostics(thub: Hub, tg: StandIn
                                                                   ) -> None:
    async def running() -> dict[str, Any] | None:
        item = await connector_report(thub)
        return item if item["diagnostics"]["connected"] else None
    item = await eventually(running, what="the connector to connect")
    assert item["state"] == "running" and item["kind"] == "connector"
    diag = item["diagnostics"]
    assert diag["mode"] == "polling"
    assert diag["bot_username"] == "chronik_test_bot"
    assert diag["office_id"] == thub.office.id
    assert diag["bot_token"] == "***"
    _, body = await thub.admin.get("/connectors")
    text = json.dumps(body)
    assert tg.token not in text and tg.token.split(":")[1] not in text
    status, _ = await thub.agent.get("/connectors")
    assert status == 403


@pytest.mark.parametrize("broken", ["wrong-token", "api-down", "bad-setting"])
async def test_broken_configuration_backs_off_and_the_server_keeps_serving(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: StandIn, broken: str) -> None:
    env, expected = {
        "wrong-token": ({"BOT_TOKEN": "999:this-is-not-the-token"}, "rejected the bot token"),
        "api-down": ({"API_BASE_URL": f"http://127.0.0.1:{unused_port()}/bot"},
                     "network error"),
        "bad-setting": ({"MODE": "carrier-pigeon"}, "CHRONIK_TELEGRAM_MODE"),
    }[broken]
    async with telegram_hub(tmp_path / "data", monkeypatch, tg, **env) as hub:
        async def backing_off() -> dict[str, Any] | None:
            item = await connector_report(hub)
            return item if item["state"] == "backoff" else None
        item = await eventually(backing_off, what="backoff")
        assert item["restarts"] >= 1 and item["next_attempt_in"] > 0
        assert expected in item["last_error"]
        _, body = await hub.admin.get("/connectors")
        assert "this-is-not-the-token" not in json.dumps(body)
        status, _ = await hub.agent.get("/customers")
        assert status == 200
        status, health = await hub.anon.get("/health")
        assert status == 200 and health["status"] == "ok"


# ------------------------------------------------------------------------------------------
# the boundary, without a server
# ------------------------------------------------------------------------------------------

TOKEN = "123456:SECRET-part-of-the-token"


_ERRORS: dict[str, Callable[[], tg_error.TelegramError]] = {
    "InvalidToken": lambda: tg_error.InvalidToken(
        f"The token `{TOKEN}` was rejected by the server."),
    "RetryAfter": lambda: tg_error.RetryAfter(timedelta(seconds=3)),
    "TimedOut": lambda: tg_error.TimedOut(),
    "Conflict": lambda: tg_error.Conflict("terminated by other getUpdates request"),
    "Forbidden": lambda: tg_error.Forbidden(f"bot {TOKEN} was blocked by the user"),
    "BadRequest": lambda: tg_error.BadRequest("chat not found"),
    "ChatMigrated": lambda: tg_error.ChatMigrated(-1001),
    "EndPointNotFound": lambda: tg_error.EndPointNotFound("Not Found"),
    "NetworkError": lambda: tg_error.NetworkError(f"ConnectError for /bot{TOKEN}/getMe"),
    "PassportDecryptionError": lambda: tg_error.PassportDecryptionError("broken"),
    "TelegramError": lambda: tg_error.TelegramError("other"),
}
TRANSIENT = {"RetryAfter", "TimedOut", "NetworkError", "PassportDecryptionError",
             "TelegramError"}


def test_every_telegram_error_class_is_covered() -> None:
    classes = {name for name, c in vars(tg_error).items()
               if isinstance(c, type) and issubclass(c, tg_error.TelegramError)}
    assert classes == set(_ERRORS)


@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_telegram_errors_are_translated_without_the_token(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    exc = _ERRORS[name]()
    assert type(exc).__name__ == name
    ours = translate(exc, TOKEN)
    assert TOKEN not in str(ours) and "SECRET-part" not in str(ours)
    expected = TelegramUnavailable if name in TRANSIENT else TelegramRejected
    assert type(ours) is (TelegramTokenRejected if name == "InvalidToken" else expected)
    if name == "RetryAfter":
        assert isinstance(ours, TelegramUnavailable) and ours.retry_after == 3


@pytest.mark.parametrize("code,expected", [("de", "de"), ("de-AT", "de"), ("en", "en"),
                                           ("fr", "en"), (None, "de")])
def test_replies_follow_the_users_language(code: str | None, expected: str) -> None:
    user = User(4711, "Erika", False, language_code=code)
    assert language(user) == expected
    assert all(set(texts) == {"de", "en"} for texts in REPLIES.values())
