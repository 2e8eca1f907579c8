"""The customer portal (``/portal/``) against the real app: customers sign in with the code
from a real e-mail (an SMTP sink) or Telegram message (the Bot API stand-in), every change
is a real form POST with the page's CSRF token, and what it did is checked through the
agent API -- and on what the customer sees."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
import segno
from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from yarl import URL

from chronik.api.base import hash_token, new_token
from chronik.app import create_app, make_store
from chronik.settings import Settings
from chronik.state import STATE
from chronik.web import auth as web_auth
from chronik.web.i18n import catalog
from chronik.web.portal import signin as portal_signin
from connectors.telegram import LINK_PURPOSE, hash_link_token
from tests.conftest import Api, Hub
from tests.notify.conftest import NOTIFY_ENV, SmtpSink, eventually, free_port, outcome
from tests.support.telegram_standin import BotApiStandIn
from timeline.ingest import InboundMessage
from timeline.models import (
    Channel,
    Direction,
    EntryDraft,
    IdentityKind,
    Role,
    Visibility,
    utcnow,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "chronik" / "web" / "templates" / "portal"
CHAT = 4711
ERIKA = "erika@example.de"
CODE_SUBJECT = "Ihr Anmeldecode"
CODE_SUBJECTS = (CODE_SUBJECT, "Your sign-in code")
"""A code mail in German or English (the language the customer reads the portal in)."""


# ---------------------------------------------------------------- a browser and a server
@dataclass
class Page:
    status: int
    text: str
    location: str
    headers: CIMultiDictProxy[str]

    def field(self, name: str) -> str:
        found = re.search(rf'name="{name}" value="([^"]*)"', self.text)
        assert found, f"no field {name!r} in {self.text[:800]}"
        return found.group(1)


@dataclass
class Browser:
    """One person's browser: its own cookie jar, redirects not followed on their own."""

    session: ClientSession
    base: str

    async def get(self, path: str, **kw: Any) -> Page:
        async with self.session.get(self.base + path, allow_redirects=False, **kw) as resp:
            return Page(resp.status, await resp.text(errors="replace"),
                        resp.headers.get("Location", ""), resp.headers)

    async def post(self, path: str, data: Any = None, **kw: Any) -> Page:
        async with self.session.post(self.base + path, data=data, allow_redirects=False,
                                     **kw) as resp:
            return Page(resp.status, await resp.text(errors="replace"),
                        resp.headers.get("Location", ""), resp.headers)

    async def follow(self, page: Page) -> Page:
        assert page.status == 303, (page.status, page.text[:800])
        return await self.get(page.location)

    def portal_cookie(self) -> str:
        cookie = self.session.cookie_jar.filter_cookies(URL(self.base + "/portal/")).get(
            "chronik_portal")
        assert cookie is not None, "not signed in"
        return cookie.value


@dataclass
class Site:
    hub: Hub
    sink: SmtpSink
    base: str
    browsers: list[Browser]

    def browser(self) -> Browser:
        b = Browser(ClientSession(cookie_jar=CookieJar(unsafe=True)), self.base)
        self.browsers.append(b)
        return b

    async def settle(self) -> None:
        """Wait for the sign-in codes still being sent in the background."""
        tasks = set(self.hub.server.app[portal_signin.SIGNIN].tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    async def customer(self, name: str = "Erika Mustermann", emails: tuple[str, ...] = (ERIKA,),
                       api: Api | None = None, **kw: Any) -> dict[str, Any]:
        status, body = await (api or self.hub.agent).post(
            "/customers", json={"name": name, "emails": list(emails), **kw})
        assert status == 201, body
        return dict(body)

    async def entry(self, customer_id: str, body: str, api: Api | None = None, **kw: Any
                    ) -> dict[str, Any]:
        fields = {"kind": "note", "body": body, "visibility": "published", "notify": False,
                  **kw}
        status, got = await (api or self.hub.agent).post(f"/customers/{customer_id}/entries",
                                                         json=fields)
        assert status == 201, got
        return dict(got)

    async def document(self, customer_id: str, name: str, data: bytes, **fields: str
                       ) -> dict[str, Any]:
        form = FormData()
        for key, value in {"notify": "false", **fields}.items():
            form.add_field(key, value)
        form.add_field("file", data, filename=name, content_type="application/pdf")
        status, got = await self.hub.agent.post(f"/customers/{customer_id}/entries", data=form)
        assert status == 201, got
        return dict(got)

    async def timeline(self, customer_id: str, query: str = "") -> list[dict[str, Any]]:
        status, page = await self.hub.agent.get(
            f"/customers/{customer_id}/timeline?limit=200{query}")
        assert status == 200, page
        return list(page["items"])

    def code_mails(self, to: str, office: str = "") -> list[str]:
        return [r.text() for r in self.sink.received
                if to in r.recipients
                and any(s in str(r.message["Subject"]) for s in CODE_SUBJECTS)
                and office in str(r.message["Subject"])]

    async def code_mail(self, to: str, count: int = 1, office: str = "") -> str:
        async def arrived() -> list[str] | None:
            mails = self.code_mails(to, office)
            return mails if len(mails) >= count else None
        return (await eventually(arrived))[count - 1]


def to_signin(page: Page) -> str:
    """The ``next`` of a redirect to the portal's sign-in page."""
    assert page.status == 303, (page.status, page.text[:300])
    parts = urlsplit(page.location)
    assert parts.path == "/portal/signin", page.location
    [nxt] = parse_qs(parts.query)["next"]
    return nxt


def code_of(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def link_of(text: str) -> str:
    found = re.search(r"(http://\S+/portal/signin/link/\S+)", text)
    assert found, text
    return urlsplit(found.group(1)).path


async def request_code(browser: Browser, email: str, next_path: str | None = None) -> Page:
    """Fill in the sign-in form; returns the answer (a redirect to the code form)."""
    form_page = await browser.get("/portal/signin" + (
        f"?next={quote(next_path, safe='')}" if next_path else ""))
    assert form_page.status == 200, form_page.text[:800]
    return await browser.post("/portal/signin", data={
        "csrf": form_page.field("csrf"), "email": email, "next": form_page.field("next")})


async def enter_code(browser: Browser, code_page: Page, code: str) -> Page:
    return await browser.post("/portal/signin/code", data={
        "csrf": code_page.field("csrf"), "challenge": code_page.field("challenge"),
        "next": code_page.field("next"), "code": code})


async def refused(browser: Browser, answer: Page, path: str) -> Page:
    """A refused form answers with a redirect (Post/Redirect/Get) to the page saying why."""
    assert answer.status == 303, (answer.status, answer.text[:500])
    assert urlsplit(answer.location).path == path, answer.location
    page = await browser.follow(answer)
    assert page.status == 200, page.text[:500]
    return page


async def sign_in(site: Site, browser: Browser, email: str = ERIKA,
                  next_path: str | None = None, office: str = "") -> Page:
    """The whole sign-in (with the code sent in ``office``'s name); returns the page the
    customer lands on."""
    before = len(site.code_mails(email, office))
    code_page = await browser.follow(await request_code(browser, email, next_path))
    code = code_of(await site.code_mail(email, before + 1, office))
    done = await enter_code(browser, code_page, code)
    assert done.status == 303, done.text[:800]
    return await browser.follow(done)


async def portal_csrf(browser: Browser, path: str = "/portal/") -> str:
    page = await browser.get(path)
    assert page.status == 200, page.text[:300]
    return page.field("csrf")


@contextlib.asynccontextmanager
async def running_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       tg: BotApiStandIn | None = None) -> AsyncIterator[Site]:
    sink = SmtpSink()
    await sink.start()
    env = {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": sink.host, "CHRONIK_SMTP_PORT": str(sink.port),
           "CHRONIK_NOTIFY_MAX_ATTACHMENT_BYTES": "10"}  # documents are linked to the portal
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHRONIK_TELEGRAM_BOT_TOKEN", raising=False)
    if tg is not None:
        for key, value in {"BOT_TOKEN": tg.token, "API_BASE_URL": tg.base_url,
                           "API_FILE_URL": tg.base_file_url, "POLL_TIMEOUT": "0"}.items():
            monkeypatch.setenv(f"CHRONIK_TELEGRAM_{key}", value)
    settings = Settings(data_dir=tmp_path / "data", http_port=free_port(),
                        max_upload_bytes=256 * 1024)
    store = make_store(settings)  # the office exists before Telegram starts
    await store.open()
    office = await store.create_office("Büro Müller & Partner", "DE")
    admin_token, agent_token = new_token(), new_token()
    await store.create_agent(office.id, "Anna Admin", Role.ADMIN, hash_token(admin_token))
    await store.create_agent(office.id, "Tom Agent", Role.AGENT, hash_token(agent_token))
    await store.close()
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=settings.http_port)
    await server.start_server()
    site = None
    try:
        async with ClientSession() as session:
            base = str(server.make_url("/api/v1"))
            hub = Hub(server=server, state=app[STATE], office=office,
                      admin=Api(session, base, admin_token),
                      agent=Api(session, base, agent_token), anon=Api(session, base, None))
            site = Site(hub=hub, sink=sink, base=str(server.make_url("")).rstrip("/"),
                        browsers=[])
            yield site
    finally:
        for browser in site.browsers if site else []:
            await browser.session.close()
        await server.close()
        await sink.stop()


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async with running_site(tmp_path, monkeypatch) as s:
        yield s


# ---------------------------------------------------------------- signing in
async def test_code_sign_in_end_to_end(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    page = await browser.get("/portal/")
    assert to_signin(page) == "/portal/"
    form = await browser.get(page.location)
    assert form.status == 200 and "Anmelden im Kundenportal" in form.text
    assert '<label for="portal-email">E-Mail-Adresse oder Telefonnummer</label>' in form.text
    answer = await browser.post("/portal/signin", data={
        "csrf": form.field("csrf"), "email": "  Erika@Example.DE ", "next": "/portal/"})
    assert answer.status == 303 and answer.location.startswith("/portal/signin/code?")
    code_page = await browser.follow(answer)
    assert "6-stelliger Code" in code_page.text
    assert 'autocomplete="one-time-code"' in code_page.text

    mail = await site.code_mail(ERIKA)
    [received] = [r for r in site.sink.received if r.recipients == [ERIKA]]
    assert received.message["Subject"] == (
        "Ihr Anmeldecode für das Kundenportal von Büro Müller & Partner")
    assert "Hallo Erika Mustermann" in mail and "10 Minuten" in mail
    code = code_of(mail)
    assert link_of(mail).endswith(f".{code}")

    done = await enter_code(browser, code_page, code)
    assert done.status == 303 and done.location == "/portal/"
    [cookie] = [v for v in done.headers.getall("Set-Cookie") if v.startswith("chronik_portal=")]
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/portal"
    home = await browser.follow(done)
    assert home.status == 200
    assert "Ihre Nachrichten" in home.text and "Büro Müller &amp; Partner" in home.text
    assert re.search(r'<body class="portal"\s*>', home.text)
    assert 'aria-current="page">Nachrichten</a>' in home.text
    csp = home.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "<script" not in home.text
    assert not re.search(r'(src|href)="(https?:)?//', home.text)  # nothing from other hosts
    # the session belongs to this customer and no one else
    sessions = await site.hub.state.store.get_web_session(
        web_auth.session_hash(browser.portal_cookie()), "portal", datetime.now(UTC))
    assert sessions is not None and sessions.subject_id == c["id"]
    # signing out ends it
    out = await browser.post("/portal/signout", data={"csrf": home.field("csrf")})
    assert out.status == 303 and out.location.startswith("/portal/signin")
    assert "Sie sind abgemeldet" in (await browser.follow(out)).text
    again = await browser.get("/portal/")
    assert again.status == 303 and again.location.startswith("/portal/signin")


@pytest.mark.parametrize("typed", [
    lambda c: f"{c[:3]} {c[3:]}", lambda c: f"{c[:3]}-{c[3:]}", lambda c: f" {c}\n",
    lambda c: c.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width
    lambda c: c.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),  # Arabic-Indic
], ids=["space", "dash", "padded", "full-width", "arabic-indic"])
async def test_the_code_as_people_type_or_paste_it(site: Site, typed: Any) -> None:
    await site.customer()
    browser = site.browser()
    code_page = await browser.follow(await request_code(browser, ERIKA))
    code = code_of(await site.code_mail(ERIKA))
    done = await enter_code(browser, code_page, typed(code))
    assert done.status == 303 and done.location == "/portal/", done.text[:500]


async def test_wrong_codes_count_and_kill_the_code(site: Site) -> None:
    await site.customer()
    browser = site.browser()
    code_page = await browser.follow(await request_code(browser, ERIKA))
    code = code_of(await site.code_mail(ERIKA))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(portal_signin.MAX_GUESSES):
        answer = await enter_code(browser, code_page, wrong)
        assert "chronik_portal" not in answer.headers.get("Set-Cookie", "")
        page = await refused(browser, answer, "/portal/signin/code")
        assert "Dieser Code stimmt nicht" in page.text
        assert page.field("challenge") == code_page.field("challenge")
    page = await refused(browser, await enter_code(browser, code_page, code),  # too late
                         "/portal/signin/code")
    assert "Dieser Code stimmt nicht" in page.text
    assert (await browser.get("/portal/")).status == 303
    # not six digits: not a guess, a hint
    page = await refused(browser, await enter_code(browser, code_page, "12ab"),
                         "/portal/signin/code")
    assert "6 Ziffern" in page.text


async def test_a_code_and_its_link_work_once(site: Site) -> None:
    await site.customer()
    browser = site.browser()
    code_page = await browser.follow(await request_code(browser, ERIKA))
    code = code_of(await site.code_mail(ERIKA))
    assert (await enter_code(browser, code_page, code)).status == 303
    other = site.browser()
    page = await refused(other, await enter_code(other, await other.get(
        f"/portal/signin/code?challenge={code_page.field('challenge')}"), code),
        "/portal/signin/code")
    assert "Dieser Code stimmt nicht" in page.text
    # the one-click link: a page with a button (a mail scanner's GET spends nothing)
    link_browser = site.browser()
    await request_code(link_browser, ERIKA)
    link = link_of(await site.code_mail(ERIKA, 2))
    for _ in range(2):
        page = await link_browser.get(link)
        assert page.status == 200 and "Weiter zum Kundenportal" in page.text
    done = await link_browser.post(link, data={"csrf": page.field("csrf")})
    assert done.status == 303 and done.location == "/portal/"
    assert (await link_browser.follow(done)).status == 200
    late = site.browser()
    page = await late.get(link)
    page = await refused(late, await late.post(link, data={"csrf": page.field("csrf")}),
                         "/portal/signin")
    assert "schon benutzt" in page.text
    assert (await late.get("/portal/")).status == 303


async def test_an_expired_code_is_refused(site: Site, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    await site.customer()
    browser = site.browser()
    code_page = await browser.follow(await request_code(browser, ERIKA))
    code = code_of(await site.code_mail(ERIKA))
    real = portal_signin.utcnow
    monkeypatch.setattr(portal_signin, "utcnow", lambda: real() + timedelta(minutes=10, seconds=1))
    page = await refused(browser, await enter_code(browser, code_page, code),
                         "/portal/signin/code")
    assert "abgelaufen" in page.text
    monkeypatch.setattr(portal_signin, "utcnow", lambda: real() + timedelta(minutes=9))
    assert (await enter_code(browser, code_page, code)).status == 303


async def test_the_session_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_site(tmp_path, monkeypatch) as s:
        await s.customer()
        browser = s.browser()
        assert (await sign_in(s, browser)).status == 200
        real = web_auth.utcnow
        minutes = s.hub.state.settings.portal_session_minutes
        monkeypatch.setattr(web_auth, "utcnow", lambda: real() + timedelta(minutes=minutes + 1))
        page = await browser.get("/portal/")
        assert page.status == 303 and page.location.startswith("/portal/signin")


async def test_rate_limits_per_address_and_per_customer(site: Site) -> None:
    await site.customer(emails=(ERIKA, "erika.privat@example.de"))
    browser = site.browser()
    for address in (ERIKA, "nobody@example.de"):
        for _ in range(portal_signin.MAX_PER_ADDRESS):
            assert (await request_code(browser, address)).status == 303
        page = await refused(browser, await request_code(browser, address),
                             "/portal/signin")
        assert "Zu viele Versuche" in page.text
        assert f'value="{address}"' in page.text  # what was typed is still there
    await site.settle()
    assert len(site.code_mails(ERIKA)) == portal_signin.MAX_CODES
    # the same customer through another of her addresses: a neutral answer, but no code
    assert (await request_code(browser, "erika.privat@example.de")).status == 303
    await site.settle()
    assert site.code_mails("erika.privat@example.de") == []
    assert site.code_mails("nobody@example.de") == []


async def test_an_unknown_address_gets_the_same_answer(site: Site) -> None:
    await site.customer()
    pages = []
    for address in (ERIKA, "nobody@example.de"):
        browser = site.browser()
        answer = await request_code(browser, address)
        assert answer.status == 303
        page = await browser.follow(answer)
        assert page.status == 200
        pages.append(page.text.replace(page.field("challenge"), "X")
                     .replace(page.field("csrf"), "Y"))
    assert pages[0] == pages[1]
    await site.settle()
    assert len(site.code_mails(ERIKA)) == 1
    assert [r for r in site.sink.received if "nobody@example.de" in r.recipients] == []


async def test_links_in_notifications_lead_through_sign_in_to_the_item(site: Site) -> None:
    c = await site.customer()
    doc = await site.document(c["id"], "Police 2027.pdf", b"%PDF-1.4 " + b"x" * 2000,
                              subject="Ihre Police 2027", notify="true")
    await outcome(site.hub, c["id"], doc["id"])
    [note] = [r for r in site.sink.received if "Ihre Police 2027" in str(r.message["Subject"])]
    text = note.text()
    found = re.search(r"http://\S+(/portal/entries/\w+)", text)
    assert found, text
    entry_path = found.group(1)
    assert entry_path == f"/portal/entries/{doc['id']}"
    assert re.search(r"http://\S+/portal\b", text)

    browser = site.browser()
    page = await browser.get(entry_path)
    assert to_signin(page) == entry_path
    form = await browser.get(page.location)
    assert form.field("next") == entry_path
    landed = await sign_in(site, browser, next_path=entry_path)
    assert landed.status == 200
    assert "<h1" in landed.text and "Ihre Police 2027</h1>" in landed.text
    assert "Police 2027.pdf" in landed.text
    download = await browser.get(f"{entry_path}/attachments/0")
    assert download.status == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # and the plain /portal link
    other = site.browser()
    assert to_signin(await other.get("/portal")) == "/portal"
    assert (await sign_in(site, other, next_path="/portal")).status == 200


# ---------------------------------------------------------------- what the customer sees
async def test_only_published_items_of_the_own_timeline(site: Site) -> None:
    c = await site.customer()
    other = await site.customer("Max Anders", emails=("max@example.de",))
    published = await site.entry(c["id"], "Ihr Vertrag liegt bereit", subject="Vertrag")
    internal = await site.entry(c["id"], "nur intern: schwieriger Fall", visibility="internal")
    internal_doc = await site.document(c["id"], "Interne Bewertung.pdf", b"%PDF geheim",
                                       visibility="internal")
    public_doc = await site.document(c["id"], "Police.pdf", b"%PDF police")
    foreign = await site.entry(other["id"], "Für jemand anderen")
    office2, admin2 = await site.hub.new_office("Anderes Büro")
    far = await site.customer("Erika im anderen Büro", api=admin2)
    far_entry = await site.entry(far["id"], "Aus dem anderen Büro", api=admin2)
    await site.hub.state.ingest.ingest(InboundMessage(
        office_id=site.hub.office.id, channel=Channel.EMAIL, source_id="<frage@example.de>",
        sender_kind=IdentityKind.EMAIL, sender=ERIKA, sender_name="Erika Mustermann",
        occurred_at=datetime.now(UTC), subject="Frage zur Police", body="Wann kommt sie?",
        meta={"to": ["team-intern@buero.test"], "cc": ["chefin.privat@buero.test"]}))

    browser = site.browser()
    # Erika is a customer of both offices: each sends her a code in its own name
    home = await sign_in(site, browser, office="Büro Müller & Partner")
    assert "Ihr Vertrag liegt bereit" in home.text and "Police.pdf" in home.text
    assert "Wann kommt sie?" in home.text and "Von Ihnen" in home.text
    assert "Von Tom Agent (Büro Müller &amp; Partner)" in home.text
    for secret in ("nur intern", "Interne Bewertung", "jemand anderen", "anderen Büro",
                   "team-intern@", "chefin.privat@", published["author"]):
        assert secret not in home.text, secret
    for entry_id in (internal["id"], internal_doc["id"], foreign["id"], far_entry["id"],
                     "nonexistent"):
        page = await browser.get(f"/portal/entries/{entry_id}")
        assert page.status == 404 and "Nicht gefunden" in page.text
        page = await browser.get(f"/portal/entries/{entry_id}/attachments/0")
        assert page.status == 404 and "%PDF" not in page.text
    page = await browser.get(f"/portal/entries/{public_doc['id']}/attachments/0")
    assert page.status == 200 and page.text == "%PDF police"
    page = await browser.get(f"/portal/entries/{published['id']}")
    assert page.status == 200 and "Ihr Vertrag liegt bereit" in page.text
    assert office2.id not in home.text
    # the other office's code signs in to the other office's customer, and only there
    [far_mail] = site.code_mails(ERIKA, "Anderes Büro")
    elsewhere = site.browser()
    code_page = await elsewhere.follow(await request_code(elsewhere, "nobody@example.de"))
    wrong = await enter_code(elsewhere, code_page, code_of(far_mail))
    assert "Dieser Code stimmt nicht" in (
        await refused(elsewhere, wrong, "/portal/signin/code")).text
    page = await elsewhere.post(link_of(far_mail), data={"csrf": code_page.field("csrf")})
    assert page.status == 303
    far_home = await elsewhere.follow(page)
    assert "Aus dem anderen Büro" in far_home.text and "Anderes Büro" in far_home.text
    assert "Ihr Vertrag" not in far_home.text
    page = await elsewhere.get(f"/portal/entries/{published['id']}")
    assert page.status == 404


async def test_pages_of_items_and_unread_notifications(site: Site) -> None:
    c = await site.customer(emails=("inbox@example.de",))
    status, _ = await site.hub.agent.put(f"/customers/{c['id']}/preferences",
                                         json={"channels": ["portal"]})
    assert status == 200
    news = await site.entry(c["id"], "Neuigkeit für Sie", notify=True)  # -> portal inbox
    done = await outcome(site.hub, c["id"], news["id"])
    assert done["meta"]["notification"]["channel"] == "portal"
    for n in range(35):
        await site.entry(c["id"], f"Eintrag Nummer {n:02d}")
    browser = site.browser()
    first = await sign_in(site, browser, "inbox@example.de")
    assert "Eintrag Nummer 34" in first.text and "Eintrag Nummer 05" in first.text
    assert "Eintrag Nummer 04" not in first.text
    more = re.search(r'href="(/portal/\?before=\d+)"', first.text)
    assert more, "no link to older items"
    second = await browser.get(more.group(1))
    assert "Eintrag Nummer 04" in second.text and "Neuigkeit für Sie" in second.text
    assert ">Neu</span>" in second.text  # unread in the portal inbox
    _, inbox = await site.hub.agent.get(f"/customers/{c['id']}/inbox")
    assert inbox["unread"] == 1
    assert (await browser.get(f"/portal/entries/{news['id']}")).status == 200
    _, inbox = await site.hub.agent.get(f"/customers/{c['id']}/inbox")
    assert inbox["unread"] == 0
    assert ">Neu</span>" not in (await browser.get(more.group(1))).text


async def test_the_customers_own_message_is_no_news_to_them(site: Site) -> None:
    """A copy of what the customer wrote in the portal, in their portal inbox, does not
    mark their own message "Neu"; news from the office still is."""
    c = await site.customer(emails=("selbst@example.de",))
    state = site.hub.state
    own, _ = await state.timeline.append(EntryDraft(
        office_id=site.hub.office.id, customer_id=c["id"], channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind="message", visibility=Visibility.PUBLISHED,
        notify=True, occurred_at=utcnow(), subject="Meine Frage", body="Wie lange noch?"))
    news = await site.entry(c["id"], "Antwort vom Büro")
    for entry_id, subject in ((own.id, "Meine Frage"), (news["id"], "Antwort vom Büro")):
        await state.store.add_inbox_item(site.hub.office.id, c["id"], entry_id, subject,
                                         "…", [])
    page = await sign_in(site, site.browser(), "selbst@example.de")
    badges = {m.group(1) for m in re.finditer(
        r'href="/portal/entries/(\w+)".{0,400}?>Neu</span>', page.text, re.S)}
    assert news["id"] in page.text and own.id in page.text
    assert ">Neu</span>" in page.text and page.text.count(">Neu</span>") == 1
    assert own.id not in badges


async def test_a_portal_session_is_not_an_agent_session(site: Site) -> None:
    await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    raw = browser.portal_cookie()
    cookies = {"Cookie": f"chronik_portal={raw}; chronik_session={raw}"}
    async with ClientSession() as plain:
        async with plain.get(site.base + "/", headers=cookies, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/signin")
        for path in ("/customers", "/notifications", "/portal/inbox"):
            async with plain.get(site.base + "/api/v1" + path, headers=cookies) as resp:
                assert resp.status == 401, path
        async with plain.post(site.base + "/api/v1/customers", headers=cookies,
                              json={"name": "Eingeschleust"}) as resp:
            assert resp.status == 401
    status, customers = await site.hub.agent.get("/customers")
    assert "Eingeschleust" not in json.dumps(customers)


async def test_a_post_without_the_csrf_token_changes_nothing(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    before = await site.timeline(c["id"])
    page = await browser.post("/portal/preferences", data={
        "no_automatic": "1", "language": "en", "channel_1": "portal"})
    assert page.status == 403 and "Das Formular ist abgelaufen" in page.text
    page = await browser.post("/portal/preferences", data={
        "csrf": "forged", "no_automatic": "1", "language": "en"})
    assert page.status == 403
    form = FormData(default_to_multipart=True)
    form.add_field("subject", "Eingeschleust")
    form.add_field("body", "ohne Token")
    page = await browser.post("/portal/write", data=form)
    assert page.status == 403
    assert (await browser.post("/portal/data", data={})).status == 403
    assert (await browser.post("/portal/language", data={"language": "en"})).status == 403
    assert (await site.timeline(c["id"])) == before
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["automatic_notifications"] is True and prefs["language"] == "de"


async def test_writing_a_message_with_a_file(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    opened = await browser.get("/portal/write")
    assert opened.status == 303 and opened.location.startswith("/portal/write?key=")
    page = await browser.follow(opened)  # the form's key is in its URL: Back sends it again
    assert page.status == 200 and 'enctype="multipart/form-data"' in page.text
    action = re.search(r'action="(/portal/write\?csrf=[^"]+)"', page.text)
    assert action, page.text
    key = page.field("key")
    assert opened.location == f"/portal/write?key={key}"

    def form() -> FormData:
        data = FormData()
        data.add_field("key", key)
        data.add_field("subject", "Schaden am Auto")
        data.add_field("body", "Die Delle ist 5 cm groß.")
        data.add_field("files", b"\x89PNG foto", filename="delle.png", content_type="image/png")
        data.add_field("files", b"", filename="", content_type="application/octet-stream")
        return data
    sent = await browser.post(action.group(1).replace("&amp;", "&"), data=form())
    assert sent.status == 303 and sent.location.endswith("?sent=1")
    receipt = await browser.follow(sent)
    assert "Ihre Nachricht ist eingegangen" in receipt.text
    assert "Schaden am Auto" in receipt.text and "delle.png" in receipt.text
    again = await browser.post(action.group(1).replace("&amp;", "&"), data=form())
    assert again.location == sent.location  # a resubmitted form is one message
    back = await browser.get(opened.location)  # Back to the form: it was sent
    assert back.status == 200 and "bereits gesendet" in back.text
    assert 'id="portal-write"' not in back.text
    assert f'href="{urlsplit(sent.location).path}"' in back.text  # the message instead
    [entry] = await site.timeline(c["id"], "&channel=portal")
    assert (entry["direction"], entry["kind"], entry["visibility"]) == (
        "inbound", "message", "published")
    assert entry["subject"] == "Schaden am Auto"
    assert entry["body"] == "Die Delle ist 5 cm groß."
    assert [a["name"] for a in entry["attachments"]] == ["delle.png"]
    status, data = await site.hub.agent.get(f"/entries/{entry['id']}/attachments/0")
    assert status == 200 and data == b"\x89PNG foto"
    # an empty message is refused with a message, and stored nowhere
    empty = await browser.post(action.group(1).replace("&amp;", "&"),
                               data=FormData({"subject": " ", "body": ""},
                                             default_to_multipart=True))
    assert empty.status == 400 and "Bitte schreiben Sie" in empty.text
    assert empty.field("key") != key  # a form without a key gets a new one, not a used one
    assert len(await site.timeline(c["id"], "&channel=portal")) == 1


async def test_preferences_are_recorded_and_honoured(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    assert page.status == 200
    for control in ("pref-no-automatic", "pref-channel-1", "pref-consent-email",
                    "pref-quiet-start", "pref-language"):
        assert f'<label for="{control}">' in page.text, control
    saved = await browser.post("/portal/preferences", data={
        "csrf": page.field("csrf"), "no_automatic": "1", "channel_1": "email",
        "channel_2": "portal", "consent_telegram": "1", "consent_portal": "1",
        "quiet": "1", "quiet_start": "22:00", "quiet_end": "06:30",
        "quiet_timezone": "Europe/Vienna", "language": "en"})
    assert saved.status == 303
    shown = await browser.follow(saved)
    assert "Your preferences are saved." in shown.text and 'lang="en"' in shown.text
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["automatic_notifications"] is False
    assert prefs["channels"] == ["email", "portal"]
    assert prefs["quiet_hours"] == {"start": "22:00", "end": "06:30",
                                    "timezone": "Europe/Vienna"}
    assert prefs["language"] == "en"
    email = prefs["consents"]["email"]
    assert (email["granted"], email["actor"], email["route"]) == (False, "customer", "portal")
    assert prefs["consents"]["telegram"]["explicit"] is False  # unchanged: not recorded
    [change] = await site.timeline(c["id"], "&kind=preferences")
    assert change["visibility"] == "internal"
    assert change["subject"] == "Notification preferences changed by the customer (portal)"
    assert "email consent withdrawn" in change["body"] and "language: de → en" in change[
        "body"]
    # saving unchanged settings records nothing
    page = await browser.get("/portal/preferences")
    form = {"csrf": page.field("csrf"), "no_automatic": "1", "channel_1": "email",
            "channel_2": "portal", "consent_telegram": "1", "consent_portal": "1",
            "quiet": "1", "quiet_start": "22:00", "quiet_end": "06:30",
            "quiet_timezone": "Europe/Vienna", "language": "en"}
    assert (await browser.post("/portal/preferences", data=form)).status == 303
    assert len(await site.timeline(c["id"], "&kind=preferences")) == 1
    bad = await refused(browser, await browser.post(
        "/portal/preferences", data={**form, "quiet_end": "22:00"}), "/portal/preferences")
    assert 'role="alert">Please enter the start and end of the quiet hours' in bad.text
    # honoured: the opted-out customer gets no notification
    note = await site.entry(c["id"], "Wichtige Info", notify=True)
    done = await outcome(site.hub, c["id"], note["id"])
    assert done["meta"]["notification"]["status"] == "suppressed"
    # the language switch in the header stores the preference too
    switched = await browser.post("/portal/language", data={
        "csrf": page.field("csrf"), "language": "de", "next": "/portal/preferences"})
    assert switched.status == 303 and switched.location == "/portal/preferences"
    assert "Einstellungen" in (await browser.follow(switched)).text
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["language"] == "de"
    assert len(await site.timeline(c["id"], "&kind=preferences")) == 2
    evil = await browser.post("/portal/language", data={
        "csrf": page.field("csrf"), "language": "en", "next": "https://evil.example/"})
    assert evil.location == "/portal/"


@pytest.mark.parametrize(("start", "end", "at", "stored"), [
    ("22:00:00", "06:30:00", "08:00:00", ("22:00", "06:30", "08:00")),  # a time field's seconds
    ("22 Uhr", "6.30", "8 Uhr", ("22:00", "06:30", "08:00")),  # typed into a text field
    ("10 pm", "6:30 AM", "8am", ("22:00", "06:30", "08:00")),
])
async def test_times_as_browsers_send_and_people_type_them(
        site: Site, start: str, end: str, at: str, stored: tuple[str, str, str]) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    saved = await browser.post("/portal/preferences", data={
        "csrf": page.field("csrf"), "channel_1": "email", "consent_email": "1",
        "quiet": "1", "quiet_start": start, "quiet_end": end, "quiet_timezone": "Europe/Berlin",
        "digest": "1", "digest_at": at, "digest_timezone": "Europe/Berlin", "language": "de"})
    assert saved.status == 303, saved.text[:500]
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    quiet, digest = prefs["quiet_hours"], prefs["daily_digest"]
    assert (quiet["start"], quiet["end"], digest["at"]) == stored


async def test_asking_for_a_copy_of_ones_data(site: Site) -> None:
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/data")
    assert page.status == 200 and "Kopie meiner Daten anfordern" in page.text
    assert ERIKA in page.text
    asked = await browser.post("/portal/data", data={"csrf": page.field("csrf")})
    assert asked.status == 303
    shown = await browser.follow(asked)
    deadline = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=28)
    assert "Ihre Anfrage ist eingegangen" in shown.text
    assert f"Wir antworten bis spätestens {deadline:%d.%m.%Y}" in shown.text
    assert "Kopie meiner Daten anfordern</button>" not in shown.text
    [entry] = await site.timeline(c["id"], "&kind=data_request")
    assert (entry["channel"], entry["direction"], entry["visibility"]) == (
        "portal", "inbound", "published")
    assert entry["tags"] == ["data-request"]
    assert entry["meta"]["deadline"] == deadline.isoformat()
    # a second request the same day is the first one
    again = await browser.post("/portal/data", data={"csrf": page.field("csrf")})
    assert "Sie haben heute bereits eine Kopie angefordert" in (
        await browser.get("/portal/data")).text
    assert again.status == 303
    assert len(await site.timeline(c["id"], "&kind=data_request")) == 1
    assert "Anfrage: Kopie meiner Daten" in (await browser.get("/portal/")).text


async def test_the_unsubscribe_page_links_to_the_portal(site: Site) -> None:
    c = await site.customer()
    note = await site.entry(c["id"], "Ihr Termin steht", notify=True)
    await outcome(site.hub, c["id"], note["id"])
    [mail] = [r for r in site.sink.received if "Ihr Termin steht" in r.text()]
    unsubscribe = str(mail.message["List-Unsubscribe"]).strip("<>")
    path = urlsplit(unsubscribe).path
    browser = site.browser()
    page = await browser.get(path)
    assert page.status == 200 and 'href="/portal/preferences"' in page.text
    done = await browser.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200 and 'href="/portal/preferences"' in done.text
    assert "Einstellungen im Kundenportal</a>" in done.text
    assert to_signin(await browser.get("/portal/preferences")) == "/portal/preferences"
    landed = await sign_in(site, browser, next_path="/portal/preferences")
    checkbox = re.search(r'<input id="pref-consent-email"[^>]*>', landed.text)
    assert checkbox and "checked" not in checkbox.group(0)  # e-mail consent is off now


# ---------------------------------------------------------------- Telegram
@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotApiStandIn]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with BotApiStandIn() as standin:
        standin.add_chat(CHAT)
        yield standin


async def test_telegram_code_and_linking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         tg: BotApiStandIn) -> None:
    async with running_site(tmp_path, monkeypatch, tg) as s:
        c = await s.customer()
        status, _ = await s.hub.agent.post(f"/customers/{c['id']}/identities",
                                           json={"kind": "telegram", "value": str(CHAT)})
        assert status in (200, 201)
        status, _ = await s.hub.agent.put(f"/customers/{c['id']}/preferences",
                                          json={"channels": ["telegram", "email"]})
        assert status == 200
        browser = s.browser()
        code_page = await browser.follow(await request_code(browser, ERIKA))
        [sent] = await tg.wait_sent(1)
        assert sent["chat_id"] == CHAT and "Büro Müller & Partner" in sent["text"]
        await s.settle()
        assert s.code_mails(ERIKA) == []  # the preferred channel only
        done = await enter_code(browser, code_page, code_of(sent["text"]))
        assert done.status == 303

        async def connected() -> bool:
            from chronik.api.telegram import connector_of
            connector = connector_of(s.hub.state)
            return connector is not None and bool(connector.bot_username)
        await eventually(connected)
        page = await browser.get("/portal/preferences")
        assert "Ihr Telegram-Chat ist verbunden" in page.text
        made = await browser.post("/portal/preferences/telegram",
                                  data={"csrf": page.field("csrf")})
        # Post/Redirect/Get: the link comes back in a short-lived cookie, not in the URL
        assert made.status == 303 and made.location.startswith("/portal/preferences?")
        assert "start=" not in made.location
        linked = await browser.follow(made)
        assert linked.status == 200
        found = re.search(r'href="(https://t\.me/chronik_test_bot\?start=([\w-]+))"',
                          linked.text)
        assert found, linked.text
        svg = re.search(r'<svg role="img" viewBox="[^"]+" class="qr-code">.*?</svg>',
                        linked.text, re.S)
        assert svg, linked.text
        expected = segno.make(found.group(1).replace("&amp;", "&"), error="m").svg_inline(
            scale=5, border=3, dark="#000", lineclass=None)
        modules = re.search(r'stroke="#000" d="([^"]+)"', expected)
        assert modules and modules.group(1) in svg.group(0)  # the QR code is of this link
        assert "<title>QR-Code des Telegram-Links</title>" in linked.text
        owner = await s.hub.state.store.resolve_customer_token(
            hash_link_token(found.group(2)), LINK_PURPOSE)
        assert owner == (s.hub.office.id, c["id"])
        assert (await browser.post("/portal/preferences/telegram", data={})).status == 403
        assert "t.me/" not in (await browser.get("/portal/preferences")).text


# ---------------------------------------------------------------- texts and templates
@pytest.mark.parametrize(("accept", "lang"), [
    ("de-AT,de;q=0.9,en;q=0.8", "de"), ("en-GB,en;q=0.9", "en"), ("en-us", "en"),
    ("fr-FR,fr;q=0.9,en;q=0.5", "en"), ("fr-CH, fr;q=0.9, de;q=0.7, *;q=0.5", "de"),
    ("en-US;q=0.1, de;q=0.9", "de"), ("en;q=0, de", "de"), ("de;q=0, en", "en"),
    ("DE ; Q=0.8 , EN ; Q=0.9", "en"), ("fr", "de"), ("", "de"), ("en;q=x", "de"),
])
async def test_the_page_speaks_the_browsers_language(site: Site, accept: str, lang: str
                                                     ) -> None:
    """``Accept-Language`` as browsers and their users' settings write it: the highest
    quality wins (not the first tag), ``q=0`` is a refusal, regions and case do not matter;
    German when none of ours is asked for."""
    page = await site.browser().get("/portal/signin", headers={"Accept-Language": accept})
    assert page.status == 200 and f'<html lang="{lang}"' in page.text


def test_every_portal_text_exists_in_both_languages() -> None:
    texts = catalog()
    own = json.loads((TEMPLATES.parents[1] / "messages" / "portal.json").read_text("utf-8"))
    assert own and all(k.startswith("portal.") for k in own)
    for key in own:
        assert texts[key]["de"].strip() and texts[key]["en"].strip(), key
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'_\(\s*"([\w.]+)"\s*[,)]', path.read_text("utf-8")))
    for path in (TEMPLATES.parents[1] / "portal").glob("*.py"):
        used |= set(re.findall(r'"(portal\.[a-z_]+\.[\w.]+)"', path.read_text("utf-8")))
    used |= {f"portal.prefs.consent_{c}" for c in ("email", "telegram", "portal")}
    used |= {f"portal.prefs.rank{n}" for n in (1, 2, 3)}
    used |= {"portal.channel.other", "portal.kind.other"}
    assert len(used) > 50
    assert sorted(k for k in used if k not in texts) == []


def test_portal_next_stays_in_the_portal() -> None:
    for bad in ("https://evil.example/portal/", "//evil.example", "/", "/admin", "/portalx",
                "/\\evil", "", None):
        assert portal_signin.portal_next(bad) == "/portal/"
    for good in ("/portal", "/portal/", "/portal/entries/01ABC", "/portal/?before=12"):
        assert portal_signin.portal_next(good) == good
