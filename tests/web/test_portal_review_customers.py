"""The customer portal as several customers used it in a review: signing out from a page
that is no longer current, a code from an earlier request of the same browser, an answer
that stays with the item it answers, a one-click pause of notifications, the page titles
in the office's name. Against the real app, through real forms (see ``test_portal_pages``)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession, CookieJar, FormData
from yarl import URL

from chronik.web import attempts
from chronik.web import auth as web_auth
from chronik.web.portal import signin as portal_signin
from tests.notify.conftest import eventually, outcome
from tests.support.telegram_standin import BotApiStandIn
from tests.web.test_portal_pages import (
    CHAT,
    ERIKA,
    Browser,
    Page,
    Site,
    code_of,
    enter_code,
    portal_csrf,
    refused,
    request_code,
    running_site,
    sign_in,
)
from timeline.models import Channel, Direction, EntryDraft, Visibility, utcnow


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async with running_site(tmp_path, monkeypatch) as s:
        yield s


# ---------------------------------------------------------------- signing out
async def test_signing_out_from_a_page_older_than_the_session_signs_out(site: Site) -> None:
    """Tab A is open; the customer signs in again (tab B: a new session, a new form token)
    and then clicks *Abmelden* in tab A. That used to answer 403 "the form has expired" and
    leave them signed in; now the portal asks once more, and the next click signs out."""
    await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    stale = await portal_csrf(browser)
    other_tab = site.browser()  # signed in anew (the sign-in link, say): a new session
    await sign_in(site, other_tab)
    browser.session.cookie_jar.update_cookies(
        {"chronik_portal": other_tab.portal_cookie()}, URL(site.base + "/portal/"))
    asked = await browser.post("/portal/signout", data={"csrf": stale})
    assert asked.status == 200, asked.text[:500]
    assert "Möchten Sie sich jetzt abmelden?" in asked.text
    assert (await browser.get("/portal/")).status == 200  # (nothing ended on a stale form)
    out = await browser.post("/portal/signout", data={"csrf": asked.field("csrf")})
    assert out.status == 303 and out.location.startswith("/portal/signin")
    assert "Sie sind abgemeldet" in (await browser.follow(out)).text
    again = await browser.get("/portal/")
    assert again.status == 303 and again.location.startswith("/portal/signin")


async def test_signing_out_after_the_session_ran_out_says_signed_out(site: Site) -> None:
    """The session ended meanwhile (in another tab, or it ran out): *Abmelden* leads to the
    "signed out" page, not to "your session has expired, please sign in again"."""
    await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    csrf = await portal_csrf(browser)
    first = await browser.post("/portal/signout", data={"csrf": csrf})
    assert first.status == 303
    again = await browser.post("/portal/signout", data={"csrf": csrf})
    assert again.status == 303, again.text[:500]
    page = await browser.follow(again)
    assert "Sie sind abgemeldet" in page.text and "abgelaufen" not in page.text
    assert 'data-signed-out' in page.text  # (the page that drops a draft left in the tab)


async def test_a_stale_sign_out_asks_in_the_customers_language(site: Site) -> None:
    await site.customer(emails=(ERIKA,))
    browser = site.browser()
    await sign_in(site, browser)
    csrf = await portal_csrf(browser)
    switched = await browser.post("/portal/language", data={"csrf": csrf, "language": "en",
                                                             "next": "/portal/"})
    assert switched.status == 303
    asked = await browser.post("/portal/signout", data={"csrf": "stale"})
    assert asked.status == 200
    assert "Do you want to sign out now?" in asked.text and 'lang="en"' in asked.text


# ---------------------------------------------------------------- a code asked for twice
async def test_the_code_of_the_first_request_works_after_asking_again(site: Site) -> None:
    """The first mail is slow; the customer clicks "Neuen Code anfordern", then the first
    mail arrives and they type its code on the new page. It used to be "wrong or
    expired" (and counted as a wrong guess); the browser's earlier request counts too."""
    await site.customer()
    browser = site.browser()
    await browser.follow(await request_code(browser, ERIKA, "/portal/data"))
    first = code_of(await site.code_mail(ERIKA, 1))
    second_page = await browser.follow(await request_code(browser, ERIKA, "/portal/data"))
    await site.code_mail(ERIKA, 2)
    done = await enter_code(browser, second_page, first)
    assert done.status == 303 and done.location == "/portal/data", done.text[:500]
    assert "Meine Daten" in (await browser.follow(done)).text


async def test_another_browsers_request_does_not_count(site: Site) -> None:
    """Only this browser's own requests: a code typed on a page of someone else's request
    (another browser) is as wrong as ever, and a wrong guess still counts."""
    await site.customer()
    await site.customer(name="Max Muster", emails=("max@example.de",))
    erika, max_ = site.browser(), site.browser()
    await request_code(erika, ERIKA)
    erika_code = code_of(await site.code_mail(ERIKA))
    max_page = await max_.follow(await request_code(max_, "max@example.de"))
    await site.code_mail("max@example.de")
    page = await refused(max_, await enter_code(max_, max_page, erika_code),
                         "/portal/signin/code")
    assert "Dieser Code stimmt nicht" in page.text
    assert (await max_.get("/portal/")).status == 303


async def test_a_wrong_guess_counts_against_every_code_the_browser_asked_for(
        site: Site) -> None:
    await site.customer()
    browser = site.browser()
    await request_code(browser, ERIKA)
    first = code_of(await site.code_mail(ERIKA, 1))
    page = await browser.follow(await request_code(browser, ERIKA))
    second = code_of(await site.code_mail(ERIKA, 2))
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in (first, second))
    for _ in range(portal_signin.MAX_GUESSES):
        await enter_code(browser, page, wrong)
    for code in (first, second):
        late = await refused(browser, await enter_code(browser, page, code),
                             "/portal/signin/code")
        assert "Dieser Code stimmt nicht" in late.text


# ---------------------------------------------------------------- an answer and its item
async def answer(browser: Browser, about: str, body: str) -> tuple[Page, Page]:
    """*Antworten* on an item: the write page it opens, and the item page after sending."""
    opened = await browser.get(f"/portal/write?re={about}")
    page = await browser.follow(opened)
    action = re.search(r'action="(/portal/write\?csrf=[^"]+)"', page.text)
    assert action, page.text[:2000]
    form = FormData()
    for name in ("key", "re"):
        if f'name="{name}"' in page.text:
            form.add_field(name, page.field(name))
    subject = re.search(r'name="subject" type="text" value="([^"]*)"', page.text)
    assert subject, page.text[:2000]
    form.add_field("subject", html.unescape(subject.group(1)))
    form.add_field("body", body)
    form.add_field("files", b"", filename="", content_type="application/octet-stream")
    sent = await browser.post(action.group(1).replace("&amp;", "&"), data=form)
    assert sent.status == 303, sent.text[:1000]
    return page, await browser.follow(sent)


def text_of(page: Page) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


async def test_an_answer_stays_with_the_item_it_answers(site: Site) -> None:
    """*Antworten* on the office's letter: the message used to be a loose "Re: …" the agent
    had to match by its subject. Now it names what it answers -- for the agent
    (``meta.in_reply_to``, the console's "in reply to" link) and on the customer's page --
    and the agent's reply to it names the customer's message in turn."""
    c = await site.customer()
    letter = await site.entry(c["id"], "Anbei unser Angebot.", subject="Ihr Angebot Hausrat")
    browser = site.browser()
    await sign_in(site, browser)
    form, item = await answer(browser, letter["id"], "Gilt das auch für Glasbruch?")
    assert "Antwort auf: Ihr Angebot Hausrat" in text_of(form)
    assert "<h1>Antworten</h1>" in form.text  # (not "Neue Nachricht")
    assert "Antwort auf: Ihr Angebot Hausrat" in text_of(item)
    assert f'href="/portal/entries/{letter["id"]}"' in item.text
    mine = next(e for e in await site.timeline(c["id"], "&channel=portal")
                if e["body"] == "Gilt das auch für Glasbruch?")
    assert mine["subject"] == "Re: Ihr Angebot Hausrat"
    assert mine["meta"]["in_reply_to"] == letter["id"]
    # the agent answers that message: the customer sees which of theirs it answers
    reply = await site.entry(c["id"], "Ja, Glasbruch ist dabei.", kind="reply",
                             reply_via="portal", notify=True, in_reply_to=mine["id"],
                             subject="Glasbruch")
    page = await browser.get(f"/portal/entries/{reply['id']}")
    assert "Antwort auf: Re: Ihr Angebot Hausrat" in text_of(page)


async def test_an_answer_never_names_an_internal_item(site: Site) -> None:
    """An internal item's id typed into the address (or an agent's reply to an internal
    call): the message is sent, but nothing of the internal item shows or is linked."""
    c = await site.customer()
    secret = await site.entry(c["id"], "Nur für uns.", subject="Provision prüfen",
                              visibility="internal")
    browser = site.browser()
    await sign_in(site, browser)
    form, item = await answer(browser, secret["id"], "Eine Frage.")
    assert "Provision" not in form.text and 'name="re"' not in form.text
    assert "Antwort auf" not in text_of(item) and "Provision" not in item.text
    mine = next(e for e in await site.timeline(c["id"], "&channel=portal")
                if e["body"] == "Eine Frage.")
    assert "in_reply_to" not in mine["meta"]
    reply = await site.entry(c["id"], "Wir rufen zurück.", kind="reply", reply_via="portal",
                             notify=True, in_reply_to=secret["id"], subject="Rückruf")
    page = await browser.get(f"/portal/entries/{reply['id']}")
    assert page.status == 200 and "Wir rufen zurück." in page.text
    assert "Antwort auf" not in text_of(page) and secret["id"] not in page.text
    # a forged answer to another customer's item is a plain message
    other = await site.customer(name="Max Muster", emails=("max@example.de",))
    theirs = await site.entry(other["id"], "Für Max.", subject="Max' Vertrag")
    form, item = await answer(browser, theirs["id"], "Noch eine Frage.")
    assert "Max" not in form.text and "Max" not in item.text


# ---------------------------------------------------------------- one click to opt out
async def test_one_click_turns_automatic_notifications_off_and_on(site: Site) -> None:
    """Opting out used to take a tick far down a long form and *Speichern* below it (on a
    phone, screens further down); the top of the page now has one button, and one to turn
    them on again. It changes nothing else, and the notifier honours it."""
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.get("/portal/preferences")
    top = page.text.index("data-notified-by")
    button = page.text.index('name="automatic" value="off"')
    assert button < page.text.index('id="pref-no-automatic"') and button > top
    assert "Keine automatischen Benachrichtigungen mehr</button>" in page.text
    off = await browser.post("/portal/preferences/automatic",
                             data={"csrf": page.field("csrf"), "automatic": "off"})
    assert off.status == 303
    shown = await browser.follow(off)
    assert "Ihre Einstellungen sind gespeichert." in shown.text
    assert "automatische Benachrichtigungen sind aus" in shown.text
    assert "Automatische Benachrichtigungen wieder einschalten</button>" in shown.text
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["automatic_notifications"] is False
    assert prefs["consents"]["email"]["explicit"] is False  # nothing else recorded
    [change] = await site.timeline(c["id"], "&kind=preferences")
    assert change["subject"] == "Notification preferences changed by the customer (portal)"
    note = await site.entry(c["id"], "Wichtige Info", notify=True)
    done = await outcome(site.hub, c["id"], note["id"])
    assert done["meta"]["notification"]["status"] == "suppressed"
    # on again: one click too; a second click of a stale "on" records nothing more
    for _ in range(2):
        on = await browser.post("/portal/preferences/automatic",
                                data={"csrf": page.field("csrf"), "automatic": "on"})
        assert on.status == 303
    _, prefs = await site.hub.agent.get(f"/customers/{c['id']}/preferences")
    assert prefs["automatic_notifications"] is True
    assert len(await site.timeline(c["id"], "&kind=preferences")) == 2
    # anything else is refused with the page's message, and changes nothing
    bad = await browser.post("/portal/preferences/automatic",
                             data={"csrf": page.field("csrf"), "automatic": "maybe"})
    assert bad.status == 303
    assert "Bitte prüfen Sie Ihre Eingaben." in (await browser.follow(bad)).text


# ---------------------------------------------------------------- many attempts
async def test_a_stranger_asking_all_day_gets_few_codes_to_guess(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who knows Erika's address asks for codes in a loop, as fast as the limits
    per address (5 a quarter hour) and per customer (5 in 10 minutes) allow, to guess at
    them (5 guesses each). That used to be 480 codes a day -- 2,400 guesses, and 480 mails
    in her inbox; now the day's codes run out after ``MAX_CODES_PER_DAY``. Another
    customer is not affected, and the answer stays the same for everyone."""
    await site.customer()
    await site.customer(name="Max Muster", emails=("max@example.de",))
    stranger = site.browser()
    real = portal_signin.utcnow
    for quarter in range(4):  # an hour: 4 × 5 requests
        for module in (portal_signin, attempts):
            monkeypatch.setattr(module, "utcnow",
                                lambda q=quarter: real() + timedelta(minutes=16 * q))
        for _ in range(portal_signin.MAX_PER_ADDRESS):
            answer = await request_code(stranger, ERIKA)
            assert answer.status == 303 and "/portal/signin/code?" in answer.location
        await site.settle()
    assert len(site.code_mails(ERIKA)) == portal_signin.MAX_CODES_PER_DAY
    max_ = site.browser()
    assert (await sign_in(site, max_, "max@example.de")).status == 200


# ---------------------------------------------------------------- a link to someone else's item
async def test_a_link_for_someone_else_says_who_is_signed_in_and_leads_there(
        site: Site) -> None:
    """Hans and Greta share a computer; Hans is signed in when Greta opens the link in her
    notification. That used to be a bare "Fehler: Nicht gefunden" page without the portal
    around it; now the portal says who is signed in and signs out and in again straight
    to Greta's item -- without a word of it while Hans is signed in."""
    await site.customer(name="Hans Becker", emails=("hans@example.de",))
    greta = await site.customer(name="Greta Becker", emails=("greta@example.de",))
    note = await site.entry(greta["id"], "Ihr Vertrag liegt bei.", subject="Gretas Vertrag")
    browser = site.browser()
    await sign_in(site, browser, "hans@example.de")
    page = await browser.get(f"/portal/entries/{note['id']}")
    assert page.status == 404
    shown = text_of(page)
    assert "Sie sind angemeldet als Hans Becker" in shown and "Gretas Vertrag" not in shown
    assert 'aria-current="page"' not in page.text and "Abmelden" in shown  # the portal
    for other in ("/portal/entries/01HZZZZZZZZZZZZZZZZZZZZZZZ", "/portal/data/copies/x"):
        assert text_of(await browser.get(other)) == shown  # the same, whatever the id
    out = await browser.post("/portal/signout", data={"csrf": page.field("csrf"),
                                                      "next": page.field("next")})
    assert out.status == 303
    signin_page = await browser.follow(out)
    assert "Sie sind abgemeldet" in signin_page.text
    assert signin_page.field("next") == f"/portal/entries/{note['id']}"
    landed = await sign_in(site, browser, "greta@example.de",
                           next_path=signin_page.field("next"))
    assert "Gretas Vertrag" in landed.text and "Greta Becker" in landed.text


# ---------------------------------------------------------------- whose portal it is
def title_of(page: Page) -> str:
    found = re.search(r"<title>(.*?)</title>", page.text, re.S)
    assert found, page.text[:500]
    return html.unescape(found.group(1))


async def test_the_browser_tab_names_the_office_not_the_software(site: Site) -> None:
    """Every portal tab used to end in "· Chronik" -- the name of the software, which means
    nothing to a customer of "Büro Müller & Partner" (and looks like someone else's site
    in a row of tabs or bookmarks). The portal's pages name the office; before sign-in,
    the customer portal."""
    await site.customer()
    browser = site.browser()
    signin_page = await browser.get("/portal/signin")
    assert title_of(signin_page) == "Anmelden im Kundenportal"
    code_page = await browser.follow(await request_code(browser, ERIKA))
    assert title_of(code_page) == "Code eingeben · Kundenportal"
    await sign_in(site, browser)
    for path, title in (("/portal/", "Ihre Nachrichten"), ("/portal/preferences", "Einstellungen"),
                        ("/portal/data", "Meine Daten")):
        page = await browser.get(path)
        assert title_of(page) == f"{title} · Büro Müller & Partner", path
    assert "Chronik" not in title_of(await browser.get("/portal/entries/nope"))


# ---------------------------------------------------------------- errors a screen reader hears
def field_tag(page: Page, field_id: str) -> str:
    found = re.search(rf'<input id="{field_id}"[^>]*>', page.text)
    assert found, page.text[:3000]
    return found.group(0)


async def test_a_refused_address_or_code_marks_its_field(site: Site) -> None:
    """The message said what was wrong, but the field neither said it was wrong nor had the
    focus: a screen reader on the field heard nothing, a keyboard user had to find it.
    Now the refused field is ``aria-invalid``, described by the message, and focused."""
    await site.customer()
    browser = site.browser()
    form = await browser.get("/portal/signin")
    assert "aria-invalid" not in field_tag(form, "portal-email")
    refused_page = await refused(browser, await browser.post("/portal/signin", data={
        "csrf": form.field("csrf"), "email": "erika at example", "next": "/portal/"}),
        "/portal/signin")
    tag = field_tag(refused_page, "portal-email")
    assert 'aria-invalid="true"' in tag and "autofocus" in tag
    assert 'aria-describedby="portal-email-error"' in tag
    assert re.search(r'<p id="portal-email-error"[^>]*role="alert">Das ist keine gültige',
                     refused_page.text)
    code_page = await browser.follow(await request_code(browser, ERIKA))
    tag = field_tag(code_page, "portal-code")
    assert "autofocus" in tag and "aria-invalid" not in tag  # (the page is for typing it)
    wrong = await refused(browser, await enter_code(browser, code_page, "000000"),
                          "/portal/signin/code")
    tag = field_tag(wrong, "portal-code")
    assert 'aria-invalid="true"' in tag
    assert 'aria-describedby="portal-code-message portal-code-hint"' in tag
    assert re.search(r'<p id="portal-code-message"[^>]*role="alert">Dieser Code stimmt nicht',
                     wrong.text)


# ---------------------------------------------------------------- the code's language
def browser_in(site: Site, accept_language: str) -> Browser:
    b = Browser(ClientSession(cookie_jar=CookieJar(unsafe=True),
                              headers={"Accept-Language": accept_language}), site.base)
    site.browsers.append(b)
    return b


def last_code_mail(site: Site, to: str) -> tuple[str, str]:
    [*_, mail] = [r for r in site.sink.received if to in r.recipients]
    return str(mail.message["Subject"]), mail.text()


async def test_the_code_arrives_in_the_language_of_the_page_that_asked_for_it(
        site: Site) -> None:
    """An English sign-in page said "a code is on its way" and the code came in German
    (the stored default nobody chose). The code now speaks like the portal will: the
    customer's chosen language, else the page's."""
    c = await site.customer()
    english = browser_in(site, "en-GB,en;q=0.9")
    code_page = await english.follow(await request_code(english, ERIKA))
    assert '<html lang="en"' in code_page.text
    await site.code_mail(ERIKA)
    subject, text = last_code_mail(site, ERIKA)
    assert subject.startswith("Your sign-in code") and "Hello Erika Mustermann" in text
    # the same from a German page (its switch): German
    german = site.browser()
    form = await german.get("/portal/signin?lang=de")
    await german.post("/portal/signin", data={"csrf": form.field("csrf"), "email": ERIKA,
                                              "next": "/portal/", "lang": "de"})
    await site.code_mail(ERIKA, 2)
    assert last_code_mail(site, ERIKA)[0].startswith("Ihr Anmeldecode")
    # a language the customer chose wins over the page, as in the portal itself
    status, _ = await site.hub.agent.put(f"/customers/{c['id']}/preferences",
                                         json={"language": "en"})
    assert status == 200
    await german.post("/portal/signin", data={"csrf": form.field("csrf"), "email": ERIKA,
                                              "next": "/portal/", "lang": "de"})
    await site.code_mail(ERIKA, 3)
    assert last_code_mail(site, ERIKA)[0].startswith("Your sign-in code")


# ---------------------------------------------------------------- a message after the session
async def test_a_message_sent_after_the_session_ended_is_given_back(site: Site) -> None:
    """Without script (or with storage off), a message sent after the session ran out --
    the tab left open over lunch -- answered "session expired, sign in again" and the
    text was gone. The page now says it was not sent, gives the text back to copy, and
    leads to sign-in and on to *Write*."""
    c = await site.customer()
    browser = site.browser()
    await sign_in(site, browser)
    page = await browser.follow(await browser.get("/portal/write"))
    action = re.search(r'action="(/portal/write\?csrf=[^"]+)"', page.text)
    assert action
    other_tab = await browser.post("/portal/signout", data={"csrf": page.field("csrf")})
    assert other_tab.status == 303  # (the session ends, as when it runs out)
    form = FormData()
    form.add_field("key", page.field("key"))
    form.add_field("subject", "Schaden <Küche>")
    form.add_field("body", "Zeile 1\r\nZeile 2 & mehr")
    form.add_field("files", b"foto", filename="foto.jpg", content_type="image/jpeg")
    kept = await browser.post(action.group(1).replace("&amp;", "&"), data=form)
    assert kept.status == 401
    assert "deshalb wurde Ihre Nachricht nicht gesendet" in text_of(kept)
    assert 'value="Schaden &lt;Küche&gt;"' in kept.text
    assert re.search(r'<textarea id="kept-body"[^>]*readonly>'
                     r'Zeile 1\nZeile 2 &amp; mehr</textarea>', kept.text)
    assert 'href="/portal/signin?next=%2Fportal%2Fwrite&amp;lang=de"' in kept.text
    assert await site.timeline(c["id"], "&channel=portal") == []  # nothing was sent


# ---------------------------------------------------------------- times in the customer's zone
async def test_times_are_the_customers_own_as_in_their_mails(site: Site) -> None:
    """A customer in New York (their quiet hours say so): the receipt of their message
    said 03:19 -- their time, as every notification gives it -- and the portal showed the
    same message at 09:19, Berlin's time. The portal now shows their time too."""
    c = await site.customer()
    zone = ZoneInfo("America/New_York")
    now = datetime.now(zone)
    start, end = ((now + timedelta(hours=h)).strftime("%H:00") for h in (6, 7))
    status, _ = await site.hub.agent.put(f"/customers/{c['id']}/preferences", json={
        "quiet_hours": {"start": start, "end": end, "timezone": "America/New_York"}})
    assert status == 200
    browser = site.browser()
    await sign_in(site, browser)
    _, item = await answer_nothing(browser, "Eine Frage aus New York.")
    [mine] = [e for e in await site.timeline(c["id"], "&channel=portal")]
    local = datetime.fromisoformat(mine["occurred_at"]).astimezone(zone)
    shown = local.strftime("%d.%m.%Y %H:%M")
    assert shown in text_of(item)

    async def receipt() -> str | None:
        texts = [r.text() for r in site.sink.received if ERIKA in r.recipients
                 and "Eine Frage aus New York." in r.text()]
        return texts[0] if texts else None
    assert shown in await eventually(receipt)  # the same time as the mail says
    berlin = local.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d.%m.%Y %H:%M")
    assert berlin not in text_of(await browser.get("/portal/"))


async def answer_nothing(browser: Browser, body: str) -> tuple[Page, Page]:
    """A new message (not an answer) with ``body``: its form and the item page after."""
    page = await browser.follow(await browser.get("/portal/write"))
    action = re.search(r'action="(/portal/write\?csrf=[^"]+)"', page.text)
    assert action
    form = FormData()
    form.add_field("key", page.field("key"))
    form.add_field("subject", "")
    form.add_field("body", body)
    form.add_field("files", b"", filename="", content_type="application/octet-stream")
    sent = await browser.post(action.group(1).replace("&amp;", "&"), data=form)
    assert sent.status == 303, sent.text[:500]
    return page, await browser.follow(sent)


# ---------------------------------------------------------------- reached on Telegram only
@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotApiStandIn]:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with BotApiStandIn() as standin:
        standin.add_chat(CHAT)
        yield standin


async def test_a_customer_reached_on_telegram_only_signs_in_with_the_phone_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telegram: BotApiStandIn
) -> None:
    """Tim writes to the office on Telegram and has no e-mail address on file. His
    Telegram notifications link to the portal (files too large for the chat, digests) --
    where the sign-in asked for an e-mail address he does not have: a dead end. He can
    type his phone number (as people write it); the code comes to his Telegram chat.
    Nothing is sent to a number (no SMS), and the answer is the same for unknown ones."""
    tg = telegram
    async with running_site(tmp_path, monkeypatch, tg) as s:
        tim = await s.customer(name="Tim Telegram", emails=(), phones=["+49 171 5550123"])
        status, _ = await s.hub.agent.post(f"/customers/{tim['id']}/identities",
                                           json={"kind": "telegram", "value": str(CHAT)})
        assert status in (200, 201)
        browser = s.browser()
        form = await browser.get("/portal/signin")
        assert "E-Mail-Adresse oder Telefonnummer" in form.text
        answer = await browser.post("/portal/signin", data={
            "csrf": form.field("csrf"), "email": "0171 / 555 01 23", "next": "/portal/"})
        assert answer.status == 303 and answer.location.startswith("/portal/signin/code?")
        code_page = await browser.follow(answer)
        [sent] = await tg.wait_sent(1)
        assert sent["chat_id"] == CHAT and "Tim Telegram" in sent["text"]
        done = await enter_code(browser, code_page, code_of(sent["text"]))
        assert done.status == 303
        assert "Tim Telegram" in (await browser.follow(done)).text
        # an unknown number: the same answer, nothing sent anywhere
        stranger = s.browser()
        form = await stranger.get("/portal/signin")
        unknown = await stranger.post("/portal/signin", data={
            "csrf": form.field("csrf"), "email": "+49 30 9999999", "next": "/portal/"})
        assert unknown.status == 303 and unknown.location.startswith("/portal/signin/code?")
        await s.settle()
        assert len(tg.sent) == 1 and s.sink.received == []
        # neither an address nor a number: refused, as before
        refused_page = await refused(stranger, await stranger.post("/portal/signin", data={
            "csrf": form.field("csrf"), "email": "Tim", "next": "/portal/"}), "/portal/signin")
        assert "keine gültige E-Mail-Adresse oder Telefonnummer" in refused_page.text


async def test_a_phone_number_brings_the_code_to_the_address_on_file(site: Site) -> None:
    """A customer with e-mail who types the number we know: the code goes to their
    address on file, never to whatever address someone might type with it."""
    await site.customer(phones=["0171 1234567"])
    browser = site.browser()
    form = await browser.get("/portal/signin")
    code_page = await browser.follow(await browser.post("/portal/signin", data={
        "csrf": form.field("csrf"), "email": "+49 171 1234567", "next": "/portal/data"}))
    code = code_of(await site.code_mail(ERIKA))
    done = await enter_code(browser, code_page, code)
    assert done.status == 303 and done.location == "/portal/data"


# ---------------------------------------------------------------- a session that ran out
async def test_a_session_that_ran_out_is_named_on_the_sign_in_page(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Back after lunch, a click in the portal led to a bare sign-in page, as if the
    customer had never signed in. It now says the session ran out (once: a reload, a first
    visit and a sign-out do not), and the way back is where the click was going."""
    await site.customer()
    first_visit = await site.browser().get("/portal/signin")
    assert "abgelaufen" not in first_visit.text
    browser = site.browser()
    await sign_in(site, browser)
    real = web_auth.utcnow
    minutes = site.hub.state.settings.portal_session_minutes
    monkeypatch.setattr(web_auth, "utcnow", lambda: real() + timedelta(minutes=minutes + 1))
    away = await browser.get("/portal/preferences")
    assert away.status == 303
    page = await browser.follow(away)
    assert re.search(r'role="status"[^>]*>Ihre Sitzung ist abgelaufen', page.text)
    assert "data-signed-out" not in page.text  # (a draft being written is kept)
    assert page.field("next") == "/portal/preferences"
    again = await browser.get(away.location)
    assert "abgelaufen" not in again.text  # said once
    monkeypatch.setattr(web_auth, "utcnow", real)
    await sign_in(site, browser)
    out = await browser.post("/portal/signout", data={"csrf": await portal_csrf(browser)})
    signed_out = await browser.follow(out)
    assert "Sie sind abgemeldet" in signed_out.text and "abgelaufen" not in signed_out.text


# ---------------------------------------------------------------- how many are new
async def test_every_page_says_how_many_items_are_new(site: Site) -> None:
    """Like a bank's message centre: "Nachrichten · 1 neu" on every page while a portal
    notification is unopened (the "Neu" marks were only in the list, on its first page).
    A copy of the customer's own message is no news: the list clears it once shown."""
    c = await site.customer(emails=("inbox@example.de",))
    state = site.hub.state
    news = await site.entry(c["id"], "Neuigkeit für Sie", subject="Ihre Police")
    own, _ = await state.timeline.append(EntryDraft(
        office_id=site.hub.office.id, customer_id=c["id"], channel=Channel.PORTAL,
        direction=Direction.INBOUND, kind="message", visibility=Visibility.PUBLISHED,
        notify=False, occurred_at=utcnow(), subject="Meine Frage", body="Wie lange noch?"))
    secret = await site.entry(c["id"], "Nur intern.", visibility="internal")
    for entry_id in (news["id"], own.id, secret["id"]):
        await state.store.add_inbox_item(site.hub.office.id, c["id"], entry_id, "…", "…", [])
    browser = site.browser()
    await sign_in(site, browser, "inbox@example.de", next_path="/portal/preferences")
    for path in ("/portal/preferences", "/portal/data", "/portal/write"):
        page = await browser.get(path)
        if page.status == 303:
            page = await browser.follow(page)
        assert re.search(r'Nachrichten <span class="badge new" data-news>1 neu</span></a>',
                         page.text), path
    _, inbox = await site.hub.agent.get(f"/customers/{c['id']}/inbox")
    assert inbox["unread"] == 3
    await browser.get("/portal/")  # the list shows the own message: its copy is done with
    _, inbox = await site.hub.agent.get(f"/customers/{c['id']}/inbox")
    assert inbox["unread"] == 2  # (the office's news, and the internal one never shown)
    opened = await browser.get(f"/portal/entries/{news['id']}")
    assert "data-news" not in opened.text
    assert "data-news" not in (await browser.get("/portal/preferences")).text



async def test_the_sign_in_link_opens_in_the_language_of_its_message(site: Site) -> None:
    """The customer chose English; the code came in English -- and its link opened a
    German page on a German phone. The link now carries the message's language."""
    c = await site.customer()
    status, _ = await site.hub.agent.put(f"/customers/{c['id']}/preferences",
                                         json={"language": "en"})
    assert status == 200
    await request_code(site.browser(), ERIKA)
    text = await site.code_mail(ERIKA)
    link = re.search(r"(http://\S+/portal/signin/link/\S+)", text)
    assert link and link.group(1).endswith("?lang=en"), text
    phone = browser_in(site, "de-DE,de;q=0.9")
    page = await phone.get(link.group(1).removeprefix(site.base))
    assert page.status == 200 and '<html lang="en"' in page.text
    assert "Continue to the customer portal" in page.text
    done = await phone.post(link.group(1).removeprefix(site.base).split("?")[0],
                            data={"csrf": page.field("csrf"), "lang": page.field("lang")})
    assert done.status == 303
    assert '<html lang="en"' in (await phone.follow(done)).text
