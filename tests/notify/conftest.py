"""Fixtures for the notifier: a real SMTP server (aiosmtpd on port 0, recording), and a
Chronik hub whose notifier talks to it (fast retries), on a known port so the links in the
messages (default public URL = the server's own http://host:port) really work."""

from __future__ import annotations

import asyncio
import email
import email.policy
import errno
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import DATA_SIZE_DEFAULT, SMTP, Envelope, Session

from chronik.api.base import hash_token, new_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE
from tests.conftest import Api, Hub
from tests.support.telegram_standin import BotApiStandIn
from timeline.models import Role


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    smtputf8: bool = False
    """Sent with ``MAIL FROM … SMTPUTF8``."""

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def html(self) -> str:
        body = self.message.get_body(("html",))
        assert body is not None
        return str(body.get_content())


@dataclass
class SmtpSink:
    """aiosmtpd in the test's loop: records every accepted message; can refuse recipients
    (``refuse``: address -> (code, text)), be stopped and started again on the same port,
    and call ``on_data`` before answering DATA. Like real relays it refuses a line over
    RFC 5321's limit (``500 Line too long``) and a message over its announced ``SIZE``
    (``size_limit``, ``None``: none announced); ``smtputf8`` offers SMTPUTF8;
    ``refuse_larger_than`` refuses larger messages after DATA without announcing a limit
    (``552 5.3.4``, as some relays do)."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)
    on_data: Callable[[Received], Awaitable[None]] | None = None
    smtputf8: bool = False
    size_limit: int | None = DATA_SIZE_DEFAULT
    refuse_larger_than: int | None = None
    refused: list[str] = field(default_factory=list)
    """The replies of refused DATA (``refuse_larger_than``)."""
    connections: int = 0
    _server: asyncio.Server | None = None
    _protocols: list[SMTP] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            code, text = self.refuse[address]
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        got = Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                       bytes(envelope.original_content or b""), bool(envelope.smtp_utf8))
        if self.refuse_larger_than is not None and len(got.raw) > self.refuse_larger_than:
            self.refused.append(reply := "552 5.3.4 Message size exceeds fixed maximum "
                                         "message size")
            return reply
        self.received.append(got)
        self._changed.set()
        if self.on_data is not None:
            await self.on_data(got)
        return "250 Message accepted"

    def _factory(self) -> SMTP:
        self.connections += 1
        protocol = SMTP(self, hostname="sink.test", ident="sink",
                        enable_SMTPUTF8=self.smtputf8, data_size_limit=self.size_limit)
        self._protocols.append(protocol)
        return protocol

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, self.host, self.port,
                                                reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        async with asyncio.timeout(5):
            await self._stop()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            self._protocols.clear()
            await self._server.wait_closed()
            self._server = None

    async def wait(self, n: int, timeout: float = 10.0) -> list[Received]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(self.received) < n:
                self._changed.clear()
                await self._changed.wait()
        return list(self.received)


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


NOTIFY_ENV = {
    "CHRONIK_SMTP_TLS": "none",
    "CHRONIK_MAIL_FROM": "chronik@buero.test",
    "CHRONIK_NOTIFY_RETRY_BASE_SECONDS": "0.05",
    "CHRONIK_NOTIFY_MAX_ATTEMPTS": "4",
    "CHRONIK_NOTIFY_POLL_SECONDS": "0.05",
}


@pytest.fixture
def notify_env(monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink) -> dict[str, str]:
    env = {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": smtp_sink.host,
           "CHRONIK_SMTP_PORT": str(smtp_sink.port)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHRONIK_TELEGRAM_BOT_TOKEN", raising=False)
    return env


def _port_socket(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """aiohttp's ``get_port_socket``, but the socket is closed when the port is taken."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


START_ATTEMPTS = 5


async def start_hub(settings: Settings) -> tuple[Hub, ClientSession]:
    """A running Chronik on ``settings.http_port``; if another process took that port since
    ``free_port()`` found it free, on another free port (``hub.state.settings`` says which)."""
    for attempt in range(START_ATTEMPTS):
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1", port=settings.http_port,
                            socket_factory=_port_socket)
        try:
            await server.start_server()
            break
        except OSError as exc:
            await server.close()
            if exc.errno != errno.EADDRINUSE or attempt == START_ATTEMPTS - 1:
                raise
            settings = settings.model_copy(update={"http_port": free_port()})
    state = app[STATE]
    office = await state.store.create_office("Büro Müller & Partner", "DE")
    admin_token, agent_token = new_token(), new_token()
    await state.store.create_agent(office.id, "Anna Admin", Role.ADMIN, hash_token(admin_token))
    await state.store.create_agent(office.id, "Tom Agent", Role.AGENT, hash_token(agent_token))
    session = ClientSession()
    base = str(server.make_url("/api/v1"))
    return Hub(server=server, state=state, office=office,
               admin=Api(session, base, admin_token), agent=Api(session, base, agent_token),
               anon=Api(session, base, None)), session


@pytest.fixture
async def nhub(tmp_path: Path, notify_env: dict[str, str]) -> AsyncIterator[Hub]:
    """A running Chronik whose notifier sends to ``smtp_sink``."""
    settings = Settings(data_dir=tmp_path / "data", http_port=free_port(),
                        max_upload_bytes=256 * 1024)
    hub, session = await start_hub(settings)
    yield hub
    await session.close()
    await hub.server.close()


async def customer(hub: Hub, name: str = "Erika Mustermann", *, email: str | None = None,
                   telegram: int | None = None, prefs: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    status, body = await hub.agent.post("/customers", json={
        "name": name, "emails": [email] if email else []})
    assert status == 201, body
    if telegram is not None:
        status, body = await hub.agent.post(f"/customers/{body['id']}/identities",
                                            json={"kind": "telegram", "value": str(telegram)})
        assert status in (200, 201), body
    if prefs:
        status, got = await hub.agent.put(f"/customers/{body['id']}/preferences", json=prefs)
        assert status == 200, got
    return body


async def note(hub: Hub, customer_id: str, body: str, **kw: Any) -> dict[str, Any]:
    status, entry = await hub.agent.post(f"/customers/{customer_id}/entries",
                                         json={"kind": "note", "body": body, **kw})
    assert status == 201, entry
    return entry


T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0  # noqa: ASYNC109
                     ) -> T:
    """Poll ``check`` until it returns something truthy."""
    async with asyncio.timeout(timeout):
        for _ in itertools.count():
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.02)
    raise AssertionError("unreachable")


async def outcome(hub: Hub, customer_id: str, entry_id: str, timeout: float = 10.0  # noqa: ASYNC109
                  ) -> dict[str, Any]:
    """Wait for the ``notification`` entry about ``entry_id`` on the timeline."""
    async with asyncio.timeout(timeout):
        while True:
            status, page = await hub.agent.get(
                f"/customers/{customer_id}/timeline?channel=notification&limit=200")
            assert status == 200, page
            for item in page["items"]:
                if item["meta"]["notification"]["entry_id"] == entry_id:
                    return dict(item)
            await asyncio.sleep(0.03)


CHAT = 4711
"""The customer's Telegram chat in the stand-in."""


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotApiStandIn]:
    """The Telegram stand-in with one chat; the server's bot talks to it."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with BotApiStandIn() as standin:
        monkeypatch.setenv("CHRONIK_TELEGRAM_BOT_TOKEN", standin.token)
        monkeypatch.setenv("CHRONIK_TELEGRAM_API_BASE_URL", standin.base_url)
        monkeypatch.setenv("CHRONIK_TELEGRAM_API_FILE_URL", standin.base_file_url)
        monkeypatch.setenv("CHRONIK_TELEGRAM_POLL_TIMEOUT", "0")
        standin.add_chat(CHAT)
        yield standin


@pytest.fixture
async def tghub(tmp_path: Path, notify_env: dict[str, str], tg: BotApiStandIn
                ) -> AsyncIterator[Hub]:
    """A server with SMTP to the sink (fast retries) and Telegram to the stand-in."""
    assert notify_env
    hub, session = await start_hub(Settings(data_dir=tmp_path / "data", http_port=free_port(),
                                            max_upload_bytes=60 * 1024 * 1024))
    yield hub
    await session.close()
    await hub.server.close()


def texts_to(tg: BotApiStandIn, chat: int = CHAT) -> list[str]:
    """The texts the bot sent to ``chat``."""
    return [s["text"] for s in tg.sent if s["chat_id"] == chat and s["method"] == "sendMessage"]
