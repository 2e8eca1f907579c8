"""Shared fixtures for the page tests: a running Chronik (real aiohttp ``TestServer`` around
``create_app``) with one office, an admin and an agent who sign in through the real
``/signin`` form, each person in their own browser (``Desk``: own cookie jar, no automatic
redirects), and helpers to seed customers and entries through the services.

Fixture names here are specific (``console``, ``make_console``, ``mail_console``) so they do
not shadow the fixtures of other test modules in this folder."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from http.cookies import Morsel
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from chronik.api.base import hash_token, new_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE, AppState
from chronik.web.auth import hash_password
from tests.notify.conftest import NOTIFY_ENV, SmtpSink
from timeline.models import (
    Agent,
    Channel,
    Customer,
    CustomerStatus,
    Direction,
    Entry,
    EntryDraft,
    IdentityKind,
    Office,
    Role,
    Visibility,
    utcnow,
)
from timeline.service import EntryRequest

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "anna.admin@buero.test"
AGENT_EMAIL = "tom.agent@buero.test"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
_ENV_CLEARED = ("CHRONIK_SMTP_HOST", "CHRONIK_SMTP_PORT", "CHRONIK_MAIL_FROM",
                "CHRONIK_TELEGRAM_BOT_TOKEN", "CHRONIK_PUBLIC_URL", "CHRONIK_CONFIG",
                "CHRONIK_DEV_PRINT_SIGNIN")


def multipart(files: tuple[tuple[str, bytes, str], ...] = (), **fields: str) -> FormData:
    """A ``multipart/form-data`` body (as the compose form sends it, with or without files):
    ``files`` are (name, data, content type), sent as the field ``files``."""
    form = FormData(default_to_multipart=True)
    for name, value in fields.items():
        form.add_field(name, value)
    for filename, data, content_type in files:
        form.add_field("files", data, filename=filename, content_type=content_type)
    return form


class _FormReader(HTMLParser):
    """What a browser without JavaScript submits for one ``<form id=...>``: its action and
    its successful controls (hidden and text inputs, checked radios and boxes, selected
    options, textareas, file inputs as empty file parts), in document order."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.action: str | None = None
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.file_fields: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside, self.action = True, a.get("action", "")
            return
        if not self.inside or "disabled" in a:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind == "file":
                self.file_fields.append(name)
            elif kind in ("radio", "checkbox"):
                if "checked" in a:
                    self.fields.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "reset", "image"):
                self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, sel in self._options if sel] or [v for v, _ in self._options[:1]]
            if chosen:
                self.fields.append((self._select, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None


@dataclass
class BrowserForm:
    action: str
    fields: dict[str, str]
    file_fields: list[str]

    def fill(self, **changes: str | None) -> BrowserForm:
        """Type into fields, pick radios and options, tick boxes (``None``: untick)."""
        fields = dict(self.fields)
        for name, value in changes.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        return BrowserForm(self.action, fields, self.file_fields)

    def body(self, files: tuple[tuple[str, bytes, str], ...] = ()) -> FormData:
        form = FormData(default_to_multipart=True)
        for name, value in self.fields.items():
            form.add_field(name, value)
        for name in self.file_fields:
            if files:
                for filename, data, content_type in files:
                    form.add_field(name, data, filename=filename, content_type=content_type)
            else:  # an empty file input still sends an empty part
                form.add_field(name, b"", filename="", content_type="application/octet-stream")
        return form


def browser_form(html: str, form_id: str) -> BrowserForm:
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.action is not None, f"no form #{form_id}"
    fields: dict[str, str] = {}
    for name, value in reader.fields:
        fields.setdefault(name, value)
    return BrowserForm(reader.action, fields, reader.file_fields)


@dataclass
class Reply:
    status: int
    text: str
    headers: CIMultiDict[str]
    cookies: dict[str, Morsel[str]]
    body: bytes = b""

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Desk:
    """One person's browser: its own cookie jar; redirects are not followed (tests look at
    them). ``csrf`` is the session's token as the pages publish it."""

    session: ClientSession
    base: str
    csrf: str = ""

    async def request(self, method: str, path: str, *, follow: bool = False,
                      **kw: Any) -> Reply:
        async with self.session.request(method, self.base + path, allow_redirects=follow,
                                        **kw) as resp:
            body = await resp.read()
            return Reply(resp.status, body.decode(resp.charset or "utf-8", "replace"),
                         CIMultiDict(resp.headers), {k: v for k, v in resp.cookies.items()},
                         body)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, data: Any = None, *, csrf: str | None = None,
                   **kw: Any) -> Reply:
        """A form POST carrying the page's CSRF token (``csrf=""`` sends none)."""
        token = self.csrf if csrf is None else csrf
        if isinstance(data, dict) or data is None:
            data = dict(data or {})
            if token:
                data.setdefault("csrf", token)
        return await self.request("POST", path, data=data, **kw)

    async def api(self, method: str, path: str, *, csrf: bool = True,
                  **kw: Any) -> tuple[int, Any]:
        """The JSON API as the console's scripts call it: session cookie (+ CSRF header)."""
        headers = dict(kw.pop("headers", {}))
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        reply = await self.request(method, "/api/v1" + path, headers=headers, **kw)
        try:
            return reply.status, reply.json()
        except ValueError:
            return reply.status, reply.text

    async def sign_in(self, email: str, password: str = PASSWORD, next_path: str = "/"
                      ) -> Reply:
        form = await self.get("/signin")
        assert form.status == 200, form.text
        found = CSRF_FIELD.search(form.text)
        assert found, form.text
        return await self.post("/signin", {"email": email, "password": password,
                                           "method": "password", "next": next_path},
                               csrf=found.group(1))

    async def load_csrf(self, path: str = "/") -> str:
        page = await self.get(path)
        assert page.status == 200, (page.status, page.location)
        found = CSRF_META.search(page.text)
        assert found, page.text[:300]
        self.csrf = found.group(1)
        return self.csrf

    def cookie(self, name: str) -> str | None:
        for morsel in self.session.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None


@dataclass
class Console:
    """A running Chronik: one office ("Büro Test") with Anna (admin) and Tom (agent), both
    with a password; API tokens for both."""

    server: TestServer
    state: AppState
    office: Office
    admin: Agent
    agent: Agent
    admin_token: str
    agent_token: str
    base: str
    _sessions: list[ClientSession] = field(default_factory=list)

    async def desk(self) -> Desk:
        session = ClientSession(cookie_jar=CookieJar(unsafe=True))
        self._sessions.append(session)
        return Desk(session, self.base)

    async def signed_in(self, email: str = AGENT_EMAIL) -> Desk:
        desk = await self.desk()
        reply = await desk.sign_in(email)
        assert reply.status == 303, reply.text
        await desk.load_csrf()
        return desk

    async def bearer(self, method: str, path: str, token: str | None = None,
                     **kw: Any) -> tuple[int, Any]:
        """The API as an integration calls it (``Authorization: Bearer``, no cookies)."""
        session = ClientSession()
        try:
            async with session.request(
                    method, self.base + "/api/v1" + path,
                    headers={"Authorization": f"Bearer {token or self.agent_token}"},
                    **kw) as resp:
                body = await resp.json() if resp.content_type == "application/json" \
                    else await resp.read()
                return resp.status, body
        finally:
            await session.close()

    async def customer(self, name: str, *, phones: tuple[str, ...] = (),
                       emails: tuple[str, ...] = (), office: Office | None = None,
                       status: CustomerStatus = CustomerStatus.ACTIVE) -> Customer:
        pairs = [(IdentityKind.PHONE, p) for p in phones]
        pairs += [(IdentityKind.EMAIL, e) for e in emails]
        return await self.state.timeline.create_customer(office or self.office, name, pairs,
                                                         status)

    async def add(self, customer: Customer, *, channel: Channel = Channel.EMAIL,
                  direction: Direction = Direction.INBOUND, kind: str = "email",
                  visibility: Visibility = Visibility.PUBLISHED,
                  when: datetime | None = None, **kw: Any) -> Entry:
        """An entry as a connector or the notifier appends it."""
        entry, created = await self.state.timeline.append(EntryDraft(
            office_id=customer.office_id, customer_id=customer.id, channel=channel,
            direction=direction, kind=kind, visibility=visibility,
            occurred_at=when or utcnow(), **kw))
        assert created
        return entry

    async def record(self, customer: Customer, kind: str = "note", *,
                     agent: Agent | None = None, **kw: Any) -> Entry:
        """An entry as an agent writes it (``TimelineService.record``)."""
        recorded = await self.state.timeline.record(agent or self.agent, self.office,
                                                    customer.id, EntryRequest(kind=kind, **kw))
        return recorded.entry

    async def entry(self, entry_id: str) -> Entry:
        entry = await self.state.store.get_entry(self.office.id, entry_id)
        assert entry is not None
        return entry

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()
        await self.server.close()


MakeConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                       ) -> AsyncIterator[MakeConsole]:
    """Start a Chronik with these ``Settings`` overrides (environment variables set with
    ``monkeypatch`` before the call count too). The notify worker is off unless a test turns
    it on (``CHRONIK_NOTIFY_WORKER=true``), so timelines hold only what the test wrote."""
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHRONIK_NOTIFY_WORKER", "false")
    started: list[Console] = []

    async def make(**overrides: Any) -> Console:
        settings = Settings(**{"data_dir": tmp_path / f"data{len(started)}", "http_port": 0,
                               "max_upload_bytes": 256 * 1024, **overrides})
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        state = app[STATE]
        office = await state.store.create_office("Büro Test", "DE")
        admin_token, agent_token = new_token(), new_token()
        admin = await state.store.create_agent(office.id, "Anna Admin", Role.ADMIN,
                                               hash_token(admin_token))
        agent = await state.store.create_agent(office.id, "Tom Agent", Role.AGENT,
                                               hash_token(agent_token))
        password = await hash_password(PASSWORD)
        await state.store.set_agent_login(admin.id, email=ADMIN_EMAIL, password_hash=password)
        await state.store.set_agent_login(agent.id, email=AGENT_EMAIL, password_hash=password)
        console = Console(server=server, state=state, office=office, admin=admin, agent=agent,
                          admin_token=admin_token, agent_token=agent_token,
                          base=str(server.make_url("")).rstrip("/"))
        started.append(console)
        return console

    yield make
    for console in started:
        await console.close()


@pytest.fixture
async def console(make_console: MakeConsole) -> Console:
    return await make_console()


@pytest.fixture
async def smtp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SmtpSink]:
    """An SMTP sink (aiosmtpd on 127.0.0.1, port 0) the app's mail goes to."""
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def mail_console(smtp: SmtpSink, make_console: MakeConsole,
                       monkeypatch: pytest.MonkeyPatch) -> Console:
    """A Chronik whose mail (sign-in links, and notifications when the worker is on) goes to
    ``smtp``."""
    for key, value in {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": smtp.host,
                       "CHRONIK_SMTP_PORT": str(smtp.port)}.items():
        monkeypatch.setenv(key, value)
    return await make_console()
