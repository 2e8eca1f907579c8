"""The admin pages (``/admin``) against the real app: people sign in through the real
``/signin`` form, every change is a real form POST with the page's CSRF token, and the
effect is checked through the HTTP API (the pages call the same functions)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from chronik.api.base import hash_token, new_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE, AppState
from chronik.web.admin import privacy as privacy_pages
from chronik.web.admin.common import FLASHES, SECTIONS
from chronik.web.admin.queues import ATTEMPT_OUTCOMES, DEAD_STATUSES, QUARANTINE_CHANNELS
from chronik.web.auth import hash_password, session_hash
from chronik.web.i18n import catalog
from tests.notify.conftest import NOTIFY_ENV, SmtpSink, eventually, free_port
from timeline.ingest import InboundMessage
from timeline.models import Channel, Direction, EntryDraft, IdentityKind, Office, Role, Visibility
from timeline.notifications import JobStatus
from timeline.policy import ENTRY_KINDS, PresetSource

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
TEMPLATES = Path(__file__).resolve().parents[2] / "chronik" / "web" / "templates" / "admin"


@dataclass
class Browser:
    """One person's browser: its own cookie jar, no automatic redirects."""

    session: ClientSession
    base: str

    async def get(self, path: str, **kw: Any) -> tuple[int, str, str]:
        async with self.session.get(self.base + path, allow_redirects=False, **kw) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True
                   ) -> tuple[int, str, str]:
        if csrf:
            data = {"csrf": await self.csrf(), **data}
        async with self.session.post(self.base + path, data=data,
                                     allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def csrf(self) -> str:
        """The session's token, as an admin page carries it in its forms."""
        status, html, _ = await self.get("/admin")
        found = CSRF_FIELD.search(html)
        assert status == 200 and found, html[:500]
        return found.group(1)

    async def session_csrf(self, state: AppState) -> str:
        """The session's token read from the store (for people who see no admin page)."""
        raw = next(c.value for c in self.session.cookie_jar if c.key == "chronik_session")
        record = await state.store.get_web_session(session_hash(raw), "agent",
                                                   datetime.now(UTC))
        assert record is not None
        return record.csrf

    async def api(self, method: str, path: str, token: str | None = None,
                  **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + "/api/v1" + path, headers=headers,
                                        **kw) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    async def sign_in(self, email: str, password: str = PASSWORD) -> None:
        status, html, _ = await self.get("/signin")
        assert status == 200
        found = CSRF_FIELD.search(html)
        assert found
        async with self.session.post(self.base + "/signin", allow_redirects=False, data={
                "csrf": found.group(1), "email": email, "password": password,
                "method": "password", "next": "/admin"}) as resp:
            assert resp.status == 303, await resp.text()
            assert resp.headers["Location"] == "/admin"


@dataclass
class Site:
    server: TestServer
    state: AppState
    office: Office
    admin_id: str
    admin_token: str
    agent_id: str
    agent_token: str
    admin: Browser
    agent: Browser
    anon: Browser
    other_office: Office
    other_agent_id: str
    other_token: str


async def _person(state: AppState, office_id: str, name: str, role: Role, email: str
                  ) -> tuple[str, str]:
    token = new_token()
    agent = await state.store.create_agent(office_id, name, role, hash_token(token))
    await state.store.set_agent_login(agent.id, email=email,
                                      password_hash=await hash_password(PASSWORD))
    return agent.id, token


async def _site(settings: Settings) -> AsyncIterator[Site]:
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=settings.http_port or None)
    await server.start_server()
    state = app[STATE]
    office = await state.store.create_office("Büro Test", "DE")
    admin_id, admin_token = await _person(state, office.id, "Anna Admin", Role.ADMIN,
                                          "anna@buero.test")
    agent_id, agent_token = await _person(state, office.id, "Tom Agent", Role.AGENT,
                                          "tom@buero.test")
    other = await state.store.create_office("Anderes Büro", "DE")
    other_id, other_token = await _person(state, other.id, "Olga Other", Role.ADMIN,
                                          "olga@anders.test")
    base = str(server.make_url("")).rstrip("/")
    sessions = [ClientSession(cookie_jar=CookieJar(unsafe=True)) for _ in range(3)]
    try:
        site = Site(server=server, state=state, office=office, admin_id=admin_id,
                    admin_token=admin_token, agent_id=agent_id, agent_token=agent_token,
                    admin=Browser(sessions[0], base), agent=Browser(sessions[1], base),
                    anon=Browser(sessions[2], base), other_office=other,
                    other_agent_id=other_id, other_token=other_token)
        await site.admin.sign_in("anna@buero.test")
        yield site
    finally:
        for s in sessions:
            await s.close()
        await server.close()


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    for name in ("CHRONIK_SMTP_HOST", "CHRONIK_TELEGRAM_BOT_TOKEN", "CHRONIK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    async for s in _site(Settings(data_dir=tmp_path / "data", http_port=0)):
        yield s


# ---------------------------------------------------------------- access
PAGES = ["/admin", "/admin/policy", "/admin/agents", "/admin/connectors", "/admin/quarantine",
         "/admin/dead-letters", "/admin/tone", "/admin/office", "/admin/data-requests"]


async def test_every_page_renders_in_both_languages_and_links_from_the_overview(
        site: Site) -> None:
    status, html, _ = await site.admin.get("/admin")
    assert status == 200
    for path in PAGES[1:]:
        assert f'href="{path}"' in html
    for lang in ("de", "en"):
        for path in PAGES:
            status, html, _ = await site.admin.get(path, headers={"Accept-Language": lang})
            assert status == 200, (path, html[:300])
            assert f'<html lang="{lang}">' in html
            assert "admin." not in re.sub(r'"[^"]*"', "", html), path  # no raw message keys


async def test_without_a_session_pages_redirect_to_sign_in(site: Site) -> None:
    status, _, location = await site.anon.get("/admin/agents")
    assert status == 303
    target = urlsplit(location)
    assert target.path == "/signin" and parse_qs(target.query)["next"] == ["/admin/agents"]
    status, _, _ = await site.anon.post("/admin/tone", {"words": "x"}, csrf=False)
    assert status == 401
    assert await site.state.store.get_tone_words(site.office.id) == ()


async def test_a_plain_agent_gets_403_everywhere(site: Site) -> None:
    await site.agent.sign_in("tom@buero.test")
    for path in [*PAGES, f"/admin/agents/{site.admin_id}"]:
        status, html, _ = await site.agent.get(path)
        assert status == 403, path
    data = {"words": "meckerer*", "csrf": await site.agent.session_csrf(site.state)}
    status, _, _ = await site.agent.post("/admin/tone", data, csrf=False)
    assert status == 403
    status, _, _ = await site.agent.post(f"/admin/agents/{site.admin_id}/sessions/end", data,
                                         csrf=False)
    assert status == 403
    assert await site.state.store.get_tone_words(site.office.id) == ()
    assert (await _account(site, site.admin_id)).sessions == 1


async def test_a_post_without_the_csrf_token_changes_nothing(site: Site) -> None:
    status, _, _ = await site.admin.post("/admin/tone", {"words": "meckerer*"}, csrf=False)
    assert status == 403
    status, _, _ = await site.admin.post("/admin/tone", {"words": "meckerer*",
                                                         "csrf": "forged"}, csrf=False)
    assert status == 403
    status, _, _ = await site.admin.post("/admin/policy", {"note.visibility": "internal",
                                                           "csrf": ""}, csrf=False)
    assert status == 403
    assert await site.state.store.get_tone_words(site.office.id) == ()
    assert await site.state.store.get_policy(site.office.id, None) == {}


# ---------------------------------------------------------------- policy and tone
async def test_office_policy_saved_through_the_page_is_what_the_api_shows(site: Site) -> None:
    status, _, location = await site.admin.post("/admin/policy", {
        "note.visibility": "internal", "note.notify": "",
        "phone_note.visibility": "", "phone_note.notify": "",
        "document.visibility": "", "document.notify": "no"})
    assert status == 303 and location == "/admin/policy?msg=saved"
    status, policy = await site.admin.api("GET", "/policy", site.agent_token)
    assert status == 200
    assert policy["office"] == {"note": {"visibility": "internal", "notify": None},
                                "document": {"visibility": None, "notify": False}}
    assert policy["effective"]["note"] == {"visibility": "internal", "notify": False,
                                           "source": {"visibility": "office",
                                                      "notify": "office"}}
    assert policy["effective"]["document"]["visibility"] == "published"
    assert policy["effective"]["document"]["notify"] is False
    assert policy["effective"]["phone_note"]["source"]["notify"] == "system"
    status, html, _ = await site.admin.get("/admin/policy?msg=saved",
                                           headers={"Accept-Language": "en"})
    assert 'role="status">Saved.' in html
    assert re.search(r'name="note\.visibility">.*?<option value="internal" selected>', html,
                     re.S)
    assert re.search(r'name="document\.notify">.*?<option value="no" selected>', html, re.S)
    effective_note = html.split('data-kind="note"')[1].split("</fieldset>")[0]
    assert "internal" in effective_note and "no notification" in effective_note
    # both fields back on "system default" clears the kind, as null does in the API
    status, _, _ = await site.admin.post("/admin/policy", {
        "note.visibility": "", "note.notify": "", "phone_note.visibility": "",
        "phone_note.notify": "", "document.visibility": "", "document.notify": ""})
    assert status == 303
    _, policy = await site.admin.api("GET", "/policy", site.admin_token)
    assert policy["office"] == {}
    status, _, _ = await site.admin.post("/admin/policy", {"note.visibility": "secret"})
    assert status == 400
    assert await site.state.store.get_policy(site.office.id, None) == {}


async def test_tone_words_saved_one_per_line(site: Site) -> None:
    status, _, location = await site.admin.post(
        "/admin/tone", {"words": "meckerer*\r\n  \r\nNörgelfritze\nmeckerer*  \n"})
    assert status == 303 and location == "/admin/tone?msg=saved"
    status, tone = await site.admin.api("GET", "/tone", site.admin_token)
    assert tone["office"] == ["Nörgelfritze", "meckerer*"]
    status, html, _ = await site.admin.get("/admin/tone")
    assert ">Nörgelfritze\nmeckerer*</textarea>" in html
    assert "besserwisser" in html.lower()  # the shipped lexicon, read-only
    status, html, _ = await site.admin.post("/admin/tone", {"words": "x" * 101})
    assert status == 400 and "x" * 101 in html  # what was typed stays in the form
    assert await site.state.store.get_tone_words(site.office.id) == ("Nörgelfritze",
                                                                     "meckerer*")


# ---------------------------------------------------------------- agents
async def _account(site: Site, agent_id: str) -> Any:
    for account in await site.state.store.list_agents(site.office.id):
        if account.agent.id == agent_id:
            return account
    raise AssertionError(agent_id)


async def test_create_an_agent_the_token_is_shown_once_and_works(site: Site) -> None:
    status, _, location = await site.admin.post("/admin/agents", {
        "name": "  Lena Neu ", "role": "agent", "email": "Lena@Buero.Test"})
    assert status == 303  # POST-redirect-GET: the page after the redirect shows the token
    status, html, _ = await site.admin.get(location)
    assert status == 200
    token = re.search(r'id="new-token">(chk_[^<]+)<', html)
    assert token, html
    status, me = await site.admin.api("GET", "/me", token.group(1))
    assert status == 200 and me["name"] == "Lena Neu" and me["role"] == "agent"
    lena = me["agent_id"]
    login = await site.state.store.agent_login(lena)
    assert login is not None and login.email == "lena@buero.test" and not login.password_hash
    status, html, _ = await site.admin.get(f"/admin/agents/{lena}")
    assert status == 200 and token.group(1) not in html  # shown once
    status, html, _ = await site.admin.get("/admin/agents")
    row = html.split(f'data-agent="{lena}"')[1].split("</tr>")[0]
    assert "lena@buero.test" in row and hash_token(token.group(1))[:12] in row
    # mistakes: the form comes back with the reason, nothing is created
    count = len(await site.state.store.list_agents(site.office.id))
    status, html, _ = await site.admin.post("/admin/agents", {
        "name": "Doppelt", "role": "agent", "email": "tom@buero.test"})
    assert status == 409 and 'value="Doppelt"' in html
    status, _, _ = await site.admin.post("/admin/agents", {"name": " ", "role": "agent"})
    assert status == 400
    status, _, _ = await site.admin.post("/admin/agents", {"name": "X", "role": "boss"})
    assert status == 400
    status, _, _ = await site.admin.post("/admin/agents", {"name": "X", "email": "kaputt"})
    assert status == 400
    assert len(await site.state.store.list_agents(site.office.id)) == count


async def test_list_shows_sign_in_address_password_tokens_and_sessions(site: Site) -> None:
    await site.agent.sign_in("tom@buero.test")
    status, html, _ = await site.admin.get("/admin/agents")
    assert status == 200
    row = html.split(f'data-agent="{site.agent_id}"')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert "Tom Agent" in cells[0] and "tom@buero.test" in cells[2]
    assert cells[3] in ("Ja", "Yes")
    assert hash_token(site.agent_token)[:12] in cells[4]
    assert cells[5] == "1"


async def test_set_the_sign_in_address(site: Site) -> None:
    path = f"/admin/agents/{site.agent_id}/email"
    status, _, location = await site.admin.post(path, {"email": "Thomas@Buero.Test"})
    assert status == 303 and location == f"/admin/agents/{site.agent_id}?msg=agent_email"
    login = await site.state.store.agent_login(site.agent_id)
    assert login is not None and login.email == "thomas@buero.test"
    status, html, _ = await site.admin.post(path, {"email": "anna@buero.test"})
    assert status == 409
    status, _, _ = await site.admin.post(path, {"email": "not an address"})
    assert status == 400
    status, _, _ = await site.admin.post(path, {"email": ""})
    assert status == 303
    login = await site.state.store.agent_login(site.agent_id)
    assert login is not None and login.email is None


async def test_revoking_a_token_stops_it_at_once(site: Site) -> None:
    status, _ = await site.admin.api("GET", "/me", site.agent_token)
    assert status == 200  # now in the server's token cache
    token_id = hash_token(site.agent_token)[:12]
    status, _, location = await site.admin.post(
        f"/admin/agents/{site.agent_id}/tokens/revoke", {"token_id": token_id, "confirm": "yes"})
    assert status == 303 and location.endswith("msg=token_revoked")
    status, body = await site.admin.api("GET", "/me", site.agent_token)
    assert status == 401, body
    assert (await _account(site, site.agent_id)).tokens == ()
    # a token of someone else (or of another office) is not this agent's: 404
    status, _, _ = await site.admin.post(
        f"/admin/agents/{site.agent_id}/tokens/revoke",
        {"token_id": hash_token(site.admin_token)[:12]})
    assert status == 404
    status, _, _ = await site.admin.post(
        f"/admin/agents/{site.other_agent_id}/tokens/revoke",
        {"token_id": hash_token(site.other_token)[:12]})
    assert status == 404
    assert (await site.admin.api("GET", "/me", site.other_token))[0] == 200
    # a new token for the agent, shown once
    status, _, location = await site.admin.post(f"/admin/agents/{site.agent_id}/token", {})
    assert status == 303
    status, html, _ = await site.admin.get(location)
    token = re.search(r'id="new-token">(chk_[^<]+)<', html)
    assert token and (await site.admin.api("GET", "/me", token.group(1)))[0] == 200


async def test_ending_sessions_signs_the_agent_out(site: Site) -> None:
    await site.agent.sign_in("tom@buero.test")
    status, me = await site.agent.api("GET", "/me")  # the console's own cookie session
    assert status == 200 and me["agent_id"] == site.agent_id
    status, _, location = await site.admin.post(
        f"/admin/agents/{site.agent_id}/sessions/end", {"confirm": "yes"})
    assert status == 303 and location.endswith("msg=sessions_ended")
    status, _ = await site.agent.api("GET", "/me")
    assert status == 401
    status, _, location = await site.agent.get("/admin")
    assert status == 303 and location.startswith("/signin")
    assert (await _account(site, site.agent_id)).sessions == 0
    status, _, _ = await site.admin.get("/admin")
    assert status == 200  # the admin's own session is untouched


async def test_another_offices_agent_is_not_found(site: Site) -> None:
    other = site.other_agent_id
    status, _, _ = await site.admin.get(f"/admin/agents/{other}")
    assert status == 404
    for action, data in [("sessions/end", {}), ("token", {}), ("signin-link", {}),
                         ("email", {"email": "x@y.test"})]:
        status, _, _ = await site.admin.post(f"/admin/agents/{other}/{action}", data)
        assert status == 404, action
    login = await site.state.store.agent_login(other)
    assert login is not None and login.email == "olga@anders.test"
    status, html, _ = await site.admin.get("/admin/agents")
    assert "Olga" not in html


async def test_sign_in_link_without_a_mail_server_says_so(site: Site) -> None:
    status, html, _ = await site.admin.get(f"/admin/agents/{site.agent_id}")
    assert status == 200 and "signin-link" in html
    status, _, _ = await site.admin.post(f"/admin/agents/{site.agent_id}/signin-link", {})
    assert status == 400


# ---------------------------------------------------------------- inbound
async def test_quarantine_assign_and_discard(site: Site) -> None:
    ingest = site.state.ingest
    result = await ingest.ingest(InboundMessage(
        office_id=site.office.id, channel=Channel.EMAIL, source_id="<q@x>",
        sender_kind=IdentityKind.EMAIL, sender="kaputt",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC), body="Bitte zuordnen"))
    mail = result.quarantined
    assert mail is not None
    junk = await ingest.quarantine(site.office.id, "fax", b"junk", "no parser", "t")
    customer = await site.state.timeline.create_customer(site.office, "Erika Mustermann", [])
    status, html, _ = await site.admin.get("/admin/quarantine")
    assert status == 200 and f'data-item="{mail.id}"' in html and f'data-item="{junk.id}"' in html
    status, html, _ = await site.admin.get(f"/admin/quarantine/{mail.id}?name=muster")
    assert status == 200 and f'value="{customer.id}"' in html
    status, _, location = await site.admin.post(f"/admin/quarantine/{mail.id}/reprocess",
                                                {"customer_id": customer.id})
    assert status == 303 and location == "/admin/quarantine?msg=reprocessed"
    status, tl = await site.admin.api("GET", f"/customers/{customer.id}/timeline",
                                      site.admin_token)
    assert [e["body"] for e in tl["items"]] == ["Bitte zuordnen"]
    status, html, _ = await site.admin.post(f"/admin/quarantine/{junk.id}/reprocess", {})
    assert status == 409  # no connector for fax: said on the page, nothing changes
    status, _, location = await site.admin.post(f"/admin/quarantine/{junk.id}/discard",
                                                {"confirm": "yes"})
    assert status == 303 and location == "/admin/quarantine?msg=discarded"
    item = await site.state.store.get_quarantine(site.office.id, junk.id)
    assert item is not None and item.status == "discarded"
    status, page = await site.admin.api("GET", "/quarantine", site.admin_token)
    assert page["items"] == []
    other = await ingest.quarantine(site.other_office.id, "fax", b"x", "no parser", "t")
    assert (await site.admin.get(f"/admin/quarantine/{other.id}"))[0] == 404
    assert (await site.admin.post(f"/admin/quarantine/{other.id}/discard", {}))[0] == 404
    item = await site.state.store.get_quarantine(site.other_office.id, other.id)
    assert item is not None and item.status == "open"


async def test_inbound_address_and_cti_url(site: Site) -> None:
    status, _, location = await site.admin.post("/admin/office/addresses",
                                                {"address": " Post@Buero.Test "})
    assert status == 303 and location == "/admin/office?msg=address_added"
    status, office = await site.admin.api("GET", "/office", site.admin_token)
    assert office["inbound_addresses"] == ["post@buero.test"]
    status, html, _ = await site.admin.get("/admin/office")
    cti = site.state.settings.base_url + office["cti_url_path"]
    assert f'<code class="copy" id="cti-url">{cti}</code>' in html
    assert "post@buero.test" in html
    await site.state.store.add_inbound_address(site.other_office.id, "their@anders.test")
    status, html, _ = await site.admin.post("/admin/office/addresses",
                                            {"address": "their@anders.test"})
    assert status == 409 and 'value="their@anders.test"' in html
    status, _, _ = await site.admin.post("/admin/office/addresses", {"address": "nope"})
    assert status == 400
    status, _, _ = await site.admin.post("/admin/office/addresses/remove",
                                         {"address": "their@anders.test"})
    assert status == 404
    status, _, _ = await site.admin.post("/admin/office/addresses/remove",
                                         {"address": "post@buero.test", "confirm": "yes"})
    assert status == 303
    _, office = await site.admin.api("GET", "/office", site.admin_token)
    assert office["inbound_addresses"] == []


async def test_connectors_page(site: Site) -> None:
    status, html, _ = await site.admin.get("/admin/connectors",
                                           headers={"Accept-Language": "en"})
    assert status == 200 and "<h1>Connectors</h1>" in html
    status, api = await site.admin.api("GET", "/connectors", site.admin_token)
    for item in api["items"]:
        assert item["name"] in html


# ---------------------------------------------------------------- data requests
async def _request(site: Site, office: Office, customer_id: str, deadline: str | None,
                   body: str, tags: tuple[str, ...] = ("data-request",)) -> str:
    meta = {"deadline": deadline} if deadline else {}
    entry, _ = await site.state.store.append(EntryDraft(
        office_id=office.id, customer_id=customer_id, channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind="data_request", visibility=Visibility.PUBLISHED,
        occurred_at=datetime.now(UTC) - timedelta(days=3), body=body, tags=tags, meta=meta))
    return entry.id


async def test_open_data_requests_sorted_by_deadline_overdue_marked(site: Site) -> None:
    timeline = site.state.timeline
    erika = await timeline.create_customer(site.office, "Erika Mustermann", [])
    karl = await timeline.create_customer(site.office, "Karl Klammer", [])
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()  # the admin's day, not the host's
    later = await _request(site, site.office, erika.id,
                           (today + timedelta(days=20)).isoformat(), "Was wissen Sie?")
    overdue = await _request(site, site.office, karl.id,
                             (today - timedelta(days=2)).isoformat(), "Auskunft bitte")
    derived = await _request(site, site.office, erika.id, None, "Ohne Frist")  # 25 days
    done = await _request(site, site.office, karl.id, today.isoformat(), "Erledigt",
                          ("data-request", "data-request:done"))
    note = await _request(site, site.office, karl.id, today.isoformat(), "Nur Notiz", ())
    other = await site.state.timeline.create_customer(site.other_office, "Fremd", [])
    theirs = await _request(site, site.other_office, other.id, today.isoformat(), "Fremd")

    status, html, _ = await site.admin.get("/admin/data-requests",
                                           headers={"Accept-Language": "en"})
    assert status == 200
    rows = re.findall(r'<tr data-entry="([^"]+)" class="([^"]*)"', html)
    assert rows == [(overdue, "overdue"), (later, ""), (derived, "")]
    assert done not in html and note not in html and theirs not in html
    assert "overdue by 2 days" in html and "1 overdue" in html
    assert "Karl Klammer" in html and "four weeks after receipt" in html
    status, overview, _ = await site.admin.get("/admin", headers={"Accept-Language": "en"})
    assert "3 waiting" in overview and "1 overdue" in overview

    status, _, location = await site.admin.post(f"/admin/data-requests/{overdue}/answered", {})
    assert status == 303 and location == "/admin/data-requests?msg=answered"
    entry = await site.state.store.get_entry(site.office.id, overdue)
    assert entry is not None and "data-request:done" in entry.tags
    _, html, _ = await site.admin.get("/admin/data-requests")
    assert [r[0] for r in re.findall(r'<tr data-entry="([^"]+)" class="([^"]*)"', html)] == [
        later, derived]
    for entry_id in (note, theirs, "01NOSUCHENTRY0000000000000"):
        status, _, _ = await site.admin.post(f"/admin/data-requests/{entry_id}/answered", {})
        assert status == 404
    entry = await site.state.store.get_entry(site.other_office.id, theirs)
    assert entry is not None and "data-request:done" not in entry.tags


# ---------------------------------------------------------------- with a mail server
@pytest.fixture
async def mail_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[tuple[Site, SmtpSink]]:
    sink = SmtpSink()
    await sink.start()
    env = {**NOTIFY_ENV, "CHRONIK_SMTP_HOST": sink.host, "CHRONIK_SMTP_PORT": str(sink.port),
           "CHRONIK_NOTIFY_MAX_ATTEMPTS": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHRONIK_TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("CHRONIK_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", http_port=free_port())
    try:
        async for s in _site(settings):
            yield s, sink
    finally:
        await sink.stop()


async def test_dead_letter_is_listed_with_attempts_and_retried(
        mail_site: tuple[Site, SmtpSink]) -> None:
    site, sink = mail_site
    await sink.stop()  # the mail server is down: the one attempt fails, the job is dead
    status, customer = await site.admin.api("POST", "/customers", site.agent_token, json={
        "name": "Erika Mustermann", "emails": ["erika@example.de"]})
    assert status == 201
    status, _ = await site.admin.api(  # no portal inbox to fall back to
        "PUT", f"/customers/{customer['id']}/preferences", site.agent_token,
        json={"consents": {"portal": False}})
    assert status == 200
    status, entry = await site.admin.api("POST", f"/customers/{customer['id']}/entries",
                                         site.agent_token, json={"kind": "note",
                                                                 "body": "Wichtig"})
    assert status == 201 and entry["notify"] is True

    async def dead() -> list[Any]:
        return await site.state.store.list_notify_jobs(site.office.id, status="dead")
    job = (await eventually(dead))[0]
    status, html, _ = await site.admin.get("/admin/dead-letters",
                                           headers={"Accept-Language": "en"})
    assert status == 200 and f'data-job="{job.id}"' in html and "Erika Mustermann" in html
    assert "Every attempt (1)" in html and "temporary error" in html  # (stored: transient)
    assert (f'href="/customers/{customer["id"]}?focus={entry["id"]}#e-{entry["id"]}"'
            in html)  # the entry is one click away
    await sink.start()
    status, _, location = await site.admin.post(f"/admin/dead-letters/{job.id}/retry",
                                                {"status": "dead"})
    assert status == 303 and location == "/admin/dead-letters?status=dead&msg=retried"
    received = await sink.wait(1)
    assert "Wichtig" in received[0].text()

    async def sent() -> bool:
        got = await site.state.store.get_notify_job(site.office.id, job.id)
        return got is not None and got.status is JobStatus.SENT
    await eventually(sent)
    status, _, _ = await site.admin.post(f"/admin/dead-letters/{job.id}/retry", {})
    assert status == 409  # a sent notification is not sent again
    status, _, _ = await site.admin.post("/admin/dead-letters/01NOSUCHJOB000000000000000/retry",
                                         {})
    assert status == 404


async def test_sign_in_link_by_mail(mail_site: tuple[Site, SmtpSink]) -> None:
    site, sink = mail_site
    status, _, location = await site.admin.post(f"/admin/agents/{site.agent_id}/signin-link",
                                                {})
    assert status == 303 and location.endswith("msg=link_sent")
    mail = (await sink.wait(1))[0]
    assert mail.recipients == ["tom@buero.test"]
    link = re.search(r"http://\S+/signin/link/\S+", mail.text())
    assert link is not None
    path = "/" + link.group(0).split("/", 3)[3]
    status, html, _ = await site.agent.get(path)
    found = CSRF_FIELD.search(html)
    assert status == 200 and found
    async with site.agent.session.post(site.agent.base + path, data={"csrf": found.group(1)},
                                       allow_redirects=False) as resp:
        assert resp.status == 303
    status, me = await site.agent.api("GET", "/me")
    assert status == 200 and me["agent_id"] == site.agent_id


# ---------------------------------------------------------------- texts
def test_admin_messages_have_both_languages_and_every_used_key_exists() -> None:
    messages = json.loads((TEMPLATES.parents[1] / "messages" / "admin.json").read_text("utf-8"))
    assert messages and all(key.startswith("admin.") for key in messages)
    assert all(set(texts) == {"de", "en"} and all(texts.values())
               for texts in messages.values())
    known = catalog()
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""_\(["']([a-z_.]+)["']\s*[),]""", template.read_text("utf-8")))
    code = (TEMPLATES.parents[1] / "admin")
    for module in code.glob("*.py"):
        used |= set(re.findall(r'"(admin\.[a-z_.]+[a-z_])"', module.read_text("utf-8")))
    # keys put together in templates and code
    used |= {f"admin.{key}.{part}" for key, _ in SECTIONS for part in ("title", "blurb")}
    used |= {f"admin.flash.{key}" for key in FLASHES}
    used |= {f"admin.kind.{kind}" for kind in ENTRY_KINDS}
    used |= {f"admin.vis.{v.value}" for v in Visibility}
    used |= {f"admin.role.{r.value}" for r in Role}
    used |= {f"admin.source.{s.value}" for s in PresetSource}
    used |= {f"admin.notify.{n}" for n in ("yes", "no")}
    used |= {f"admin.policy.notify_{n}" for n in ("on", "off")}
    used |= {f"admin.dead.status_{s}" for s in DEAD_STATUSES}
    used |= {f"admin.dead.outcome_{o}" for o in ATTEMPT_OUTCOMES}
    used |= {f"admin.quarantine.channel_{c}" for c in QUARANTINE_CHANNELS}
    used |= {f"admin.quarantine.status_{s}" for s in ("open", "processed", "discarded")}
    used |= {f"admin.connectors.state_{s}" for s in ("starting", "running", "backoff",
                                                     "stopped", "unknown")}
    used |= {f"admin.connectors.kind_{k}" for k in ("connector", "worker")}
    used |= {f"admin.erase.count.{key}" for key in privacy_pages.COUNTS}
    used |= {f"admin.requests.provide_{why}" for why in privacy_pages.PROVIDE_ERRORS}
    assert len(used) > 150
    assert sorted(k for k in used if k not in known) == []
    assert sorted(k for k in messages if k not in used) == []  # nothing unused either
