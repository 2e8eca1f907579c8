"""No dead ends: when the preferred channel keeps failing (the mail server refuses every
connection), the retries end in the next allowed channel — Telegram through the real
python-telegram-bot against the Bot API stand-in, or the portal inbox — and the agent sees
why, on the item's delivery status and in the job's attempts. A refusal falls back at once;
a send whose outcome is unknown is never repeated, on no channel."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from chronik.settings import Settings
from tests.conftest import Hub
from tests.notify.conftest import (
    NOTIFY_ENV,
    SmtpSink,
    customer,
    eventually,
    free_port,
    note,
    outcome,
    start_hub,
)
from tests.support.telegram_standin import BotApiStandIn

CHAT = 4711


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound but never listening: every SMTP connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _smtp_env(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": "127.0.0.1",
                       "CHRONIK_SMTP_PORT": str(port), **extra}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHRONIK_TELEGRAM_BOT_TOKEN", raising=False)


def _telegram_env(monkeypatch: pytest.MonkeyPatch, standin: BotApiStandIn, *,
                  base_url: str | None = None, token: str | None = None) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    for key, value in {"BOT_TOKEN": token or standin.token,
                       "API_BASE_URL": base_url or standin.base_url,
                       "API_FILE_URL": standin.base_file_url, "POLL_TIMEOUT": "0"}.items():
        monkeypatch.setenv(f"CHRONIK_TELEGRAM_{key}", value)


@pytest.fixture
async def tg() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as standin:
        standin.add_chat(CHAT)
        yield standin


@contextlib.asynccontextmanager
async def _hub(tmp_path: Path) -> AsyncIterator[Hub]:
    hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=free_port()))
    try:
        yield hub
    finally:
        await session.close()
        await hub.server.close()


@pytest.fixture
async def down_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   refusing_port: int) -> AsyncIterator[Hub]:
    """Chronik whose mail server is down for the whole test; no Telegram."""
    _smtp_env(monkeypatch, refusing_port)
    async with _hub(tmp_path) as hub:
        yield hub


@pytest.fixture
async def down_tg_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusing_port: int,
                      tg: BotApiStandIn) -> AsyncIterator[Hub]:
    """Mail server down; Telegram reachable through the stand-in."""
    _smtp_env(monkeypatch, refusing_port)
    _telegram_env(monkeypatch, tg)
    async with _hub(tmp_path) as hub:
        yield hub


async def _jobs(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, body = await hub.admin.get(f"/notifications?customer={customer_id}")
    assert status == 200, body
    return list(body["items"])


async def _job(hub: Hub, customer_id: str) -> dict[str, Any]:
    (job,) = await _jobs(hub, customer_id)
    return job


async def _inbox(hub: Hub, customer_id: str) -> list[dict[str, Any]]:
    status, body = await hub.agent.get(f"/customers/{customer_id}/inbox")
    assert status == 200, body
    return list(body["items"])


def _texts(tg: BotApiStandIn) -> list[str]:
    return [s["text"] for s in tg.sent if s["chat_id"] == CHAT and s["method"] == "sendMessage"]


# ---------------------------------------------------------------- transient: after the retries
async def test_smtp_down_ends_in_the_portal_inbox_and_says_why(down_hub: Hub) -> None:
    hub = down_hub
    c = await customer(hub, email="erika@example.de")
    e = await note(hub, c["id"], "Ihre Beitragsrechnung liegt bereit", subject="Rechnung")
    done = await outcome(hub, c["id"], e["id"])
    info = done["meta"]["notification"]
    assert (info["status"], info["channel"]) == ("sent", "portal")
    assert info["fallback_from"] == ["email"]
    assert info["reason"].startswith("email: gave up after 4 attempts: ")
    assert "127.0.0.1" in info["reason"]  # the mail server's own complaint is kept
    assert done["subject"] == "Notification sent to the portal inbox (fallback)"
    # what the agent sees on the item itself
    _, source = await hub.agent.get(f"/entries/{e['id']}")
    delivery = source["meta"]["delivery"]
    assert (delivery["status"], delivery["channel"]) == ("sent", "portal")
    assert delivery["reason"] == info["reason"] and delivery["fallback_from"] == ["email"]
    # the job's attempts tell the same story
    job = await _job(hub, c["id"])
    assert job["status"] == "sent"
    history = [(a["channel"], a["outcome"]) for a in job["history"]]
    assert history == [("email", "transient")] * 4 + [("portal", "sent")]
    assert job["history"][3]["detail"].startswith("gave up after 4 attempts: ")
    # what the customer got: exactly one inbox item, this one
    (item,) = await _inbox(hub, c["id"])
    assert item["entry_id"] == e["id"] and "Ihre Beitragsrechnung liegt bereit" in item["body"]


async def test_smtp_down_falls_back_to_telegram_exactly_once(
        down_tg_hub: Hub, tg: BotApiStandIn) -> None:
    hub = down_tg_hub
    c = await customer(hub, email="erika@example.de", telegram=CHAT,
                       prefs={"channels": ["email", "telegram"], "language": "en"})
    e = await note(hub, c["id"], "Your claim was approved.", subject="Claim")
    done = await outcome(hub, c["id"], e["id"])
    info = done["meta"]["notification"]
    assert (info["status"], info["channel"]) == ("sent", "telegram")
    assert "email: gave up after 4 attempts" in info["reason"]
    (text,) = _texts(tg)
    assert "Your claim was approved." in text
    assert await _inbox(hub, c["id"]) == []  # not also in the portal inbox
    job = await _job(hub, c["id"])
    assert [(a["channel"], a["outcome"]) for a in job["history"]] == \
        [("email", "transient")] * 4 + [("telegram", "sent")]


async def test_the_fallback_channel_gets_its_own_retries(
        down_tg_hub: Hub, tg: BotApiStandIn) -> None:
    """Telegram answers 502 twice after e-mail ran out of attempts: not dead at once — the
    fallback channel has its own attempt budget, and the customer gets one message."""
    hub = down_tg_hub
    tg.fail_next(2, status=502)
    c = await customer(hub, email="erika@example.de", telegram=CHAT,
                       prefs={"channels": ["email", "telegram"]})
    e = await note(hub, c["id"], "Termin bestätigt")
    done = await outcome(hub, c["id"], e["id"], timeout=20)
    assert done["meta"]["notification"]["channel"] == "telegram"
    assert "email: gave up after 4 attempts" in done["meta"]["notification"]["reason"]
    assert len(_texts(tg)) == 1
    job = await _job(hub, c["id"])
    assert [(a["channel"], a["outcome"]) for a in job["history"]] == \
        [("email", "transient")] * 4 + [("telegram", "transient")] * 2 + [("telegram", "sent")]


async def test_no_channel_left_is_dead_with_every_reason(down_hub: Hub) -> None:
    hub = down_hub
    c = await customer(hub, email="erika@example.de", prefs={"consents": {"portal": False}})
    e = await note(hub, c["id"], "Wichtig")
    done = await outcome(hub, c["id"], e["id"])
    info = done["meta"]["notification"]
    assert info["status"] == "failed"
    assert info["reason"].startswith("email: gave up after 4 attempts")
    assert "no consent for portal" in info["reason"]
    assert (await _job(hub, c["id"]))["status"] == "dead"
    assert await _inbox(hub, c["id"]) == []


async def test_opting_out_during_the_retries_stops_the_fallback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusing_port: int) -> None:
    """Opt-out is checked at send time — also for the channel the job falls back to."""
    _smtp_env(monkeypatch, refusing_port, CHRONIK_NOTIFY_RETRY_BASE_SECONDS="0.3",
              CHRONIK_NOTIFY_MAX_ATTEMPTS="6")
    async with _hub(tmp_path) as hub:
        c = await customer(hub, email="erika@example.de")
        e = await note(hub, c["id"], "Bitte nicht mehr")

        async def retrying() -> bool:
            jobs = await _jobs(hub, c["id"])
            return bool(jobs) and jobs[0]["attempts"] >= 1
        await eventually(retrying)
        status, _ = await hub.agent.put(f"/customers/{c['id']}/preferences",
                                        json={"automatic_notifications": False})
        assert status == 200
        done = await outcome(hub, c["id"], e["id"], timeout=20)
        assert done["meta"]["notification"]["status"] == "suppressed"
        assert "opted out" in done["meta"]["notification"]["reason"]
        assert await _inbox(hub, c["id"]) == []


# ---------------------------------------------------------------- permanent: at once
@pytest.mark.parametrize("breakage", ["blocked", "unknown_chat", "bad_token"],
                         ids=["bot-blocked", "chat-unknown", "token-rejected"])
async def test_a_refusing_telegram_falls_back_to_email_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink,
        tg: BotApiStandIn, breakage: str) -> None:
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": smtp_sink.host,
                       "CHRONIK_SMTP_PORT": str(smtp_sink.port)}.items():
        monkeypatch.setenv(key, value)
    chat = CHAT
    if breakage == "blocked":
        tg.block_chat(CHAT)
    elif breakage == "unknown_chat":
        chat = 999_999  # never started the bot: "chat not found"
    _telegram_env(monkeypatch, tg,
                  token="123456:WRONG-token" if breakage == "bad_token" else None)
    async with _hub(tmp_path) as hub:
        c = await customer(hub, email="erika@example.de", telegram=chat,
                           prefs={"channels": ["telegram", "email"]})
        e = await note(hub, c["id"], "Termin am Dienstag")
        done = await outcome(hub, c["id"], e["id"])
        info = done["meta"]["notification"]
        assert (info["status"], info["channel"]) == ("sent", "email")
        assert info["reason"].startswith("telegram: ") and info["fallback_from"] == ["telegram"]
        if breakage == "bad_token":
            assert "123456:WRONG-token" not in str(done)  # the token is never repeated
        job = await _job(hub, c["id"])
        assert [(a["channel"], a["outcome"]) for a in job["history"]] == \
            [("telegram", "permanent"), ("email", "sent")]  # no retries of a refusal
        (mail,) = smtp_sink.received
        assert "Termin am Dienstag" in mail.text()
        assert [s for s in tg.sent if s["method"] == "sendMessage"] == []


# ---------------------------------------------------------------- unknown: never again
class LosingProxy:
    """Between Chronik and the Bot API stand-in: forwards every call; while ``lose`` is set
    a ``sendMessage`` reaches the stand-in (the chat gets it) but the answer is lost — the
    connection is cut before a byte of the response is written."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lose = False
        self.lost = 0
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> LosingProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=body, headers=headers) as resp:
            payload = await resp.read()
            status, content_type = resp.status, resp.headers.get("Content-Type", "")
        if self.lose and request.path.lower().endswith("/sendmessage"):
            self.lost += 1
            assert request.transport is not None
            request.transport.close()
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})


async def test_a_lost_telegram_answer_is_unknown_and_never_resent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink,
        tg: BotApiStandIn) -> None:
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": smtp_sink.host,
                       "CHRONIK_SMTP_PORT": str(smtp_sink.port)}.items():
        monkeypatch.setenv(key, value)
    async with LosingProxy(tg.url) as proxy:
        _telegram_env(monkeypatch, tg, base_url=f"{proxy.url}/bot")
        async with _hub(tmp_path) as hub:
            proxy.lose = True
            c = await customer(hub, email="erika@example.de", telegram=CHAT,
                               prefs={"channels": ["telegram", "email"]})
            e = await note(hub, c["id"], "Genau einmal, bitte")
            done = await outcome(hub, c["id"], e["id"])
            info = done["meta"]["notification"]
            assert (info["status"], info["channel"]) == ("unknown", "telegram")
            assert "may have arrived" in info["reason"]
            assert proxy.lost == 1
            (text,) = _texts(tg)  # it did arrive, once
            assert "Genau einmal, bitte" in text
            assert smtp_sink.received == []  # and no second copy by e-mail
            job = await _job(hub, c["id"])
            assert job["status"] == "unknown"
            assert [(a["channel"], a["outcome"]) for a in job["history"]] == \
                [("telegram", "unknown")]
            status, listed = await hub.admin.get("/notifications?status=unknown")
            assert status == 200 and [j["id"] for j in listed["items"]] == [job["id"]]
            # only an admin's retry sends it again
            proxy.lose = False
            status, again = await hub.admin.post(f"/notifications/{job['id']}/retry")
            assert status == 200 and again["status"] == "pending"

            async def resent() -> bool:
                return (await _job(hub, c["id"]))["status"] == "sent"
            await eventually(resent)
            assert len(_texts(tg)) == 2 and smtp_sink.received == []
