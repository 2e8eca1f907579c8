"""Signing in as people's browsers do it: cookies blocked for the site (the browser sends no
cookie back), the sign-in page bookmarked and opened while signed in. Against the real app
through its real forms (console: ``tests/web/conftest.py``; portal:
``tests/web/test_portal_pages.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession, DummyCookieJar

from tests.web.conftest import AGENT_EMAIL, CSRF_FIELD, PASSWORD, Console, Desk
from tests.web.test_portal_pages import (
    ERIKA,
    Browser,
    Site,
    code_of,
    request_code,
    running_site,
)

COOKIES_DE = "Zum Anmelden braucht diese Seite Cookies"
COOKIES_EN = "Signing in needs cookies"


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async with running_site(tmp_path, monkeypatch) as s:
        yield s


# ---------------------------------------------------------------- cookies blocked
async def test_an_agent_whose_browser_blocks_cookies_is_told_so(console: Console) -> None:
    """Before: "The form has expired. Please reload the page and try again." -- reloading
    and trying again gave the same page for ever. Now the sign-in page says cookies are
    needed, keeps the address typed and where the agent wanted to go."""
    session = ClientSession(cookie_jar=DummyCookieJar())  # a browser that keeps no cookie
    try:
        desk = Desk(session, console.base)
        form = await desk.get("/signin?next=/waiting")
        token = CSRF_FIELD.search(form.text)
        assert token, form.text
        answer = await desk.post("/signin", {
            "email": AGENT_EMAIL, "password": PASSWORD, "method": "password",
            "next": "/waiting"}, csrf=token.group(1),
            headers={"Accept-Language": "de-AT,de;q=0.9"})
        assert answer.status == 403, answer.text[:500]
        assert COOKIES_DE in answer.text
        assert "abgelaufen" not in answer.text  # not the loop of "reload and try again"
        assert f'value="{AGENT_EMAIL}"' in answer.text
        assert 'name="next" value="/waiting"' in answer.text
    finally:
        await session.close()


async def test_a_lost_cookie_still_allows_the_next_try(console: Console) -> None:
    """A browser that dropped the form's cookie (restarted meanwhile) gets a new one with
    the page that explains, so signing in again from it works."""
    desk = await console.desk()
    await desk.get("/signin")
    desk.session.cookie_jar.clear()
    answer = await desk.post("/signin", {"email": AGENT_EMAIL, "password": PASSWORD,
                                         "method": "password", "next": "/"},
                             csrf="whatever-the-page-said",
                             headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert answer.status == 403 and COOKIES_EN in answer.text, answer.text[:500]
    token = CSRF_FIELD.search(answer.text)
    assert token
    again = await desk.post("/signin", {"email": AGENT_EMAIL, "password": PASSWORD,
                                        "method": "password", "next": "/"},
                            csrf=token.group(1))
    assert again.status == 303 and again.location == "/"


async def test_a_wrong_token_with_cookies_is_still_the_expired_form(console: Console) -> None:
    desk = await console.desk()
    await desk.get("/signin")
    answer = await desk.post("/signin", {"email": AGENT_EMAIL, "password": PASSWORD,
                                         "method": "password"}, csrf="forged")
    assert answer.status == 403
    assert COOKIES_DE not in answer.text


async def test_a_customer_whose_browser_blocks_cookies_is_told_so(site: Site) -> None:
    """The portal's address form and code form alike: the reason, not "the form expired"."""
    await site.customer()
    blocked = Browser(ClientSession(cookie_jar=DummyCookieJar()), site.base)
    site.browsers.append(blocked)
    form = await blocked.get("/portal/signin?next=/portal/preferences")
    answer = await blocked.post("/portal/signin", data={
        "csrf": form.field("csrf"), "email": ERIKA, "next": form.field("next")})
    assert answer.status == 403, answer.text[:500]
    assert COOKIES_DE in answer.text and "abgelaufen" not in answer.text
    assert f'value="{ERIKA}"' in answer.text
    assert 'value="/portal/preferences"' in answer.text

    # the code form: a browser whose cookies were allowed, then blocked mid-way
    browser = site.browser()
    code_page = await browser.follow(await request_code(browser, ERIKA))
    code = code_of(await site.code_mail(ERIKA))
    browser.session.cookie_jar.clear()
    answer = await browser.post("/portal/signin/code", data={
        "csrf": code_page.field("csrf"), "challenge": code_page.field("challenge"),
        "next": code_page.field("next"), "code": code, "lang": "en"})
    assert answer.status == 403, answer.text[:500]
    assert COOKIES_EN in answer.text
    assert code_page.field("challenge") in answer.text  # the same code can be typed again


# ---------------------------------------------------------------- signed in already
async def test_the_sign_in_page_while_signed_in_says_so_and_leads_on(console: Console) -> None:
    """Before: a bookmarked /signin (or Back to it) showed a bare sign-in form to an agent
    who was signed in. Now it says who is signed in and links on to where they wanted to
    go (the form stays, for signing in as someone else)."""
    desk = await console.signed_in()
    answer = await desk.get("/signin?next=/waiting")
    assert answer.status == 200
    assert "Sie sind als Tom" in answer.text or f"als {console.agent.name}" in answer.text
    assert 'href="/waiting" id="carry-on"' in answer.text
    answer = await desk.get("/signin?next=https://evil.example/")
    assert 'href="/" id="carry-on"' in answer.text
    stranger = await console.desk()
    blank = await stranger.get("/signin")
    assert blank.status == 200 and 'id="carry-on"' not in blank.text


# ---------------------------------------------------------------- a typo on the way in
@pytest.mark.parametrize("method", ["password", "link"])
async def test_where_the_agent_wanted_to_go_survives_a_refused_try(console: Console,
                                                                  method: str) -> None:
    """Before: after a wrong password (or "e-mail me a link") the form came back with
    ``next`` = "/": the customer the agent's link pointed at was forgotten."""
    desk = await console.desk()
    form = await desk.get("/signin?next=%2Fcustomers%2Fabc%3Fkind%3Dnote")
    token = CSRF_FIELD.search(form.text)
    assert token
    answer = await desk.post("/signin", {"email": AGENT_EMAIL, "password": "falsch",
                                         "method": method,
                                         "next": "/customers/abc?kind=note"},
                             csrf=token.group(1))
    assert answer.status in (200, 400)
    assert 'name="next" value="/customers/abc?kind=note"' in answer.text
    assert '<script type="module" src="/static/signin.js">' in answer.text
    if method == "password":  # the address stays; the keyboard is where to type again
        assert 'autocomplete="current-password" autofocus' in answer.text
    right = await desk.post("/signin", {"email": AGENT_EMAIL, "password": PASSWORD,
                                        "method": "password",
                                        "next": "/customers/abc?kind=note"},
                            csrf=token.group(1))
    assert right.status == 303 and right.location == "/customers/abc?kind=note"


async def test_enter_without_a_password_asks_for_it_and_counts_no_strike(
        console: Console) -> None:
    """Before: an agent who signs in by link typed the address and pressed Enter -- the
    form's first button, "Sign in" with the password left empty -- and read "Wrong e-mail
    address or password", a strike towards the lock-out. Now the page asks for the
    password (or a link) and counts nothing."""
    desk = await console.desk()
    form = await desk.get("/signin")
    token = CSRF_FIELD.search(form.text)
    assert token
    for _ in range(12):  # more than the 10 wrong passwords that lock an address
        answer = await desk.post("/signin", {"email": AGENT_EMAIL, "password": "",
                                             "method": "password", "next": "/"},
                                 csrf=token.group(1))
        assert answer.status == 400
        assert "Bitte geben Sie Ihr Passwort ein" in answer.text
        assert "stimmt nicht" not in answer.text
        assert 'autocomplete="current-password" autofocus' in answer.text
        assert f'value="{AGENT_EMAIL}"' in answer.text
    right = await desk.post("/signin", {"email": AGENT_EMAIL, "password": PASSWORD,
                                        "method": "password", "next": "/"},
                            csrf=token.group(1))
    assert right.status == 303


# ---------------------------------------------------------------- a pasted number
@pytest.mark.parametrize("pasted", ["\u202d0171 1234567\u202c", "tel:+491711234567",
                                    "\u200e+49 171 1234567"],
                         ids=["bidi-override", "tel-link", "lrm"])
async def test_a_customer_pasting_the_number_from_the_phones_contacts_gets_a_code(
        site: Site, pasted: str) -> None:
    """Before: a number pasted from the phone's contacts (which wrap it in invisible
    direction marks) or from a ``tel:`` link was refused as "not an address or number"."""
    await site.customer(phones=["0171 1234567"])
    browser = site.browser()
    answer = await request_code(browser, pasted)
    assert answer.status == 303
    assert urlsplit(answer.location).path == "/portal/signin/code", answer.location
    assert code_of(await site.code_mail(ERIKA))
